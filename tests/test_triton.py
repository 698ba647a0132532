"""The Triton kernels against PyTorch: the grouped convolution on every kind of grouped layer in
the paper, the fused mlpconv block on NiN's three kinds.

Without a GPU the kernel runs in Triton's interpreter (``TRITON_INTERPRET=1``, which must be set
before Triton is first imported: ``conftest.py`` sets it for the session).
"""

import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("triton")

from roots.bench import timing  # noqa: E402
from roots.nn import implementations, models, triton_conv

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not torch.cuda.is_available() and not triton_conv.INTERPRETED,
        reason="no GPU, and Triton was imported before TRITON_INTERPRET=1 was set",
    ),
]

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
# (in, out, kernel, stride, groups): NiN's conv2a (5x5) and conv3a (3x3); ResNet's 3x3 with stride 1
# and, as in ResNet-200's first blocks, 2, down to 2 channels a group (root-64's res2); GoogLeNet's
# 3x3 and 5x5; a grouped 1x1 (a schedule of one's own, e.g. res5_1x1=4)
KINDS = [
    (16, 24, 5, 1, 8),
    (24, 24, 3, 1, 4),
    (64, 64, 3, 1, 32),
    (32, 32, 3, 2, 4),
    (24, 48, 3, 1, 2),
    (8, 16, 5, 1, 4),
    (32, 64, 1, 1, 4),
]


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize(("c_in", "c_out", "kernel", "stride", "groups"), KINDS)
def test_the_kernel_computes_pytorchs_grouped_convolution(c_in, c_out, kernel, stride, groups, relu):
    generator = torch.Generator().manual_seed(c_in * kernel + groups)
    x = torch.randn(2, c_in, 9, 7, generator=generator).to(DEVICE).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(c_out, c_in // groups, kernel, kernel, generator=generator).to(DEVICE)
    bias = torch.randn(c_out, generator=generator).to(DEVICE)
    expected = F.conv2d(x, weight, bias, stride, kernel // 2, groups=groups)
    expected = expected.relu() if relu else expected
    got = triton_conv.grouped_conv2d(x, weight, bias, groups, stride, kernel // 2, relu=relu)
    assert got.shape == expected.shape and got.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


# (in, first's filters, second's, third's, kernel, groups, stride, ReLU after the third): NiN's
# mlpconv1 (3 input channels, dense 5x5), a root mlpconv2 (grouped 5x5), mlpconv3 (3x3, the
# classifier's 10 filters and no ReLU), and a strided one (the kernel takes any stride)
MLPCONV_KINDS = [
    (3, 24, 20, 12, 5, 1, 1, True),
    (16, 24, 24, 24, 5, 8, 1, True),
    (24, 24, 24, 10, 3, 4, 1, False),
    (8, 16, 16, 8, 3, 2, 2, True),
]


@pytest.mark.parametrize(("c_in", "c1", "c2", "c3", "kernel", "groups", "stride", "relu_last"), MLPCONV_KINDS)
def test_the_fused_mlpconv_computes_its_three_convolutions(c_in, c1, c2, c3, kernel, groups, stride, relu_last):
    torch.manual_seed(c_in + c1 + groups)
    first = torch.nn.Conv2d(c_in, c1, kernel, stride, kernel // 2, groups=groups).to(DEVICE)
    second, third = torch.nn.Conv2d(c1, c2, 1).to(DEVICE), torch.nn.Conv2d(c2, c3, 1).to(DEVICE)
    x = torch.randn(2, c_in, 9, 7).to(DEVICE).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        expected = third(second(first(x).relu()).relu())
        expected = expected.relu() if relu_last else expected
        got = triton_conv.TritonMlpconv(first, second, third, relu_last)(x)
    assert got.shape == expected.shape and got.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_the_fused_implementation_puts_each_nin_block_in_one_kernel_and_computes_the_same():
    torch.manual_seed(0)
    network = models.build("nin", "root-8").eval()
    for module in network.modules():  # BatchNorm statistics of a trained network, not the identity
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2), module.running_var.uniform_(0.5, 1.5)
    network = implementations.fold_batchnorm(network)
    fused = implementations.use(network, "fused")
    blocks = [module for module in fused.modules() if isinstance(module, triton_conv.TritonMlpconv)]
    assert [(block.first.groups, block.relu_last) for block in blocks] == [(1, True), (8, True), (4, False)]
    assert not any(isinstance(module, triton_conv.TritonGroupedConv2d) for module in fused.modules())
    assert isinstance(fused.conv1b[0], torch.nn.Identity) and isinstance(network.conv1b[0], torch.nn.Conv2d)
    x = torch.randn(1, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        torch.testing.assert_close(
            fused.to(DEVICE)(x.to(DEVICE)), network.to(DEVICE)(x.to(DEVICE)), rtol=1e-3, atol=1e-3
        )


def test_a_network_without_mlpconv_blocks_is_fused_as_triton_computes_it():
    network = implementations.fold_batchnorm(models.build("resnet50", "root-64").eval())
    fused, triton = implementations.use(network, "fused"), implementations.use(network, "triton")
    assert str(fused) == str(triton)


def test_the_fused_implementation_needs_folded_batchnorm():
    with pytest.raises(timing.TimingError, match="fused implementation needs folded BatchNorm"):
        timing.Setting(implementation="fused", fold_bn=False).check()


def test_a_folded_root_network_gives_the_same_output_with_the_kernel_and_the_relu_fused():
    torch.manual_seed(0)
    network = implementations.fold_batchnorm(models.build("nin", "root-8").eval())
    swapped = implementations.use(network, "triton")
    fused = [module for module in swapped.modules() if isinstance(module, triton_conv.TritonGroupedConv2d)]
    assert [module.relu for module in fused] == [True, True]  # conv2a and conv3a, each with its ReLU
    assert isinstance(swapped.conv2a[2], torch.nn.Identity) and isinstance(network.conv2a[2], torch.nn.ReLU)
    x = torch.randn(2, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    network, swapped = network.to(DEVICE), swapped.to(DEVICE)
    with torch.no_grad():
        torch.testing.assert_close(swapped(x.to(DEVICE)), network(x.to(DEVICE)), rtol=1e-3, atol=1e-3)


def test_without_a_folded_batchnorm_the_relu_stays_where_it_is():
    swapped = implementations.use(models.build("nin", "root-8").eval(), "triton")
    assert isinstance(swapped.conv2a[0], triton_conv.TritonGroupedConv2d) and not swapped.conv2a[0].relu
    assert isinstance(swapped.conv2a[2], torch.nn.ReLU)


def test_the_triton_implementation_is_timed_like_the_others(tmp_path):
    result = timing.measure(
        "nin", ["root-8"], timing.Setting(device=DEVICE, batch=1, implementation="triton", warmup=0, rounds=1)
    )
    assert [row["variant"] for row in result["variants"]] == ["orig", "root-8"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_on_a_cpu_without_the_interpreter_it_says_what_to_do():
    env = {key: value for key, value in os.environ.items() if key != "TRITON_INTERPRET"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "roots",
            "time",
            "--model",
            "nin",
            "--variants",
            "root-8",
            "--batch",
            "1",
            "--rounds",
            "1",
            "--implementation",
            "triton",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "the triton implementations run on a GPU (set TRITON_INTERPRET=1" in done.stderr
