"""The trainer: the paper's recipe, a checkpoint every epoch, one device or many (torchrun).

The paper states its CIFAR-10 recipe in words (random crops and mirroring of mean-subtracted
images, He initialisation, BatchNorm, no dropout, SGD); the numbers in ``Recipe`` are ours and
``params.yaml`` sets them for the pipeline. A run killed at any point and started again with
the same command resumes from its last finished epoch and ends with the metrics of an
uninterrupted run on the same device (``roots.loaders`` derives every random draw from the
seed and the epoch).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
import yaml
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from roots import counting, device as devices, loaders, models, schedules
from roots.errors import RootsError

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
AUX_LOSS_WEIGHT = 0.3  # GoogLeNet's side heads (Szegedy et al.)
TOP_K = 5  # the ILSVRC tables' second accuracy column
CHECKPOINT, METRICS, WEIGHTS = "checkpoint.pt", "metrics.json", "model.pt"


@dataclass(frozen=True)
class Recipe:
    """Optimisation settings; every field is a ``roots train`` option and a ``params.yaml`` key."""

    epochs: int = 40
    batch_size: int = 256  # over all processes together
    lr: float = 0.2  # the peak of the one-cycle schedule
    warmup: float = 0.15  # fraction of steps over which the rate rises linearly, then cosine decay
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    precision: str = "auto"  # auto: bf16 on a GPU, fp32 on a CPU
    channels_last: bool = True
    deterministic: bool = True  # cuDNN's deterministic kernels; off lets cudnn.benchmark pick faster ones
    train_subset: int = 0  # 0: every training image; n: every k-th, n in all
    test_subset: int = 0
    workers: int = 4  # DataLoader processes for an ImageFolder (CIFAR-10 lives on the device)


@dataclass(frozen=True)
class Run:
    """What is trained, on what, and where its files go."""

    model: str = "nin"
    variant: str = "orig"
    groups: str | None = None  # a user's schedule "slot=g,..." instead of a named variant
    seed: int = 0
    data: str = "data/cifar10"
    out: str = "runs/nin/orig-s0"
    device: str = "auto"


class TrainingError(RootsError):
    """Settings that cannot train, e.g. a batch larger than the training set."""


def recipe_section(spec: str) -> dict:
    """The recipe keys of ``FILE:SECTION`` of a YAML file, e.g. ``params.yaml:imagenet_train``."""
    path, _, section = spec.rpartition(":")
    if not path or not section:
        raise TrainingError(f"--recipe takes FILE:SECTION, e.g. params.yaml:imagenet_train; got {spec!r}")
    if not Path(path).is_file():
        raise TrainingError(f"--recipe {spec}: no file {path}")
    content = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(content.get(section), dict):
        raise TrainingError(f"--recipe {spec}: {path} has no section {section!r}")
    known = {field.name for field in fields(Recipe)}
    unknown = sorted(set(content[section]) - known)
    if unknown:
        raise TrainingError(f"--recipe {spec}: unknown keys {', '.join(unknown)}; a recipe has: {', '.join(sorted(known))}")
    return dict(content[section])


def _precision(name: str, device: torch.device) -> str:
    if name == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    if name not in PRECISIONS:
        raise TrainingError(f"unknown precision {name!r}; choose one of: auto, {', '.join(PRECISIONS)}")
    return name


def _loss(output: torch.Tensor | tuple[torch.Tensor, ...], labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of the logits, plus GoogLeNet's weighted side heads when the model has them."""
    logits, *aux = output if isinstance(output, tuple) else (output,)
    loss = F.cross_entropy(logits, labels)
    for side in aux:
        loss = loss + AUX_LOSS_WEIGHT * F.cross_entropy(side, labels)
    return loss, logits


def _compact(state: dict) -> dict:
    """Weights as float16, to keep committed runs small (NiN: under 2 MB); ``roots.runs`` widens them."""
    return {key: value.half() if value.is_floating_point() else value for key, value in state.items()}


