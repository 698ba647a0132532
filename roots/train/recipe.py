"""A training recipe: the optimisation settings of a run, checked where they enter.

A recipe is a section of ``params.yaml`` (``recipes.NAME``), the options of ``roots train``,
or both (``--recipe FILE:SECTION`` gives the defaults, options change them); every run
records the one it trained with, and its name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path

import yaml

from roots.errors import RootsError

PRECISIONS = ("fp32", "bf16", "fp16")
ANNEALS = ("cos", "linear")


class TrainingError(RootsError):
    """Settings that cannot train, e.g. a batch larger than the training set."""


@dataclass(frozen=True)
class Recipe:
    """Optimisation settings; every field is a ``roots train`` option and a key of a recipe in
    ``params.yaml``. Each value is checked here, whichever way it came in (command line,
    ``--recipe``, DVC), so a bad one fails before anything is written."""

    epochs: int = 40
    batch_size: int = 256  # over all processes together
    lr: float = 0.2  # the peak of the one-cycle schedule
    warmup: float = 0.15  # fraction of steps over which the rate rises linearly, then decays to about 0
    anneal: str = "cos"  # the decay's shape: cos (half a cosine) or linear (spends more steps at a high rate)
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    label_smoothing: float = 0.0  # target weight spread over the other classes; curbs over-confidence in short runs
    ema: float = 0.0  # per-step decay of an average of the weights and BatchNorm statistics, which is what is
    #                   evaluated and saved; 0: off. A short run's last weights are noisy, their average less so
    precision: str = "auto"  # auto: bf16 on a GPU and on a CPU with native bf16 (AVX-512 BF16, AMX), else fp32
    channels_last: bool = True
    deterministic: bool = True  # cuDNN's deterministic kernels; off lets cudnn.benchmark pick faster ones
    train_subset: int = 0  # 0: every training image; n: every k-th, n in all
    test_subset: int = 0
    workers: int = 4  # DataLoader processes for an ImageFolder (CIFAR-10 lives on the device)

    def __post_init__(self) -> None:
        for field in fields(self):
            kind, allowed, what = _ALLOWED[field.name]
            value = getattr(self, field.name)
            if not _is(kind, value) or not allowed(value):
                raise TrainingError(f"recipe value {field.name}={value!r} is not allowed: {field.name} must be {what}")
        if self.nesterov and self.momentum == 0:
            raise TrainingError(
                "recipe value nesterov=True is not allowed with momentum=0: Nesterov needs momentum > 0"
            )


def _is(kind: type, value) -> bool:
    """YAML and the command line give ``int`` for ``1`` and ``float`` for ``1.0``; a float field takes both."""
    if kind is bool:
        return isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return isinstance(value, kind) and not isinstance(value, bool)


_ALLOWED = {  # field: (type, test, what the message says is allowed)
    "epochs": (int, lambda v: v >= 1, "an integer of at least 1"),
    "batch_size": (int, lambda v: v >= 1, "an integer of at least 1"),
    "lr": (float, lambda v: v > 0, "a number above 0"),
    "warmup": (float, lambda v: 0 <= v < 1, "a number from 0 up to, not including, 1"),
    "anneal": (str, lambda v: v in ANNEALS, f"one of: {', '.join(ANNEALS)}"),
    "momentum": (float, lambda v: 0 <= v < 1, "a number from 0 up to, not including, 1"),
    "nesterov": (bool, lambda v: True, "true or false"),
    "weight_decay": (float, lambda v: v >= 0, "a number of at least 0"),
    "label_smoothing": (float, lambda v: 0 <= v < 1, "a number from 0 up to, not including, 1"),
    "ema": (float, lambda v: 0 <= v < 1, "a number from 0 (off) up to, not including, 1"),
    "precision": (str, lambda v: v in ("auto", *PRECISIONS), f"one of: auto, {', '.join(PRECISIONS)}"),
    "channels_last": (bool, lambda v: True, "true or false"),
    "deterministic": (bool, lambda v: True, "true or false"),
    "train_subset": (int, lambda v: v >= 0, "an integer of at least 0 (0: all images)"),
    "test_subset": (int, lambda v: v >= 0, "an integer of at least 0 (0: all images)"),
    "workers": (int, lambda v: v >= 0, "an integer of at least 0"),
}


def recipe_section(spec: str) -> dict:
    """The recipe of ``FILE:SECTION`` in a YAML file; a dotted SECTION reaches into nested
    mappings, e.g. ``params.yaml:recipes.imagenet``."""
    path, _, section = spec.rpartition(":")
    if not path or not section:
        raise TrainingError(f"--recipe takes FILE:SECTION, e.g. params.yaml:recipes.imagenet; got {spec!r}")
    if not Path(path).is_file():
        raise TrainingError(f"--recipe {spec}: no file {path}")
    try:
        content = yaml.safe_load(Path(path).read_text()) or {}
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        raise TrainingError(
            f"--recipe {spec}: {path} is not valid YAML"
            + (f" (line {where.line + 1}, column {where.column + 1})" if where else "")
        ) from None
    for key in section.split("."):
        content = content.get(key) if isinstance(content, dict) else None
    if not isinstance(content, dict):
        raise TrainingError(f"--recipe {spec}: {path} has no section {section!r}")
    known = {field.name for field in fields(Recipe)}
    unknown = sorted(set(content) - known)
    if unknown:
        raise TrainingError(
            f"--recipe {spec}: unknown keys {', '.join(unknown)}; a recipe has: {', '.join(sorted(known))}"
        )
    return dict(content)


def recipe_name(spec: str | None, recipe: Recipe) -> str | None:
    """The name a run records for its recipe: the section's last key (``nin_paper``), marked
    ``+changes`` when command-line options changed any of its values; None without ``--recipe``."""
    if not spec:
        return None
    section = spec.rpartition(":")[2].split(".")[-1]
    return section if Recipe(**recipe_section(spec)) == recipe else f"{section}+changes"


def same_recipe(recorded: dict, recipe: Recipe) -> bool:
    """Whether a run's recorded recipe is ``recipe``; a key it lacks (one added since) has its default."""
    try:
        return Recipe(**recorded) == recipe
    except (TypeError, RootsError):
        return False
