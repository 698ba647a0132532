"""FLOPs and parameters as the paper counts them.

FLOPs are multiply-adds of convolutions and fully-connected layers for one image; a
convolution in ``g`` groups costs ``H_out * W_out * k * k * (C_in / g) * C_out``. Layers are
found by running one image through the real model with forward hooks, so the counts
follow whatever the builders build (pooling modes, strides, auxiliary heads).

The paper's parameter columns do not all count the same thing; each convention below was
found by matching every row of its table (notebooks/architectures.ipynb shows the fit):

- ``weights+biases`` (NiN, Tables 2 and 8; GoogLeNet, Table 6): weights plus one bias per
  output channel, as a Caffe layer has (our convolutions carry that shift in BatchNorm).
- ``weights`` (ResNet-50, Table 4): convolution and FC weights only.
- ``conv weights`` (ResNet-200, Table 5): convolution weights only, the classifier left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import pandas as pd
import torch
from torch import nn

from roots.errors import UnknownNameError
from roots.nn import models
from roots.nn.layers import ConvBN
from roots.paper import reported


@dataclass(frozen=True)
class LayerCount:
    name: str
    slot: str | None  # the schedule slot whose group count the layer has (ConvBN.slot); None: no table groups it
    kind: str  # "conv" or "fc"
    kernel: int
    groups: int
    in_channels: int
    out_channels: int
    in_height: int
    in_width: int
    out_height: int
    out_width: int
    flops: int
    weights: int

    @property
    def biases(self) -> int:
        return self.out_channels


PARAM_CONVENTIONS = {
    "weights+biases": lambda layer: layer.weights + layer.biases,
    "weights": lambda layer: layer.weights,
    "conv weights": lambda layer: layer.weights if layer.kind == "conv" else 0,
}


def count_layers(
    model: nn.Module, input_size: tuple[int, int, int], forward_kwargs: Mapping[str, object] | None = None
) -> list[LayerCount]:
    """One ``LayerCount`` per convolution and FC layer, in execution order."""
    records: list[LayerCount] = []
    names = {module: name for name, module in model.named_modules()}
    slots = {block[0]: block.slot for block in model.modules() if isinstance(block, ConvBN)}

    def record(module: nn.Module, inputs, output: torch.Tensor) -> None:
        if isinstance(module, nn.Conv2d):
            height, width = output.shape[-2:]
            in_height, in_width = inputs[0].shape[-2:]
            flops = height * width * module.weight.numel()  # = H*W*k*k*(C_in/g)*C_out
            records.append(
                LayerCount(
                    names[module],
                    slots.get(module),
                    "conv",
                    module.kernel_size[0],
                    module.groups,
                    module.in_channels,
                    module.out_channels,
                    in_height,
                    in_width,
                    height,
                    width,
                    flops,
                    module.weight.numel(),
                )
            )
        elif isinstance(module, nn.Linear):
            records.append(
                LayerCount(
                    names[module],
                    None,
                    "fc",
                    1,
                    1,
                    module.in_features,
                    module.out_features,
                    1,
                    1,
                    1,
                    1,
                    module.weight.numel(),
                    module.weight.numel(),
                )
            )

    hooks = [module.register_forward_hook(record) for module in model.modules()]
    was_training = model.training
    model.eval()
    where = next(model.parameters())
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_size, device=where.device, dtype=where.dtype), **(forward_kwargs or {}))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    return records


def total_flops(layers: list[LayerCount]) -> int:
    return sum(layer.flops for layer in layers)


def total_params(layers: list[LayerCount], convention: str) -> int:
    if convention not in PARAM_CONVENTIONS:
        raise UnknownNameError(
            f"unknown params convention {convention!r}; choose one of: {', '.join(PARAM_CONVENTIONS)}"
        )
    return sum(PARAM_CONVENTIONS[convention](layer) for layer in layers)


def layer_table(layers: list[LayerCount], convention: str):
    """Layer-wise counts as a pandas DataFrame (Fig. 15 plots one of these)."""
    frame = pd.DataFrame([asdict(layer) for layer in layers])
    frame["params"] = [PARAM_CONVENTIONS[convention](layer) for layer in layers]
    return frame


def count(model: nn.Module, family: models.Family) -> dict:
    """FLOPs and params of a built ``model`` of ``family``, with its paper table's convention."""
    layers = count_layers(model, family.input_size, family.count_kwargs)
    convention = reported.params_convention(family.schedule_family)
    return {
        "flops": total_flops(layers),
        "params": total_params(layers, convention),
        "params_convention": convention,
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
    }


def profile(variant: models.Variant) -> dict:
    """FLOPs and params of a variant, with its table's convention (``roots profile``)."""
    return {
        "model": variant.family.name,
        "variant": variant.name,
        "groups": variant.schedule,
        "input_size": list(variant.family.input_size),
        **count(variant.build(), variant.family),
    }
