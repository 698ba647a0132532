"""Results between machines: pack what a GPU machine made into archives small enough to send
back, and bring them into this repository as the pipeline's outputs (the way back).

``pack`` writes ``.tar.gz`` archives of at most ``max_bytes`` each, results first (metrics,
timings), then weights, then logs; a file larger than an archive is split across several.
``import_results`` puts each run and timing into ``results/`` only after checking that it is
what ``params.yaml`` and this checkout would make: its model, variant, seed and recipe, its
data source, and the code commit it ran (the stage's code unchanged since). It then adds the
run to ``params.yaml`` and records it in ``dvc.lock`` with ``dvc commit``, so ``dvc repro``
regenerates the notebooks from it without training it again. Anything else is refused with
one line saying why.

On one machine, a sweep in its own worktree hands its runs to the main checkout the same way
(``deliver_run``, as each run finishes) and, when it stops, commits each unfinished run's
last-epoch checkpoint there (``keep_checkpoint``), so that the next session resumes it.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

import torch
import yaml

from roots.errors import RootsError
from roots.pipeline import sweep
from roots.train import data
from roots.train.job import GROUPS
from roots.train.loop import CHECKPOINT, METRICS, WEIGHTS
from roots.train.recipe import Recipe, same_recipe

MANIFEST = "manifest.json"
RECORD = "packed.json"  # in the root: what earlier packs sent, so a later one sends only what is new
MIB = 1 << 20
_TAR_BLOCK = 512
_MARGIN = 256 << 10  # room in each archive for its manifest, tar's end blocks and gzip's framing


class TransferError(RootsError):
    """Archives that are incomplete or corrupt, or a repository not ready to take them."""


def _sha256(path: Path) -> str:
    return data.file_digest(path, "sha256")


def _candidates(root: Path) -> list[Path]:
    """Finished results under ``root``, in the order they are worth sending: metrics and timings,
    then weights (oldest first, as the queue made them), then logs."""
    finished = [path.parent for path in sorted(root.glob(f"results/runs/*/*/{METRICS}"))]
    small = [folder / METRICS for folder in finished] + sorted(
        p for p in root.glob("results/timing/*/*") if p.is_file()
    )
    weights = sorted(
        (folder / WEIGHTS for folder in finished if (folder / WEIGHTS).is_file()), key=lambda path: path.stat().st_mtime
    )
    return small + weights + sorted(root.glob("logs/*.log"))


@dataclass
class PackReport:
    archives: list[Path] = field(default_factory=list)
    packed: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)  # no room in max_files archives


def _member_cost(size: int) -> int:
    return _TAR_BLOCK + -(-size // _TAR_BLOCK) * _TAR_BLOCK


def pack(root: Path, out: Path, max_bytes: int = 16 * MIB, max_files: int = 8, everything: bool = False) -> PackReport:
    """Archives of the results under ``root`` not sent before (all with ``everything``) into ``out``."""
    root, out = Path(root), Path(out)
    if not root.is_dir():
        raise TransferError(f"--root {root}: no such folder (the sweep's work folder, e.g. scratch/gpu)")
    capacity = max_bytes - _MARGIN
    if capacity < 64 << 10:
        raise TransferError(f"archives of {max_bytes} bytes leave no room: choose at least 1 MiB")
    record_path = root / RECORD
    sent = {} if everything or not record_path.is_file() else json.loads(record_path.read_text())
    files = []
    for path in _candidates(root):
        relative, digest = path.relative_to(root).as_posix(), _sha256(path)
        if sent.get(relative) != digest:
            files.append((path, relative, digest, path.stat().st_size))

    # place pieces in order, splitting a file where an archive fills up
    archives: list[list[tuple]] = [[]]
    used = [0]
    report = PackReport()
    for path, relative, digest, size in files:
        pieces, offset, trial_archives, trial_used = [], 0, [list(a) for a in archives], list(used)
        while offset < size or not pieces:
            room = capacity - trial_used[-1] - _TAR_BLOCK
            if room < min(size - offset, 64 << 10):
                trial_archives.append([])
                trial_used.append(0)
                continue
            take = min(room, size - offset)
            pieces.append((len(trial_archives) - 1, offset, take))
            trial_used[-1] += _member_cost(take)
            offset += take
        if len(trial_archives) > max_files:
            report.left += [rel for _, rel, _, _ in files[files.index((path, relative, digest, size)) :]]
            break
        archives, used = trial_archives, trial_used
        for index, (archive, start, length) in enumerate(pieces):
            archives[archive].append((path, relative, digest, size, start, length, index, len(pieces)))
        report.packed.append(relative)

    out.mkdir(parents=True, exist_ok=True)
    archives = [members for members in archives if members]
    for number, members in enumerate(archives, 1):
        target = out / f"results-{number:02d}-of-{len(archives):02d}.tar.gz"
        try:
            _write_archive(target, members)
        except OSError as error:  # a full disk, say: no half-written archive to be sent and refused
            for made in [*report.archives, target, target.with_name(target.name + ".partial")]:
                made.unlink(missing_ok=True)
            raise TransferError(f"could not write {target} ({error.strerror or error}); nothing was packed") from None
        report.archives.append(target)
    sent.update({relative: digest for path, relative, digest, size in files if relative in report.packed})
    record_path.write_text(json.dumps(sent, indent=1) + "\n")
    return report


def _write_archive(target: Path, members: list[tuple]) -> None:
    """One archive of ``pack``: its members (whole files or pieces of one) and their manifest,
    written beside ``target`` and renamed into place when complete."""
    partial = target.with_name(target.name + ".partial")
    manifest = []
    with tarfile.open(partial, "w:gz") as tar:
        for path, relative, digest, size, start, length, index, count in members:
            name = relative if count == 1 else f"{relative}.part-{index + 1:03d}-of-{count:03d}"
            with open(path, "rb") as handle:
                handle.seek(start)
                chunk = handle.read(length)
            info = tarfile.TarInfo(name)
            info.size = len(chunk)
            tar.addfile(info, io.BytesIO(chunk))
            manifest.append(
                {
                    "path": relative,
                    "member": name,
                    "sha256": digest,
                    "size": size,
                    "piece": index + 1,
                    "pieces": count,
                }
            )
        text = json.dumps(manifest, indent=1).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(text)
        tar.addfile(info, io.BytesIO(text))
    os.replace(partial, target)


_RUN_KEYS = ("model", "variant", "seed", "recipe", "recipe_name", "data", "test_accuracy", "epochs", "device")
PACKED_FOLDERS = ("results", "logs")  # what `pack` sends (``_candidates``), and all that `unpack` writes
_MANIFEST_KEYS = {"path": str, "member": str, "sha256": str, "piece": int, "pieces": int}


def _confined(path: object, source: Path) -> str:
    """``path`` if it names a file inside one of ``PACKED_FOLDERS``, else a one-line refusal: an
    archive must not write outside the folder it is unpacked into (no absolute path, no ``..``)."""
    parts = PurePosixPath(path).parts if isinstance(path, str) else ()
    if not parts or parts[0] not in PACKED_FOLDERS or ".." in parts or "\\" in path or len(parts) < 2:
        raise TransferError(
            f"{source}: its manifest names {path!r}, which is not a file under {' or '.join(PACKED_FOLDERS)}/; "
            "refused (the archive was not made by `roots pack`, or it was altered)"
        )
    return PurePosixPath(*parts).as_posix()


def _manifest(tar: tarfile.TarFile, source: Path) -> list[dict]:
    """An archive's manifest, each entry checked: its keys, types and confined paths."""
    try:
        manifest = json.load(tar.extractfile(MANIFEST))
    except KeyError:
        raise TransferError(f"{source} has no {MANIFEST}: it was not made by `roots pack`") from None
    except ValueError as error:
        raise TransferError(f"{source}: its {MANIFEST} is not JSON ({error})") from None
    if not isinstance(manifest, list):
        raise TransferError(f"{source}: its {MANIFEST} is not a list of files")
    for entry in manifest:
        wrong = [
            key
            for key, kind in _MANIFEST_KEYS.items()
            if not isinstance(entry, dict) or not isinstance(entry.get(key), kind)
        ]
        if wrong:
            raise TransferError(f"{source}: an entry of its {MANIFEST} lacks or mistypes {', '.join(wrong)}: {entry!r}")
        entry["path"], entry["member"] = _confined(entry["path"], source), _confined(entry["member"], source)
    return manifest


