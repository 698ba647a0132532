"""Run a pipeline stage's command so that its committed outputs change only when it succeeds.

DVC deletes a stage's outputs before running it unless they are ``persist``; ours are committed
to git uncached, so a stage that failed (a bad parameter), was interrupted or died half-way would
lose results that only a GPU, or hours, can make again. Each stage in ``dvc.yaml`` therefore has
``persist: true`` outputs and runs its command through ``run``: the command works in a shadow of
the checkout (real folders on the way to each output, links to everything else), and only when it
exits 0 are the outputs moved into place, each by renames. Until then, and whatever happens to
the command (even SIGKILL), the committed outputs are untouched.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from roots.errors import RootsError

SHADOW_PREFIX = ".stage-"


class StageError(RootsError):
    """An output path outside the checkout, or a command that failed."""


def _mirror(source: Path, target: Path, outputs: set[Path], top: bool = True) -> None:
    """``target`` as a folder of links to ``source``'s entries, except the folders on the way to an
    output, which become real folders mirrored in turn, and the outputs, which are left out. The
    top-level folders are real too (their entries links), so that a command working in one of
    them (papermill's ``--cwd notebooks``) finds the shadow, not the checkout, at ``..``."""
    target.mkdir(parents=True, exist_ok=True)
    for entry in source.iterdir():
        if entry.name.startswith(SHADOW_PREFIX) or entry in outputs:
            continue
        if any(entry in output.parents for output in outputs):
            _mirror(entry, target / entry.name, outputs, top=False)
        elif top and entry.is_dir() and not entry.is_symlink():
            _mirror(entry, target / entry.name, set(), top=False)
        else:
            (target / entry.name).symlink_to(entry)


def _replace(new: Path, old: Path) -> None:
    """Put ``new`` where ``old`` is, by renames: the committed copy is gone only once the new one is in place."""
    old.parent.mkdir(parents=True, exist_ok=True)
    if not old.exists():
        os.replace(new, old)
        return
    aside = old.with_name(old.name + ".replaced")
    shutil.rmtree(aside, ignore_errors=True)
    os.replace(old, aside)
    os.replace(new, old)
    shutil.rmtree(aside) if aside.is_dir() else aside.unlink()


def run(outputs: list[Path], command: str, checkout: Path = Path(".")) -> None:
    """Run ``command`` (a shell command line) in a shadow of ``checkout`` and move ``outputs``
    into place if it succeeds; raise StageError, outputs untouched, if it does not."""
    checkout = Path(checkout).resolve()
    outputs = [(checkout / output).resolve() for output in outputs]
    for output in outputs:
        if checkout not in output.parents:
            raise StageError(f"output {output} is not inside the checkout {checkout}")
    shadow = checkout / f"{SHADOW_PREFIX}{outputs[0].name}"
    shutil.rmtree(shadow, ignore_errors=True)  # what a killed run left
    try:
        _mirror(checkout, shadow, set(outputs))
        log = checkout / "logs" / "stages" / f"{outputs[0].name}.log"
        code = _run_logged(command, shadow, log)
        if code:
            said = _notebook_error(shadow, checkout, outputs)
            raise StageError(
                (f"{said}: " if said else "")
                + f"the stage's command failed (exit {code}); its outputs are as they were (its output: {log})"
            )
        for output in outputs:
            made = shadow / output.relative_to(checkout)
            if not made.exists():
                raise StageError(
                    f"the stage's command made no {output.relative_to(checkout)}; outputs are as they were"
                )
        for output in outputs:
            _replace(shadow / output.relative_to(checkout), output)
    finally:
        shutil.rmtree(shadow, ignore_errors=True)


_TRACEBACK = b"Traceback (most recent call last)"


def _run_logged(command: str, cwd: Path, log: Path) -> int:
    """Run ``command``, its output shown as it comes (papermill's and tqdm's progress) and kept in
    ``log``; from the first Python traceback on, only kept: a failed notebook's 50-80 lines of
    papermill traceback would bury the one line that says what went wrong (``_notebook_error``)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as kept:
        process = subprocess.Popen(command, shell=True, cwd=cwd, stderr=subprocess.PIPE)
        seen, quiet = b"", False
        while chunk := os.read(process.stderr.fileno(), 65536):
            kept.write(chunk)
            seen = (seen + chunk)[-2 * len(_TRACEBACK) - 65536 :]
            if not quiet and _TRACEBACK in seen:
                quiet = True
                shown = chunk[: max(0, chunk.find(_TRACEBACK))]
                sys.stderr.buffer.write(shown)
            elif not quiet:
                sys.stderr.buffer.write(chunk)
            sys.stderr.buffer.flush()
        return process.wait()


def _notebook_error(shadow: Path, checkout: Path, outputs: list[Path]) -> str | None:
    """The error an executed notebook among ``outputs`` stopped at, as one line (its cell and the
    exception: a notebook's own check raises a RootsError whose message says what to change)."""
    for output in outputs:
        made = shadow / output.relative_to(checkout)
        found = [made] if made.suffix == ".ipynb" else sorted(made.rglob("*.ipynb")) if made.is_dir() else []
        for path in found:
            try:
                cells = json.loads(path.read_text()).get("cells", [])
            except (OSError, ValueError):
                continue
            errors = [(cell, shown) for cell in cells for shown in cell.get("outputs", [])]
            for cell, shown in errors:
                if shown.get("output_type") == "error":
                    message = (str(shown.get("evalue") or "").strip().splitlines() or [""])[0]
                    where = f"{path.relative_to(shadow)} stopped at cell {cell.get('execution_count')}"
                    return f"{where}: {shown.get('ename')}: {message}"
    return None
