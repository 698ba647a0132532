"""Grouped convolutions written for the GPU in Triton: implicit GEMM per filter group.

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
    for m, n, k, w, s in (
        (128, 64, 32, 4, 3),
        (128, 32, 32, 4, 3),
        (64, 64, 32, 4, 3),
        (64, 32, 32, 2, 4),
        (64, 16, 16, 2, 4),
        (128, 128, 32, 8, 3),
        (256, 64, 32, 8, 3),
        (64, 128, 64, 4, 3),
    )
]


class TritonConvError(RootsError):
    """The Triton implementation asked for where it cannot run."""


def _grouped_conv_kernel(
    x,
    w,
    bias,
    y,
    N,
    H,
    W,
    OH,
    OW,
    C_IN,
    C_OUT,
    C_IN_G,
    C_OUT_G,
    sxn,
    sxh,
    sxw,
    sxc,
    syn,
    syh,
    syw,
    syc,
    KH: tl.constexpr,
    KW: tl.constexpr,
    STRIDE: tl.constexpr,
    PAD: tl.constexpr,
    DIL: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    RELU: tl.constexpr,
    INPUT_PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
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


def _mlpconv_kernel(
    x,
    w1,
    b1,
    w2,
    b2,
    w3,
    b3,
    y,
    N,
    H,
    W,
    OH,
    OW,
    GROUPS,
    C_IN_G,
    C1_G,
    C2,
    C3,
    sxn,
    sxh,
    sxw,
    sxc,
    syn,
    syh,
    syw,
    syc,
    KH: tl.constexpr,
    KW: tl.constexpr,
    STRIDE: tl.constexpr,
    PAD: tl.constexpr,
    RELU_LAST: tl.constexpr,
    INPUT_PRECISION: tl.constexpr,
    BLOCK_C1: tl.constexpr,
    BLOCK_C2: tl.constexpr,
    BLOCK_C3: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)  # output pixels, batch included
    row_ok = rows < N * OH * OW
    n = rows // (OH * OW)
    oh = (rows % (OH * OW)) // OW
    ow = rows % OW
    c1, c2 = tl.arange(0, BLOCK_C1), tl.arange(0, BLOCK_C2)
    c1_ok, c2_ok = c1 < C1_G, c2 < C2
    reduction = KH * KW * C_IN_G  # taps and channels as one index: conv1a's 3 channels fill a tile too
    hidden = tl.zeros((BLOCK_M, BLOCK_C2), dtype=tl.float32)
    for group in range(GROUPS):
        # the kxk convolution, one group's filters ...
        first = tl.zeros((BLOCK_M, BLOCK_C1), dtype=tl.float32)
        for start in range(0, reduction, BLOCK_K):
            k = start + tl.arange(0, BLOCK_K)
            k_ok = k < reduction
            tap, channel = k // C_IN_G, k % C_IN_G
            ih = oh[:, None] * STRIDE - PAD + (tap // KW)[None, :]
            iw = ow[:, None] * STRIDE - PAD + (tap % KW)[None, :]
            inside = row_ok[:, None] & k_ok[None, :] & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
            pixels = x + n[:, None] * sxn + ih * sxh + iw * sxw + (group * C_IN_G + channel)[None, :] * sxc
            a = tl.load(pixels, mask=inside, other=0.0)
            taps = w1 + (group * reduction + k[:, None]) * C1_G + c1[None, :]  # w1 as [groups, taps*C_IN_G, C1_G]
            b = tl.load(taps, mask=k_ok[:, None] & c1_ok[None, :], other=0.0)
            first = tl.dot(a, b, first, input_precision=INPUT_PRECISION)
        first += tl.load(b1 + group * C1_G + c1, mask=c1_ok, other=0.0).to(tl.float32)[None, :]
        first = tl.maximum(first, 0.0).to(x.dtype.element_ty)
        # ... mixed at once by the first 1x1 convolution's rows for that group (w2 as [C1, C2])
        mix = tl.load(
            w2 + (group * C1_G + c1[:, None]) * C2 + c2[None, :], mask=c1_ok[:, None] & c2_ok[None, :], other=0.0
        )
        hidden = tl.dot(first, mix, hidden, input_precision=INPUT_PRECISION)
    hidden += tl.load(b2 + c2, mask=c2_ok, other=0.0).to(tl.float32)[None, :]
    hidden = tl.maximum(hidden, 0.0).to(x.dtype.element_ty)
    # the second 1x1 convolution (w3 as [C2, C3]), BLOCK_C3 of its filters at a time
    for start in range(0, C3, BLOCK_C3):
        c3 = start + tl.arange(0, BLOCK_C3)
        c3_ok = c3 < C3
        last = tl.load(w3 + c2[:, None] * C3 + c3[None, :], mask=c2_ok[:, None] & c3_ok[None, :], other=0.0)
        out = tl.dot(hidden, last, input_precision=INPUT_PRECISION)
        out += tl.load(b3 + c3, mask=c3_ok, other=0.0).to(tl.float32)[None, :]
        if RELU_LAST:
            out = tl.maximum(out, 0.0)
        where = y + n[:, None] * syn + oh[:, None] * syh + ow[:, None] * syw + c3[None, :] * syc
        tl.store(where, out.to(y.dtype.element_ty), mask=row_ok[:, None] & c3_ok[None, :])


# The mlpconv kernel's tiles: every channel of a layer is in one tile, so only the pixels and the
# reduction slice are tuned; a tile too large for the GPU's registers or shared memory is skipped.
MLPCONV_CONFIGS = [
    triton.Config({"BLOCK_M": m, "BLOCK_K": k}, num_warps=w, num_stages=s)
    for m, k, w, s in (
        (32, 32, 4, 2),
        (32, 64, 4, 2),
        (64, 32, 4, 2),
        (64, 32, 8, 2),
        (64, 64, 8, 2),
        (128, 32, 8, 2),
        (32, 32, 4, 1),
        (16, 32, 4, 1),
    )
]


def _compiled(kernel, configs: list, key: list[str], interpreted_tile: dict) -> tuple:
    """The kernel and the tile arguments a launch adds: interpreted (CPU tests), one small tile;
    on a GPU, the tile autotuned per layer shape (``key``)."""
    if INTERPRETED:
        return triton.jit(kernel), interpreted_tile
    return triton.autotune(configs=configs, key=key)(triton.jit(kernel)), {}


_kernel, _FIXED = _compiled(
    _grouped_conv_kernel,
    CONFIGS,
    ["N", "OH", "OW", "C_IN_G", "C_OUT_G", "KH", "KW"],
    {"BLOCK_M": 32, "BLOCK_N": 16, "BLOCK_K": 16},
)
_mlpconv, _MLPCONV_FIXED = _compiled(
    _mlpconv_kernel,
    MLPCONV_CONFIGS,
    ["N", "OH", "OW", "GROUPS", "C_IN_G", "C1_G", "C2", "C3", "KH", "KW"],
    {"BLOCK_M": 32, "BLOCK_K": 16},
)


def _on_gpu(x: torch.Tensor) -> None:
    if x.device.type != "cuda" and not INTERPRETED:
        raise TritonConvError(
            "the triton implementations run on a GPU (set TRITON_INTERPRET=1 before importing "
            "roots to try them on the CPU, slowly)"
        )


def _nhwc_strides(tensor: torch.Tensor) -> tuple[int, int, int, int]:
    """An N, C, H, W tensor's strides in the kernel's order: batch, row, column, channel."""
    return tensor.stride(0), tensor.stride(2), tensor.stride(3), tensor.stride(1)


def packed_weight(weight: torch.Tensor, groups: int) -> torch.Tensor:
    """[C_out, C_in/g, kh, kw] as the kernel reads it: [g, kh*kw, C_in/g, C_out/g], contiguous."""
    c_out, c_in_g, kh, kw = weight.shape
    return weight.reshape(groups, c_out // groups, c_in_g, kh * kw).permute(0, 3, 2, 1).contiguous()


def grouped_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    groups: int,
    stride: int,
    padding: int,
    dilation: int = 1,
    relu: bool = False,
    packed: torch.Tensor | None = None,
) -> torch.Tensor:
    """``relu(conv2d(x, weight, bias, stride, padding, dilation, groups))`` by the Triton kernel; the
    result is channels_last. ``packed`` is ``packed_weight(weight, groups)``, kept by a layer."""
    _on_gpu(x)
    n, c_in, h, w = x.shape
    c_out, c_in_g, kh, kw = weight.shape
    oh = (h + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
    ow = (w + 2 * padding - dilation * (kw - 1) - 1) // stride + 1
    y = torch.empty((n, c_out, oh, ow), device=x.device, dtype=x.dtype, memory_format=torch.channels_last)
    packed = packed_weight(weight, groups) if packed is None else packed
    precision = "ieee" if x.dtype == torch.float32 else "tf32"  # fp32 inputs keep fp32 products
    grid = lambda meta: (  # noqa: E731 (Triton's idiom)
        triton.cdiv(n * oh * ow, meta["BLOCK_M"]),
        triton.cdiv(c_out // groups, meta["BLOCK_N"]),
        groups,
    )  # noqa: E731
    _kernel[grid](
        x,
        packed,
        bias if bias is not None else packed,
        y,
        n,
        h,
        w,
        oh,
        ow,
        c_in,
        c_out,
        c_in_g,
        c_out // groups,
        *_nhwc_strides(x),
        *_nhwc_strides(y),
        KH=kh,
        KW=kw,
        STRIDE=stride,
        PAD=padding,
        DIL=dilation,
        HAS_BIAS=bias is not None,
        RELU=relu,
        INPUT_PRECISION=precision,
        **_FIXED,
    )
    return y


def _tile_width(channels: int) -> int:
    """A tile holding ``channels``: tl.arange and tl.dot want a power of two, 16 at least."""
    return max(16, triton.next_power_of_2(channels))


def packed_1x1(weight: torch.Tensor) -> torch.Tensor:
    """A 1x1 convolution's [C_out, C_in, 1, 1] weight as the mlpconv kernel reads it: [C_in, C_out]."""
    return weight.reshape(weight.shape[0], -1).t().contiguous()