def unpack(sources: list[Path], into: Path) -> list[str]:
    """Files of ``sources`` (archives from ``pack``, or folders holding ``results/``) under ``into``,
    split files joined and every checksum verified; their paths relative to ``into``."""
    into = Path(into)
    found: dict[str, dict] = {}
    for source in map(Path, sources):
        if source.is_dir():
            for path in _candidates(source):
                relative = path.relative_to(source).as_posix()
                if path.is_symlink():
                    raise TransferError(f"{source}: {relative} is a link; refused (bring back the files themselves)")
                (into / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, into / relative)
                found[relative] = {"sha256": _sha256(path), "pieces": {1: into / relative}, "count": 1}
            continue
        if not source.is_file():
            raise TransferError(f"{source}: no such archive or folder")
        try:
            if not tarfile.is_tarfile(source):  # reads the first member: a gzip cut short raises EOFError here
                raise TransferError(f"{source} is neither a folder nor an archive made by `roots pack`")
            with tarfile.open(source) as tar:
                for entry in _manifest(tar, source):
                    piece = into / ".pieces" / entry["member"]
                    piece.parent.mkdir(parents=True, exist_ok=True)
                    member = tar.getmember(entry["member"])
                    if not member.isfile():
                        raise TransferError(f"{source}: {entry['member']} is not a plain file; refused")
                    piece.write_bytes(tar.extractfile(member).read())
                    record = found.setdefault(
                        entry["path"], {"sha256": entry["sha256"], "pieces": {}, "count": entry["pieces"]}
                    )
                    record["pieces"][entry["piece"]] = piece
        except (tarfile.TarError, EOFError, OSError, KeyError) as error:  # truncated, or a member missing
            raise TransferError(f"{source} is damaged ({type(error).__name__}: {error}); bring it back again") from None
    for relative, record in found.items():
        missing = sorted(set(range(1, record["count"] + 1)) - set(record["pieces"]))
        if missing:
            raise TransferError(
                f"{relative}: piece {missing[0]} of {record['count']} is in none of the archives "
                f"given; bring back every archive of the pack"
            )
        target = into / relative
        if record["count"] > 1 or record["pieces"][1] != target:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as joined:
                for number in range(1, record["count"] + 1):
                    joined.write(record["pieces"][number].read_bytes())
        if _sha256(target) != record["sha256"]:
            raise TransferError(f"{relative}: its checksum differs from the one packed; the archive is corrupt")
    shutil.rmtree(into / ".pieces", ignore_errors=True)
    return sorted(found)


