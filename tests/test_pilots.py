"""The pilots' README (prose, since each pilot answers its own question) states what their files
say: every finished pilot is named there with the top-1 its metrics.json records."""

import json
from pathlib import Path

import pytest

PILOTS = Path(__file__).resolve().parents[1] / "results" / "pilots"
FINISHED = sorted(PILOTS.rglob("metrics.json"))


def test_there_are_pilots_to_check():
    assert len(FINISHED) >= 4


@pytest.mark.parametrize("metrics", FINISHED, ids=lambda path: str(path.parent.relative_to(PILOTS)))
def test_the_readme_gives_each_finished_pilot_its_measured_top1(metrics):
    readme = (PILOTS / "README.md").read_text()
    folder = metrics.parent.relative_to(PILOTS)
    top1 = f"{100 * json.loads(metrics.read_text())['test_accuracy']:.2f}"
    assert f"`{folder.parts[0]}/" in readme, f"results/pilots/README.md does not name {folder}"
    assert top1 in readme, f"results/pilots/README.md does not give {folder}'s measured top-1, {top1}%"
