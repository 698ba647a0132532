"""A tiny prepared CIFAR-10 folder for tests that train."""

import json
from pathlib import Path

import numpy as np


def write_tiny_cifar(folder: Path, size: int) -> Path:
    """A prepared folder of images whose class sets the colour: learnable in a few steps."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    palette = rng.integers(0, 256, (10, 3))
    for split, per_class in (("train", 12), ("test", 6)):
        labels = np.repeat(np.arange(10), per_class)  # class-sorted, like the prepared JPEG copy
        noise = rng.normal(0, 30, (len(labels), size, size, 3))
        images = np.clip(palette[labels][:, None, None, :] + noise, 0, 255).astype(np.uint8)
        np.save(folder / f"{split}_images.npy", images)
        np.save(folder / f"{split}_labels.npy", labels)
    (folder / "source.json").write_text(json.dumps({"name": "tiny", "filename": "-", "algorithm": "-", "digest": "-",
                                                    "description": "synthetic test set"}))  # fmt: skip
    return folder


TINY_RECIPE = {"epochs": 3, "batch_size": 40, "lr": 0.05, "warmup": 0.3, "momentum": 0.9, "nesterov": True,
               "weight_decay": 0.0005, "precision": "auto", "channels_last": True, "deterministic": True,
               "train_subset": 0, "test_subset": 0, "workers": 0}


def write_tiny_params(path: Path, runs: dict[str, dict], recipe: dict = TINY_RECIPE, campaign: dict | None = None) -> Path:
    """A params.yaml with one recipe, ``tiny``, and ``nin_runs``; written as JSON, which YAML reads."""
    path.write_text(json.dumps({"recipes": {"tiny": recipe}, "nin_runs": runs, "timing": {"rounds": 1},
                                "campaign": campaign or {}}, indent=1))  # fmt: skip
    return path
