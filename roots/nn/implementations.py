"""Ways to compute a grouped convolution (the paper's Sec. 5), interchangeable on a built model.

* ``native``: the framework's grouped convolution (cuDNN / oneDNN pick the kernel).
* ``loop``: what Caffe did: one convolution per group, one after another, then concatenate.
* ``bmm``: the paper's suggestion, batched GEMM: unfold the input once (im2col) and multiply
  all groups' filters with their columns in a single batched matrix product.
* ``triton``: a GPU kernel of our own (``roots.triton_conv``): implicit GEMM per group on
  channels_last input, with the folded BatchNorm's shift and the ReLU fused into it.
* ``fused``: ``triton``, and beyond the paper each of NiN's mlpconv blocks (the kxk convolution,
  grouped or not, and the two 1x1 convolutions after it) as one kernel, so the layers grouping
  leaves alone cost less too. Needs folded BatchNorm; a network without such blocks is as ``triton``.

For inference, ``fold_batchnorm`` also merges each BatchNorm into the convolution before it, as
a deployed network would: the memory-bound normalisation pass does not shrink with the FLOPs,
so leaving it in caps the speed-up any grouping can show.

Every implementation computes the same function; ``use`` swaps one into a copy of a model with
the same weights, so timings compare ways of computing, not different models.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn
from torch.fx.experimental import optimization as fx_optimization
from torch.nn.utils.fusion import fuse_conv_bn_eval

from roots.errors import UnknownNameError
from roots.nn.layers import ConvBN

IMPLEMENTATIONS = ("native", "loop", "bmm", "triton", "fused")


def _loop(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    inputs = x.chunk(conv.groups, dim=1)
    weights = conv.weight.chunk(conv.groups, dim=0)
    return torch.cat(
        [
            F.conv2d(part, weight, None, conv.stride, conv.padding, conv.dilation)
            for part, weight in zip(inputs, weights)
        ],
        dim=1,
    )


def _bmm(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    batch, _, height, width = x.shape
    groups, out_channels = conv.groups, conv.out_channels
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = conv.kernel_size, conv.stride, conv.padding, conv.dilation
    out_h = (height + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    out_w = (width + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    columns = F.unfold(x, conv.kernel_size, conv.dilation, conv.padding, conv.stride)  # N, C*kh*kw, L
    columns = columns.view(batch, groups, -1, out_h * out_w)  # channels are group-major, as in the weight
    weight = conv.weight.reshape(groups, out_channels // groups, -1)  # g, O/g, C/g*kh*kw
    out = torch.matmul(weight.unsqueeze(0), columns)  # one batched GEMM over (N, g)
    return out.reshape(batch, out_channels, out_h, out_w)


class GroupedConv2d(nn.Module):
    """Computes ``conv`` (an ``nn.Conv2d`` with groups > 1) with another implementation.

    Holds the original module, so its weight stays the model's parameter (and its name in the
    state dict gains only a ``conv.`` prefix).
    """

    def __init__(self, conv: nn.Conv2d, implementation: str) -> None:
        super().__init__()
        self.conv, self.implementation = conv, implementation
        self._forward = {"loop": _loop, "bmm": _bmm}[implementation]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self._forward(self.conv, x)
        return out if self.conv.bias is None else out + self.conv.bias.view(1, -1, 1, 1)

    def extra_repr(self) -> str:
        return f"implementation={self.implementation}"


def check(implementation: str) -> str:
    if implementation not in IMPLEMENTATIONS:
        raise UnknownNameError(
            f"unknown implementation {implementation!r}; choose one of: {', '.join(IMPLEMENTATIONS)}"
        )
    return implementation


def _folded(block: nn.Module) -> bool:
    """A ``ConvBN`` whose BatchNorm is folded into its convolution (which then has the bias)."""
    return isinstance(block, ConvBN) and isinstance(block[1], nn.Identity)


def _relu_after(block: ConvBN) -> bool:
    return len(block) > 2 and isinstance(block[2], nn.ReLU)


def _fuse_mlpconv_blocks(model: nn.Module) -> None:
    """Put ``TritonMlpconv`` in place of each run of three folded ``ConvBN``s, kxk then 1x1 and 1x1
    (NiN's mlpconv), the first two with ReLUs; the replaced layers become identities."""
    from roots.nn.triton_conv import TritonMlpconv

    for parent in list(model.modules()):
        if not isinstance(parent, nn.Sequential):
            continue
        children = list(parent.children())
        for first, second, third in zip(children, children[1:], children[2:]):
            if not (
                all(_folded(block) for block in (first, second, third))
                and _relu_after(first)
                and _relu_after(second)
                and first.conv.stride == (1, 1)
                and all(block.conv.kernel_size == (1, 1) and block.conv.groups == 1 for block in (second, third))
            ):
                continue
            relu_last = _relu_after(third)
            first[0] = TritonMlpconv(first.conv, second.conv, third.conv, relu_last)
            for block in (second, third):
                block[0] = nn.Identity()
            for block in (first, second, third)[: 3 if relu_last else 2]:
                block[2] = nn.Identity()


def use(model: nn.Module, implementation: str) -> nn.Module:
    """A copy of ``model`` whose grouped convolutions use ``implementation`` (same weights). The
    ``triton`` kernel also takes over the ReLU of a ``ConvBN`` whose BatchNorm has been folded;
    ``fused`` first puts each mlpconv block into one kernel (``_fuse_mlpconv_blocks``)."""
    if check(implementation) == "native":
        return model
    model = copy.deepcopy(model)
    computed: tuple[type, ...] = ()  # modules whose convolutions are already computed their own way
    if implementation in ("triton", "fused"):
        from roots.nn.triton_conv import TritonGroupedConv2d, TritonMlpconv  # Triton only where it is asked for

        computed = (TritonMlpconv,)
        if implementation == "fused":
            _fuse_mlpconv_blocks(model)

        def swap(parent: nn.Module, name: str, conv: nn.Conv2d) -> None:
            relu = _folded(parent) and _relu_after(parent)
            setattr(parent, name, TritonGroupedConv2d(conv, relu=relu))
            if relu:
                parent[2] = nn.Identity()
    else:

        def swap(parent: nn.Module, name: str, conv: nn.Conv2d) -> None:
            setattr(parent, name, GroupedConv2d(conv, implementation))

    grouped = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if isinstance(child, nn.Conv2d) and child.groups > 1 and not isinstance(parent, computed)
    ]
    for parent, name, conv in grouped:
        swap(parent, name, conv)
    return model


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of an eval-mode ``model`` with every BatchNorm that follows a convolution merged into it.

    The project's ``ConvBN`` blocks are folded in place (the Triton kernels recognise them by their
    shape); any other network (torchvision's, a user's) is traced with torch.fx, whose ``fuse``
    merges each Conv2d + BatchNorm2d pair whose convolution feeds nothing else. A BatchNorm that
    follows no convolution (pre-activation) is left as it is.
    """
    if model.training:
        raise ValueError("fold_batchnorm needs an eval-mode model: training BatchNorm uses batch statistics")
    model = copy.deepcopy(model)
    for module in model.modules():
        if isinstance(module, ConvBN) and isinstance(module[1], nn.BatchNorm2d):
            module[0] = fuse_conv_bn_eval(module[0], module[1])
            module[1] = nn.Identity()
    if not any(isinstance(module, nn.BatchNorm2d) for module in model.modules()):
        return model
    try:
        return fx_optimization.fuse(model, inplace=True)
    except Exception as error:  # torch.fx cannot trace every forward (data-dependent control flow)
        raise ValueError(
            f"cannot fold the BatchNorms of {type(model).__name__}: torch.fx cannot trace its forward "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else 'no message'}); "
            "time it with --no-fold-bn"
        ) from error
