"""Per-image forward time of a family's variants (or of a torchvision model's rootify schedules)
and their speed-up over Orig.

As the paper's footnote 1 measures: "per image for a forward pass computed on a large batch".
All variants, of every setting asked for at once (implementation, layout, dtype), live in one
process and are timed in turns, the order rotated every round, so a machine that slows down or
speeds up (other load, clocks, caches) affects every variant and every setting alike; speed-ups
are ratios within a round, summarised by their median and quartiles.
"""

from __future__ import annotations

import copy
import json
import math
import statistics
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm

from roots import device as devices
from roots import provenance
from roots.errors import RootsError
from roots.nn import counting, external, implementations, models
from roots.paper import schedules

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
LAYOUTS = ("channels_last", "nchw")
MIN_SAMPLE_SECONDS = 0.05  # a GPU forward can take microseconds: repeat it until a sample is this long


class TimingError(RootsError):
    """Settings that cannot be timed, e.g. bfloat16 asked for where it is not supported."""


@dataclass(frozen=True)
class Setting:
    device: str = "cpu"
    batch: int = 64
    implementation: str = "native"
    dtype: str = "fp32"
    layout: str = "channels_last"
    fold_bn: bool = True  # merge BatchNorm into the convolutions, as inference would
    compile: bool = False  # torch.compile each network first (minutes of compilation)
    warmup: int = 2
    rounds: int = 7

    def check(self) -> Setting:
        implementations.check(self.implementation)
        if self.dtype not in DTYPES:
            raise TimingError(f"unknown dtype {self.dtype!r}; choose one of: {', '.join(DTYPES)}")
        if self.layout not in LAYOUTS:
            raise TimingError(f"unknown layout {self.layout!r}; choose one of: {', '.join(LAYOUTS)}")
        if self.implementation == "fused" and not self.fold_bn:
            raise TimingError(
                "the fused implementation needs folded BatchNorm (its kernel takes each convolution's "
                "bias); leave --fold-bn on"
            )
        if self.batch < 1 or self.rounds < 1 or self.warmup < 0:
            raise TimingError("batch and rounds must be at least 1, warmup at least 0")
        return self


def _memory_format(layout: str) -> torch.memory_format:
    return torch.channels_last if layout == "channels_last" else torch.contiguous_format


@dataclass(frozen=True)
class Network:
    """One network to time: its name (a variant, or a rootify schedule of a torchvision model), how
    to build it, the input it takes, and its FLOPs as its paper table counts them."""

    name: str
    build: Callable[[], torch.nn.Module]
    input_size: tuple[int, int, int]
    flops: Callable[[torch.nn.Module], int]


def _variants(model: str, names: list[str]) -> list[Network]:
    """Orig first (every speed-up is over it), then ``names`` once each, resolved before minutes of
    building: a family's named variants, or for ``torchvision:NAME`` rootify's named schedules."""
    names = list(dict.fromkeys([schedules.BASELINE, *names]))
    if external.is_external(model):
        external.build(model)  # an unknown name fails here, before anything is built
        return [
            Network(name, partial(external.network, model, name), external.INPUT_SIZE, external.flops) for name in names
        ]
    resolved = [models.variant(model, name) for name in names]
    return [
        Network(variant.name, variant.build, variant.family.input_size, partial(_family_flops, variant.family))
        for variant in resolved
    ]


def _family_flops(family: models.Family, network: torch.nn.Module) -> int:
    return counting.count(network, family)["flops"]


def _prepare(network: torch.nn.Module, setting: Setting, device: torch.device) -> torch.nn.Module:
    """A copy of an eval-mode network as ``setting`` runs it: BatchNorm folded, the implementation
    swapped in, on the device in its dtype and layout, compiled if asked. A copy, since ``.to`` moves
    a module in place and one built network serves every setting of a ``measure_settings`` call."""
    network = implementations.fold_batchnorm(network) if setting.fold_bn else copy.deepcopy(network)
    network = implementations.use(network, setting.implementation)
    network = network.to(device=device, dtype=DTYPES[setting.dtype], memory_format=_memory_format(setting.layout))
    return torch.compile(network) if setting.compile else network


