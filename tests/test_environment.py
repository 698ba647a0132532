"""pyproject.toml and environment.yml pin the same environment."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pins(requirements):
    return dict(re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", item).groups() for item in requirements)


def test_environment_yml_pins_what_pyproject_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = _pins(project["dependencies"] + project["optional-dependencies"]["test"])
    conda = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    pip_section = next(item["pip"] for item in conda if isinstance(item, dict))
    assert _pins(item for item in pip_section if not item.startswith("-e")) == wanted
    assert "-e .[test]" in pip_section
    assert "python=3.11" in conda and project["requires-python"] == "==3.11.*"
