"""`make plots` offline: `dvc plots show` with roots' page draws every plot of dvc.yaml in a real
headless Chromium that is refused every request to the network."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from roots.pipeline import plots_page

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytest.importorskip("playwright", reason="the browser test needs the test extras (pip install -e '.[test]')")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium here: .ci/run installs Debian's chromium"),
]


def _declared_plots() -> int:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    return sum(len(stage.get("plots", [])) for stage in stages.values() if isinstance(stage, dict))


def test_every_plot_is_drawn_without_the_network(tmp_path):
    from playwright.sync_api import sync_playwright

    page_template = plots_page.write(tmp_path / "page.html")
    shown = subprocess.run(
        [sys.executable, "-m", "dvc", "plots", "show", "--html-template", str(page_template), "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert shown.returncode == 0, shown.stderr
    html = (tmp_path / "index.html").read_text()
    assert "cdn.jsdelivr" not in html and "<script src=" not in html
    refused = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.route("http*://**", lambda route: (refused.append(route.request.url), route.abort()))
            errors = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto((tmp_path / "index.html").as_uri())
            expected = _declared_plots()
            page.wait_for_function(
                f"() => document.querySelectorAll('.vega-embed svg.marks').length >= {expected}", timeout=60_000
            )
            drawn = page.evaluate("() => document.querySelectorAll('.vega-embed svg.marks').length")
            page.screenshot(path=str(tmp_path / "plots.png"), full_page=True)
        finally:
            browser.close()
    assert drawn == expected and not errors and not refused, (drawn, errors, refused)
