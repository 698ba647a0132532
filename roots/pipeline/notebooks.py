"""Executed notebooks that change only when their results do.

papermill stamps every cell with start and end times, the kernel adds its own timestamps, the
injected-parameters cell gets a random id, pandas Styler tables a random one, and reprs print
memory addresses. ``tidy`` removes or fixes each of these, so that a second ``dvc repro -f``
with nothing changed leaves ``git status`` clean and a diff of a notebook shows what its results
changed, not when it ran.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from roots.errors import RootsError

_CLOCKS = ("start_time", "end_time", "duration")
_PROGRESS_BAR = re.compile(r"\d+%\|")  # tqdm's, on stderr: rates and times, nothing a reader needs afterwards
_STYLER_ID = re.compile(r"T_[0-9a-f]{5}(?![0-9a-f])")
_ADDRESS = re.compile(r"0x[0-9a-f]{6,16}")


def _stable_text(text: str, styler_ids: dict[str, str]) -> str:
    for found in dict.fromkeys(_STYLER_ID.findall(text)):
        styler_ids.setdefault(found, f"T_table{len(styler_ids) + 1}")
    text = _STYLER_ID.sub(lambda match: styler_ids[match.group(0)], text)
    return _ADDRESS.sub("0xADDRESS", text)


def _stable_output(output: dict, styler_ids: dict[str, str]) -> dict:
    if "text" in output:
        output["text"] = _stable_lines(output["text"], styler_ids)
    for kind, value in output.get("data", {}).items():
        if kind.startswith("text/"):
            output["data"][kind] = _stable_lines(value, styler_ids)
    return output


def _stable_lines(value: str | list[str], styler_ids: dict[str, str]) -> str | list[str]:
    if isinstance(value, list):
        return [_stable_text(line, styler_ids) for line in value]
    return _stable_text(value, styler_ids)


def _is_progress(output: dict) -> bool:
    if output.get("output_type") == "stream" and output.get("name") == "stderr":
        text = "".join(output["text"]) if isinstance(output["text"], list) else output["text"]
        return bool(_PROGRESS_BAR.search(text)) or not text.strip()  # or the blank line a closing bar leaves
    return output.get("output_type") == "display_data" and "application/vnd.jupyter.widget-view+json" in output.get(
        "data", {}
    )


def tidy(path: Path) -> None:
    """Rewrite the executed notebook at ``path`` without what varies from run to run."""
    path = Path(path)
    try:
        notebook = json.loads(path.read_text())
    except FileNotFoundError:
        raise RootsError(f"no notebook {path}") from None
    except ValueError as error:
        raise RootsError(f"{path} is not a notebook (not JSON: {error})") from None
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise RootsError(f"{path} is not a notebook (no cells)")
    for key in _CLOCKS:
        notebook.get("metadata", {}).get("papermill", {}).pop(key, None)
    styler_ids: dict[str, str] = {}
    for index, cell in enumerate(notebook["cells"]):
        metadata = cell.get("metadata", {})
        metadata.pop("execution", None)
        for key in _CLOCKS:
            metadata.get("papermill", {}).pop(key, None)
        if "injected-parameters" in metadata.get("tags", []):
            cell["id"] = "injected-parameters"
        cell["outputs"] = (
            [_stable_output(output, styler_ids) for output in cell.get("outputs", []) if not _is_progress(output)]
            if "outputs" in cell
            else None
        )
        if cell["outputs"] is None:
            del cell["outputs"]
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
