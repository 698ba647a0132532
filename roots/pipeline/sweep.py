"""Plans of training runs and timings from ``params.yaml``, worked down on one machine.

A plan is the entries of ``nin_runs`` or ``proxy_runs``, one item of the GPU campaign
(``campaign`` in ``params.yaml``, in priority order), or the whole campaign. ``sweep`` runs
its jobs as ``python -m roots train`` / ``roots time`` processes, several training runs at
once, and stops cleanly at a deadline: it starts no job it does not expect to finish, and
interrupts what is still going, which then keeps its last epoch's checkpoint. A second call
skips what is finished (its ``metrics.json`` matches the plan) and resumes the rest, and
ends with the results of one uninterrupted call (the trainer resumes exactly).
"""

from __future__ import annotations

import ctypes
import fcntl
import functools
import math
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
import yaml

from roots.bench import timing
from roots.device import auto_precision, cpu_has_native_bf16, resolve
from roots.errors import RootsError
from roots.nn import models
from roots.train import data, runs
from roots.train.job import RUN_LISTS, Group, checked_entry, group_of, train_arguments
from roots.train.loop import CHECKPOINT, METRICS
from roots.train.recipe import Recipe, same_recipe

CAMPAIGN = "campaign"  # the GPU's queue
CPU_CAMPAIGN = "cpu_campaign"  # this CPU's, run across sessions (README, "The CPU campaign")
QUEUES = (CAMPAIGN, CPU_CAMPAIGN)
STARTUP_SECONDS = 15  # a training process's start and its evaluations, when nothing has been measured yet
POLL_SECONDS = 0.2
WAITS_FOR_BF16 = "waits for a machine with native bf16: this CPU emulates it"
GRACE_SECONDS = 60  # after Ctrl-C, what a job has to save its checkpoint before it is terminated


class SweepError(RootsError):
    """A plan that cannot be read or run, e.g. an unknown item or recipe."""


@dataclass(frozen=True)
class PlannedRun:
    """One training run of a plan."""

    item: str
    model: str
    variant: str
    seed: int
    recipe_name: str
    recipe: Recipe
    images_per_second: float | None = None  # all runs of the item together, where stated
    runs_list: str | None = None  # the list of params.yaml it enters when done; None: its model's first

    @property
    def group(self) -> Group:
        return group_of(self.model, self.runs_list)

    @property
    def key(self) -> str:
        return self.group.key(self.model, self.variant, self.seed)

    @property
    def name(self) -> str:
        return self.key

    def folder(self, root: Path) -> Path:
        return self.group.folder(root, self.key)

    def matches(self, metrics: dict) -> bool:
        return (metrics.get("model"), metrics.get("variant"), metrics.get("seed")) == (
            self.model,
            self.variant,
            self.seed,
        ) and same_recipe(metrics.get("recipe") or {}, self.recipe)

    def command(self, root: Path, params: Path, data_dir: Path, device: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "roots",
            "train",
            *train_arguments(
                self.model, self.variant, self.seed, self.recipe_name, params, data_dir, self.folder(root), device
            ),
        ]


