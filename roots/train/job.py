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
    """Where a list of runs lives: its folder under ``results/runs``, list in ``params.yaml`` and
    foreach stage in ``dvc.yaml``. NiN has two: ``nin`` (the smoke runs and the GPU campaign's)
    and ``nin_cpu`` (the CPU campaign's budget), so that runs of both budgets stand side by side."""

    name: str
    runs_list: str
    stage: str
    models: tuple[str, ...]

    def key(self, model: str, variant: str, seed: int) -> str:
        return f"{variant}-s{seed}" if self.models == ("nin",) else f"{model}-{variant}-s{seed}"

    def entry(self, model: str, variant: str, seed: int, recipe_name: str) -> dict:
        """A run as an entry of ``runs_list``."""
        entry = {"variant": variant, "seed": seed, "recipe": recipe_name}
        return entry if self.models == ("nin",) else {"model": model, **entry}

    def folder(self, root: Path, key: str) -> Path:
        return Path(root) / "results" / "runs" / self.name / key


GROUPS = {
    group.name: group
    for group in (
        Group("nin", "nin_runs", "nin_train", ("nin",)),
        Group("nin_cpu", "nin_cpu_runs", "nin_cpu_train", ("nin",)),
        Group("proxy", "proxy_runs", "proxy_train", tuple(models.PROXIES)),
    )
}
RUN_LISTS = tuple(group.runs_list for group in GROUPS.values())


def group_of(model: str, runs_list: str | None = None) -> Group:
    """The group of ``runs_list``, checked to take ``model``; without one, the first that takes it."""
    if runs_list is not None:
        chosen = next((group for group in GROUPS.values() if group.runs_list == runs_list), None)
        if chosen is None:
            raise JobError(f"unknown run list {runs_list!r}; choose one of: {', '.join(RUN_LISTS)}")
        if model not in chosen.models:
            raise JobError(f"{runs_list} takes runs of {', '.join(chosen.models)}, not of {model!r}")
        return chosen
    for group in GROUPS.values():
        if model in group.models:
            return group
    raise JobError(
        f"model {model!r} cannot be swept: it trains on CIFAR-10 only as nin or a proxy ({', '.join(models.PROXIES)})"
    )


def train_arguments(
    model: str, variant: str, seed: int, recipe_name: str, params: Path, data: Path, out: Path, device: str = "auto"
) -> list[str]:
    """The ``roots train`` options of one run, with its recipe read from ``params``."""
    recipe = f"{params}:recipes.{recipe_name}"
    options = dict(model=model, variant=variant, seed=seed, recipe=recipe, data=data, out=out, device=device)
    # --force: the caller (a DVC stage, a sweep) has decided that the run must be made (again)
    return [part for name, value in options.items() for part in (f"--{name}", str(value))] + ["--force"]


def listed(params: Path, runs_list: str, key: str) -> dict:
    """Entry ``key`` of ``runs_list`` in ``params``, checked, with its model filled in (NiN's lists name none)."""
    if runs_list not in RUN_LISTS:
        raise JobError(f"unknown run list {runs_list!r}; choose one of: {', '.join(RUN_LISTS)}")
    content = yaml.safe_load(Path(params).read_text()) or {}
    entries = content.get(runs_list) or {}
    if key not in entries:
        raise JobError(f"{params} has no {runs_list}.{key}; it lists: {', '.join(entries) or 'nothing'}")
    return checked_entry(runs_list, key, entries[key])


def checked_entry(runs_list: str, key: str, entry) -> dict:
    """An entry of a run list as written in ``params.yaml``, checked, with its model filled in."""
    if not isinstance(entry, dict):
        raise JobError(f"{runs_list}.{key} must be a mapping such as {{variant: root-8, seed: 0, recipe: nin_cpu}}")
    entry = {"model": "nin", **entry}
    missing = {"variant", "seed", "recipe"} - set(entry)
    if missing:
        raise JobError(f"{runs_list}.{key} lacks {', '.join(sorted(missing))}")
    if isinstance(entry["seed"], bool) or not isinstance(entry["seed"], int):
        raise JobError(f"{runs_list}.{key}: seed must be an integer, got {entry['seed']!r}")
    return entry


def listed_arguments(params: Path, runs_list: str, key: str, data: Path, device: str = "auto") -> list[str]:
    """What ``roots job`` trains: entry ``key`` of ``runs_list``, into its folder of the checkout."""
    entry = listed(params, runs_list, key)
    folder = group_of(entry["model"], runs_list).folder(Path("."), key)
    return train_arguments(
        entry["model"], entry["variant"], entry["seed"], entry["recipe"], params, data, folder, device
    )
