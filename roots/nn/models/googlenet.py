"""GoogLeNet / Inception v1 (Szegedy et al. 2015) as the paper trained it.

Unlike torchvision's ``googlenet`` this keeps the true 5x5 convolutions of the original and
both auxiliary classifiers, and uses BatchNorm without scale and bias (paper, Sec. 4.4)
in place of local response normalisation.

``stem="cifar"`` builds the CIFAR-10 proxy: conv1 becomes 3x3/1 and pools 1 and 2 go, so a
32x32 image enters inception 3 at 32x32; pools 3 and 4 then need no padding to bring
inception 4 to 16x16 and inception 5 to 8x8, and the classifier and side heads see the same
2x2 and 5x5 grids (the same layers) as the ILSVRC network. Every inception module, and so
every root module, is unchanged.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

import torch
from torch import nn

from roots.nn.layers import ConvBN, check_stem, he_init

GOOGLENET_SLOTS = (
    "conv1",
    "conv2_1x1",
    "conv2_3x3",
    "inc3_1x1",
    "inc3_3x3",
    "inc3_5x5",
    "inc4_1x1",
    "inc4_3x3",
    "inc4_5x5",
    "inc5_1x1",
    "inc5_3x3",
    "inc5_5x5",
)

# name: (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj), Szegedy et al. Table 1.
INCEPTION_FILTERS = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}
AUX_AFTER = {"4a": "aux1", "4d": "aux2"}

# Table 6 of the paper (FLOPs and parameters of all five variants) is reproduced only when
# pools 3 and 4 pad by one pixel, so that inception 4 runs at 15x15 and inception 5 at 8x8
# (not 14x14 and 7x7); the 7x7/1 average pool then leaves a 2x2 grid for the classifier and
# the auxiliary 5x5/3 pools a 5x5 one. notebooks/architectures.ipynb explains the fit.
AUX_GRID = 5
FINAL_GRID = 2


def _pool(padding: int = 0) -> nn.MaxPool2d:
    return nn.MaxPool2d(3, stride=2, padding=padding, ceil_mode=True)


class Inception(nn.Module):
    """Four parallel branches; the 3x3 and 5x5 convolutions are the ones the paper groups."""

    def __init__(self, name: str, in_channels: int, groups: Mapping[str, int]) -> None:
        super().__init__()
        n1, r3, n3, r5, n5, proj = INCEPTION_FILTERS[name]

        def conv(part: str, c_in: int, c_out: int, k: int, kind: str) -> ConvBN:
            slot = f"inc{name[0]}_{kind}"
            return ConvBN(f"inception{name}.{part}", c_in, c_out, k, groups=groups[slot], affine=False, slot=slot)

        self.branch1x1 = conv("1x1", in_channels, n1, 1, "1x1")
        self.branch3x3 = nn.Sequential(conv("3x3_reduce", in_channels, r3, 1, "1x1"), conv("3x3", r3, n3, 3, "3x3"))
        self.branch5x5 = nn.Sequential(conv("5x5_reduce", in_channels, r5, 1, "1x1"), conv("5x5", r5, n5, 5, "5x5"))
        self.branch_pool = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1), conv("pool_proj", in_channels, proj, 1, "1x1")
        )
        self.out_channels = n1 + n3 + n5 + proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.branch1x1, self.branch3x3, self.branch5x5, self.branch_pool)
        return torch.cat([branch(x) for branch in branches], dim=1)


class AuxClassifier(nn.Sequential):
    """The training-time side head: 5x5/3 average pool, 1x1/128, FC 1024, FC classes."""

    def __init__(self, name: str, in_channels: int, num_classes: int) -> None:
        super().__init__(
            nn.AvgPool2d(5, stride=3, ceil_mode=True),
            ConvBN(f"{name}.conv", in_channels, 128, 1, affine=False),
            nn.Flatten(),
            nn.Linear(128 * AUX_GRID * AUX_GRID, 1024),
            nn.ReLU(inplace=True),
            nn.Dropout(0.7),
            nn.Linear(1024, num_classes),
        )


class GoogLeNet(nn.Module):
    """Returns logits; in training mode also the two auxiliary logits (weighted 0.3 in the loss)."""

    def __init__(self, groups: Mapping[str, int], num_classes: int = 1000, stem: str = "imagenet") -> None:
        super().__init__()
        imagenet = check_stem(stem) == "imagenet"

        def conv(name: str, c_in: int, c_out: int, k: int, stride: int = 1) -> ConvBN:
            return ConvBN(name, c_in, c_out, k, stride, groups[name], affine=False, slot=name)

        layers = OrderedDict(conv1=conv("conv1", 3, 64, 7, 2) if imagenet else conv("conv1", 3, 64, 3))
        if imagenet:
            layers["pool1"] = _pool()
        layers["conv2_1x1"] = conv("conv2_1x1", 64, 64, 1)
        layers["conv2_3x3"] = conv("conv2_3x3", 64, 192, 3)
        if imagenet:
            layers["pool2"] = _pool()
        self.stem = nn.Sequential(layers)
        channels = 192
        body: OrderedDict[str, nn.Module] = OrderedDict()
        aux: OrderedDict[str, nn.Module] = OrderedDict()
        for name in INCEPTION_FILTERS:
            if name in ("4a", "5a"):
                body[f"pool{name[0]}"] = _pool(padding=1 if imagenet else 0)
            block = Inception(name, channels, groups)
            body[f"inception{name}"] = block
            channels = block.out_channels
            if name in AUX_AFTER:
                aux[f"inception{name}"] = AuxClassifier(AUX_AFTER[name], channels, num_classes)
        self.body = nn.Sequential(body)
        self.aux = nn.ModuleDict(aux)
        self.pool = nn.AvgPool2d(7, stride=1)
        self.dropout = nn.Dropout(0.4)
        self.fc = nn.Linear(channels * FINAL_GRID * FINAL_GRID, num_classes)
        he_init(self)

    def forward(self, x: torch.Tensor, with_aux: bool | None = None) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """``with_aux`` defaults to the training mode, as the side heads only serve training."""
        with_aux = self.training if with_aux is None else with_aux
        x = self.stem(x)
        aux_logits = []
        for name, layer in self.body.named_children():
            x = layer(x)
            if with_aux and name in self.aux:
                aux_logits.append(self.aux[name](x))
        logits = self.fc(self.dropout(torch.flatten(self.pool(x), 1)))
        return (logits, *aux_logits) if with_aux else logits


def build_googlenet(groups: Mapping[str, int], num_classes: int = 1000, stem: str = "imagenet") -> GoogLeNet:
    return GoogLeNet(groups, num_classes, stem)