@dataclass(frozen=True)
class PlannedTiming:
    """One ``roots time`` call of a campaign item: one model on the device of a ``timing_devices`` entry."""

    item: str
    device_key: str  # the entry's name under timing_devices, and the folder under results/timing
    model: str
    entry: tuple  # the timing_devices entry, as sorted (key, value) pairs
    rounds: int
    minutes: float  # its share of the item's estimate

    @property
    def name(self) -> str:
        return f"time {self.model} on {self.device_key}"

    def folder(self, root: Path) -> Path:
        return Path(root) / "results" / "timing" / self.device_key

    def settings(self) -> list[timing.Setting]:
        entry = dict(self.entry)
        return [
            timing.Setting(
                device=entry["device"],
                batch=entry[self.model],
                implementation=implementation,
                dtype=entry["dtype"],
                layout=layout,
                rounds=self.rounds,
            )
            for implementation in entry["implementations"].split(",")
            for layout in entry["layouts"].split(",")
        ]

    def arguments(self) -> list[str]:
        """What the ``timing`` stage of ``dvc.yaml`` passes to ``roots time`` for this model."""
        entry = dict(self.entry)
        return [
            "--model",
            self.model,
            "--device",
            entry["device"],
            "--dtype",
            entry["dtype"],
            "--batch",
            str(entry[self.model]),
            "--implementation",
            entry["implementations"],
            "--layout",
            entry["layouts"],
            "--rounds",
            str(self.rounds),
        ] + (["--layers"] if self.model == "nin" else [])

    def command(self, root: Path, params: Path, data_dir: Path, device: str) -> list[str]:
        return [sys.executable, "-m", "roots", "time", *self.arguments(), "--out-dir", str(self.folder(root))]

    def setting_outputs(self, root: Path, setting: timing.Setting) -> list[Path]:
        """The files one setting gives: its result, and for NiN its per-layer breakdown."""
        folder = self.folder(root)
        layers = [timing.layers_path(folder, self.model, setting)] if self.model == "nin" else []
        return [timing.result_path(folder, self.model, setting), *layers]

    def outputs(self, root: Path) -> list[Path]:
        return [path for setting in self.settings() for path in self.setting_outputs(root, setting)]

    def measured(self, root: Path) -> list[str]:
        """The entry's implementations whose every setting has its files, measured with exactly it
        (a call that failed in one implementation, or stopped at a deadline, still gives the others)."""

        def complete(setting: timing.Setting) -> bool:
            result, *rest = self.setting_outputs(root, setting)
            return timing.matches(result, setting) and all(path.is_file() for path in rest)

        settings = self.settings()
        implementations = dict.fromkeys(setting.implementation for setting in settings)
        return [
            name
            for name in implementations
            if all(complete(setting) for setting in settings if setting.implementation == name)
        ]

    def done(self, root: Path) -> bool:
        return len(self.measured(root)) == len({setting.implementation for setting in self.settings()})


Job = PlannedRun | PlannedTiming


def read_params(params: Path) -> dict:
    params = Path(params)
    if not params.is_file():
        raise SweepError(f"no parameters file {params}")
    try:
        content = yaml.safe_load(params.read_text()) or {}
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        at = f" (line {where.line + 1}, column {where.column + 1})" if where else ""
        raise SweepError(f"{params} is not valid YAML{at}") from None
    if not isinstance(content, dict):
        raise SweepError(f"{params} must be a mapping of sections (recipes, nin_runs, campaign, ...)")
    return content


# what an item of a queue must say, by kind, and the type of each
_TRAINING_ITEM = {"model": str, "recipe": str, "runs": list}
_TIMING_ITEM = {"timing": str, "models": list, "entry": dict, "minutes": (int, float)}
_RUN_BLOCK = {"seeds": list, "variants": list}


def _checked(where: str, value, keys: dict) -> dict:
    """``value`` if it is a mapping with every key of ``keys`` of its type, else one line naming the first wrong one."""
    if not isinstance(value, dict):
        raise SweepError(f"{where} must be a mapping with {', '.join(keys)}")
    for key, kind in keys.items():
        if key not in value:
            raise SweepError(f"{where} lacks {key} (an item needs {', '.join(keys)})")
        if not isinstance(value[key], kind) or isinstance(value[key], bool):
            raise SweepError(f"{where}.{key} has the wrong type: {value[key]!r}")
    return value


def _recipe(content: dict, name: str, where: str) -> Recipe:
    recipes = content.get("recipes") or {}
    if name not in recipes:
        raise SweepError(f"{where}: unknown recipe {name!r}; params.yaml's recipes are: {', '.join(recipes)}")
    try:
        return Recipe(**recipes[name])
    except TypeError as error:
        raise SweepError(f"recipes.{name}: {error}") from None


def _listed_runs(content: dict, runs_list: str) -> list[PlannedRun]:
    jobs = []
    for key, written in (content.get(runs_list) or {}).items():
        entry = checked_entry(runs_list, key, written)
        model = entry["model"]
        run = PlannedRun(
            runs_list,
            model,
            entry["variant"],
            entry["seed"],
            entry["recipe"],
            _recipe(content, entry["recipe"], f"{runs_list}.{key}"),
            runs_list=runs_list,
        )
        models.variant(model, run.variant)  # an unknown name fails before anything runs
        if run.key != key:
            raise SweepError(f"{runs_list}.{key}: a run of {model} {run.variant} seed {run.seed} is named {run.key}")
        jobs.append(run)
    return jobs


