"""Trained runs read back: their metrics as a table, their weights as a model."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from roots.errors import RootsError
from roots.nn import models
from roots.train.loop import METRICS, WEIGHTS, RunMetrics


class RunsError(RootsError):
    """No trained runs where they were expected."""


def metrics(run_dir: Path) -> dict:
    path = Path(run_dir) / METRICS
    if not path.is_file():
        raise RunsError(f"no {METRICS} in {run_dir}: train it first (`dvc repro` or `roots train --out {run_dir}`)")
    try:
        found = json.loads(path.read_text())
    except ValueError as error:  # truncated by a full disk or a copy cut short
        raise RunsError(f"{path} is not readable JSON ({error}); train the run again or restore it from git") from None
    if not isinstance(found, dict):
        raise RunsError(f"{path} holds no run's metrics; train the run again or restore it from git")
    return found


# the keys of a run's metrics a table shows, in its column order ("device" and "data" by name)
TABLE_KEYS = (
    "model",
    "variant",
    "seed",
    "test_accuracy",
    "test_top5_accuracy",
    "flops",
    "params",
    "epochs",
    "train_images",
    "test_images",
    "images_per_second",
    "train_seconds",
    "device",
    "precision",
    "data",
    "recipe_name",
    "git_commit",
)
RENAMED = {"recipe_name": "recipe"}  # a table's column for a key of the metrics
COLUMNS = ("run", *(RENAMED.get(key, key) for key in TABLE_KEYS), "folder")
BUDGET = ["recipe", "epochs", "train_images", "test_images", "data", "device", "precision"]


def table(*runs_dirs: Path) -> pd.DataFrame:
    """One row per run under ``runs_dirs`` (e.g. the smoke runs' folder and the CPU campaign's):
    what was trained, how, on what, and how well."""
    found = sorted(path for runs_dir in runs_dirs for path in Path(runs_dir).glob(f"*/{METRICS}"))
    if not found:
        raise RunsError(f"no trained runs in {', '.join(map(str, runs_dirs))}: run `dvc repro` (see README, Training)")
    rows = []
    for path in found:
        run: RunMetrics = metrics(path.parent)
        row = {RENAMED.get(key, key): run.get(key) for key in TABLE_KEYS}
        row.update(
            run=path.parent.name,
            folder=str(path.parent),
            device=run["device"]["name"],
            data=run["data"]["name"],
            recipe=run.get("recipe_name") or "unnamed",
        )
        rows.append(row)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def budgets(frame: pd.DataFrame) -> list[str]:
    """One sentence per distinct training budget among ``table`` rows: what a reader must know
    before reading any accuracy made with it."""
    sentences = []
    for values, group in frame.groupby(BUDGET, sort=False):
        budget = dict(zip(BUDGET, values))
        sentences.append(
            f"{len(group)} runs, recipe {budget['recipe']}: {budget['epochs']} epochs over {budget['train_images']:,} "
            f"training images, tested on {budget['test_images']:,} images of {budget['data']}, on {budget['device']} "
            f"({budget['precision']}), seeds {sorted(group['seed'].unique().tolist())}, "
            f"{group['images_per_second'].median():,.0f} training images/s (median)"
        )
    return sentences


def most_complete_budget(frame: pd.DataFrame, variants: list[str]) -> pd.DataFrame:
    """The runs a table of ``variants`` reports: one recipe's, the one with an Orig run that covers
    most of them, and of those the one that trained most (epochs x images). So a table switches
    to a longer budget (the CPU campaign's, a GPU's) once that budget has every variant the
    smoke runs have; ``budgets`` still lists the other runs. Only the table's own variants: the
    budget's other runs (Table 8's tree and column in Table 2, root-32 in either) are not what the
    table's curves, run count and training hours are about."""
    with_orig = frame[frame["recipe"].isin(frame.loc[frame["variant"] == "orig", "recipe"])]
    if with_orig.empty:
        raise RunsError("no recipe among these runs has an Orig run to compare the variants with")
    recipes = with_orig.groupby("recipe")
    covered = recipes["variant"].agg(lambda names: len(set(names) & set(variants)))
    size = (with_orig["epochs"] * with_orig["train_images"]).groupby(with_orig["recipe"]).max()
    chosen = max(covered.index, key=lambda recipe: (covered[recipe], size[recipe]))
    return frame[(frame["recipe"] == chosen) & frame["variant"].isin(variants)].reset_index(drop=True)


