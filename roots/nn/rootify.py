"""Root modules in any CNN: ``rootify(model, "root-8")`` splits each spatial convolution of a
``nn.Module`` (kernel larger than 1x1, not already grouped) into filter groups.

A named topology assigns groups by depth, as the paper does for all four of its families:
the convolutions are sorted into stages by the spatial size of their output; the first stage
(the stem, whose first layer sees the three-channel image) stays dense, as the paper leaves
its first layer (Sec. 4.1); then ``root-k`` has k groups in the next stage and halves them
stage by stage (never below 1), ``tree-k`` doubles them, and ``col-k`` keeps k. On the
paper's own families this reproduces every schedule of its tables (``tests/test_rootify.py``
checks it). An explicit ``{module name: groups}`` covers anything else. The 1x1 convolution
that follows a grouped one stays as it is: it is the root module's mixing layer.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import torch
from torch import nn

from roots.errors import UnknownNameError
from roots.nn.layers import check_groups

TOPOLOGIES = ("root", "tree", "col")


def spatial_convolutions(model: nn.Module) -> dict[str, nn.Conv2d]:
    """The convolutions a root module replaces: kernel larger than 1x1 and one group (a grouped or
    depthwise convolution is already sparse), by module name."""
    return {
        name: module
        for name, module in model.named_modules()
        if isinstance(module, nn.Conv2d) and max(module.kernel_size) > 1 and module.groups == 1
    }


def stages(model: nn.Module, input_size: tuple[int, int, int]) -> dict[str, int]:
    """Each spatial convolution's stage: 0 for the stem's resolution, then one per smaller output size."""
    convolutions = spatial_convolutions(model)
    sizes: dict[str, tuple[int, int]] = {}

    def record(name: str):
        def hook(module: nn.Module, inputs, output: torch.Tensor) -> None:  # None: the output stays as it is
            sizes.setdefault(name, tuple(output.shape[-2:]))

        return hook

    hooks = [module.register_forward_hook(record(name)) for name, module in convolutions.items()]
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, *input_size))
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    order = sorted({size for size in sizes.values()}, key=lambda size: -size[0] * size[1])
    return {name: order.index(sizes[name]) for name in convolutions if name in sizes}


def _named_schedule(model: nn.Module, name: str, input_size: tuple[int, int, int]) -> dict[str, int]:
    topology, _, k = name.partition("-")
    if topology not in TOPOLOGIES or not k.isdigit() or int(k) < 1:
        raise UnknownNameError(
            f"unknown schedule {name!r}: a topology and k, e.g. root-8, tree-4, col-2 ({', '.join(TOPOLOGIES)}), "
            "or a mapping of module names to group counts"
        )
    k = int(k)
    factor = {"root": 0.5, "tree": 2.0, "col": 1.0}[topology]
    return {
        layer: 1 if stage == 0 else max(1, int(k * factor ** (stage - 1)))
        for layer, stage in stages(model, input_size).items()
    }


def schedule_for(model: nn.Module, schedule: str | Mapping[str, int], input_size=(3, 224, 224)) -> dict[str, int]:
    """The group count of each spatial convolution ``rootify`` would set (explicit maps checked)."""
    if isinstance(schedule, str):
        return _named_schedule(model, schedule, input_size)
    convolutions = spatial_convolutions(model)
    unknown = sorted(set(schedule) - set(convolutions))
    if unknown:
        raise UnknownNameError(
            f"{', '.join(unknown)}: not a spatial convolution of this model; it has: {', '.join(convolutions)}"
        )
    return dict(schedule)


def rootify(model: nn.Module, schedule: str | Mapping[str, int], input_size=(3, 224, 224)) -> nn.Module:
    """A copy of ``model`` whose spatial convolutions are split into filter groups by ``schedule``
    (a named topology such as ``root-8``, or ``{module name: groups}``), He-initialised as the
    paper trains them; the original is left untouched. ``input_size`` is what the model takes
    (C, H, W): a named topology finds the stages from it."""
    groups = schedule_for(model, schedule, input_size)
    rooted = copy.deepcopy(model)
    convolutions = spatial_convolutions(rooted)
    for name, count in groups.items():
        old = convolutions[name]
        check_groups(name, old.in_channels, old.out_channels, count)
        if count == 1:
            continue
        new = nn.Conv2d(
            old.in_channels,
            old.out_channels,
            old.kernel_size,
            stride=old.stride,
            padding=old.padding,
            dilation=old.dilation,
            groups=count,
            bias=old.bias is not None,
            padding_mode=old.padding_mode,
        ).to(device=old.weight.device, dtype=old.weight.dtype)
        # He et al. over each filter's own fan-in (k*k*c_in/g: PyTorch reads it from the weight's shape)
        nn.init.kaiming_normal_(new.weight, mode="fan_in", nonlinearity="relu")
        if new.bias is not None:
            nn.init.zeros_(new.bias)
        parent_name, _, child = name.rpartition(".")
        setattr(rooted.get_submodule(parent_name) if parent_name else rooted, child, new)
    return rooted