def _queue_of(content: dict, name: str) -> str:
    return next(queue for queue in QUEUES if name in (content.get(queue) or {}))


def _item_jobs(content: dict, name: str) -> list[Job]:
    queue = _queue_of(content, name)
    where = f"{queue}.{name}"
    item = content[queue][name]
    if isinstance(item, dict) and "timing" in item:
        _checked(where, item, _TIMING_ITEM)
        missing = {"device", "dtype", "implementations", "layouts", *item["models"]} - set(item["entry"])
        if missing:
            raise SweepError(f"{queue}.{name}.entry lacks {', '.join(sorted(missing))}")
        entry = tuple(sorted(item["entry"].items()))
        share = item["minutes"] / len(item["models"])
        return [
            PlannedTiming(name, item["timing"], model, entry, content["timing"]["rounds"], share)
            for model in item["models"]
        ]
    _checked(where, item, _TRAINING_ITEM)
    recipe = _recipe(content, item["recipe"], where)
    runs_list = item.get("runs_list")
    if runs_list is not None and runs_list not in RUN_LISTS:
        raise SweepError(f"{queue}.{name}: unknown runs_list {runs_list!r}; choose one of: {', '.join(RUN_LISTS)}")
    jobs = []
    for index, block in enumerate(item["runs"]):
        _checked(f"{where}.runs[{index}]", block, _RUN_BLOCK)
        for seed in block["seeds"]:
            if not isinstance(seed, int) or isinstance(seed, bool):
                raise SweepError(f"{where}.runs[{index}].seeds: a seed must be an integer, got {seed!r}")
            for variant in block["variants"]:
                models.variant(item["model"], variant)  # an unknown name fails before anything runs
                jobs.append(
                    PlannedRun(
                        name,
                        item["model"],
                        variant,
                        seed,
                        item["recipe"],
                        recipe,
                        item.get("images_per_second"),
                        runs_list,
                    )
                )
    return jobs


def plan_names(content: dict) -> list[str]:
    return [*QUEUES, *RUN_LISTS, *(item for queue in QUEUES for item in content.get(queue) or {})]


def load_plan(params: Path, name: str = CAMPAIGN) -> list[Job]:
    """The jobs of plan ``name`` in priority order, each once."""
    content = read_params(params)
    if name not in plan_names(content):
        raise SweepError(f"unknown plan {name!r}; choose one of: {', '.join(plan_names(content))}")
    if name in RUN_LISTS:
        jobs = _listed_runs(content, name)
    else:
        items = list(content.get(name) or {}) if name in QUEUES else [name]
        jobs = [job for item in items for job in _item_jobs(content, item)]
    unique = {}
    for job in jobs:
        unique.setdefault((type(job), job.name), job)
    return list(unique.values())


@dataclass
class State:
    """Where a job stands in a root folder: done, part-trained (``epoch`` of ``epochs``) or to do."""

    done: bool
    epoch: int = 0
    epochs: int = 0
    note: str = ""
    precision: str | None = None  # a part-trained run's: it resumes in the precision it started in
    restart: bool = False  # its checkpoint is deleted before it starts again (``on_this_machine``)

    def describe(self) -> str:
        if self.done:
            return "done"
        if self.epoch:
            return f"interrupted after epoch {self.epoch}/{self.epochs} in {self.precision} ({self.note or 'resumes'})"
        return "to do" + (f" ({self.note})" if self.note else "")


# bf16 autocast over fp32 for NiN Orig on a 2-core Zen 4 (113 -> 213 img/s; root-8 gains more, 2.2x):
# the smaller gain, so that a part-trained fp32 run is restarted only where that surely finishes sooner
BF16_SPEEDUP = 1.9