def most_complete_runs(frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """The runs called ``names`` (orig-s0, root-4-s0, ...) of one budget, by name in that order: of
    the recipes with an Orig run, the one that has most of them, and of those the one that trained
    most (``most_complete_budget``). So the covariance appendix moves to the CPU campaign's runs once
    that campaign has them all."""
    named = frame[frame["run"].isin(names)]
    if named.empty:
        raise RunsError(f"none of the runs {', '.join(names)} is trained: run `dvc repro` (see README, Training)")
    chosen = most_complete_budget(named, list(named["variant"].unique())).set_index("run")
    missing = [name for name in names if name not in chosen.index]
    if missing:
        raise RunsError(
            f"recipe {chosen['recipe'].iloc[0]} has no run {', '.join(missing)}: train it, or leave it out of the names"
        )
    return chosen.loc[names]


def budget_label(frame: pd.DataFrame) -> str:
    """The budget of one recipe's runs in a few words, for a figure's title: devices and precisions
    as they were (sessions draw different machines), and the seeds per variant, so that a title
    does not claim three seeds of every variant when only Orig has them."""
    row = frame.iloc[0]
    seeds = frame.groupby("variant")["seed"].agg(lambda values: tuple(sorted(values.unique())))
    common, _ = Counter(seeds).most_common(1)[0]
    exceptions = "; ".join(f"{variant}: {_listed(each)}" for variant, each in seeds.items() if each != common)
    where = ", ".join(
        f"{device} ({' and '.join(sorted(group['precision'].dropna().unique())) or 'precision unrecorded'})"
        for device, group in frame.groupby("device", sort=False)
    )
    return (
        f"recipe {row['recipe']}: {row['epochs']} epochs x {row['train_images']:,} images of {row['data']}, "
        f"{where}, seed{'s' if len(common) > 1 else ''} {_listed(common)} per variant"
        + (f" ({exceptions})" if exceptions else "")
    )


def _listed(seeds: tuple) -> str:
    return ",".join(map(str, seeds))


def budget_metrics(frame: pd.DataFrame) -> dict:
    """The budget of one recipe's runs as numbers, for a stage's metrics file."""
    row = frame.iloc[0]
    return {
        "epochs": int(row["epochs"]),
        "train_images": int(row["train_images"]),
        "runs": len(frame),
        "orig_seeds": int((frame["variant"] == "orig").sum()),
    }


def curves(folders: list[Path]) -> pd.DataFrame:
    """Per-epoch test accuracy and training loss of the runs in ``folders``, one row per run and epoch."""
    rows = [
        {
            "run": Path(folder).name,
            "epoch": epoch["epoch"],
            "test_accuracy": epoch["test_accuracy"],
            "train_loss": epoch["train_loss"],
        }
        for folder in folders
        for epoch in metrics(folder)["history"]
    ]
    return pd.DataFrame(rows, columns=["run", "epoch", "test_accuracy", "train_loss"])


def model(run_dir: Path) -> nn.Module:
    """The trained network of a run, in float32 and eval mode."""
    run = metrics(run_dir)
    state = torch.load(Path(run_dir) / WEIGHTS, map_location="cpu")
    network = models.family(run["model"]).build(run["groups"], num_classes=run["num_classes"])
    network.load_state_dict(
        {key: value.float() if value.is_floating_point() else value for key, value in state.items()}
    )
    return network.eval()
