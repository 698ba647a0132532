"""A trained run's place in the pipeline, said once: its name, its folder, its entry of
``params.yaml`` and the ``roots train`` command that makes it.

``dvc.yaml``'s training stages run ``roots job nin_runs KEY`` and the sweep runs
``train_arguments`` of its planned runs, so a stage and a sweep train a run the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from roots.errors import RootsError
from roots.nn import models

RUN_LISTS = ("nin_runs", "proxy_runs")


class JobError(RootsError):
    """A run list or entry of ``params.yaml`` that names no trainable run."""


@dataclass(frozen=True)
class Group:
    """Where a model's runs live: their folder under ``results/runs``, list in ``params.yaml``
    and foreach stage in ``dvc.yaml``."""

    name: str
    runs_list: str
    stage: str

    def key(self, model: str, variant: str, seed: int) -> str:
        return f"{variant}-s{seed}" if self.name == "nin" else f"{model}-{variant}-s{seed}"

    def entry(self, model: str, variant: str, seed: int, recipe_name: str) -> dict:
        """A run as an entry of ``runs_list``."""
        entry = {"variant": variant, "seed": seed, "recipe": recipe_name}
        return entry if self.name == "nin" else {"model": model, **entry}

    def folder(self, root: Path, key: str) -> Path:
        return Path(root) / "results" / "runs" / self.name / key


GROUPS = {"nin": Group("nin", "nin_runs", "nin_train"), "proxy": Group("proxy", "proxy_runs", "proxy_train")}


def group_of(model: str) -> Group:
    if model == "nin":
        return GROUPS["nin"]
    if model in models.PROXIES:
        return GROUPS["proxy"]
    raise JobError(
        f"model {model!r} cannot be swept: it trains on CIFAR-10 only as nin or a proxy ({', '.join(models.PROXIES)})"
    )


def train_arguments(
    model: str, variant: str, seed: int, recipe_name: str, params: Path, data: Path, out: Path, device: str = "auto"
) -> list[str]:
    """The ``roots train`` options of one run, with its recipe read from ``params``."""
    return [
        "--model",
        model,
        "--variant",
        variant,
        "--seed",
        str(seed),
        "--recipe",
        f"{params}:recipes.{recipe_name}",
        "--data",
        str(data),
        "--out",
        str(out),
        "--device",
        device,
    ]


def listed(params: Path, runs_list: str, key: str) -> dict:
    """Entry ``key`` of ``runs_list`` in ``params``, with its model filled in (NiN's list names none)."""
    if runs_list not in RUN_LISTS:
        raise JobError(f"unknown run list {runs_list!r}; choose one of: {', '.join(RUN_LISTS)}")
    content = yaml.safe_load(Path(params).read_text()) or {}
    entries = content.get(runs_list) or {}
    if key not in entries:
        raise JobError(f"{params} has no {runs_list}.{key}; it lists: {', '.join(entries) or 'nothing'}")
    entry = {"model": "nin", **entries[key]}
    missing = {"variant", "seed", "recipe"} - set(entry)
    if missing:
        raise JobError(f"{runs_list}.{key} lacks {', '.join(sorted(missing))}")
    return entry


def listed_arguments(params: Path, runs_list: str, key: str, data: Path, device: str = "auto") -> list[str]:
    """What ``roots job`` trains: entry ``key`` of ``runs_list``, into its folder of the checkout."""
    entry = listed(params, runs_list, key)
    folder = group_of(entry["model"]).folder(Path("."), key)
    return train_arguments(
        entry["model"], entry["variant"], entry["seed"], entry["recipe"], params, data, folder, device
    )
