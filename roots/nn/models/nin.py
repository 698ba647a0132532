"""Network-in-Network for CIFAR-10 (Lin et al. 2013), as the paper's Table 1 lays it out."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

from torch import nn

from roots.nn.layers import ConvBN, he_init

# (name, kernel size, filters); "pool1"/"pool2" mark Caffe's ceil-mode 3x3/2 pooling.
NIN_LAYERS = (
    ("conv1a", 5, 192),
    ("conv1b", 1, 160),
    ("conv1c", 1, 96),
    ("pool1", "max", None),
    ("conv2a", 5, 192),
    ("conv2b", 1, 192),
    ("conv2c", 1, 192),
    ("pool2", "avg", None),
    ("conv3a", 3, 192),
    ("conv3b", 1, 192),
    ("conv3c", 1, 10),
)
NIN_SLOTS = tuple(name for name, kind, _ in NIN_LAYERS if not name.startswith("pool"))


def build_nin(groups: Mapping[str, int], num_classes: int = 10, in_channels: int = 3) -> nn.Sequential:
    """NiN with ``groups[name]`` filter groups in each convolution.

    The classifier conv3c has ``num_classes`` filters and no ReLU; global average pooling
    turns its maps into logits. Pooling uses ``ceil_mode`` as Caffe does (32 -> 16 -> 8).
    """
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    channels = in_channels
    for name, kind, filters in NIN_LAYERS:
        if kind == "max":
            layers[name] = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        elif kind == "avg":
            layers[name] = nn.AvgPool2d(3, stride=2, ceil_mode=True)
        else:
            is_classifier = name == "conv3c"
            filters = num_classes if is_classifier else filters
            layers[name] = ConvBN(name, channels, filters, kind, groups=groups[name], relu=not is_classifier, slot=name)
            channels = filters
    layers["global_pool"] = nn.AdaptiveAvgPool2d(1)
    layers["flatten"] = nn.Flatten()
    return he_init(nn.Sequential(layers))
