"""A tiny prepared CIFAR-10 folder, recipe and scratch checkout for tests that train."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
TIMING_ENTRY = {
    "device": "cpu",
    "dtype": "fp32",
    "nin": 2,
    "resnet50": 1,
    "googlenet": 1,
    "implementations": "native",
    "layouts": "channels_last",
}


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
    (folder / "source.json").write_text(
        json.dumps(
            {"name": "tiny", "filename": "-", "algorithm": "-", "digest": "-", "description": "synthetic test set"}
        )
    )
    return folder


TINY_RECIPE = {
    "epochs": 3,
    "batch_size": 40,
    "lr": 0.05,
    "warmup": 0.3,
    "momentum": 0.9,
    "nesterov": True,
    "weight_decay": 0.0005,
    "precision": "auto",
    "channels_last": True,
    "deterministic": True,
    "train_subset": 0,
    "test_subset": 0,
    "workers": 0,
}


def write_tiny_params(
    path: Path, runs: dict[str, dict], recipe: dict = TINY_RECIPE, campaign: dict | None = None
) -> Path:
    """A params.yaml with one recipe, ``tiny``, and ``nin_runs``; written as JSON, which YAML reads."""
    path.write_text(
        json.dumps(
            {"recipes": {"tiny": recipe}, "nin_runs": runs, "timing": {"rounds": 1}, "campaign": campaign or {}},
            indent=1,
        )
    )
    return path


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def dvc(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, check=check, capture_output=True, text=True)


def make_checkout(repo: Path, **params) -> Path:
    """A scratch git+DVC checkout of this repository's code and pipeline with tiny data (32x32) and
    ``params`` replacing sections of the real params.yaml (recipes, nin_runs, campaign, ...)."""
    shutil.copytree(ROOT / "roots", repo / "roots", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("dvc.yaml", ".gitignore", ".dvcignore"):
        shutil.copy(ROOT / name, repo / name)
    content = yaml.safe_load((ROOT / "params.yaml").read_text())
    empty = {"nin_runs": {}, "nin_cpu_runs": {}, "proxy_runs": {}, "timing_devices": {}}  # none of the real runs
    content.update({**empty, "timing": {"rounds": 1}, **params})
    (repo / "params.yaml").write_text(
        "# the scratch checkout's parameters\n" + yaml.safe_dump(content, sort_keys=False)
    )
    write_tiny_cifar(repo / "data" / "cifar10", size=32)
    git(repo, "init", "-q")
    dvc(repo, "init", "-q")
    dvc(repo, "config", "core.analytics", "false")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "scratch")
    return repo