def _git_commit(package: Path = Path(__file__).parent) -> str:
    """The commit of the code that ran, ``+uncommitted-changes`` if the ``roots`` package differs
    from it; other files do not count (a DVC stage rewrites its own outputs and dvc.lock)."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=package).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "."],
                               capture_output=True, text=True, cwd=package)  # fmt: skip
        return head + ("+uncommitted-changes" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _save_atomically(payload, path: Path) -> None:
    partial = path.with_name(path.name + ".partial")
    if path.suffix == ".json":
        partial.write_text(json.dumps(payload, indent=1) + "\n")
    else:
        torch.save(payload, partial)
    os.replace(partial, path)


@dataclass(frozen=True)
class _Processes:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> _Processes:
        """torchrun's environment; a plain ``python -m roots train`` is one process."""
        return cls(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                   int(os.environ.get("LOCAL_RANK", 0)))  # fmt: skip

    def sum(self, *values: torch.Tensor) -> list[float]:
        stacked = torch.stack([value.double() for value in values])
        if self.world > 1:
            dist.all_reduce(stacked)
        return stacked.tolist()


def _evaluate(model, data, processes: _Processes, amp_dtype, channels_last: bool) -> tuple[float, float, float]:
    """Top-1 and top-5 accuracy and mean loss on the whole test set (shared out among processes)."""
    model.eval()
    top = min(TOP_K, data.num_classes)
    zero = torch.zeros((), device=data.device, dtype=torch.float64)
    loss_sum, correct, correct_top, seen = zero.clone(), zero.clone(), zero.clone(), zero.clone()
    with torch.no_grad(), torch.autocast(data.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
        for images, labels in data.test_batches(processes.rank, processes.world):
            if channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            logits = model(images)
            loss_sum += F.cross_entropy(logits.float(), labels, reduction="sum")
            correct += (logits.argmax(1) == labels).sum()
            correct_top += (logits.topk(top, dim=1).indices == labels[:, None]).any(dim=1).sum()
            seen += len(labels)
    loss_sum, correct, correct_top, seen = processes.sum(loss_sum, correct, correct_top, seen)
    return correct / seen, correct_top / seen, loss_sum / seen


def _resume(path: Path, identity: dict, device: torch.device) -> dict | None:
    """The checkpoint of an interrupted run of these exact settings, or None to start afresh."""
    if not path.is_file():
        return None
    state = torch.load(path, map_location=device, weights_only=False)
    if state["identity"] != identity:
        print(f"{path} belongs to other settings; starting afresh", flush=True)
        return None
    return state


def train(run: Run, recipe: Recipe = Recipe()) -> dict:
    """Train, evaluate after every epoch, write ``metrics.json`` and ``model.pt`` into ``run.out``."""
    processes = _Processes.from_env()
    device = devices.resolve(run.device, processes.local_rank)
    if processes.world > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        return _train(run, recipe, processes, device)
    finally:
        if processes.world > 1:
            dist.destroy_process_group()


def _train(run: Run, recipe: Recipe, processes: _Processes, device: torch.device) -> dict:
    started = time.perf_counter()
    precision = _precision(recipe.precision, device)
    amp_dtype = PRECISIONS[precision]
    torch.backends.cudnn.deterministic = recipe.deterministic
    torch.backends.cudnn.benchmark = not recipe.deterministic
    family, schedule = models.resolve(run.model, run.variant, run.groups)
    if recipe.batch_size % processes.world:
        raise TrainingError(f"batch_size {recipe.batch_size} does not split over {processes.world} processes")
    batch = recipe.batch_size // processes.world
    data = loaders.open_data(Path(run.data), device, family.input_size[-1], recipe.workers,
                             recipe.train_subset, recipe.test_subset)  # fmt: skip
    steps = loaders.steps_per_epoch(data.num_train, batch, processes.world)
    if steps == 0:
        raise TrainingError(f"batch_size {recipe.batch_size} is larger than the {data.num_train} training images")

    torch.manual_seed(run.seed)  # He initialisation draws from it: the same weights on every process
    model = family.build(schedule, num_classes=data.num_classes).to(device)
    if recipe.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                                nesterov=recipe.nesterov, weight_decay=recipe.weight_decay)  # fmt: skip
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.lr, total_steps=recipe.epochs * steps,
                                                    pct_start=recipe.warmup, cycle_momentum=False)  # fmt: skip
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")

    out = Path(run.out)
    out.mkdir(parents=True, exist_ok=True)
    identity = {"run": {**asdict(run), "out": None, "device": device.type}, "recipe": asdict(recipe),
                "world": processes.world}  # fmt: skip
    history, start_epoch = [], 0
    state = _resume(out / CHECKPOINT, identity, device)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        history, start_epoch = state["history"], state["epoch"]
        if processes.rank == 0:
            print(f"resuming {out} after epoch {start_epoch} of {recipe.epochs}", flush=True)
    net = model if processes.world == 1 else DistributedDataParallel(model)

    for epoch in range(start_epoch, recipe.epochs):
        net.train()
        zero = torch.zeros((), device=device, dtype=torch.float64)
        loss_sum, correct, seen = zero.clone(), zero.clone(), zero.clone()
        tick = time.perf_counter()
        batches = data.train_batches(batch, run.seed, epoch, processes.rank, processes.world)
        for images, labels in tqdm(batches, total=steps, desc=f"epoch {epoch + 1}/{recipe.epochs}", unit="batch",
                                   leave=False, disable=processes.rank != 0):  # fmt: skip
            if recipe.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                loss, logits = _loss(net(images), labels)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            loss_sum += loss.detach() * len(labels)
            correct += (logits.detach().argmax(1) == labels).sum()
            seen += len(labels)
        loss_sum, correct, seen = processes.sum(loss_sum, correct, seen)  # waits for the device
        train_seconds = time.perf_counter() - tick
        test_accuracy, test_top5, test_loss = _evaluate(model, data, processes, amp_dtype, recipe.channels_last)
        history.append({
            "epoch": epoch + 1, "train_loss": loss_sum / seen, "train_accuracy": correct / seen,
            "test_accuracy": test_accuracy, "test_top5_accuracy": test_top5, "test_loss": test_loss,
            "lr": scheduler.get_last_lr()[0],
            "train_seconds": train_seconds, "images": int(seen),
        })  # fmt: skip
        if processes.rank == 0:
            print(f"epoch {epoch + 1}/{recipe.epochs}  train loss {loss_sum / seen:.4f} acc {correct / seen:.2%}  "
                  f"test loss {test_loss:.4f} acc {test_accuracy:.2%}  {seen / train_seconds:,.0f} img/s", flush=True)  # fmt: skip
            _save_atomically({"identity": identity, "epoch": epoch + 1, "history": history,
                              "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                              "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict()},
                             out / CHECKPOINT)  # fmt: skip

    metrics = _metrics(run, recipe, precision, processes, device, data, history, time.perf_counter() - started)
    if processes.rank == 0:
        _save_atomically(_compact(model.state_dict()), out / WEIGHTS)
        _save_atomically(metrics, out / METRICS)
        (out / CHECKPOINT).unlink(missing_ok=True)  # finished: `dvc repro -f` must train afresh
    return metrics


