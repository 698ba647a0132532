"""The root module's grouped convolution, and clear errors for group counts that cannot work."""

import pytest
import torch
from torch import nn

from roots.nn.layers import ConvBN, GroupCountError, he_init


def _block_diagonal(weight: torch.Tensor, c_in: int, groups: int, order=None) -> torch.Tensor:
    """The dense weight of a grouped one: group g's filters see only input block g (or ``order[g]``)."""
    c_out, per_in, k, _ = weight.shape
    per_out = c_out // groups
    dense = torch.zeros(c_out, c_in, k, k, dtype=weight.dtype)
    for g in range(groups):
        block = (order or list(range(groups)))[g]
        dense[g * per_out : (g + 1) * per_out, block * per_in : (block + 1) * per_in] = weight[
            g * per_out : (g + 1) * per_out
        ]
    return dense


@pytest.mark.parametrize("groups", [2, 4, 8])
def test_the_projects_grouped_layer_equals_its_block_diagonal_dense_twin(groups):
    generator = torch.Generator().manual_seed(groups)
    c_in, c_out, k = 16, 24, 3
    grouped = ConvBN("conv2a", c_in, c_out, k, groups=groups).double().eval()
    dense = ConvBN("conv2a", c_in, c_out, k, groups=1).double().eval()
    with torch.no_grad():
        grouped.conv.weight.copy_(torch.randn(grouped.conv.weight.shape, generator=generator, dtype=torch.float64))
        batchnorm = grouped[1]
        batchnorm.running_mean.copy_(torch.randn(c_out, generator=generator, dtype=torch.float64))
        batchnorm.running_var.copy_(torch.rand(c_out, generator=generator, dtype=torch.float64) + 0.5)
        batchnorm.weight.copy_(torch.randn(c_out, generator=generator, dtype=torch.float64))
        batchnorm.bias.copy_(torch.randn(c_out, generator=generator, dtype=torch.float64))
        dense[1].load_state_dict(batchnorm.state_dict())
        dense.conv.weight.copy_(_block_diagonal(grouped.conv.weight, c_in, groups))
        x = torch.randn(2, c_in, 9, 9, generator=generator, dtype=torch.float64)
        torch.testing.assert_close(grouped(x), dense(x), rtol=1e-12, atol=1e-12)
        # the twin must have the blocks on the diagonal: the same blocks elsewhere compute something else
        shifted = [(g + 1) % groups for g in range(groups)]
        dense.conv.weight.copy_(_block_diagonal(grouped.conv.weight, c_in, groups, shifted))
        assert not torch.allclose(grouped(x), dense(x))


def test_conv_bn_builds_grouped_block():
    block = ConvBN("conv2a", 96, 192, 5, groups=8)
    assert block.conv.groups == 8
    assert block.conv.weight.shape == (192, 96 // 8, 5, 5)
    assert isinstance(block[1], nn.BatchNorm2d) and isinstance(block[2], nn.ReLU)
    assert block(torch.randn(2, 96, 8, 8)).shape == (2, 192, 8, 8)


@pytest.mark.parametrize(
    ("c_in", "c_out", "groups", "message"),
    [
        (96, 192, 5, "5 groups do not divide its 96 input channels"),
        (96, 10, 4, "10 output channels"),
        (96, 192, 0, "positive integer"),
    ],
)
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
