"""Choosing a compute device by name, and describing it in every result."""

from __future__ import annotations

import os
import subprocess

import torch

from roots.errors import RootsError

DEVICE_NAMES = ("auto", "cpu", "cuda")


class DeviceError(RootsError):
    """An unknown device name, or CUDA asked for where there is no GPU."""


def resolve(name: str = "auto", local_rank: int = 0) -> torch.device:
    """``auto`` is the GPU when one is visible, else the CPU; ``cuda`` without a GPU is an error."""
    if name not in DEVICE_NAMES:
        raise DeviceError(f"unknown device {name!r}; choose one of: {', '.join(DEVICE_NAMES)}")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(
                "--device cuda, but torch sees no GPU (torch.cuda.is_available() is False); use --device cpu"
            )
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AVX-512 BF16 or AMX), as torch's own
    dispatcher sees it: there bf16 autocast roughly doubles training speed (NiN: 113 -> 213 img/s
    on a 2-core Zen 4); elsewhere oneDNN emulates bf16 and it is slower than fp32."""
    return torch.backends.mkldnn.is_available() and (
        torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    )


def auto_precision(device: torch.device) -> str:
    """What ``precision: auto`` trains in: bf16 on a GPU and on a CPU with native bf16, else fp32."""
    return "bf16" if device.type == "cuda" or cpu_has_native_bf16() else "fp32"


def _clocks(device: torch.device) -> dict:
    """The GPU's clocks as nvidia-smi reads them now (MHz): a timing on a throttled card says so."""
    index = device.index if device.index is not None else torch.cuda.current_device()
    query = "clocks.sm,clocks.max.sm,clocks.mem"
    try:
        found = (
            subprocess.run(
                ["nvidia-smi", f"--id={index}", f"--query-gpu={query}", "--format=csv,noheader,nounits"],
                capture_output=True,
                text=True,
                timeout=20,
                check=True,
            )
            .stdout.strip()
            .split(", ")
        )
        return {
            f"{name.replace('clocks.', '').replace('.', '_')}_mhz": int(value)
            for name, value in zip(query.split(","), found)
        }
    except (OSError, subprocess.SubprocessError, ValueError):
        return {"clocks": "not readable (no nvidia-smi)"}


def describe(device: torch.device) -> dict:
    """What a reader needs to compare a number with another machine's."""
    info = {"device": device.type, "torch": torch.__version__, "threads": torch.get_num_threads()}
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        info.update(
            name=properties.name,
            cuda=torch.version.cuda,
            cudnn=torch.backends.cudnn.version(),
            capability=f"{properties.major}.{properties.minor}",
            multiprocessors=properties.multi_processor_count,
            memory_gib=round(properties.total_memory / 2**30, 1),
            **_clocks(device),
        )
    else:
        info.update(
            name=f"CPU ({os.cpu_count()} logical cores)",
            capability=torch.backends.cpu.get_cpu_capability(),
            native_bf16=cpu_has_native_bf16(),
        )
    return info