def _images(input_size: tuple[int, int, int], setting: Setting, device: torch.device) -> torch.Tensor:
    images = torch.randn(setting.batch, *input_size, device=device, dtype=DTYPES[setting.dtype])
    return images.contiguous(memory_format=_memory_format(setting.layout))


def _interleaved(names: list[str], rounds: int, action, progress: str | None = None) -> None:
    """``action(name)`` for every name, round after round, the order rotated by one each round, so
    that a machine that slows down or speeds up affects every variant alike."""
    if not names:  # nothing left to time: every setting failed to build or run
        return
    for round_index in tqdm(range(rounds), desc=progress, unit="round", leave=False, disable=progress is None):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            action(name)


def _sample(network, images, device, repeats: int) -> float:
    """Seconds per image of ``repeats`` forward passes of the batch: CUDA events on a GPU (the
    device's own clock, no host in the way), the host's clock on a CPU."""
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(repeats):
            network(images)
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3 / (repeats * len(images))
    start = time.perf_counter()
    for _ in range(repeats):
        network(images)
    return (time.perf_counter() - start) / (repeats * len(images))


@contextmanager
def _benchmarked(device: torch.device):
    """cudnn.benchmark on while timing on a GPU: cuDNN then picks its fastest kernel per shape, as a
    deployment would (the paper's Caffe had no such choice; ours records that it was on)."""
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = device.type == "cuda"
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return values[0], values[0], values[0]
    low, median, high = statistics.quantiles(values, n=4, method="inclusive")
    return low, median, high


def measure(model: str, variants: list[str], setting: Setting = Setting()) -> dict:
    """Time ``variants`` (Orig is added as the baseline) of ``model``; a JSON-ready dict."""
    result = measure_settings(model, variants, [setting])[0]
    if isinstance(result, Exception):
        raise result
    return result


def measure_settings(model: str, variants: list[str], settings: list[Setting]) -> list[dict | Exception]:
    """``measure`` for several settings at once, their variants all taking turns in the same rounds,
    so that comparisons across settings (which implementation is fastest) are as safe from a
    machine's drift as speed-ups within one. A setting whose networks fail to build or run (e.g.
    a kernel this GPU cannot compile) gives its exception in place of its result; the others go on."""
    settings = [setting.check() for setting in settings]
    if len({(setting.device, setting.rounds) for setting in settings}) > 1:
        raise TimingError("settings timed together share one device and one number of rounds")
    resolved = _variants(model, variants)
    names = [variant.name for variant in resolved]
    input_size = resolved[0].input_size
    device = devices.resolve(settings[0].device)
    outcome: list[dict | Exception | None] = [None] * len(settings)
    seconds = {(index, name): [] for index in range(len(settings)) for name in names}
    with torch.inference_mode(), _benchmarked(device):
        built = {variant.name: variant.build().eval() for variant in resolved}
        flops = {variant.name: variant.flops(built[variant.name]) for variant in resolved}
        networks, images, repeats = {}, {}, {}
        for index, setting in enumerate(settings):
            try:
                images[index] = _images(input_size, setting, device)
                for name in names:
                    network = _prepare(built[name], setting, device)
                    for _ in range(setting.warmup):
                        network(images[index])
                    one = _sample(network, images[index], device, 1) * setting.batch
                    networks[index, name] = network
                    repeats[index, name] = max(1, round(MIN_SAMPLE_SECONDS / max(one, 1e-9)))
            except RootsError:
                raise
            except Exception as error:  # reported per setting by the caller
                outcome[index] = error
                for name in names:
                    networks.pop((index, name), None)

        def sample(key) -> None:
            if isinstance(outcome[key[0]], Exception):
                return
            try:
                seconds[key].append(_sample(networks[key], images[key[0]], device, repeats[key]))
            except RootsError:
                raise
            except Exception as error:
                outcome[key[0]] = error

        _interleaved(list(networks), settings[0].rounds, sample, progress=f"timing {model}")
    environment = devices.describe(device)
    if device.type == "cpu":
        environment["mkldnn"] = torch.backends.mkldnn.is_available()
    else:
        environment["cudnn_benchmark"] = True
        environment["timer"] = "CUDA events"
    for index, setting in enumerate(settings):
        if outcome[index] is None:
            timed = {name: seconds[index, name] for name in names}
            outcome[index] = {
                "model": model,
                "setting": asdict(setting),
                "environment": environment,
                "git_commit": provenance.git_commit(),
                "variants": _rows(names, timed, flops),
            }
    return outcome