def _metrics(run, recipe, precision, processes, device, data, history, wall_seconds) -> dict:
    family, schedule = models.resolve(run.model, run.variant, run.groups)
    counts = counting.profile(run.model, run.variant, run.groups)
    train_seconds = sum(epoch["train_seconds"] for epoch in history)
    last = history[-1] if history else dict.fromkeys(("test_accuracy", "test_top5_accuracy", "test_loss"), math.nan)
    return {
        "model": family.name,
        "variant": run.variant if run.groups is None else schedules.label(schedule),
        "groups": schedule,
        "seed": run.seed,
        "test_accuracy": last["test_accuracy"],
        "test_top5_accuracy": last["test_top5_accuracy"],
        "test_loss": last["test_loss"],
        "epochs": len(history),
        "num_classes": data.num_classes,
        "train_images": data.num_train,
        "test_images": data.num_test,
        "images_per_second": sum(epoch["images"] for epoch in history) / train_seconds if train_seconds else math.nan,
        "train_seconds": train_seconds,
        "wall_seconds_this_process": wall_seconds,
        "flops": counts["flops"],
        "params": counts["params"],
        "params_convention": counts["params_convention"],
        "precision": precision,
        "processes": processes.world,
        "device": devices.describe(device),
        "data": data.source,
        "recipe": asdict(recipe),
        "git_commit": _git_commit(),
        "history": history,
    }
