"""A tiny prepared CIFAR-10 folder for tests that train."""

import json
from pathlib import Path

import numpy as np


def write_tiny_cifar(folder: Path, size: int) -> Path:
    """A prepared folder of images whose class sets the colour: learnable in a few steps."""
    folder.mkdir()
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
