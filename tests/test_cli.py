"""`roots list` and `roots profile`, and one clear message with a non-zero exit for bad input."""

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import hand_counts
import pytest

from roots.cli import RECIPE_HELP, main, parser
from roots.paper import schedules
from roots.train import recipe as recipes

ROOT = Path(__file__).resolve().parents[1]


def test_list_names_every_family_and_variant(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for word in ("nin", "resnet50", "resnet200", "googlenet", "tree-16", "col-8", "root-64", "inc5_5x5"):
        assert word in out


def test_profile_json_has_plain_integer_counts(capsys):
    assert main(["profile", "--model", "nin", "--variant", "root-8", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert type(result["flops"]) is int and type(result["params"]) is int
    assert result["flops"] == hand_counts.nin(schedules.named("nin", "root-8")) and result["input_size"] == [3, 32, 32]
    assert result["params"] == pytest.approx(3.15e5, rel=0.01)  # the paper's Table 2


def test_profile_accepts_a_users_schedule(capsys):
    assert main(["profile", "--model", "nin", "--groups", "conv2a=8,conv3a=4", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["flops"] == hand_counts.nin(schedules.named("nin", "root-8"))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["profile", "--model", "alexnet"], "unknown model 'alexnet'; choose one of: nin"),
        (["profile", "--model", "nin", "--variant", "root-5"], "choose one of: orig, root-2"),
        (["profile", "--model", "nin", "--groups", "conv2a=5"], "conv2a: 5 groups do not divide its 96 input"),
        (["tidy-notebook", "missing.ipynb"], "roots: error: no notebook missing.ipynb"),
        (["tidy-notebook", "README.md"], "README.md is not a notebook (not JSON"),
        (["import", "missing.tar.gz", "--repo", "."], "missing.tar.gz: no such archive or folder"),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(argv, message, capsys):
    # in this process (a subprocess costs ~5 s of imports each); the console script's own path is
    # the next test's
    assert main(argv) == 2
    stderr = capsys.readouterr().err
    assert message in stderr and len(stderr.strip().splitlines()) == 1


def test_the_console_script_exits_2_with_the_one_line():
    run = subprocess.run(
        [sys.executable, "-m", "roots", "profile", "--model", "alexnet"], capture_output=True, text=True
    )
    assert run.returncode == 2 and run.stderr.startswith("roots: error: unknown model 'alexnet'")
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1


def test_a_campaign_from_code_without_a_commit_says_how_to_name_it(tmp_path):
    """A lent GPU machine gets the working tree without git history: its results would name no
    commit, and `roots import` would refuse them after the window is spent."""
    shutil.copytree(ROOT / "roots", tmp_path / "roots", ignore=shutil.ignore_patterns("__pycache__"))
    env = {key: value for key, value in os.environ.items() if key != "ROOTS_GIT_COMMIT"}
    command = [
        sys.executable,
        "-m",
        "roots",
        "campaign",
        "--device",
        "cpu",
        "--out",
        "out",
        "--archive",
        "missing.tar.gz",
    ]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        "roots: error: the code's commit is unknown: `roots import` takes only results of committed code, so commit "
        "first, and where this copy has no git history set ROOTS_GIT_COMMIT=<the commit it is>"
    ]
    named = subprocess.run(
        command, cwd=tmp_path, env={**env, "ROOTS_GIT_COMMIT": "0123abc"}, capture_output=True, text=True, timeout=120
    )
    assert named.returncode == 2 and "missing.tar.gz" in named.stderr and "commit" not in named.stderr


def test_the_overview_names_every_command_without_importing_torch():
    probe = "import sys; from roots.commands import main; main(['--help']); print('torch' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    *overview, imported = run.stdout.strip().splitlines()
    assert imported == "False"  # a fraction of a second, not the seconds torch takes
    listed = {line.split()[0] for line in overview if line.startswith("  ")}
    subparsers = next(action for action in parser()._actions if isinstance(action, argparse._SubParsersAction))
    assert listed == set(subparsers.choices)


def test_train_help_explains_every_recipe_option(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    fields = [field.name for field in dataclasses.fields(recipes.Recipe)]
    assert fields and [name for name in fields if " ".join(RECIPE_HELP.get(name, "?").split()) not in shown] == []
