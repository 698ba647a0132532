"""What each stage reports to DVC: a handful of headline metrics, so that `dvc metrics show` and
`dvc exp show` stay readable (the tables hold the rest)."""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEADLINE = 16  # metrics per stage at most: what a reader compares across experiments


def _leaves(value) -> int:
    return sum(_leaves(child) for child in value.values()) if isinstance(value, dict) else 1


@pytest.mark.parametrize("path", sorted((ROOT / "results").glob("*/metrics.json")), ids=lambda path: path.parent.name)
def test_each_stage_reports_a_handful_of_numbers(path):
    metrics = json.loads(path.read_text())
    assert _leaves(metrics) <= HEADLINE, f"{path.parent.name} reports {_leaves(metrics)} metrics"
    assert all(isinstance(value, (int, float)) for value in _values(metrics)), "a metric that is not a number"


def _values(value):
    if isinstance(value, dict):
        for child in value.values():
            yield from _values(child)
    else:
        yield value
