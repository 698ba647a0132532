"""The trainer: the paper's recipe, a checkpoint every epoch, one device or many (torchrun).

The paper states its CIFAR-10 recipe in words (random crops and mirroring of mean-subtracted
images, He initialisation, BatchNorm, no dropout, SGD); the numbers in ``Recipe`` are ours and
``params.yaml`` sets them for the pipeline. A run killed at any point and started again with
the same command resumes from its last finished epoch and ends with the metrics of an
uninterrupted run on the same device (``roots.loaders`` derives every random draw from the
seed and the epoch).
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import time
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypedDict

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel
from tqdm import tqdm

from roots import device as devices
from roots import provenance
from roots.nn import counting, models
from roots.train import loaders
from roots.train.recipe import Recipe, TrainingError

AMP_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}  # a recipe's precision, as autocast takes it
AUX_LOSS_WEIGHT = 0.3  # GoogLeNet's side heads (Szegedy et al.)
TOP_K = 5  # the ILSVRC tables' second accuracy column
CHECKPOINT, METRICS, WEIGHTS, LOCK = "checkpoint.pt", "metrics.json", "model.pt", "train.lock"


@dataclass(frozen=True)
class Run:
    """What is trained, on what, and where its files go."""

    model: str = "nin"
    variant: str = "orig"
    groups: str | None = None  # a user's schedule "slot=g,..." instead of a named variant
    seed: int = 0
    data: str = "data/cifar10"
    out: str | None = None  # None: runs/<model>/<variant>-s<seed> (git-ignored)
    device: str = "auto"

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise TrainingError(f"seed must be an integer of at least 0, got {self.seed!r}")
        if self.out is None:
            name = self.variant if self.groups is None else self.groups.replace("=", "").replace(",", "_")
            object.__setattr__(self, "out", f"runs/{self.model}/{name}-s{self.seed}")


def _loss(
    output: torch.Tensor | tuple[torch.Tensor, ...], labels: torch.Tensor, label_smoothing: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of the logits, plus GoogLeNet's weighted side heads when the model has them."""
    logits, *aux = output if isinstance(output, tuple) else (output,)
    loss = F.cross_entropy(logits, labels, label_smoothing=label_smoothing)
    for side in aux:
        loss = loss + AUX_LOSS_WEIGHT * F.cross_entropy(side, labels, label_smoothing=label_smoothing)
    return loss, logits


def _ema_update(decay: float):
    """``AveragedModel``'s update for an exponential average whose decay warms up as
    ``min(decay, (1 + n) / (10 + n))`` after n updates (as timm's and airbench's EMAs do): with a
    fixed decay the random initial weights would dominate the average for its first ~1/(1 - decay)
    steps, which is most of a short run's first epoch."""

    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], num_averaged: torch.Tensor) -> None:
        steps = int(num_averaged)
        weight = 1 - min(decay, (1 + steps) / (10 + steps))
        if averaged[0].is_floating_point():
            torch._foreach_lerp_(averaged, current, weight)
        else:  # BatchNorm's step counters: the latest
            torch._foreach_copy_(averaged, current)

    return update


def _compact(state: dict) -> dict:
    """Weights as float16, to keep committed runs small (NiN: under 2 MB); ``roots.runs`` widens them."""
    return {key: value.half() if value.is_floating_point() else value for key, value in state.items()}


def _save_atomically(payload, path: Path) -> None:
    """Write beside ``path``, then rename: a full disk leaves the last good file and no partial one."""
    partial = path.with_name(path.name + ".partial")
    try:
        if path.suffix == ".json":
            partial.write_text(json.dumps(payload, indent=1) + "\n")
        else:
            torch.save(payload, partial)
    except (OSError, RuntimeError) as error:  # torch.save reports a failed write as a RuntimeError
        partial.unlink(missing_ok=True)
        said = error.strerror if isinstance(error, OSError) and error.strerror else str(error).splitlines()[0]
        raise TrainingError(f"could not write {path} ({said}); what was written before is kept") from None
    os.replace(partial, path)


@contextmanager
def _exclusive(out: Path):
    """Hold ``out/train.lock`` while training: a second process on the same folder (a sweep
    started twice, say) is refused instead of interleaving its checkpoints with ours. The
    operating system drops the lock when a process dies, so a killed run never blocks a resume.
    A folder made here for a run that fails before it writes anything is removed again."""
    if out.exists() and not out.is_dir():
        raise TrainingError(f"--out {out} is a file, not a folder; choose a folder for the run")
    made = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    with open(out / LOCK, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise TrainingError(f"{out} is being trained by another process; wait for it to end or stop it") from None
        try:
            yield
        finally:
            (out / LOCK).unlink(missing_ok=True)
            fcntl.flock(handle, fcntl.LOCK_UN)
            if made and not any(out.iterdir()):
                out.rmdir()


@dataclass(frozen=True)
class _Processes:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> _Processes:
        """torchrun's environment; a plain ``python -m roots train`` is one process."""
        return cls(
            int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))
        )

    def sum(self, *values: torch.Tensor) -> list[float]:
        stacked = torch.stack([value.double() for value in values])
        if self.world > 1:
            dist.all_reduce(stacked)
        return stacked.tolist()


