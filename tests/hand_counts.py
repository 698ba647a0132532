"""FLOPs (multiply-adds) of NiN and ResNet written out by hand from the papers' layer tables,
independently of the model builders, so that tests can tie a number to its source.

A convolution with k x k kernels in g groups costs H_out * W_out * k * k * (C_in / g) * C_out.
"""


def conv(size: int, k: int, c_in: int, c_out: int, groups: int = 1) -> int:
    return size * size * k * k * (c_in // groups) * c_out


def nin(groups: dict[str, int]) -> int:
    """NiN on 32x32 (Lin et al.; the paper's Table 1): three mlpconv blocks at 32, 16 and 8 pixels."""
    g = groups
    return (
        conv(32, 5, 3, 192, g["conv1a"])
        + conv(32, 1, 192, 160, g["conv1b"])
        + conv(32, 1, 160, 96, g["conv1c"])
        + conv(16, 5, 96, 192, g["conv2a"])
        + conv(16, 1, 192, 192, g["conv2b"])
        + conv(16, 1, 192, 192, g["conv2c"])
        + conv(8, 3, 192, 192, g["conv3a"])
        + conv(8, 1, 192, 192, g["conv3b"])
        + conv(8, 1, 192, 10, g["conv3c"])
    )


def resnet(blocks: tuple[int, int, int, int], groups: dict[str, int], stride_on: str) -> int:
    """A 224x224 bottleneck ResNet (He et al. 2016): 7x7/2 conv1 and a 3x3/2 pool to 56 pixels, stages
    of widths 64-512 at 56, 28, 14, 7 pixels, a projection in each stage's first block, 1000 classes.
    ``stride_on`` says whether a stage's first block halves the size in its 1x1 reduce or its 3x3."""
    total = conv(112, 7, 3, 64, groups["conv1"])
    channels = 64
    for stage, (width, count, size) in enumerate(zip((64, 128, 256, 512), blocks, (56, 28, 14, 7)), start=2):
        g1, g3 = groups[f"res{stage}_1x1"], groups[f"res{stage}_3x3"]
        for index in range(count):
            halves = index == 0 and stage > 2
            reduce_size = 2 * size if halves and stride_on == "spatial" else size
            total += conv(reduce_size, 1, channels, width, g1) + conv(size, 3, width, width, g3)
            total += conv(size, 1, width, 4 * width, g1)
            if index == 0:
                total += conv(size, 1, channels, 4 * width)
            channels = 4 * width
    return total + channels * 1000


def alexnet_conv_weights(groups: int) -> int:
    """AlexNet's convolution weights (Krizhevsky et al. 2012, Caffe's reference model) with conv2,
    conv4 and conv5 in ``groups`` groups: k*k*(C_in/g)*C_out each."""
    return (
        11 * 11 * 3 * 96
        + 5 * 5 * (96 // groups) * 256
        + 3 * 3 * 256 * 384
        + 3 * 3 * (384 // groups) * 384
        + 3 * 3 * (384 // groups) * 256
    )


ALEXNET_FC_WEIGHTS = 256 * 6 * 6 * 4096 + 4096 * 4096 + 4096 * 1000