def mlpconv(
    x: torch.Tensor,
    first: nn.Conv2d,
    second: nn.Conv2d,
    third: nn.Conv2d,
    relu_last: bool = True,
    packed: tuple[torch.Tensor, ...] | None = None,
) -> torch.Tensor:
    """``third(relu(second(relu(first(x)))))``, with a ReLU after ``third`` if ``relu_last``, in one
    kernel; the result is channels_last. ``first`` is a kxk convolution (any groups, square kernel
    and padding), ``second`` and ``third`` ungrouped 1x1 convolutions, all three with biases (a
    folded BatchNorm's shift). ``packed`` is ``mlpconv_weights(first, second, third)``, kept by a layer."""
    _on_gpu(x)
    n, _, h, w = x.shape
    c1, c_in_g, kh, kw = first.weight.shape
    c2, c3 = second.out_channels, third.out_channels
    stride, padding = first.stride[0], first.padding[0]
    oh, ow = (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1
    y = torch.empty((n, c3, oh, ow), device=x.device, dtype=x.dtype, memory_format=torch.channels_last)
    w1, w2, w3 = mlpconv_weights(first, second, third) if packed is None else packed
    precision = "ieee" if x.dtype == torch.float32 else "tf32"
    grid = lambda meta: (triton.cdiv(n * oh * ow, meta["BLOCK_M"]),)  # noqa: E731
    _mlpconv[grid](
        x,
        w1,
        first.bias,
        w2,
        second.bias,
        w3,
        third.bias,
        y,
        n,
        h,
        w,
        oh,
        ow,
        first.groups,
        c_in_g,
        c1 // first.groups,
        c2,
        c3,
        *_nhwc_strides(x),
        *_nhwc_strides(y),
        KH=kh,
        KW=kw,
        STRIDE=stride,
        PAD=padding,
        RELU_LAST=relu_last,
        INPUT_PRECISION=precision,
        BLOCK_C1=_tile_width(c1 // first.groups),
        BLOCK_C2=_tile_width(c2),
        BLOCK_C3=min(_tile_width(c3), 64),
        **_MLPCONV_FIXED,
    )
    return y


def mlpconv_weights(first: nn.Conv2d, second: nn.Conv2d, third: nn.Conv2d) -> tuple[torch.Tensor, ...]:
    """The three weights as the mlpconv kernel reads them."""
    return (
        packed_weight(first.weight.detach(), first.groups),
        packed_1x1(second.weight.detach()),
        packed_1x1(third.weight.detach()),
    )


class _PackedWeights:
    """Weights repacked for a kernel once, again only when they move or change dtype (new storage)."""

    def __init__(self, pack) -> None:
        self._pack, self._key, self._packed = pack, None, None

    def __call__(self, *convs: nn.Conv2d):
        key = tuple((conv.weight.data_ptr(), conv.weight.dtype, conv.weight.device) for conv in convs)
        if key != self._key:
            self._key, self._packed = key, self._pack(*convs)
        return self._packed


class TritonMlpconv(nn.Module):
    """NiN's mlpconv block computed by one kernel (``mlpconv``): ``first`` and the two 1x1
    convolutions after it, each followed by its ReLU (the last one's only if ``relu_last``).
    The three convolutions stay the model's parameters; ``implementations.use`` puts this module
    where ``first`` was and identities where the others were, so layer names stay."""

    def __init__(self, first: nn.Conv2d, second: nn.Conv2d, third: nn.Conv2d, relu_last: bool) -> None:
        super().__init__()
        (kh, kw), (sh, sw), (ph, pw) = first.kernel_size, first.stride, first.padding
        if kh != kw or sh != sw or ph != pw or first.dilation != (1, 1) or first.padding_mode != "zeros":
            raise TritonConvError(
                f"the fused mlpconv takes a square, undilated, zero-padded kxk convolution; got {first}"
            )
        for conv in (second, third):
            if conv.kernel_size != (1, 1) or conv.stride != (1, 1) or conv.padding != (0, 0) or conv.groups != 1:
                raise TritonConvError(
                    f"the fused mlpconv takes ungrouped 1x1 convolutions after the kxk one; got {conv}"
                )
        if any(conv.bias is None for conv in (first, second, third)):
            raise TritonConvError("the fused mlpconv takes convolutions with biases (fold the BatchNorms first)")
        self.first, self.second, self.third, self.relu_last = first, second, third, relu_last
        self._weights = _PackedWeights(mlpconv_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        convs = (self.first, self.second, self.third)
        return mlpconv(x, *convs, self.relu_last, self._weights(*convs))

    def extra_repr(self) -> str:
        return f"implementation=fused mlpconv, relu_last={self.relu_last}"


class TritonGroupedConv2d(nn.Module):
    """``conv`` (groups > 1, square kernel, stride and padding) computed by the Triton kernel, with
    the ReLU that follows it fused in when ``relu`` (``implementations.use`` does so after a
    folded BatchNorm). The weight stays ``conv``'s parameter."""

    def __init__(self, conv: nn.Conv2d, relu: bool = False) -> None:
        super().__init__()
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = conv.kernel_size, conv.stride, conv.padding, conv.dilation
        if kh != kw or sh != sw or ph != pw or dh != dw or conv.padding_mode != "zeros":
            raise TritonConvError(
                f"the triton implementation takes square kernels, strides and zero padding; got {conv}"
            )
        self.conv, self.relu = conv, relu
        self._weight = _PackedWeights(lambda conv: packed_weight(conv.weight.detach(), conv.groups))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv = self.conv
        return grouped_conv2d(
            x,
            conv.weight,
            conv.bias,
            conv.groups,
            conv.stride[0],
            conv.padding[0],
            conv.dilation[0],
            self.relu,
            self._weight(conv),
        )

    def extra_repr(self) -> str:
        return f"implementation=triton, relu={self.relu}"
