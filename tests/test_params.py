"""params.yaml stays in the form DVC writes it, so that `dvc exp run -S KEY=VALUE` changes one line."""

import shutil
from pathlib import Path

import pytest
import yaml
from dvc.utils.hydra import apply_overrides  # what `dvc exp run -S` applies to params.yaml

ROOT = Path(__file__).resolve().parents[1]


def _leaf(section: dict, prefix: str) -> tuple[str, object]:
    """A number or flag under ``section`` (a string where it has none), as a dotted key, and its
    value: what a researcher would set (a free-text value would need Hydra's quoting)."""
    leaves = list(_leaves(section, prefix))
    return next(((key, value) for key, value in leaves if not isinstance(value, str)), leaves[0])


def _leaves(section: dict, prefix: str):
    for key, value in section.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}.{key}")
        elif not isinstance(value, list):
            yield f"{prefix}.{key}", value


def _changed(value: object) -> object:
    return not value if isinstance(value, bool) else value + 1 if isinstance(value, (int, float)) else f"{value}x"


SECTIONS = {name: value for name, value in yaml.safe_load((ROOT / "params.yaml").read_text()).items() if value}


@pytest.mark.parametrize("section", list(SECTIONS))
def test_setting_one_parameter_of_each_section_changes_one_line(section, tmp_path):
    key, value = _leaf(SECTIONS[section], section)
    params = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", params)
    before = params.read_text().splitlines()
    apply_overrides(params, [f"{key}={_changed(value)}"])
    after = params.read_text().splitlines()
    changed = [(old, new) for old, new in zip(before, after) if old != new]
    assert len(before) == len(after) and len(changed) == 1, f"-S {key} rewrote {len(changed)} lines: {changed[:3]}"
