"""``dvc plots show`` without the internet: DVC's page with Vega, Vega-Lite and Vega-Embed inside it.

DVC's own page loads the three from a CDN, so offline it is blank. DVC takes a project's own
page (``--html-template``); this one carries the libraries inline, from vl-convert-python's
bundle (a pinned package, so no JavaScript is kept in git), and leaves out DVC's ``{scripts}``
(the CDN tags).
"""

from __future__ import annotations

from pathlib import Path

VEGA_LITE = "5.20"  # the bundle's Vega-Lite: DVC's templates (and ours, .dvc/plots) are Vega-Lite 5
PAGE = """<!DOCTYPE html>
<html>
<head>
    {refresh_tag}
    <meta charset="utf-8">
    <title>roots: DVC plots</title>
    <script>
BUNDLE
    </script>
    <style>
        body { font-family: sans-serif; }
        table { border-spacing: 15px; }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def write(path: Path) -> Path:
    """The offline page at ``path`` (made again only when vl-convert-python changed)."""
    import vl_convert  # a few seconds to import: only here

    path = Path(path)
    stamp = f"<!-- vl-convert-python {vl_convert.__version__}, Vega-Lite {VEGA_LITE} -->\n"
    if path.is_file() and path.read_text(encoding="utf-8").startswith(stamp):
        return path
    bundle = vl_convert.javascript_bundle(vl_version=VEGA_LITE)
    for placeholder in ("{plot_divs}", "{scripts}", "{refresh_tag}"):
        if placeholder in bundle:  # DVC would fill it in the middle of the script
            raise RuntimeError(f"vl-convert's bundle contains DVC's placeholder {placeholder}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(stamp + PAGE.replace("BUNDLE", bundle), encoding="utf-8")
    return path
