"""AlexNet (Krizhevsky et al. 2012) as Caffe's reference model has it, for the paper's Fig. 2.

The original splits conv2, conv4 and conv5 into two filter groups (one per GPU); ``groups``
sets that split (1: the corresponding network without filter groups). 227x227 input, no
normalisation layers (they have no weights). Only counted here, never trained.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from roots.nn.layers import check_groups

GROUPED = ("conv2", "conv4", "conv5")  # the layers the original splits over two GPUs
# name: (filters, kernel, stride, padding); a 3x3/2 max pool follows conv1, conv2 and conv5
CONVOLUTIONS = {
    "conv1": (96, 11, 4, 0),
    "conv2": (256, 5, 1, 2),
    "conv3": (384, 3, 1, 1),
    "conv4": (384, 3, 1, 1),
    "conv5": (256, 3, 1, 1),
}
INPUT_SIZE = (3, 227, 227)


def build_alexnet(groups: int = 2, num_classes: int = 1000) -> nn.Sequential:
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    channels = 3
    for name, (filters, kernel, stride, padding) in CONVOLUTIONS.items():
        split = groups if name in GROUPED else 1
        check_groups(name, channels, filters, split)
        layers[name] = nn.Conv2d(channels, filters, kernel, stride, padding, groups=split)
        layers[f"relu{name[-1]}"] = nn.ReLU(inplace=True)
        if name in ("conv1", "conv2", "conv5"):
            layers[f"pool{name[-1]}"] = nn.MaxPool2d(3, stride=2)
        channels = filters
    layers["flatten"] = nn.Flatten()
    for name, (inputs, outputs) in {
        "fc6": (channels * 6 * 6, 4096),
        "fc7": (4096, 4096),
        "fc8": (4096, num_classes),
    }.items():
        layers[name] = nn.Linear(inputs, outputs)
        if name != "fc8":
            layers[f"relu{name[-1]}"] = nn.ReLU(inplace=True)
    return nn.Sequential(layers)