def on_this_machine(job: Job, current: State, device: torch.device) -> State:
    """Where a part-trained run stands on the machine this session drew. A bf16 run waits for a CPU
    that computes bf16 (one that emulates it is about 10x slower than fp32: NiN 6 against 58 images/s
    on a 2-core AVX2 EPYC). An ``auto`` run begun in fp32 on such a CPU, found on one with native bf16,
    starts again in bf16 where its fp32 epochs left take longer than all its epochs in bf16 (its
    checkpoint stays in git history); otherwise it resumes in fp32, as its epochs must be alike."""
    if not current.epoch or device.type != "cpu" or current.precision not in ("bf16", "fp32"):
        return current
    if current.precision == "bf16":
        return current if cpu_has_native_bf16() else replace(current, note=WAITS_FOR_BF16)
    left = current.epochs - current.epoch
    if job.recipe.precision == "auto" and auto_precision(device) == "bf16" and left * BF16_SPEEDUP > current.epochs:
        note = f"restarts in bf16, sooner done here than its {left} epochs left in fp32"
        return State(False, 0, current.epochs, note, restart=True)
    return current


def _checkpoint(folder: Path) -> dict | None:
    """A run's checkpoint, or None where there is none or it cannot be read (truncated, garbage)."""
    try:
        checkpoint = torch.load(folder / CHECKPOINT, map_location="cpu", weights_only=False, mmap=True)
    except Exception:  # torch.load raises whatever unpickling a damaged file raises
        return None
    return checkpoint if isinstance(checkpoint, dict) and "history" in checkpoint else None


def state(job: Job, root: Path) -> State:
    if isinstance(job, PlannedTiming):
        return State(job.done(root))
    folder = job.folder(root)
    note = ""
    if (folder / METRICS).is_file():
        metrics = runs.metrics(folder)
        if job.matches(metrics):
            return State(True, metrics["epochs"], metrics["epochs"])
        note = f"replaces a run of recipe {metrics.get('recipe_name') or 'unnamed'}"
    if (folder / CHECKPOINT).is_file():
        checkpoint = _checkpoint(folder)
        if checkpoint is None:
            return State(False, note="its checkpoint is unreadable: the trainer moves it aside and starts afresh")
        identity = checkpoint.get("identity", {})
        if same_recipe(identity.get("recipe") or {}, job.recipe) and (
            identity.get("run", {}).get("variant"),
            identity.get("run", {}).get("seed"),
        ) == (job.variant, job.seed):
            return State(False, checkpoint["epoch"], job.recipe.epochs, precision=identity.get("precision"))
    return State(False, 0, job.recipe.epochs, note)


