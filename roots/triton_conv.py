"""A grouped convolution written for the GPU in Triton: implicit GEMM per filter group.

Each program computes a tile of one group's output: BLOCK_M output pixels (of the whole batch)
by BLOCK_N of the group's filters, summing over the group's input channels and the kernel's
taps in BLOCK_K slices with fp32 accumulation. Input and output are channels_last (a pixel's
channels are contiguous, so a slice of a group's channels is one contiguous load); the folded
BatchNorm's shift is added and the ReLU applied in the epilogue, so the layer is one pass over
memory. Tile sizes are autotuned per layer shape on a GPU.

With ``TRITON_INTERPRET=1`` set before this module is imported, Triton runs the kernel on CPU
tensors: that is how the tests check it against PyTorch's grouped convolution without a GPU.
"""

from __future__ import annotations

import os

import torch
import triton
import triton.language as tl
from torch import nn

from roots.errors import RootsError

INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"
# Tile shapes tried per layer shape (M pixels x N filters x K channels); tl.dot needs 16 or more each.
CONFIGS = [
    triton.Config({"BLOCK_M": m, "BLOCK_N": n, "BLOCK_K": k}, num_warps=w, num_stages=s)
    for m, n, k, w, s in ((128, 64, 32, 4, 3), (128, 32, 32, 4, 3), (64, 64, 32, 4, 3), (64, 32, 32, 2, 4),
                          (64, 16, 16, 2, 4), (128, 128, 32, 8, 3), (256, 64, 32, 8, 3), (64, 128, 64, 4, 3))
]  # fmt: skip


class TritonConvError(RootsError):
    """The Triton implementation asked for where it cannot run."""


