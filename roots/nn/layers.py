"""The building block of every model here: a convolution, optionally in filter groups,
followed by BatchNorm and (usually) ReLU.

A *root module* (paper, Sec. 3, Fig. 4) is a spatial convolution split into ``g`` filter
groups followed by the 1x1 convolution the architecture already has; the builders in
``roots.models`` create it by giving the spatial ``ConvBN`` a group count > 1.
"""

from __future__ import annotations

from torch import nn

from roots.errors import RootsError, UnknownNameError

# The first layers of an ILSVRC network: its own, for 224x224 images, or the CIFAR-10 proxy's,
# for 32x32 images (the builders in ``roots.models`` say what each replaces).
STEMS = ("imagenet", "cifar")


class GroupCountError(RootsError):
    """A group count that cannot split a layer's channels evenly."""


def check_groups(name: str, in_channels: int, out_channels: int, groups: int) -> None:
    """Fail early, naming the layer, instead of deep inside ``nn.Conv2d``."""
    if not isinstance(groups, int) or groups < 1:
        raise GroupCountError(f"{name}: group count must be a positive integer, got {groups!r}")
    for what, channels in (("input", in_channels), ("output", out_channels)):
        if channels % groups:
            raise GroupCountError(
                f"{name}: {groups} groups do not divide its {channels} {what} channels (choose a divisor of {channels})"
            )


def check_stem(stem: str) -> str:
    if stem not in STEMS:
        raise UnknownNameError(f"unknown stem {stem!r}; choose one of: {', '.join(STEMS)}")
    return stem


class ConvBN(nn.Sequential):
    """Convolution without bias, BatchNorm, then ReLU unless ``relu=False``.

    The bias is left out because BatchNorm's shift does its job (the paper's recipe puts BN
    after every convolution). ``affine=False`` gives GoogLeNet's "BN without scale and bias".
    ``slot`` is the column of the paper's schedule table its group count came from (e.g.
    ``res3_3x3``), None for a layer no table groups; counts and tables read it from here.
    """

    def __init__(
        self,
        name: str,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        groups: int = 1,
        relu: bool = True,
        affine: bool = True,
        slot: str | None = None,
    ) -> None:
        check_groups(name, in_channels, out_channels, groups)
        layers = [
            nn.Conv2d(
                in_channels,
                out_channels,
                kernel_size,
                stride=stride,
                padding=kernel_size // 2,
                groups=groups,
                bias=False,
            ),
            nn.BatchNorm2d(out_channels, affine=affine),
        ]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)
        self.slot = slot

    @property
    def conv(self) -> nn.Conv2d:
        return self[0]


def he_init(model: nn.Module) -> nn.Module:
    """He et al. (2015) initialisation, as the paper trains every model.

    PyTorch derives the fan-in of a grouped convolution from its weight shape
    (k*k*c_in/g), so grouped filters get the variance their smaller fan-in calls for.
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
        elif isinstance(module, nn.Linear):
            nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="linear")
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d) and module.affine:
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    return model
