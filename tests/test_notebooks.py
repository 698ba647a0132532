"""nbval re-executes each committed, executed notebook and compares its outputs.

The notebook is copied into a temporary tree first, so its tables and figures are written
there and the repository's committed results stay untouched.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXECUTED = sorted((ROOT / "results").glob("*/*.ipynb"))


def test_every_pipeline_notebook_has_an_executed_copy():
    sources = {path.name for path in (ROOT / "notebooks").glob("*.ipynb")}
    assert sources and sources == {path.name for path in EXECUTED}


@pytest.mark.parametrize("notebook", EXECUTED, ids=[path.stem for path in EXECUTED])
def test_executed_notebook_reproduces_its_outputs(notebook, tmp_path):
    (tmp_path / "notebooks").mkdir()
    copy = shutil.copy(notebook, tmp_path / "notebooks" / notebook.name)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", copy, "-p", "no:cacheprovider", "-q",
         "--nbval-sanitize-with", ROOT / "tests" / "nbval_sanitize.cfg", "--rootdir", tmp_path],
        cwd=tmp_path / "notebooks", capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert (tmp_path / "results").is_dir()  # it wrote its outputs into the copy's tree