def _grouped_conv_kernel(
    x, w, bias, y,
    N, H, W, OH, OW, C_IN, C_OUT, C_IN_G, C_OUT_G,
    sxn, sxh, sxw, sxc,
    syn, syh, syw, syc,
    KH: tl.constexpr, KW: tl.constexpr, STRIDE: tl.constexpr, PAD: tl.constexpr, DIL: tl.constexpr,
    HAS_BIAS: tl.constexpr, RELU: tl.constexpr, INPUT_PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):  # fmt: skip
    pid_m, pid_n, group = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)  # output pixels, batch included
    cols = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)  # filters within the group
    row_ok, col_ok = rows < N * OH * OW, cols < C_OUT_G
    n = rows // (OH * OW)
    oh = (rows % (OH * OW)) // OW
    ow = rows % OW
    channels = tl.arange(0, BLOCK_K)
    accumulator = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for tap in range(KH * KW):
        ih = oh * STRIDE - PAD + (tap // KW) * DIL
        iw = ow * STRIDE - PAD + (tap % KW) * DIL
        inside = row_ok & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
        pixel = x + n * sxn + ih * sxh + iw * sxw + group * C_IN_G * sxc
        for start in range(0, C_IN_G, BLOCK_K):
            k = start + channels
            k_ok = k < C_IN_G
            a = tl.load(pixel[:, None] + k[None, :] * sxc, mask=inside[:, None] & k_ok[None, :], other=0.0)
            # the weight as [groups, taps, C_IN_G, C_OUT_G], contiguous: a K x N tile of one tap
            offset = ((group * KH * KW + tap) * C_IN_G + k[:, None]) * C_OUT_G + cols[None, :]
            b = tl.load(w + offset, mask=k_ok[:, None] & col_ok[None, :], other=0.0)
            accumulator = tl.dot(a, b, accumulator, input_precision=INPUT_PRECISION)
    filters = group * C_OUT_G + cols
    if HAS_BIAS:
        accumulator += tl.load(bias + filters, mask=col_ok, other=0.0).to(tl.float32)[None, :]
    if RELU:
        accumulator = tl.maximum(accumulator, 0.0)
    out = y + n[:, None] * syn + oh[:, None] * syh + ow[:, None] * syw + filters[None, :] * syc
    tl.store(out, accumulator.to(y.dtype.element_ty), mask=row_ok[:, None] & col_ok[None, :])


# Interpreted (CPU tests), one small tile; on a GPU, the tile sizes autotuned per layer shape.
if INTERPRETED:
    _kernel = triton.jit(_grouped_conv_kernel)
    _FIXED = {"BLOCK_M": 32, "BLOCK_N": 16, "BLOCK_K": 16}
else:
    _kernel = triton.autotune(configs=CONFIGS, key=["N", "OH", "OW", "C_IN_G", "C_OUT_G", "KH", "KW"])(
        triton.jit(_grouped_conv_kernel)
    )
    _FIXED = {}


def _nhwc_strides(tensor: torch.Tensor) -> tuple[int, int, int, int]:
    """An N, C, H, W tensor's strides in the kernel's order: batch, row, column, channel."""
    return tensor.stride(0), tensor.stride(2), tensor.stride(3), tensor.stride(1)


def packed_weight(weight: torch.Tensor, groups: int) -> torch.Tensor:
    """[C_out, C_in/g, kh, kw] as the kernel reads it: [g, kh*kw, C_in/g, C_out/g], contiguous."""
    c_out, c_in_g, kh, kw = weight.shape
    return weight.reshape(groups, c_out // groups, c_in_g, kh * kw).permute(0, 3, 2, 1).contiguous()


def grouped_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, groups: int, stride: int,
                   padding: int, dilation: int = 1, relu: bool = False, packed: torch.Tensor | None = None,
                   ) -> torch.Tensor:  # fmt: skip
    """``relu(conv2d(x, weight, bias, stride, padding, dilation, groups))`` by the Triton kernel; the
    result is channels_last. ``packed`` is ``packed_weight(weight, groups)``, kept by a layer."""
    if x.device.type != "cuda" and not INTERPRETED:
        raise TritonConvError("the triton implementation runs on a GPU (set TRITON_INTERPRET=1 before importing "
                              "roots to try it on the CPU, slowly)")  # fmt: skip
    n, c_in, h, w = x.shape
    c_out, c_in_g, kh, kw = weight.shape
    oh = (h + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
    ow = (w + 2 * padding - dilation * (kw - 1) - 1) // stride + 1
    y = torch.empty((n, c_out, oh, ow), device=x.device, dtype=x.dtype, memory_format=torch.channels_last)
    packed = packed_weight(weight, groups) if packed is None else packed
    precision = "ieee" if x.dtype == torch.float32 else "tf32"  # fp32 inputs keep fp32 products
    grid = lambda meta: (triton.cdiv(n * oh * ow, meta["BLOCK_M"]), triton.cdiv(c_out // groups, meta["BLOCK_N"]), groups)  # noqa: E731
    _kernel[grid](
        x, packed, bias if bias is not None else packed, y,
        n, h, w, oh, ow, c_in, c_out, c_in_g, c_out // groups,
        *_nhwc_strides(x), *_nhwc_strides(y),
        KH=kh, KW=kw, STRIDE=stride, PAD=padding, DIL=dilation, HAS_BIAS=bias is not None, RELU=relu,
        INPUT_PRECISION=precision, **_FIXED,
    )  # fmt: skip
    return y


class TritonGroupedConv2d(nn.Module):
    """``conv`` (groups > 1, square kernel, stride and padding) computed by the Triton kernel, with
    the ReLU that follows it fused in when ``relu`` (``implementations.use`` does so after a
    folded BatchNorm). The weight stays ``conv``'s parameter."""

    def __init__(self, conv: nn.Conv2d, relu: bool = False) -> None:
        super().__init__()
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = conv.kernel_size, conv.stride, conv.padding, conv.dilation
        if kh != kw or sh != sw or ph != pw or dh != dw or conv.padding_mode != "zeros":
            raise TritonConvError(f"the triton implementation takes square kernels, strides and zero padding; got {conv}")
        self.conv, self.relu = conv, relu
        self._packed: tuple[tuple, torch.Tensor] | None = None  # the weight as the kernel reads it, for inference

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight, conv = self.conv.weight, self.conv
        key = (weight.data_ptr(), weight.dtype, weight.device)  # a move or a cast gives new storage
        if self._packed is None or self._packed[0] != key:
            self._packed = (key, packed_weight(weight.detach(), conv.groups))
        return grouped_conv2d(x, weight, conv.bias, conv.groups, conv.stride[0], conv.padding[0], conv.dilation[0],
                              self.relu, self._packed[1])  # fmt: skip

    def extra_repr(self) -> str:
        return f"implementation=triton, relu={self.relu}"
