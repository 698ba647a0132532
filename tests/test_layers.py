"""The root module's grouped convolution, and clear errors for group counts that cannot work."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from roots.layers import ConvBN, GroupCountError, he_init


@pytest.mark.parametrize("groups", [1, 2, 4, 8])
def test_grouped_conv_equals_block_diagonal_dense_conv(groups):
    torch.manual_seed(0)
    c_in, c_out, k = 16, 24, 3
    grouped = nn.Conv2d(c_in, c_out, k, padding=1, groups=groups, bias=False)
    dense_weight = torch.zeros(c_out, c_in, k, k)
    per_in, per_out = c_in // groups, c_out // groups
    for g in range(groups):
        block = grouped.weight[g * per_out : (g + 1) * per_out]
        dense_weight[g * per_out : (g + 1) * per_out, g * per_in : (g + 1) * per_in] = block
    x = torch.randn(2, c_in, 9, 9)
    torch.testing.assert_close(grouped(x), F.conv2d(x, dense_weight, padding=1), rtol=1e-5, atol=1e-5)
    # and the block structure is real: off-diagonal blocks carry no weight
    assert (dense_weight != 0).sum() == grouped.weight.numel()


def test_conv_bn_builds_grouped_block():
    block = ConvBN("conv2a", 96, 192, 5, groups=8)
    assert block.conv.groups == 8
    assert block.conv.weight.shape == (192, 96 // 8, 5, 5)
    assert isinstance(block[1], nn.BatchNorm2d) and isinstance(block[2], nn.ReLU)
    assert block(torch.randn(2, 96, 8, 8)).shape == (2, 192, 8, 8)


@pytest.mark.parametrize(
    ("c_in", "c_out", "groups", "message"),
    [(96, 192, 5, "5 groups do not divide its 96 input channels"), (96, 10, 4, "10 output channels"),
     (96, 192, 0, "positive integer")],
)  # fmt: skip
def test_bad_group_count_names_the_layer(c_in, c_out, groups, message):
    with pytest.raises(GroupCountError, match=message) as error:
        ConvBN("conv3a", c_in, c_out, 3, groups=groups)
    assert "conv3a" in str(error.value)


def test_he_init_uses_the_grouped_fan_in():
    torch.manual_seed(0)
    dense, grouped = nn.Conv2d(256, 256, 3, bias=False), nn.Conv2d(256, 256, 3, groups=16, bias=False)
    he_init(nn.Sequential(dense, grouped))
    # He: std = sqrt(2 / fan_in), fan_in = k*k*c_in/g
    assert dense.weight.std().item() == pytest.approx((2 / (9 * 256)) ** 0.5, rel=0.05)
    assert grouped.weight.std().item() == pytest.approx((2 / (9 * 16)) ** 0.5, rel=0.05)