@dataclass
class _Estimator:
    """Seconds a job still needs: measured on finished runs of the same variant (else the same
    model), recipe and precision where there are some, else from the item's stated training images
    per second of all runs together. Variants differ: NiN root-8 trains about 1.6x as fast as Orig."""

    root: Path
    parallel: int
    train_images: int = data.CIFAR10_TRAIN_IMAGES
    precision: str = "bf16"  # what a run that has not started trains in here (``auto``)
    # (model, recipe_name, precision) and (model, variant, recipe_name, precision) -> wall seconds per epoch
    measured: dict = field(default_factory=dict)

    def learn(self, jobs: list[Job]) -> None:
        """Seconds per epoch by variant and by model (each with recipe and precision): from finished
        runs (wall time), else from the epochs interrupted runs have done (their training time: the
        first numbers a new machine, with another precision, has)."""
        walls: dict[tuple, list[float]] = {}
        epochs: dict[tuple, list[float]] = {}
        for job in jobs:
            if not isinstance(job, PlannedRun):
                continue
            folder = job.folder(self.root)
            if (folder / METRICS).is_file():
                metrics = runs.metrics(folder)
                if job.matches(metrics) and metrics.get("wall_seconds_this_process"):
                    wall = (metrics["wall_seconds_this_process"] + STARTUP_SECONDS / 3) / metrics["epochs"]
                    for key in self._keys(job, metrics.get("precision")):
                        walls.setdefault(key, []).append(wall)
            elif (folder / CHECKPOINT).is_file() and (checkpoint := _checkpoint(folder)) is not None:
                precision = (checkpoint.get("identity") or {}).get("precision")
                seconds = [epoch.get("train_seconds") for epoch in checkpoint["history"]]
                for key in self._keys(job, precision):
                    epochs.setdefault(key, []).extend(filter(None, seconds))
        self.measured = {key: statistics.median(values) for key, values in epochs.items() if values}
        self.measured.update({key: statistics.median(values) for key, values in walls.items()})

    @staticmethod
    def _keys(job: PlannedRun, precision: str | None) -> tuple[tuple, tuple]:
        """The variant's own rate first, then its model's."""
        return (job.model, job.variant, job.recipe_name, precision), (job.model, job.recipe_name, precision)

    def seconds(self, job: Job, current: State) -> float | None:
        if isinstance(job, PlannedTiming):
            return job.minutes * 60
        remaining = job.recipe.epochs - current.epoch
        precision = current.precision or (self.precision if job.recipe.precision == "auto" else job.recipe.precision)
        for key in self._keys(job, precision):
            if key in self.measured:
                return remaining * self.measured[key]
        if not job.images_per_second:
            return None
        images = job.recipe.train_subset or self.train_images
        return remaining * images / (job.images_per_second / self.parallel) + STARTUP_SECONDS


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = max(0, round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s"


def _span(seconds: float) -> str:
    """Minutes for a GPU window, hours for the CPU campaign."""
    return f"{seconds / 60:.1f} minutes" if seconds < 2 * 3600 else f"{seconds / 3600:.1f} hours"


def _train_images(data_dir: Path | None) -> int:
    """The size of the prepared training set where there is one, else CIFAR-10's."""
    if data_dir is not None and (Path(data_dir) / "source.json").is_file():
        return data.describe(data_dir)[0]["train"]
    return data.CIFAR10_TRAIN_IMAGES


def status(
    jobs: list[Job], root: Path, parallel: int = 1, data_dir: Path | None = None, device: str = "auto"
) -> tuple[list[str], int]:
    """One line per job (state, estimated time left) and one per item; and how many jobs remain.

    An item's minutes are its training runs' seconds shared over ``parallel`` slots, plus its
    timings (which run alone).
    """
    here = resolve(device)
    estimator = _Estimator(Path(root), check_parallel(parallel), _train_images(data_dir), auto_precision(here))
    estimator.learn(jobs)
    lines, remaining, items = [], 0, {}
    width = max((len(job.item) for job in jobs), default=0)
    for job in jobs:
        current = on_this_machine(job, state(job, root), here)
        needs = None if current.done else estimator.seconds(job, current)
        remaining += not current.done
        item = items.setdefault(job.item, {"jobs": 0, "done": 0, "seconds": 0.0, "unknown": 0})
        item["jobs"] += 1
        item["done"] += current.done
        item["unknown"] += not current.done and needs is None
        item["seconds"] += (needs or 0) / (parallel if isinstance(job, PlannedRun) else 1)
        what = (
            f"{job.model} {job.variant} seed {job.seed}, recipe {job.recipe_name}"
            if isinstance(job, PlannedRun)
            else f"{job.model} on {dict(job.entry)['device']}"
        )
        lines.append(
            f"  {job.item:{width}s} {job.name:28s} {what:44s} {current.describe()}"
            + ("" if current.done else f", ~{_clock(needs)}")
        )
    for name, item in items.items():
        unknown = f", {item['unknown']} without an estimate" if item["unknown"] else ""
        left = f", about {_span(item['seconds'])} left at {parallel} training run(s) at once{unknown}"
        lines.append(f"{name}: {item['done']} of {item['jobs']} done" + ("" if item["done"] == item["jobs"] else left))
    lines.append(
        f"{len(jobs) - remaining} of {len(jobs)} done, {remaining} to do, about "
        f"{_span(sum(item['seconds'] for item in items.values()))} of this machine's time (measured on finished "
        f"runs of the same variant or model, recipe and precision where there are some, else on the epochs of "
        f"interrupted ones, else the items' stated rates, params.yaml says on which device)"
    )
    return lines, remaining


@contextmanager
def _one_sweep_at_a_time(root: Path):
    """The sweep's lock, holding its process id: the kernel releases it however the sweep ends."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".sweep.lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise SweepError(
                f"another sweep (process {holder}) is working in {root}; wait for it or stop it (kill -INT {holder})"
            ) from None
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _stop_with_the_sweep() -> None:
    """Run in each trainer before it starts: Linux sends it SIGINT when the sweep dies, even by
    SIGKILL, so that it stops at its last checkpoint instead of training on, orphaned, beside the
    next sweep (which would then find the run locked)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGINT)


def check_parallel(parallel: int) -> int:
    if parallel < 1:
        raise SweepError(f"--parallel must be at least 1, got {parallel}")
    return parallel