class _Checkout:
    """What this repository would make: its parameters, stages and code."""

    def __init__(self, repo: Path) -> None:
        self.repo = Path(repo)
        self.params = sweep.read_params(self.repo / "params.yaml")
        self.stages = yaml.safe_load((self.repo / "dvc.yaml").read_text())["stages"]

    def code_differs(self, commit: str | None, stage: str) -> str | None:
        """Why results of ``commit`` are not what this checkout's ``stage`` would make, or None."""
        if not commit or commit == "unknown":
            return "it records no code commit"
        if commit.endswith("+uncommitted-changes"):
            return f"it ran uncommitted code ({commit})"
        known = subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=self.repo, capture_output=True)
        if known.returncode:
            return f"it ran commit {commit[:12]}, which this repository does not have (git fetch it first)"
        code = [dep for dep in self.stages[stage]["do"]["deps"] if dep.startswith("roots")]
        changed = subprocess.run(
            ["git", "diff", "--name-only", commit, "--", *code],
            cwd=self.repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        if changed:
            return f"it ran commit {commit[:12]}; this checkout's {', '.join(changed)} differ from it"
        return None

    def data_source(self) -> str:
        prepared = self.repo / "data" / "cifar10"
        if not (prepared / "source.json").is_file():
            raise TransferError(
                f"no prepared data in {prepared}: run `dvc repro prepare` first (the runs' stages depend on it)"
            )
        return data.describe(prepared)[1].name

    def run_differs(self, metrics: dict, group: str, key: str) -> str | None:
        missing = sorted(set(_RUN_KEYS) - set(metrics)) if isinstance(metrics, dict) else list(_RUN_KEYS)
        if missing:
            return f"its {METRICS} lacks {', '.join(missing)} (not a finished run of `roots train`)"
        recipes = self.params.get("recipes") or {}
        name = metrics.get("recipe_name")
        model_group = GROUPS.get(group)
        if model_group is None or metrics["model"] not in model_group.models:
            return f"a {metrics['model']} run does not belong in results/runs/{group}"
        expected_key = model_group.key(metrics["model"], metrics["variant"], metrics["seed"])
        if expected_key != key:
            return (
                f"it is {metrics['model']} {metrics['variant']} seed {metrics['seed']}, which is named {expected_key}"
            )
        if name not in recipes:
            return f"its recipe {name!r} is not one of params.yaml's recipes ({', '.join(recipes)})"
        wanted = Recipe(**recipes[name])
        if not same_recipe(metrics["recipe"], wanted):
            recorded = {**asdict(Recipe()), **metrics["recipe"]}
            changes = ", ".join(
                f"{k} {recorded.get(k)!r} (params.yaml: {v!r})"
                for k, v in asdict(wanted).items()
                if recorded.get(k) != v
            )
            return f"its recipe differs from params.yaml's recipes.{name}: {changes}"
        if metrics["data"]["name"] != self.data_source():
            return f"it trained on {metrics['data']['name']}, this checkout's data/cifar10 is {self.data_source()}"
        return self.code_differs(metrics.get("git_commit"), model_group.stage)

    def timing_item(self, device_key: str) -> list[sweep.PlannedTiming]:
        for name, item in (self.params.get(sweep.CAMPAIGN) or {}).items():
            if item.get("timing") == device_key:
                return [job for job in sweep.load_plan(self.repo / "params.yaml", name)]
        return []

    def timing_measured(
        self,
        staged: Path,
        device_key: str,
        jobs: list[sweep.PlannedTiming],
    ) -> tuple[dict[str, list[str]], str | None]:
        """Per model of ``jobs`` (the campaign item that times on ``device_key``), the implementations
        whose files all came back (``PlannedTiming.measured``); a reason when none can be taken."""
        if not jobs:
            return {}, f"no campaign item of params.yaml times on {device_key!r}"
        measured = {job.model: job.measured(staged) for job in jobs}
        if not any(measured.values()):
            return {}, "no implementation's files came back complete, measured with the item's settings"
        for result in sorted((staged / "results" / "timing" / device_key).glob("*.json")):
            reason = self.code_differs(json.loads(result.read_text()).get("git_commit"), "timing")
            if reason:
                return {}, f"{result.name}: {reason}"
        return measured, None


def _set_entries(params: Path, additions: dict[str, dict[str, dict]]) -> None:
    """Add or replace entries of mappings in ``params.yaml``, keeping its comments and layout: with
    DVC's own round trip (the one ``dvc exp run -S`` uses), so that each writes only what it changes."""
    from dvc.utils.serialize import modify_yaml
    from ruamel.yaml.comments import CommentedMap

    with modify_yaml(params) as content:
        for section, entries in additions.items():
            if not isinstance(content.get(section), dict):
                content[section] = CommentedMap()
            for key, entry in entries.items():
                value = CommentedMap(entry)
                value.fa.set_flow_style()
                content[section][key] = value


def import_results(sources: list[Path], repo: Path = Path("."), commit: bool = True, say=print) -> list[str]:
    """Bring runs and timings into ``repo``; the lines of what was refused (none: all taken)."""
    repo = Path(repo).resolve()
    checkout = _Checkout(repo)
    refused, taken, additions, stages = [], [], {}, []
    with tempfile.TemporaryDirectory(dir=repo, prefix=".import-") as staging:
        staged = Path(staging)
        files = unpack(sources, staged)
        for metrics_path in sorted(staged.glob(f"results/runs/*/*/{METRICS}")):
            folder = metrics_path.parent
            group, key = folder.parent.name, folder.name
            try:
                metrics = json.loads(metrics_path.read_text())
            except ValueError as error:
                refused.append(f"refused results/runs/{group}/{key}: its {METRICS} is not JSON ({error})")
                continue
            reason = (
                "its model.pt did not come back (pack it again with room for it)"
                if not (folder / WEIGHTS).is_file()
                else checkout.run_differs(metrics, group, key)
            )
            if reason:
                refused.append(f"refused results/runs/{group}/{key}: {reason}")
                continue
            target = repo / "results" / "runs" / group / key
            target.mkdir(parents=True, exist_ok=True)
            (target / CHECKPOINT).unlink(missing_ok=True)  # a finished run: a stale checkpoint would mislead a sweep
            for name in (WEIGHTS, METRICS):
                os.replace(folder / name, target / name)
            entry = GROUPS[group]
            additions.setdefault(entry.runs_list, {})[key] = entry.entry(
                metrics["model"], metrics["variant"], metrics["seed"], metrics["recipe_name"]
            )
            stages.append(f"{entry.stage}@{key}")
            taken.append(
                f"results/runs/{group}/{key}: {metrics['test_accuracy']:.2%} top-1, recipe {metrics['recipe_name']}"
            )
        for device_folder in sorted({Path(path).parents[0] for path in files if path.startswith("results/timing/")}):
            device_key = device_folder.name
            jobs = checkout.timing_item(device_key)
            measured, reason = checkout.timing_measured(staged, device_key, jobs)
            if reason:
                refused.append(f"refused {device_folder}: {reason}")
                continue
            target = repo / device_folder
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            for job in jobs:  # a model's implementation whose settings did not all come back is left out
                for setting in job.settings():
                    if setting.implementation in measured[job.model]:
                        for path in job.setting_outputs(staged, setting):
                            shutil.copy2(path, target / path.name)
            entry = dict(jobs[0].entry)
            planned = entry["implementations"].split(",")
            entry["implementations"] = ",".join(
                name for name in planned if any(name in names for names in measured.values())
            )
            additions.setdefault("timing_devices", {})[device_key] = entry
            stages.append(f"timing@{device_key}")
            taken.append(f"{device_folder}: {len(list(target.iterdir()))} files")
            missing = [f"{model} {name}" for model, names in measured.items() for name in planned if name not in names]
            if missing:
                refused.append(
                    f"left out of {device_folder}: {', '.join(missing)}: not all their files came back "
                    "(a `roots time` that failed or was stopped; its log says why)"
                )
    if additions:
        _set_entries(repo / "params.yaml", additions)
    for line in taken:
        say(f"imported {line}")
    if stages and commit:
        for attempt in range(5):  # another DVC command in the same checkout holds its lock for a moment
            command = [sys.executable, "-m", "dvc", "commit", "--force", "--quiet", *stages]
            done = subprocess.run(command, cwd=repo, capture_output=True, text=True)
            if not done.returncode or "lock" not in (done.stderr + done.stdout).lower():
                break
            time.sleep(5 * (attempt + 1))
        if done.returncode:
            said = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
            raise TransferError(f"dvc commit failed (exit {done.returncode}): {said[0] if said else 'no message'}")
        say(f"recorded {len(stages)} stage(s) in dvc.lock; `dvc repro` now regenerates the notebooks from them")
    return refused


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)