def _rows(names: list[str], seconds: dict[str, list[float]], flops: dict[str, int]) -> list[dict]:
    """Per variant: its time per image and its speed-up over Orig timed in the same rounds."""
    rows = []
    for name in names:
        ms = [value * 1e3 for value in seconds[name]]
        speedups = [base / value for base, value in zip(seconds[schedules.BASELINE], seconds[name])]
        ms_low, ms_median, ms_high = _quartiles(ms)
        low, median, high = _quartiles(speedups)
        flops_ratio = flops[schedules.BASELINE] / flops[name]
        rows.append(
            {
                "variant": name,
                "flops": flops[name],
                "flops_ratio": flops_ratio,
                "ms_per_image": ms_median,
                "ms_q1": ms_low,
                "ms_q3": ms_high,
                "us_per_image": ms_median * 1e3,
                "speedup": median,
                "speedup_q1": low,
                "speedup_q3": high,
                "speedup_of_flops_ratio": median / flops_ratio,
                "samples_ms": ms,
            }
        )
    return rows


def save(result: dict, directory: Path) -> Path:
    """Write a ``measure`` result where ``results_table`` finds it; its path."""
    setting = Setting(**result["setting"])
    path = result_path(directory, result["model"], setting)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    return path


def _file_name(model: str) -> str:
    return model.replace(":", "-")  # torchvision:resnet18 -> torchvision-resnet18


def result_path(directory: Path, model: str, setting: Setting) -> Path:
    """Where ``roots time --out-dir`` keeps one model's result for one setting."""
    return Path(directory) / f"{_file_name(model)}-{setting.implementation}-{setting.layout}-{setting.dtype}.json"


def layers_path(directory: Path, model: str, setting: Setting) -> Path:
    """Where ``roots time --layers --out-dir`` keeps one model's per-layer breakdown for a setting."""
    return Path(directory) / f"{_file_name(model)}-layers-{setting.implementation}-{setting.layout}-{setting.dtype}.csv"


def matches(path: Path, setting: Setting) -> bool:
    """Whether ``path`` holds a result measured with exactly ``setting``."""
    return Path(path).is_file() and json.loads(Path(path).read_text())["setting"] == asdict(setting)


def results_table(directory: Path) -> pd.DataFrame:
    """Every ``roots time --out-dir`` result under ``directory`` (any depth), one row per variant."""
    rows = []
    for path in sorted(Path(directory).rglob("*.json")):
        result = json.loads(path.read_text())
        setting, where = result["setting"], result["environment"]
        for row in result["variants"]:
            rows.append(
                {
                    "model": result["model"],
                    "device": where["device"],
                    "device_name": where["name"],
                    "threads": where["threads"],
                    "torch": where["torch"],
                    "cudnn": where.get("cudnn"),
                    "implementation": setting["implementation"],
                    "layout": setting["layout"],
                    "dtype": setting["dtype"],
                    "compiled": setting["compile"],
                    "batch": setting["batch"],
                    "rounds": setting["rounds"],
                    **{key: value for key, value in row.items() if key != "samples_ms"},
                }
            )
    if not rows:
        raise TimingError(f"no timing results under {directory}: run `dvc repro timing` or `roots time --out-dir`")
    frame = pd.DataFrame(rows)
    frame["setting"] = frame["implementation"] + " " + frame["layout"] + " " + frame["dtype"]  # a label, for reading
    frame.loc[frame["compiled"], "setting"] += " compiled"
    return frame