@dataclass
class _Session:
    """Everything one training run holds: what ``_setup`` builds and the epochs work on."""

    run: Run
    recipe: Recipe
    processes: _Processes
    device: torch.device
    variant: models.Variant
    data: loaders.DataSource
    batch: int  # per process
    steps: int  # per epoch and process
    model: torch.nn.Module
    net: torch.nn.Module  # the model, wrapped in DistributedDataParallel under torchrun
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    ema: AveragedModel | None  # the averaged weights of ``Recipe.ema``, evaluated and saved instead of ``model``
    precision: str
    identity: dict

    @property
    def evaluated(self) -> torch.nn.Module:
        """The weights a run reports and saves: their average where the recipe keeps one."""
        return self.ema.module if self.ema is not None else self.model

    @property
    def amp_dtype(self) -> torch.dtype | None:
        return AMP_DTYPES[self.precision]

    @property
    def out(self) -> Path:
        return Path(self.run.out)


def _setup(
    run: Run, recipe: Recipe, processes: _Processes, device: torch.device, checkpoint: dict | None = None
) -> _Session:
    """Data, model, optimiser and schedule of a run; fails on settings that cannot train.
    ``checkpoint``: the run's interrupted state, whose precision a resumed ``auto`` run keeps."""
    torch.backends.cudnn.deterministic = recipe.deterministic
    torch.backends.cudnn.benchmark = not recipe.deterministic
    variant = models.variant(run.model, run.variant, run.groups)
    if recipe.batch_size % processes.world:
        raise TrainingError(f"batch_size {recipe.batch_size} does not split over {processes.world} processes")
    batch = recipe.batch_size // processes.world
    data = loaders.open_data(
        Path(run.data), device, variant.family.input_size[-1], recipe.workers, recipe.train_subset, recipe.test_subset
    )
    steps = loaders.steps_per_epoch(data.num_train, batch, processes.world)
    if steps == 0:
        raise TrainingError(f"batch_size {recipe.batch_size} is larger than the {data.num_train} training images")
    run_identity = {**asdict(run), "out": None, "data": data.source["name"], "device": device.type}
    precision = _precision(recipe, device, run_identity, processes.world, checkpoint)

    torch.manual_seed(run.seed)  # He initialisation draws from it: the same weights on every process
    model = variant.build(num_classes=data.num_classes).to(device)
    if recipe.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=recipe.lr,
        momentum=recipe.momentum,
        nesterov=recipe.nesterov,
        weight_decay=recipe.weight_decay,
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=recipe.lr,
        total_steps=recipe.epochs * steps,
        pct_start=recipe.warmup,
        anneal_strategy=recipe.anneal,
        cycle_momentum=False,
    )
    # use_buffers: BatchNorm's running statistics are averaged with the weights they belong to
    ema = AveragedModel(model, multi_avg_fn=_ema_update(recipe.ema), use_buffers=True) if recipe.ema else None
    identity = _identity(run_identity, recipe, precision, processes.world)
    return _Session(
        run,
        recipe,
        processes,
        device,
        variant,
        data,
        batch,
        steps,
        model,
        model if processes.world == 1 else DistributedDataParallel(model),
        optimizer,
        scheduler,
        torch.amp.GradScaler(device.type, enabled=precision == "fp16"),
        ema,
        precision,
        identity,
    )


def _identity(run_identity: dict, recipe: Recipe, precision: str, world: int) -> dict:
    """What a checkpoint must match to be resumed. The data by what it is, not where: a checkpoint
    committed in one checkout resumes in another."""
    return {"run": run_identity, "recipe": asdict(recipe), "precision": precision, "world": world}


def _precision(recipe: Recipe, device: torch.device, run_identity: dict, world: int, checkpoint: dict | None) -> str:
    """The precision a run trains in. ``auto`` resolves once, when the run starts: an interrupted
    run keeps the precision it started in, so that its epochs are all alike even when it resumes on
    a machine where ``auto`` means another one (sessions draw their machines: a bf16 run begun on a
    Zen 4 may resume on a CPU without native bf16, where it is about 10x slower, and the reverse)."""
    if recipe.precision != "auto":
        return recipe.precision
    here = devices.auto_precision(device)
    recorded = checkpoint.get("identity") if isinstance(checkpoint, dict) else None
    started = recorded.get("precision") if isinstance(recorded, dict) else None
    if started in AMP_DTYPES and recorded == _identity(run_identity, recipe, started, world):
        if started != here:
            print(f"resuming in {started}, the precision this run started in (auto here: {here})", flush=True)
        return started
    return here