def commit_paths(repo: Path, paths: list[str], message: str, force: bool = False) -> str | None:
    """Commit exactly ``paths`` of ``repo`` (added, changed or deleted), leaving everything else
    there as it is (other work in progress stays uncommitted); why not, or None when committed."""
    for attempt in range(5):  # another git command of the same checkout may hold its index for a moment
        added = _git(repo, "add", "-A", *(["-f"] if force else []), "--", *paths)
        done = added if added.returncode else _git(repo, "commit", "-q", "-m", message, "--", *paths)
        if not done.returncode:
            return None
        if "index.lock" not in done.stderr:
            break
        time.sleep(2 * (attempt + 1))
    said = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    return f"git could not commit {', '.join(paths)}: {said[0] if said else f'exit {done.returncode}'}"


def deliver_run(folder: Path, root: Path, repo: Path, say=print) -> bool:
    """Import one finished run of ``root`` (a sweep's checkout) into ``repo`` (``import_results``:
    checked, entered in its list of params.yaml, recorded in dvc.lock) and commit just that."""
    relative = Path(folder).resolve().relative_to(Path(root).resolve())
    with tempfile.TemporaryDirectory() as staging:
        (Path(staging) / relative).mkdir(parents=True)
        for name in (METRICS, WEIGHTS):
            shutil.copy2(Path(folder) / name, Path(staging) / relative / name)
        refused = import_results([Path(staging)], repo, say=lambda line: None)
    if refused:
        say(f"{relative} not delivered to {repo}: {'; '.join(refused)}")
        return False
    metrics = json.loads((Path(repo) / relative / METRICS).read_text())
    paths = [str(relative / METRICS), str(relative / WEIGHTS), str(relative / CHECKPOINT), "params.yaml", "dvc.lock"]
    paths = [
        path
        for path in paths
        if (Path(repo) / path).exists() or _git(repo, "ls-files", "--error-unmatch", path).returncode == 0
    ]
    message = (
        f"{relative.name} ({metrics['recipe_name']}): {metrics['test_accuracy']:.2%} top-1 after {metrics['epochs']} "
        f"epochs on {metrics['device']['name']}, {metrics['precision']}, {metrics['data']['name']}"
    )
    failed = commit_paths(Path(repo), paths, message)
    say(f"{relative}: delivered to {repo}" + (f", but {failed}" if failed else " and committed"))
    return failed is None