def fastest(timed: pd.DataFrame) -> pd.DataFrame:
    """The one definition of "fastest": per device and model, the setting with the least total
    time over the model's variants (``results_table`` rows); columns device, model, setting."""
    totals = timed.groupby(["device", "model", "setting"], sort=False)["ms_per_image"].sum()
    return (
        totals.groupby(["device", "model"], sort=False).idxmin().map(lambda key: key[2]).rename("setting").reset_index()
    )


def is_default(timed: pd.DataFrame) -> pd.Series:
    """Which rows were timed with ``roots time``'s default implementation and layout."""
    return (timed["implementation"] == Setting.implementation) & (timed["layout"] == Setting.layout)


class _LayerClock:
    """Forward hooks that time each named module of a network: on a GPU with CUDA events recorded
    around it (read once the pass is over), on a CPU with the host's clock."""

    def __init__(self, network: torch.nn.Module, names: list[str], device: torch.device, batch: int) -> None:
        self.seconds: dict[str, list[float]] = {name: [] for name in names}
        self._device, self._batch = device, batch
        self._open: dict[str, object] = {}
        modules = dict(network.named_modules())
        for name in names:
            modules[name].register_forward_pre_hook(self._before(name))
            modules[name].register_forward_hook(self._after(name))

    def _before(self, name):
        def hook(_module, _inputs):
            if self._device.type == "cuda":
                self._open[name] = torch.cuda.Event(enable_timing=True)
                self._open[name].record()
            else:
                self._open[name] = time.perf_counter()

        return hook

    def _after(self, name):
        def hook(_module, _inputs, _output):
            if self._device.type == "cuda":
                end = torch.cuda.Event(enable_timing=True)
                end.record()
                end.synchronize()
                seconds = self._open[name].elapsed_time(end) / 1e3
            else:
                seconds = time.perf_counter() - self._open[name]
            self.seconds[name].append(seconds / self._batch)

        return hook


# A GPU's peaks, for the roofline (approximate datasheet figures; a name is matched by its start):
# dense bf16 and fp32 multiply-add rates (FLOP/s, a multiply-add being 2) and memory bandwidth (bytes/s).
PEAKS = {
    "NVIDIA H200": {"bf16": 800e12, "fp32": 67e12, "bytes_per_s": 4.3e12},
    "NVIDIA H100": {"bf16": 800e12, "fp32": 67e12, "bytes_per_s": 3.35e12},
}


def peaks(device_name: str) -> dict | None:
    return next((values for name, values in PEAKS.items() if device_name.startswith(name)), None)


def roofline(layer: counting.LayerCount, batch: int, dtype: str, device_name: str) -> dict:
    """A layer's least time per image at the device's peaks: its arithmetic at the peak rate, and
    the fewest bytes it must move (input and output once, the weight once per batch) at full
    bandwidth; the larger is its floor. NaN where the device's peaks are not known (a CPU)."""
    size = DTYPES[dtype].itemsize
    moved = size * (
        layer.in_channels * layer.in_height * layer.in_width
        + layer.out_channels * layer.out_height * layer.out_width
        + layer.weights / batch
    )
    known = peaks(device_name)
    compute_ms = 2 * layer.flops / known[dtype] * 1e3 if known else math.nan
    memory_ms = moved / known["bytes_per_s"] * 1e3 if known else math.nan
    return {
        "bytes": moved,
        "compute_bound_ms": compute_ms,
        "memory_bound_ms": memory_ms,
        "roofline_ms": max(compute_ms, memory_ms),
    }