def _read_checkpoint(out: Path) -> dict | None:
    """The state of an interrupted run in ``out``; None when there is none, or when it is unreadable
    (truncated by a full disk, garbage), which is moved aside for a look and the run starts afresh."""
    path = out / CHECKPOINT
    if not path.is_file():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # torch.load raises whatever unpickling a damaged file raises
        aside = path.with_name(CHECKPOINT + ".unreadable")
        os.replace(path, aside)
        print(f"{path} is unreadable ({type(error).__name__}); moved to {aside.name}, starting afresh", flush=True)
        return None


def _save_checkpoint(session: _Session, history: list[dict]) -> None:
    _save_atomically(
        {
            "identity": session.identity,
            "epoch": len(history),
            "history": history,
            "model": session.model.state_dict(),
            "optimizer": session.optimizer.state_dict(),
            "scheduler": session.scheduler.state_dict(),
            "scaler": session.scaler.state_dict(),
            "ema": session.ema.state_dict() if session.ema is not None else None,
        },
        session.out / CHECKPOINT,
    )


def _resume(session: _Session, state: dict | None) -> list[dict]:
    """The history of an interrupted run of these exact settings, its state restored; [] to start afresh."""
    if state is None:
        return []
    if not isinstance(state, dict) or state.get("identity") != session.identity:
        print(f"{session.out / CHECKPOINT} belongs to other settings; starting afresh", flush=True)
        return []
    session.model.load_state_dict(state["model"])
    session.optimizer.load_state_dict(state["optimizer"])
    session.scheduler.load_state_dict(state["scheduler"])
    session.scaler.load_state_dict(state["scaler"])
    if session.ema is not None:
        session.ema.load_state_dict(state["ema"])
    if session.processes.rank == 0:
        print(f"resuming {session.out} after epoch {state['epoch']} of {session.recipe.epochs}", flush=True)
    return state["history"]


def train_one_epoch(session: _Session, epoch: int) -> dict:
    """One pass over the training set; its loss, accuracy, images and seconds."""
    session.net.train()
    run, recipe, processes = session.run, session.recipe, session.processes
    zero = torch.zeros((), device=session.device, dtype=torch.float64)
    loss_sum, correct, seen = zero.clone(), zero.clone(), zero.clone()
    rate = math.nan  # the learning rate of the epoch's last step
    tick = time.perf_counter()
    batches = session.data.train_batches(session.batch, run.seed, epoch, processes.rank, processes.world)
    for images, labels in tqdm(
        batches,
        total=session.steps,
        desc=f"epoch {epoch + 1}/{recipe.epochs}",
        unit="batch",
        leave=False,
        disable=processes.rank != 0,
    ):
        if recipe.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with torch.autocast(session.device.type, dtype=session.amp_dtype, enabled=session.amp_dtype is not None):
            loss, logits = _loss(session.net(images), labels, recipe.label_smoothing)
        session.optimizer.zero_grad(set_to_none=True)
        session.scaler.scale(loss).backward()
        session.scaler.step(session.optimizer)
        session.scaler.update()
        rate = session.scheduler.get_last_lr()[0]
        session.scheduler.step()
        if session.ema is not None:
            session.ema.update_parameters(session.model)
        loss_sum += loss.detach() * len(labels)
        correct += (logits.detach().argmax(1) == labels).sum()
        seen += len(labels)
    loss_sum, correct, seen = processes.sum(loss_sum, correct, seen)  # waits for the device
    return {
        "train_loss": loss_sum / seen,
        "train_accuracy": correct / seen,
        "train_seconds": time.perf_counter() - tick,
        "images": int(seen),
        "lr": rate,
    }


def evaluate(session: _Session, model: torch.nn.Module) -> dict:
    """Top-1 and top-5 accuracy and mean loss of ``model`` on the whole test set (shared out among processes)."""
    data, processes = session.data, session.processes
    model.eval()
    top = min(TOP_K, data.num_classes)
    zero = torch.zeros((), device=data.device, dtype=torch.float64)
    loss_sum, correct, correct_top, seen = zero.clone(), zero.clone(), zero.clone(), zero.clone()
    with (
        torch.no_grad(),
        torch.autocast(data.device.type, dtype=session.amp_dtype, enabled=session.amp_dtype is not None),
    ):
        for images, labels in data.test_batches(processes.rank, processes.world):
            if session.recipe.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            logits = model(images)
            loss_sum += F.cross_entropy(logits.float(), labels, reduction="sum")
            correct += (logits.argmax(1) == labels).sum()
            correct_top += (logits.topk(top, dim=1).indices == labels[:, None]).any(dim=1).sum()
            seen += len(labels)
    loss_sum, correct, correct_top, seen = processes.sum(loss_sum, correct, correct_top, seen)
    return {"test_accuracy": correct / seen, "test_top5_accuracy": correct_top / seen, "test_loss": loss_sum / seen}


