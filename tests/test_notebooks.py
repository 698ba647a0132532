"""nbval re-executes each committed, executed notebook and compares its outputs; then every file
the notebook wrote is compared with the committed one.

The notebook is copied into a temporary tree first, so its tables and figures are written
there and the repository's committed results stay untouched; the pipeline outputs notebooks
read (trained runs, timings) are linked into that tree read-only. nbval compares text outputs
(skipping images); the files are compared here: tables (CSV), metrics and plot data byte for
byte, figures (PNG, JPEG) pixel by pixel within an RMS difference of ``FIGURE_TOLERANCE``.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import papermill
import pytest
from PIL import Image
from tiny import write_tiny_cifar

from roots.train import data, loop
from roots.train import recipe as recipes

pytestmark = pytest.mark.slow  # DVC, subprocesses, notebooks or Triton's interpreter: minutes

ROOT = Path(__file__).resolve().parents[1]
EXECUTED = sorted((ROOT / "results").glob("*/*.ipynb"))
INPUTS = ("runs", "timing")  # results/ folders that notebooks read rather than write
NEEDS_DATA = {"covariance"}  # notebooks that read the prepared CIFAR-10 (data/cifar10)
HEAVY = {"covariance"}  # 4-8 minutes on 2 cores (four trained networks' moments over the test set): make test-all
FIGURES = {".png", ".jpg"}
FIGURE_TOLERANCE = 1.0  # RMS difference in grey levels of 255: a changed figure differs by far more


def _rms(first: Path, second: Path) -> float:
    images = [np.asarray(Image.open(path).convert("RGB"), dtype=float) for path in (first, second)]
    return float("inf") if images[0].shape != images[1].shape else float(np.sqrt(((images[0] - images[1]) ** 2).mean()))


def _written_files_match(written: Path, committed: Path) -> list[str]:
    """What differs between the files a notebook run wrote and the committed ones, both ways."""
    made = {path.relative_to(written) for path in written.rglob("*") if path.is_file() and path.suffix != ".ipynb"}
    kept = {path.relative_to(committed) for path in committed.rglob("*") if path.is_file() and path.suffix != ".ipynb"}
    problems = [f"{path}: not written" for path in sorted(kept - made)] + [
        f"{path}: not committed" for path in sorted(made - kept)
    ]
    for path in sorted(made & kept):
        if path.suffix in FIGURES:
            rms = _rms(written / path, committed / path)
            if rms > FIGURE_TOLERANCE:
                problems.append(f"{path}: figure differs (RMS {rms:.2f} grey levels)")
        elif (written / path).read_bytes() != (committed / path).read_bytes():
            problems.append(f"{path}: differs")
    return problems


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


def _link_inputs(notebook: Path, tmp_path: Path) -> None:
    """Link the pipeline outputs the notebook reads into the temporary tree, read-only.

    A notebook that lists the trained runs it read (``tables/runs.csv``) gets those runs only: the
    CPU campaign commits each run as it finishes, and a run trained since the notebook's last
    execution is the next execution's input (``dvc status`` calls the stage stale), not a change
    to what this execution computed from its own inputs.
    """
    analysed = notebook.parent / "tables" / "runs.csv"
    for name in INPUTS:
        source = ROOT / "results" / name
        if not source.is_dir():
            continue
        if name != "runs" or not analysed.is_file():
            (tmp_path / "results" / name).symlink_to(source)
            continue
        for budget in (path for path in source.iterdir() if path.is_dir()):
            (tmp_path / "results" / name / budget.name).mkdir(parents=True)
        for folder in pd.read_csv(analysed)["folder"]:
            run = (ROOT / "notebooks" / folder).resolve()  # written relative to notebooks/, where it ran
            (tmp_path / run.relative_to(ROOT)).symlink_to(run)


def test_every_pipeline_notebook_has_an_executed_copy():
    sources = {path.name for path in (ROOT / "notebooks").glob("*.ipynb")}
    assert sources and sources == {path.name for path in EXECUTED}


@pytest.mark.parametrize(
    "notebook",
    [pytest.param(path, marks=[pytest.mark.heavy] if path.stem in HEAVY else []) for path in EXECUTED],
    ids=[path.stem for path in EXECUTED],
)
def test_executed_notebook_reproduces_its_outputs(notebook, tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "results").mkdir()
    _link_inputs(notebook, tmp_path)
    if notebook.stem in NEEDS_DATA:
        _provide_data(tmp_path)
    copy = shutil.copy(notebook, tmp_path / "notebooks" / notebook.name)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval",
            copy,
            "-p",
            "no:cacheprovider",
            "-q",
            "--nbval-sanitize-with",
            ROOT / "tests" / "nbval_sanitize.cfg",
            "--rootdir",
            tmp_path,
        ],
        cwd=tmp_path / "notebooks",
        capture_output=True,
        text=True,
        # no progress bars: the committed notebooks hold none (roots tidy-notebook drops them and the
        # blank lines they leave), and nbval would see a stderr stream the committed cell lacks
        env={**os.environ, "TQDM_DISABLE": "1"},
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert (tmp_path / "results" / notebook.parent.name / "tables").is_dir()  # it wrote into the copy's tree
    assert _written_files_match(tmp_path / "results" / notebook.parent.name, notebook.parent) == []


def test_a_changed_figure_or_table_is_noticed(tmp_path):
    committed, written = tmp_path / "committed", tmp_path / "written"
    for folder in (committed, written):
        (folder / "figures").mkdir(parents=True)
        (folder / "tables").mkdir()
        (folder / "tables" / "t.csv").write_text("a,b\n1,2\n")
    picture = np.zeros((40, 60, 3), dtype=np.uint8)
    Image.fromarray(picture).save(committed / "figures" / "f.png")
    picture[5:15, 5:15] = 255  # a square that was not there
    Image.fromarray(picture).save(written / "figures" / "f.png")
    (written / "tables" / "t.csv").write_text("a,b\n1,3\n")
    (written / "tables" / "new.csv").write_text("a\n")
    assert _written_files_match(written, committed) == [
        "tables/new.csv: not committed",
        "figures/f.png: figure differs (RMS 52.05 grey levels)",
        "tables/t.csv: differs",
    ]


def test_resnet50_notebook_shows_a_trained_proxy_and_its_conv1_filters(tmp_path):
    """The proxy table, Fig. 8's proxy row and Fig. 14, from a tiny proxy run trained here on CPU."""
    data = write_tiny_cifar(tmp_path / "cifar10", size=32)
    run = "resnet50-cifar-root-8-s0"
    loop.train(
        loop.Run(
            model="resnet50-cifar", variant="root-8", data=str(data), out=str(tmp_path / "runs" / run), device="cpu"
        ),
        recipes.Recipe(epochs=1, batch_size=40, workers=0),
    )
    out = tmp_path / "out"
    papermill.execute_notebook(
        ROOT / "notebooks" / "resnet50.ipynb",
        tmp_path / "resnet50.ipynb",
        kernel_name="python3",
        cwd=ROOT / "notebooks",
        progress_bar=False,
        parameters={
            "runs_dir": str(tmp_path / "runs"),
            "out_dir": str(out),
            "timing_dir": str(ROOT / "results" / "timing"),
        },
    )
    assert (out / "figures" / f"fig14_conv1_{run}.png").is_file()
    proxy = pd.read_csv(out / "tables" / "proxy_vs_paper.csv").set_index("variant")
    assert proxy.loc["root-8", "seeds"] == 1 and 0 <= proxy.loc["root-8", "accuracy"] <= 1
    assert proxy["accuracy"].notna().sum() == 1