def layer_times(model: str, variants: list[str], setting: Setting = Setting()) -> pd.DataFrame:
    """Where the time goes: each convolution's time per image, for Orig and ``variants``, with its
    FLOP rate and, on a GPU whose peaks are known, its roofline (``roofline``).

    Eager mode, the setting's implementation; hooks time each convolution with the device
    synchronised at both ends. As in ``measure``, the variants take turns round by round, so a
    noisy machine does not favour one. ``other`` is the rest of a hook-free pass (pooling, ReLU,
    the classifier, and the hooks' own cost), timed in the same rounds.
    """
    setting = replace(setting.check(), compile=False)
    resolved = _variants(model, variants)
    names = [variant.name for variant in resolved]
    device = devices.resolve(setting.device)
    input_size = resolved[0].input_size
    images = _images(input_size, setting, device)
    counted, networks = {}, {}
    for variant in resolved:
        built = variant.build().eval()
        counted[variant.name] = {layer.name: layer for layer in counting.count_layers(built, input_size)}
        networks[variant.name] = _prepare(built, setting, device)  # the same module names, whatever computes them
    totals: dict[str, list[float]] = {name: [] for name in names}
    with torch.inference_mode(), _benchmarked(device):
        for network in networks.values():
            for _ in range(setting.warmup):
                network(images)
        _interleaved(
            names, setting.rounds, lambda name: totals[name].append(_sample(networks[name], images, device, 1))
        )
        clocks = {name: _LayerClock(networks[name], list(counted[name]), device, setting.batch) for name in names}
        _interleaved(names, setting.rounds, lambda name: networks[name](images))  # hooks time every layer
    device_name = devices.describe(device)["name"]
    rows = []
    for name in names:
        timed = [
            {
                "variant": name,
                "layer": layer.removesuffix(".0"),
                "flops": counted[name][layer].flops,
                "ms_per_image": statistics.median(times) * 1e3,
                **roofline(counted[name][layer], setting.batch, setting.dtype, device_name),
            }
            for layer, times in clocks[name].seconds.items()
            if times
        ]
        rest = statistics.median(totals[name]) * 1e3 - sum(row["ms_per_image"] for row in timed)
        rows += timed + [{"variant": name, "layer": "other", "flops": 0, "ms_per_image": max(0.0, rest)}]
    frame = pd.DataFrame(rows)
    frame["gflop_per_s"] = frame["flops"] / frame["ms_per_image"] / 1e6
    frame["tflop_per_s"] = 2 * frame["flops"] / frame["ms_per_image"] / 1e9  # a multiply-add is 2 FLOPs
    frame["of_roofline"] = frame["roofline_ms"] / frame["ms_per_image"]
    return frame


def layers_table(directory: Path) -> pd.DataFrame:
    """Every per-layer breakdown (``roots time --layers --out-dir``) under ``directory``, with its folder."""
    frames = [
        pd.read_csv(path).assign(
            model=path.name.split("-layers-")[0], where=path.parent.name, setting=path.stem.split("-layers-")[1]
        )
        for path in sorted(Path(directory).rglob("*-layers-*.csv"))
    ]
    if not frames:
        raise TimingError(f"no per-layer timings under {directory}: run `roots time --layers --out-dir`")
    return pd.concat(frames, ignore_index=True)


def where_time_goes(layers: pd.DataFrame) -> pd.DataFrame:
    """Per variant of one breakdown: how much of its time the grouping can remove at all.

    ``unchanged_ms`` is the time of the layers a variant leaves as Orig has them (same FLOPs)
    plus everything that is not a convolution. ``bound`` is Orig's time over that: the
    speed-up if the grouped layers took no time. ``at_orig_rate`` is the speed-up if each
    grouped layer ran at the FLOP rate it has in Orig, i.e. time proportional to its FLOPs.
    """
    orig = layers[layers["variant"] == "orig"].set_index("layer")
    rows = []
    for variant, group in layers.groupby("variant", sort=False):
        group = group.set_index("layer")
        changed = group.index[(group["flops"] != orig["flops"].reindex(group.index)) & (group["flops"] > 0)]
        unchanged_ms = group["ms_per_image"].drop(changed).sum()
        scaled = (orig.loc[changed, "ms_per_image"] * group.loc[changed, "flops"] / orig.loc[changed, "flops"]).sum()
        total = orig["ms_per_image"].sum()
        rows.append(
            {
                "variant": variant,
                "ms_per_image": group["ms_per_image"].sum(),
                "grouped_layers_ms": group.loc[changed, "ms_per_image"].sum(),
                "unchanged_ms": unchanged_ms,
                "flops_ratio": orig["flops"].sum() / group["flops"].sum(),
                "speedup": total / group["ms_per_image"].sum(),
                "at_orig_rate": total / (unchanged_ms + scaled),
                "bound": total / unchanged_ms,
            }
        )
    return pd.DataFrame(rows)
