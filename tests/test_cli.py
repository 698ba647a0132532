"""`roots list` and `roots profile`, and one clear message with a non-zero exit for bad input."""

import json
import subprocess
import sys

import pytest

import hand_counts
from roots import schedules
from roots.cli import main


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
    [(["profile", "--model", "alexnet"], "unknown model 'alexnet'; choose one of: nin"),
     (["profile", "--model", "nin", "--variant", "root-5"], "choose one of: orig, root-2"),
     (["profile", "--model", "nin", "--groups", "conv2a=5"], "conv2a: 5 groups do not divide its 96 input")],
)  # fmt: skip
def test_bad_input_gives_one_line_and_exit_2(argv, message):
    run = subprocess.run([sys.executable, "-m", "roots", *argv], capture_output=True, text=True)
    assert run.returncode == 2
    assert message in run.stderr
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1