@dataclass
class _Running:
    job: Job
    process: subprocess.Popen
    started: float
    start_epoch: int
    log: Path


@dataclass
class Summary:
    done_before: list[str] = field(default_factory=list)
    done_now: list[str] = field(default_factory=list)
    interrupted: list[str] = field(default_factory=list)
    not_started: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    images: int = 0
    seconds: float = 0.0
    stopped_by_signal: bool = False  # Ctrl-C or SIGTERM, not the deadline

    @property
    def remaining(self) -> int:
        return len(self.interrupted) + len(self.not_started) + len(self.failed)

    def line(self, plan: str) -> str:
        rate = f"{self.images / self.seconds:,.0f} training images/s together" if self.images else "no training"
        return (
            f"sweep {plan}: {len(self.done_before) + len(self.done_now)} done ({len(self.done_now)} in this call), "
            f"{self.remaining} remaining ({len(self.interrupted)} interrupted, {len(self.not_started)} not started, "
            f"{len(self.failed)} failed); {rate}; wall {_clock(self.seconds)}"
        )


def _images_trained(job: PlannedRun, folder: Path, after_epoch: int) -> int:
    """Training images of the epochs after ``after_epoch`` that a finished or interrupted run recorded."""
    if (folder / METRICS).is_file():
        history = runs.metrics(folder)["history"]
    elif (checkpoint := _checkpoint(folder)) is not None:
        history = checkpoint["history"]
    else:
        return 0
    return sum(epoch["images"] for epoch in history[after_epoch:])


