"""nbval re-executes each committed, executed notebook and compares its outputs.

The notebook is copied into a temporary tree first, so its tables and figures are written
there and the repository's committed results stay untouched; the pipeline outputs notebooks
read (trained runs, timings) are linked into that tree read-only.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import papermill
import pytest

from roots import data, train
from tiny import write_tiny_cifar

ROOT = Path(__file__).resolve().parents[1]
EXECUTED = sorted((ROOT / "results").glob("*/*.ipynb"))
INPUTS = ("runs", "timing")  # results/ folders that notebooks read rather than write
NEEDS_DATA = {"covariance"}  # notebooks that read the prepared CIFAR-10 (data/cifar10)


def _provide_data(tmp_path):
    """The prepared data set in the temporary tree: linked if prepared here, else decoded (CI)."""
    prepared, archive = ROOT / "data" / "cifar10", ROOT / data.OFFLINE_COPY
    (tmp_path / "data").mkdir()
    if prepared.is_dir():
        (tmp_path / "data" / "cifar10").symlink_to(prepared)
    elif archive.is_file():
        data.prepare(archive, tmp_path / "data" / "cifar10")
    else:
        pytest.skip(f"neither {prepared} nor {archive} exists")


def test_every_pipeline_notebook_has_an_executed_copy():
    sources = {path.name for path in (ROOT / "notebooks").glob("*.ipynb")}
    assert sources and sources == {path.name for path in EXECUTED}


@pytest.mark.parametrize("notebook", EXECUTED, ids=[path.stem for path in EXECUTED])
def test_executed_notebook_reproduces_its_outputs(notebook, tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "results").mkdir()
    for name in INPUTS:
        if (ROOT / "results" / name).is_dir():
            (tmp_path / "results" / name).symlink_to(ROOT / "results" / name)
    if notebook.stem in NEEDS_DATA:
        _provide_data(tmp_path)
    copy = shutil.copy(notebook, tmp_path / "notebooks" / notebook.name)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", copy, "-p", "no:cacheprovider", "-q",
         "--nbval-sanitize-with", ROOT / "tests" / "nbval_sanitize.cfg", "--rootdir", tmp_path],
        cwd=tmp_path / "notebooks", capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert (tmp_path / "results" / notebook.parent.name / "tables").is_dir()  # it wrote into the copy's tree


def test_resnet50_notebook_shows_a_trained_proxy_and_its_conv1_filters(tmp_path):
    """The proxy table, Fig. 8's proxy row and Fig. 14, from a tiny proxy run trained here on CPU."""
    data = write_tiny_cifar(tmp_path / "cifar10", size=32)
    run = "resnet50-cifar-root-8-s0"
    train.train(train.Run(model="resnet50-cifar", variant="root-8", data=str(data), out=str(tmp_path / "runs" / run),
                          device="cpu"), train.Recipe(epochs=1, batch_size=40, workers=0))  # fmt: skip
    out = tmp_path / "out"
    papermill.execute_notebook(ROOT / "notebooks" / "resnet50.ipynb", tmp_path / "resnet50.ipynb", kernel_name="python3",
                               cwd=ROOT / "notebooks", progress_bar=False,
                               parameters={"runs_dir": str(tmp_path / "runs"), "out_dir": str(out),
                                           "timing_dir": str(ROOT / "results" / "timing")})  # fmt: skip
    assert (out / "figures" / f"fig14_conv1_{run}.png").is_file()
    proxy = pd.read_csv(out / "tables" / "proxy_vs_paper.csv").set_index("variant")
    assert proxy.loc["root-8", "seeds"] == 1 and 0 <= proxy.loc["root-8", "accuracy"] <= 1
    assert proxy["accuracy"].notna().sum() == 1
