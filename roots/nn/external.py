"""Networks from outside the project (torchvision's, by name: ``torchvision:resnet18``), with root
modules put in by ``rootify`` and counted as the paper counts (multiply-adds of convolutions
and FC layers for one image) beside the network without them."""

from __future__ import annotations

import torchvision
from torch import nn

from roots.errors import UnknownNameError
from roots.nn import counting
from roots.nn.rootify import rootify
from roots.paper import schedules

PREFIX = "torchvision:"
INPUT_SIZE = (3, 224, 224)  # torchvision's ImageNet classifiers
# what a builder needs to make a plain, randomly initialised network (GoogLeNet's side heads are
# training-time extras, and it warns unless asked for its own initialisation)
BUILD_OPTIONS = {"googlenet": {"aux_logits": False, "init_weights": True}}
DENSE = schedules.BASELINE  # the schedule name of the network as torchvision builds it, what ratios are over
DEFAULT_SCHEDULES = ("root-2", "root-4", "root-8", "root-16")  # what `roots time` compares when asked for all


def is_external(model: str) -> bool:
    return model.startswith(PREFIX)


def build(model: str) -> nn.Module:
    """``torchvision:NAME``, untrained; an unknown name lists torchvision's classifiers."""
    name = model.removeprefix(PREFIX)
    known = torchvision.models.list_models(module=torchvision.models)
    if name not in known:
        raise UnknownNameError(f"unknown torchvision model {name!r}; choose one of: {', '.join(known)}")
    return torchvision.models.get_model(name, weights=None, **BUILD_OPTIONS.get(name, {}))


def network(model: str, schedule: str) -> nn.Module:
    """``model`` with ``schedule``'s root modules (``orig``: as torchvision builds it)."""
    dense = build(model)
    return dense if schedule == DENSE else rootify(dense, schedule, INPUT_SIZE)


def flops(network: nn.Module) -> int:
    """Multiply-adds of one image, counted as the paper counts them (convolutions and FC layers)."""
    return counting.total_flops(counting.count_layers(network.eval(), INPUT_SIZE))


def _counts(network: nn.Module) -> dict:
    return {"flops": flops(network), "params": sum(p.numel() for p in network.parameters())}


def profile(model: str, schedule: str) -> dict:
    """FLOPs and params of ``model`` with ``schedule``'s root modules, beside the model without them."""
    dense = build(model)
    rooted = rootify(dense, schedule, INPUT_SIZE)
    ours, base = _counts(rooted), _counts(dense)
    return {
        "model": model,
        "schedule": schedule,
        "input_size": list(INPUT_SIZE),
        **ours,
        "dense_flops": base["flops"],
        "dense_params": base["params"],
        "groups": {name: conv.groups for name, conv in rooted.named_modules() if getattr(conv, "groups", 1) > 1},
    }