def keep_checkpoint(folder: Path, root: Path, repo: Path, say=print) -> bool:
    """Copy an unfinished run's last-epoch checkpoint into ``repo`` and commit it (checkpoints are
    git-ignored; this one is forced in), so that a sweep in the next session's checkout resumes it."""
    relative = Path(folder).resolve().relative_to(Path(root).resolve())
    source = Path(folder) / CHECKPOINT
    if not source.is_file():
        return False
    epoch = torch.load(source, map_location="cpu", weights_only=False, mmap=True)["epoch"]
    target = Path(repo) / relative / CHECKPOINT
    target.parent.mkdir(parents=True, exist_ok=True)
    if Path(repo).resolve() != Path(root).resolve():
        shutil.copy2(source, target.with_name(CHECKPOINT + ".partial"))
        os.replace(target.with_name(CHECKPOINT + ".partial"), target)
    unchanged = not _git(Path(repo), "status", "--porcelain", "--ignored", "--", str(relative / CHECKPOINT)).stdout
    if unchanged:  # stopped before it finished an epoch: the committed checkpoint is still its last
        say(f"{relative}: checkpoint after epoch {epoch}, as committed before")
        return True
    failed = commit_paths(
        Path(repo),
        [str(relative / CHECKPOINT)],
        f"{relative.name}: checkpoint after epoch {epoch}, resumes next session",
        force=True,
    )
    say(
        f"{relative}: checkpoint after epoch {epoch} kept in {repo}"
        + (f", but {failed}" if failed else " and committed")
    )
    return failed is None
