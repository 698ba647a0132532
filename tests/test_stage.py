"""A stage that fails or is killed leaves the committed results and dvc.lock as they were."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from tiny import TIMING_ENTRY, TINY_RECIPE, dvc, git, make_checkout

from roots.pipeline import stage

pytestmark = pytest.mark.slow  # DVC, subprocesses, notebooks or Triton's interpreter: minutes


def test_outputs_change_only_when_the_command_succeeds(tmp_path):
    (tmp_path / "results" / "x").mkdir(parents=True)
    (tmp_path / "results" / "x" / "a.txt").write_text("committed\n")
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "input.txt").write_text("input\n")
    write = "mkdir -p results/x && cd notebooks && cat input.txt > ../results/x/a.txt"  # as papermill --cwd does
    with pytest.raises(stage.StageError, match="failed \\(exit 3\\); its outputs are as they were"):
        stage.run([Path("results/x")], write + " && exit 3", tmp_path)
    assert (tmp_path / "results/x/a.txt").read_text() == "committed\n"
    with pytest.raises(stage.StageError, match="made no results/x"):
        stage.run([Path("results/x")], "true", tmp_path)
    stage.run([Path("results/x")], write, tmp_path)
    assert (tmp_path / "results/x/a.txt").read_text() == "input\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["logs", "notebooks", "results"]  # no shadow left
    with pytest.raises(stage.StageError, match="is not inside the checkout"):
        stage.run([Path("../elsewhere")], "true", tmp_path)


def test_a_failed_notebook_is_one_line_naming_its_error_and_the_log_keeps_the_rest(tmp_path, capfd):
    notebook = {
        "cells": [
            {"cell_type": "code", "execution_count": 2, "outputs": []},
            {
                "cell_type": "code",
                "execution_count": 3,
                "outputs": [
                    {"output_type": "error", "ename": "RootsError", "evalue": "batch must be at least 1, got 0"}
                ],
            },
        ]
    }
    (tmp_path / "run.ipynb").write_text(json.dumps(notebook))
    command = (
        "mkdir -p results/x && cp run.ipynb results/x/ && printf 'Executing: 40%%|4/10\\r' >&2 && "
        "printf 'Traceback (most recent call last):\\n  papermill says a lot\\n' >&2 && exit 1"
    )
    with pytest.raises(stage.StageError) as failed:
        stage.run([Path("results/x")], command, tmp_path)
    log = tmp_path / "logs" / "stages" / "x.log"
    assert str(failed.value) == (
        "results/x/run.ipynb stopped at cell 3: RootsError: batch must be at least 1, got 0: the stage's command "
        f"failed (exit 1); its outputs are as they were (its output: {log})"
    )
    shown = capfd.readouterr().err
    assert "Executing: 40%|4/10" in shown and "Traceback" not in shown and "papermill says a lot" not in shown
    assert "papermill says a lot" in log.read_text() and not (tmp_path / "results" / "x").exists()


@pytest.fixture(scope="module")
def committed(tmp_path_factory):
    """A scratch checkout with one trained run and one timing, reproduced by DVC and committed."""
    repo = make_checkout(
        tmp_path_factory.mktemp("checkout"),
        recipes={"tiny": dict(TINY_RECIPE)},
        nin_runs={"orig-s0": {"variant": "orig", "seed": 0, "recipe": "tiny"}},
        timing_devices={"tiny": TIMING_ENTRY},
    )
    dvc(repo, "repro", "--single-item", "nin_train@orig-s0", "timing@tiny")  # not prepare: the data is tiny
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "results")
    return repo


def _untouched(repo):
    assert git(repo, "status", "--short", "--untracked-files=all", "results", "dvc.lock") == ""


def _set_recipe(repo, **values):
    content = yaml.safe_load((repo / "params.yaml").read_text())
    content["recipes"]["tiny"].update(values)
    (repo / "params.yaml").write_text(yaml.safe_dump(content, sort_keys=False))


def test_a_stage_that_fails_on_a_bad_parameter_keeps_its_results(committed):
    _set_recipe(committed, epochs="abc")
    try:
        done = dvc(committed, "repro", "--single-item", "nin_train@orig-s0", check=False)
        assert done.returncode != 0
        assert "roots: error: recipe value epochs='abc' is not allowed: epochs must be an integer of at least 1" in (
            done.stdout + done.stderr
        )
        _untouched(committed)
        assert "recipes.tiny" in dvc(committed, "status", "nin_train@orig-s0").stdout  # what changed
    finally:
        git(committed, "checkout", "params.yaml")


def _kill_when(repo, args, ready, timeout=300):
    """Start ``dvc args`` and SIGKILL it and everything it started once ``ready()`` holds."""
    process = subprocess.Popen(
        [sys.executable, "-m", "dvc", *args],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    started = time.monotonic()
    while not ready():
        assert process.poll() is None and time.monotonic() - started < timeout
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def test_a_training_stage_killed_mid_run_keeps_its_results(committed):
    _set_recipe(committed, epochs=50)
    try:
        _kill_when(
            committed,
            ["repro", "--single-item", "nin_train@orig-s0"],
            lambda: (committed / "results/runs/nin/orig-s0/checkpoint.pt").is_file(),
        )
        _untouched(committed)
    finally:
        git(committed, "checkout", "params.yaml")
    assert "up to date" in dvc(committed, "status", "nin_train@orig-s0").stdout


def test_a_timing_stage_killed_mid_run_keeps_its_results(committed):
    shadow = committed / f"{stage.SHADOW_PREFIX}tiny" / "results" / "timing" / "tiny"
    _kill_when(committed, ["repro", "--single-item", "--force", "timing@tiny"], lambda: any(shadow.glob("nin-*.json")))
    _untouched(committed)
    assert "up to date" in dvc(committed, "status", "timing@tiny").stdout
    dvc(committed, "repro", "--single-item", "--force", "timing@tiny")  # the next run clears what the killed one left
    assert not (committed / f"{stage.SHADOW_PREFIX}tiny").exists()
