"""ResNet-50 and ResNet-200 with bottleneck blocks (He et al. 2016) for 224x224 ImageNet.

The paper's Table 3 gives one group count per stage for the 1x1 and one for the 3x3
convolutions of every bottleneck; a grouped 3x3 followed by the block's expanding 1x1 is
the root module.

``stem="cifar"`` builds the CIFAR-10 proxy: the 7x7/2 convolution and the 3x3/2 max pool,
which would shrink a 32x32 image to 8x8 before the first block, become one 3x3/1
convolution, so the four stages run at 32, 16, 8 and 4 pixels (as in He et al.'s own CIFAR
networks); every block, and so every root module, is unchanged.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

import torch
from torch import nn

from roots.nn.layers import ConvBN, check_stem, he_init

STAGE_WIDTHS = (64, 128, 256, 512)
EXPANSION = 4
RESNET_SLOTS = ("conv1",) + tuple(f"res{stage}_{k}" for stage in (2, 3, 4, 5) for k in ("1x1", "3x3"))


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 spatial, 1x1 expand, plus an identity or projection shortcut.

    ``stride_on`` says which convolution down-samples: ``"reduce"`` is the original
    (Caffe) ResNet the paper's ResNet-50 used; ``"spatial"`` is fb.resnet.torch's layout
    (its ResNet-200 code), also known as torchvision's "v1.5".
    """

    def __init__(
        self, name: str, in_channels: int, width: int, stride: int, groups: Mapping[str, int], stride_on: str
    ) -> None:
        super().__init__()
        out_channels = width * EXPANSION
        reduce_stride, spatial_stride = (stride, 1) if stride_on == "reduce" else (1, stride)
        slot_1x1, slot_3x3 = f"{name.split('_')[0]}_1x1", f"{name.split('_')[0]}_3x3"  # res3_2 -> res3_1x1, res3_3x3
        self.reduce = ConvBN(f"{name}.reduce", in_channels, width, 1, reduce_stride, groups[slot_1x1], slot=slot_1x1)
        self.spatial = ConvBN(f"{name}.spatial", width, width, 3, spatial_stride, groups[slot_3x3], slot=slot_3x3)
        self.expand = ConvBN(
            f"{name}.expand", width, out_channels, 1, groups=groups[slot_1x1], relu=False, slot=slot_1x1
        )
        self.projection = (
            ConvBN(f"{name}.projection", in_channels, out_channels, 1, stride, relu=False)
            if stride != 1 or in_channels != out_channels
            else None
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.projection is None else self.projection(x)
        return self.relu(self.expand(self.spatial(self.reduce(x))) + shortcut)


class ResNet(nn.Module):
    def __init__(
        self,
        blocks_per_stage: tuple[int, int, int, int],
        groups: Mapping[str, int],
        stride_on: str,
        num_classes: int = 1000,
        stem: str = "imagenet",
    ) -> None:
        super().__init__()
        if check_stem(stem) == "imagenet":
            self.conv1 = ConvBN("conv1", 3, 64, 7, stride=2, groups=groups["conv1"], slot="conv1")
            self.pool1 = nn.MaxPool2d(3, stride=2, padding=1)
        else:
            self.conv1 = ConvBN("conv1", 3, 64, 3, groups=groups["conv1"], slot="conv1")
            self.pool1 = nn.Identity()
        channels = 64
        stages: OrderedDict[str, nn.Module] = OrderedDict()
        for stage, (width, n_blocks) in enumerate(zip(STAGE_WIDTHS, blocks_per_stage), start=2):
            blocks: OrderedDict[str, nn.Module] = OrderedDict()
            for index in range(n_blocks):
                name = f"res{stage}_{index + 1}"
                stride = 2 if index == 0 and stage > 2 else 1
                blocks[name] = Bottleneck(name, channels, width, stride, groups, stride_on)
                channels = width * EXPANSION
            stages[f"res{stage}"] = nn.Sequential(blocks)
        self.stages = nn.Sequential(stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        he_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.pool1(self.conv1(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


def build_resnet50(groups: Mapping[str, int], num_classes: int = 1000, stem: str = "imagenet") -> ResNet:
    return ResNet((3, 4, 6, 3), groups, stride_on="reduce", num_classes=num_classes, stem=stem)


def build_resnet200(groups: Mapping[str, int], num_classes: int = 1000, stem: str = "imagenet") -> ResNet:
    return ResNet((3, 24, 36, 3), groups, stride_on="spatial", num_classes=num_classes, stem=stem)
