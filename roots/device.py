"""Choosing a compute device by name, and describing it in every result."""

from __future__ import annotations

import os

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
            raise DeviceError("--device cuda, but torch sees no GPU (torch.cuda.is_available() is False); use --device cpu")
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def describe(device: torch.device) -> dict:
    """What a reader needs to compare a number with another machine's."""
    info = {"device": device.type, "torch": torch.__version__, "threads": torch.get_num_threads()}
    if device.type == "cuda":
        info["name"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
    else:
        info["name"] = f"CPU ({os.cpu_count()} logical cores)"
    return info
