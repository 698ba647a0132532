"""Where the pipeline's CIFAR-10 archive comes from, checked before ``dvc repro`` starts.

``data.dvc`` imports the raw archive into ``data/``: offline the JPEG copy beside the checkout,
with internet the official archive (``make official-data``). A clone with neither would fail
deep in DVC ("dependency ... does not exist"); ``check`` says instead, in one line, what to do.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from roots.errors import RootsError

OFFICIAL_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


class DatasetError(RootsError):
    """No CIFAR-10 archive where the pipeline looks for one."""


def check(repo: Path = Path(".")) -> str:
    """Where ``dvc repro`` will take the archive from; an error saying how to get one if nowhere."""
    repo = Path(repo)
    try:
        stage = yaml.safe_load((repo / "data.dvc").read_text())
        source, imported = stage["deps"][0]["path"], stage["outs"][0]["path"]
    except (OSError, yaml.YAMLError, KeyError, IndexError, TypeError):
        raise DatasetError(f"{repo / 'data.dvc'} is missing or not a DVC import; restore it with git") from None
    if (repo / imported).is_file():
        return f"{imported} (imported from {source})"
    if "://" in source:
        return f"{source} (DVC downloads it into {imported})"
    if (repo / source).is_file():
        return f"{source} (DVC copies it into {imported})"
    raise DatasetError(
        f"no CIFAR-10 archive: data.dvc imports {source}, which this machine does not have. With internet, "
        "`make official-data` switches the pipeline to the official archive (checksum-verified); offline, "
        f"put cifar10-jpeg.tar.gz at {source}"
    )


def use_official(repo: Path = Path(".")) -> None:
    """Point ``data.dvc`` at the official archive (DVC downloads it) and ``data.archive`` at its copy
    in ``data/``; ``roots prepare-data`` then checks its md5 and every training stage retrains."""
    from dvc.utils.hydra import apply_overrides  # what `dvc exp run -S` does: one line of params.yaml

    target = "data/cifar-10-python.tar.gz"
    done = subprocess.run(
        [sys.executable, "-m", "dvc", "import-url", "--force", "--file", "data.dvc", OFFICIAL_URL, target],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        said = [line for line in done.stderr.splitlines() if line.strip()]
        raise DatasetError(f"could not download {OFFICIAL_URL}: {said[-1] if said else f'exit {done.returncode}'}")
    apply_overrides(Path(repo) / "params.yaml", [f"data.archive={target}"])
