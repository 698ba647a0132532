"""Trained runs read back: their metrics as a table, their weights as a model."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from roots import models
from roots.errors import RootsError
from roots.train import METRICS, WEIGHTS


class RunsError(RootsError):
    """No trained runs where they were expected."""


def metrics(run_dir: Path) -> dict:
    path = Path(run_dir) / METRICS
    if not path.is_file():
        raise RunsError(f"no {METRICS} in {run_dir}: train it first (`dvc repro` or `roots train --out {run_dir}`)")
    return json.loads(path.read_text())


COLUMNS = ("run", "model", "variant", "seed", "test_accuracy", "test_top5_accuracy", "flops", "params", "epochs",
           "train_images", "test_images", "images_per_second", "train_seconds", "device", "precision", "data",
           "git_commit")  # fmt: skip


def table(runs_dir: Path) -> pd.DataFrame:
    """One row per run under ``runs_dir``: what was trained, how, on what, and how well."""
    found = sorted(Path(runs_dir).glob(f"*/{METRICS}"))
    if not found:
        raise RunsError(f"no trained runs in {runs_dir}: run `dvc repro` (see README, Training)")
    rows = []
    for path in found:
        run = json.loads(path.read_text())
        row = {column: run.get(column) for column in COLUMNS}
        row.update(run=path.parent.name, device=run["device"]["name"], data=run["data"]["name"])
        rows.append(row)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def model(run_dir: Path) -> nn.Module:
    """The trained network of a run, in float32 and eval mode."""
    run = metrics(run_dir)
    state = torch.load(Path(run_dir) / WEIGHTS, map_location="cpu")
    network = models.family(run["model"]).build(run["groups"], num_classes=run["num_classes"])
    network.load_state_dict({key: value.float() if value.is_floating_point() else value for key, value in state.items()})
    return network.eval()