def train(run: Run, recipe: Recipe = Recipe(), recipe_label: str | None = None, force: bool = False) -> dict:
    """Train, evaluate after every epoch, write ``metrics.json`` and ``model.pt`` into ``run.out``.

    ``recipe_label`` is what the run records as its recipe's name (``recipe_name``). A finished
    run in ``run.out`` is trained again only with ``force`` (DVC and the sweep force: they
    decided the run must be made again); by hand that is the way to lose a committed result.
    """
    finished = Path(run.out) / METRICS
    if finished.is_file() and not force:
        raise TrainingError(
            f"{run.out} holds a finished run ({METRICS}); --force trains it again, replacing it, "
            f"or choose another --out"
        )
    processes = _Processes.from_env()
    device = devices.resolve(run.device, processes.local_rank)
    if processes.world > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        with _exclusive(Path(run.out)) if processes.rank == 0 else nullcontext():
            return _train(run, recipe, recipe_label, processes, device)
    finally:
        if processes.world > 1:
            dist.destroy_process_group()


def _train(run: Run, recipe: Recipe, recipe_label: str | None, processes: _Processes, device: torch.device) -> dict:
    started = time.perf_counter()
    checkpoint = _read_checkpoint(Path(run.out))
    session = _setup(run, recipe, processes, device, checkpoint)
    history = _resume(session, checkpoint)
    del checkpoint  # restored into the session; a large model's copy would otherwise stay in memory
    for epoch in range(len(history), recipe.epochs):
        record = {"epoch": epoch + 1, **train_one_epoch(session, epoch), **evaluate(session, session.evaluated)}
        if session.ema is not None and epoch + 1 == recipe.epochs:  # what the average adds: the last weights' score
            record["raw_test_accuracy"] = evaluate(session, session.model)["test_accuracy"]
        history.append(record)
        if processes.rank == 0:
            print(
                f"epoch {epoch + 1}/{recipe.epochs}  train loss {record['train_loss']:.4f} "
                f"acc {record['train_accuracy']:.2%}  test loss {record['test_loss']:.4f} "
                f"acc {record['test_accuracy']:.2%}  {record['images'] / record['train_seconds']:,.0f} img/s",
                flush=True,
            )
            _save_checkpoint(session, history)

    metrics = _metrics(session, recipe_label, history, time.perf_counter() - started)
    if processes.rank == 0:
        _save_atomically(_compact(session.evaluated.state_dict()), session.out / WEIGHTS)
        _save_atomically(metrics, session.out / METRICS)
        (session.out / CHECKPOINT).unlink(missing_ok=True)  # finished: `dvc repro -f` must train afresh
    return metrics


class RunMetrics(TypedDict):
    """What a finished run writes to ``metrics.json``: the one schema ``roots.runs`` reads back."""

    model: str
    variant: str
    groups: dict[str, int]
    seed: int
    test_accuracy: float
    test_top5_accuracy: float
    test_loss: float
    epochs: int
    num_classes: int
    train_images: int
    test_images: int
    images_per_second: float
    train_seconds: float
    wall_seconds_this_process: float
    flops: int
    params: int
    params_convention: str
    precision: str
    processes: int
    device: dict
    data: dict
    recipe: dict
    recipe_name: str | None
    git_commit: str
    history: list[dict]


def _metrics(session: _Session, recipe_label: str | None, history: list[dict], wall_seconds: float) -> RunMetrics:
    run, data, variant = session.run, session.data, session.variant
    counts = counting.count(session.model, variant.family)
    train_seconds = sum(epoch["train_seconds"] for epoch in history)
    last = history[-1] if history else dict.fromkeys(("test_accuracy", "test_top5_accuracy", "test_loss"), math.nan)
    return RunMetrics(
        model=variant.family.name,
        variant=variant.name,
        groups=variant.schedule,
        seed=run.seed,
        test_accuracy=last["test_accuracy"],
        test_top5_accuracy=last["test_top5_accuracy"],
        test_loss=last["test_loss"],
        epochs=len(history),
        num_classes=data.num_classes,
        train_images=data.num_train,
        test_images=data.num_test,
        images_per_second=sum(epoch["images"] for epoch in history) / train_seconds if train_seconds else math.nan,
        train_seconds=train_seconds,
        wall_seconds_this_process=wall_seconds,
        flops=counts["flops"],
        params=counts["params"],
        params_convention=counts["params_convention"],
        precision=session.precision,
        processes=session.processes.world,
        device=devices.describe(session.device),
        data=data.source,
        recipe=asdict(session.recipe),
        recipe_name=recipe_label,
        git_commit=provenance.git_commit(),
        history=history,
    )
