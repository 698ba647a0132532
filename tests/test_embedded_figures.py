"""Each committed notebook shows its figure files themselves (``display.figure``), so every image
embedded in it must be one of the committed figures beside it, byte for byte, and every figure
must be shown. nbval skips images, and the notebook tests compare only the files a re-run writes:
this is what notices an embedded image that was altered, or a figure file that was replaced."""

import base64
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
EXECUTED = sorted((ROOT / "results").glob("*/*.ipynb"))


def _embedded(notebook: Path) -> list[bytes]:
    cells = json.loads(notebook.read_text())["cells"]
    return [
        base64.b64decode("".join(content))
        for cell in cells
        for output in cell.get("outputs", [])
        for mime, content in output.get("data", {}).items()
        if mime.startswith("image/")
    ]


def embedded_vs_files(notebook: Path) -> list[str]:
    """What differs between the images ``notebook`` shows and the figure files in its folder."""
    figures = {
        path.name: path.read_bytes() for path in sorted((notebook.parent / "figures").glob("*")) if path.is_file()
    }
    shown = _embedded(notebook)
    problems = [
        f"image {number} of {len(shown)} is none of the committed figures"
        for number, image in enumerate(shown, 1)
        if image not in figures.values()
    ]
    return problems + [
        f"figures/{name}: not shown in the notebook" for name, data in figures.items() if data not in shown
    ]


@pytest.mark.parametrize("notebook", EXECUTED, ids=[path.stem for path in EXECUTED])
def test_committed_notebook_shows_its_committed_figures(notebook):
    assert embedded_vs_files(notebook) == []


def test_an_altered_embedded_image_or_a_replaced_figure_is_noticed(tmp_path):
    notebook = next(
        path for path in EXECUTED if any(name.suffix == ".png" for name in (path.parent / "figures").glob("*"))
    )
    shutil.copytree(notebook.parent / "figures", tmp_path / "figures")
    copy = Path(shutil.copy(notebook, tmp_path))
    assert embedded_vs_files(copy) == []

    content = json.loads(notebook.read_text())
    output = next(
        out for cell in content["cells"] for out in cell.get("outputs", []) if "image/png" in out.get("data", {})
    )
    picture = np.asarray(Image.open(io.BytesIO(base64.b64decode("".join(output["data"]["image/png"])))).convert("RGB"))
    picture = picture.copy()
    picture[5:15, 5:15] = 255 - picture[5:15, 5:15]  # a small square, as a hand edit would leave
    altered = io.BytesIO()
    Image.fromarray(picture).save(altered, format="png")
    output["data"]["image/png"] = base64.b64encode(altered.getvalue()).decode()
    copy.write_text(json.dumps(content))
    problems = embedded_vs_files(copy)
    assert len(problems) == 2 and problems[0].endswith("is none of the committed figures"), problems
    assert problems[1].endswith(": not shown in the notebook")

    shutil.copy(notebook, copy)
    figure = sorted((tmp_path / "figures").glob("*.png"))[0]
    figure.write_bytes(figure.read_bytes() + b"\0")  # a figure file replaced by another
    problems = embedded_vs_files(copy)
    assert len(problems) == 2 and problems[1] == f"figures/{figure.name}: not shown in the notebook", problems