def _stop(entries: list[_Running]) -> None:
    """Ctrl-C each job (the trainer keeps its last checkpoint); terminate one that does not end in time."""
    for entry in entries:
        entry.process.send_signal(signal.SIGINT)
    for entry in entries:
        try:
            entry.process.wait(timeout=GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            entry.process.terminate()
            entry.process.wait()


def _terminated(signum, frame) -> None:
    raise KeyboardInterrupt


def _last_line(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()] if log.is_file() else []
    return lines[-1] if lines else "no output"


def sweep(
    jobs: list[Job],
    root: Path,
    params: Path,
    data_dir: Path,
    parallel: int = 1,
    deadline: float | None = None,
    device: str = "auto",
    say=functools.partial(print, flush=True),  # a log tailed while it runs (nohup) shows each line as it happens
    carry_over: bool = False,
    finished: Callable[[PlannedRun], None] | None = None,
    stopped: Callable[[PlannedRun], None] | None = None,
) -> Summary:
    """Work down ``jobs`` in order, ``parallel`` training runs at once (a timing runs alone),
    until all are done or ``deadline`` seconds have passed; one line per job as it ends.

    ``carry_over`` starts runs that cannot finish by the deadline too (runs that span sessions:
    each stops at the deadline with its last epoch's checkpoint). ``finished`` is called with
    each run that finishes, ``stopped`` with each run stopped unfinished (``roots sweep --into``).
    """
    check_parallel(parallel)
    root, params, data_dir = Path(root).resolve(), Path(params).resolve(), Path(data_dir).resolve()
    started = time.monotonic()
    ends = started + deadline if deadline is not None else None
    summary = Summary()
    here = resolve(device)
    estimator = _Estimator(root, parallel, _train_images(data_dir), auto_precision(here))
    # the jobs run this very package, wherever they start (the GPU machine has no installed copy)
    path = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "TQDM_DISABLE": "1", "PYTHONUNBUFFERED": "1"}
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // parallel)))
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    pending = []
    for job in jobs:
        (summary.done_before.append(job.name) if state(job, root).done else pending.append(job))
    running: list[_Running] = []

    def hand_over(hook: Callable[[PlannedRun], None], job: PlannedRun) -> None:
        """A hook that fails (a refused import, a busy git or DVC) is one line; the sweep goes on."""
        try:
            hook(job)
        except (RootsError, OSError, subprocess.SubprocessError) as error:
            say(f"{job.name}: could not hand over: {error}")

    def finish(entry: _Running, interrupted: bool) -> None:
        job, code = entry.job, entry.process.returncode
        after = state(job, root)
        took = _clock(time.monotonic() - entry.started)
        if isinstance(job, PlannedRun):
            summary.images += _images_trained(job, job.folder(root), entry.start_epoch)
        if after.done:
            summary.done_now.append(job.name)
            if isinstance(job, PlannedRun):
                metrics = runs.metrics(job.folder(root))
                say(
                    f"{job.name}: done in {took}: {metrics['test_accuracy']:.2%} top-1 after {metrics['epochs']} "
                    f"epochs, {metrics['images_per_second']:,.0f} img/s"
                )
                if finished is not None:
                    hand_over(finished, job)
            else:
                say(f"{job.name}: done in {took}")
        elif interrupted:
            summary.interrupted.append(job.name)
            progress = after.describe() if after.epoch else "before its first epoch ended (starts again next time)"
            say(f"{job.name}: stopped after {took}, {progress}")
            if stopped is not None and isinstance(job, PlannedRun) and after.epoch:
                hand_over(stopped, job)
        else:
            summary.failed.append(job.name)
            say(f"{job.name}: failed (exit {code}) after {took}: {_last_line(entry.log)} [log: {entry.log}]")

    previous = signal.signal(signal.SIGTERM, _terminated)  # SIGTERM stops the jobs as Ctrl-C does
    with _one_sweep_at_a_time(root):
        try:
            ended = True  # runs have ended since the estimates were learnt: learn again (it reads every checkpoint)
            while pending or running:
                if ended:
                    estimator.learn(jobs)
                    ended = False
                for job in list(pending):
                    exclusive = isinstance(job, PlannedTiming)
                    if running and (exclusive or isinstance(running[0].job, PlannedTiming) or len(running) >= parallel):
                        break  # in priority order: wait for a free slot (a timing waits for an idle device)
                    current = on_this_machine(job, state(job, root), here)
                    needs = estimator.seconds(job, current)
                    pending.remove(job)
                    if current.note == WAITS_FOR_BF16:
                        summary.not_started.append(job.name)
                        say(f"{job.name}: not started: {current.describe()}")
                        continue
                    if not carry_over and ends is not None and needs is not None and time.monotonic() + needs > ends:
                        summary.not_started.append(job.name)
                        say(f"{job.name}: not started: needs ~{_clock(needs)}, {_clock(ends - time.monotonic())} left")
                        continue
                    if current.restart:
                        (job.folder(root) / CHECKPOINT).unlink()
                        say(f"{job.name}: {current.note}")
                    log = logs / f"{job.name.replace(' ', '-')}.log"
                    begins = f"resumes after epoch {current.epoch}/{current.epochs}" if current.epoch else "starts"
                    say(f"{job.name}: {begins}, ~{_clock(needs)} [log: {log}]")
                    with open(log, "a") as handle:
                        process = subprocess.Popen(
                            job.command(root, params, data_dir, device),
                            stdout=handle,
                            stderr=subprocess.STDOUT,
                            env=env,
                            process_group=0,
                            preexec_fn=_stop_with_the_sweep,
                        )  # Ctrl-C reaches them through us, once
                    running.append(_Running(job, process, time.monotonic(), current.epoch, log))
                if ends is not None and time.monotonic() >= ends:
                    _stop(running)
                    for entry in running:
                        finish(entry, interrupted=True)
                    running.clear()
                    for job in pending:
                        summary.not_started.append(job.name)
                        say(f"{job.name}: not started: the deadline has passed")
                    pending.clear()
                    break
                time.sleep(POLL_SECONDS)
                for entry in [entry for entry in running if entry.process.poll() is not None]:
                    running.remove(entry)
                    finish(entry, interrupted=False)
                    ended = True
        except KeyboardInterrupt:
            _stop(running)
            for entry in running:
                finish(entry, interrupted=True)
            summary.not_started += [job.name for job in pending]
            summary.stopped_by_signal = True
            say("interrupted: the same command continues where this one stopped")
        finally:
            signal.signal(signal.SIGTERM, previous)
    summary.seconds = time.monotonic() - started
    return summary


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``8m``, ``1.5h``: seconds."""
    units = {"s": 1, "m": 60, "h": 3600}
    number, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    try:
        seconds = float(number) * units[unit]
    except ValueError:
        raise SweepError(f"--deadline takes a duration such as 90s, 8m or 1.5h; got {text!r}") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise SweepError(f"--deadline must be a positive, finite duration, got {text!r}")
    return seconds
