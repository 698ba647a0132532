"""Which code made a result: the git commit every trained run and timing records."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent  # the real folder, also when run through links
# Where the code runs from a copy without git history (a lent GPU machine gets the working tree
# only), the command that sent it there names the commit in this variable.
COMMIT_VARIABLE = "ROOTS_GIT_COMMIT"


def git_commit(package: Path = PACKAGE) -> str:
    """The commit of the code that ran, ``+uncommitted-changes`` if the ``roots`` package differs
    from it; other files do not count (a DVC stage rewrites its own outputs and dvc.lock)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=package
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "."],
            capture_output=True,
            text=True,
            cwd=package,
        )
        return head + ("+uncommitted-changes" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return os.environ.get(COMMIT_VARIABLE) or "unknown"
