"""Training and test batches for the trainer: CIFAR-10 resident on the device, or an ImageFolder.

Both follow the paper's recipes. CIFAR-10: mean-subtracted images, zero-padded by 4 pixels,
random 32x32 crops and mirroring. ILSVRC: random crops and mirroring only (Caffe style:
shorter side resized to 256, random 224 crop), centre crop at test time.

Every source of randomness is drawn from ``epoch_seed(seed, epoch, rank)``: the batches of an
epoch depend on nothing else, so a run resumed at an epoch boundary (even under DDP, where
each process would otherwise have its own generator state to save) sees exactly the batches
an uninterrupted run sees.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, DistributedSampler, Subset
from torchvision import datasets, transforms

from roots.train import data
from roots.train.data import DataError

CIFAR_PAD = 4
EVAL_BATCH = 500
IMAGEFOLDER_RESIZE = 256


class DataSource(Protocol):
    """What the trainer needs of a data set, whichever kind it is: its batches, sizes and origin."""

    source: dict  # name, description, path: recorded with every result
    device: torch.device
    num_classes: int
    num_train: int
    num_test: int

    def train_batches(self, batch_size: int, seed: int, epoch: int, rank: int = 0, world: int = 1) -> Iterator: ...

    def test_batches(self, rank: int = 0, world: int = 1) -> Iterator: ...


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    return int(np.random.SeedSequence([seed, epoch, rank]).generate_state(1)[0])


def strided_subset(size: int, subset: int, split: str) -> slice:
    """Every n-th item, so that a subset of a class-sorted set keeps every class; 0 means all."""
    if not subset:
        return slice(None)
    if not 0 < subset <= size:
        raise DataError(f"{split}_subset must be between 1 and the {size} {split} images, got {subset}")
    return slice(0, (size // subset) * subset, size // subset)


def steps_per_epoch(num_train: int, batch_size: int, world: int = 1) -> int:
    """Full batches per process: DistributedSampler gives each ceil(num_train / world) items."""
    return math.ceil(num_train / world) // batch_size


def _order(size: int, seed: int, epoch: int, rank: int, world: int, shuffle: bool) -> list[int]:
    """This process's share of an epoch, as torch's DistributedSampler deals it out."""
    sampler = DistributedSampler(range(size), num_replicas=world, rank=rank, shuffle=shuffle, seed=seed)
    sampler.set_epoch(epoch)
    return list(sampler)


class CifarOnDevice:
    """A prepared CIFAR-10 folder held on the device as uint8, augmented there batch by batch.

    On a GPU this removes the input pipeline from the cost of an epoch: a 50,000-image set is
    150 MB, and cropping and mirroring a batch are a few tensor operations.
    """

    def __init__(self, prepared: Path, device: torch.device, train_subset: int = 0, test_subset: int = 0):
        arrays, source = data.load(prepared)
        self.source = {"name": source.name, "description": source.description, "path": str(prepared)}
        self.device = device
        self.num_classes = len(data.CLASSES)
        splits = {}
        for split, subset in (("train", train_subset), ("test", test_subset)):
            keep = strided_subset(len(arrays[f"{split}_labels"]), subset, split)
            images, labels = arrays[f"{split}_images"][keep], arrays[f"{split}_labels"][keep]
            splits[split] = (
                torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).to(device),
                torch.from_numpy(labels).to(device),
            )
        self.train_images, self.train_labels = splits["train"]
        self.test_images, self.test_labels = splits["test"]
        # mean of the training images, per channel, on the 0..1 scale
        self.mean = (self.train_images.float().mean(dim=(0, 2, 3), keepdim=True) / 255).to(device)
        self.num_train, self.num_test = len(self.train_labels), len(self.test_labels)

    def _normalise(self, images: torch.Tensor) -> torch.Tensor:
        return images.float() / 255 - self.mean

    def _augment(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Random crops of the zero-padded (mean-subtracted) images, and random mirroring."""
        batch, _, height, width = images.shape
        padded = F.pad(images, (CIFAR_PAD,) * 4)
        offsets = torch.randint(0, 2 * CIFAR_PAD + 1, (2, batch, 1), device=self.device, generator=generator)
        rows = (offsets[0] + torch.arange(height, device=self.device))[:, None, :, None]
        cols = (offsets[1] + torch.arange(width, device=self.device))[:, None, None, :]
        channels = torch.arange(images.shape[1], device=self.device)[None, :, None, None]
        crops = padded[torch.arange(batch, device=self.device)[:, None, None, None], channels, rows, cols]
        mirror = torch.rand(batch, device=self.device, generator=generator) < 0.5
        return torch.where(mirror[:, None, None, None], crops.flip(3), crops)

    def train_batches(self, batch_size: int, seed: int, epoch: int, rank: int = 0, world: int = 1) -> Iterator:
        generator = torch.Generator(self.device).manual_seed(epoch_seed(seed, epoch, rank))
        order = torch.tensor(_order(self.num_train, seed, epoch, rank, world, shuffle=True), device=self.device)
        for start in range(0, len(order) - batch_size + 1, batch_size):  # full batches only
            index = order[start : start + batch_size]
            yield self._augment(self._normalise(self.train_images[index]), generator), self.train_labels[index]

    def test_batches(self, rank: int = 0, world: int = 1) -> Iterator:
        for start in range(rank * EVAL_BATCH, self.num_test, world * EVAL_BATCH):
            stop = start + EVAL_BATCH
            yield self._normalise(self.test_images[start:stop]), self.test_labels[start:stop]


class ImageFolderData:
    """``root/train/<class>/*`` and ``root/val/<class>/*`` (ILSVRC layout), read by DataLoader workers."""

    def __init__(
        self, root: Path, device: torch.device, crop: int, workers: int = 4, train_subset: int = 0, test_subset: int = 0
    ):
        root = Path(root)
        for split in ("train", "val"):
            if not (root / split).is_dir():
                raise DataError(
                    f"{root} is neither a prepared CIFAR-10 folder (run `roots prepare-data`) nor an ImageFolder "
                    f"with train/ and val/ sub-folders of class folders (e.g. ILSVRC 2012 from image-net.org)"
                )
        mean = [0.485, 0.456, 0.406]  # ImageNet's mean; the recipe subtracts it and does not scale
        self.train_set = datasets.ImageFolder(
            root / "train",
            transforms.Compose(
                [
                    transforms.Resize(IMAGEFOLDER_RESIZE),
                    transforms.RandomCrop(crop),
                    transforms.RandomHorizontalFlip(),
                    transforms.ToTensor(),
                    transforms.Normalize(mean, [1.0, 1.0, 1.0]),
                ]
            ),
        )
        self.test_set = datasets.ImageFolder(
            root / "val",
            transforms.Compose(
                [
                    transforms.Resize(IMAGEFOLDER_RESIZE),
                    transforms.CenterCrop(crop),
                    transforms.ToTensor(),
                    transforms.Normalize(mean, [1.0, 1.0, 1.0]),
                ]
            ),
        )
        self.num_classes = len(self.train_set.classes)
        keep_train = strided_subset(len(self.train_set), train_subset, "train")
        keep_test = strided_subset(len(self.test_set), test_subset, "test")
        self.train_set = Subset(self.train_set, range(len(self.train_set))[keep_train])
        self.test_set = Subset(self.test_set, range(len(self.test_set))[keep_test])
        self.source = {"name": "imagefolder", "description": f"ImageFolder at {root}", "path": str(root)}
        self.device, self.workers = device, workers
        self.num_train, self.num_test = len(self.train_set), len(self.test_set)

    def _loader(self, dataset, batch_size: int, indices: list[int], seed: int) -> DataLoader:
        return DataLoader(
            Subset(dataset, indices),
            batch_size=batch_size,
            num_workers=self.workers,
            pin_memory=self.device.type == "cuda",
            drop_last=dataset is self.train_set,
            generator=torch.Generator().manual_seed(seed),
        )

    def train_batches(self, batch_size: int, seed: int, epoch: int, rank: int = 0, world: int = 1) -> Iterator:
        torch.manual_seed(epoch_seed(seed, epoch, rank))  # the transforms draw from it when workers == 0
        order = _order(self.num_train, seed, epoch, rank, world, shuffle=True)
        for images, labels in self._loader(self.train_set, batch_size, order, epoch_seed(seed, epoch, rank)):
            yield images.to(self.device, non_blocking=True), labels.to(self.device, non_blocking=True)

    def test_batches(self, rank: int = 0, world: int = 1) -> Iterator:
        indices = list(range(rank, self.num_test, world))
        for images, labels in self._loader(self.test_set, EVAL_BATCH // 10, indices, 0):
            yield images.to(self.device, non_blocking=True), labels.to(self.device, non_blocking=True)


def open_data(
    path: Path, device: torch.device, crop: int, workers: int = 4, train_subset: int = 0, test_subset: int = 0
) -> DataSource:
    """A prepared CIFAR-10 folder (it has ``source.json``) or an ImageFolder root."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"no data at {path}: run `roots prepare-data --out {path}` ({data.HOW_TO_GET})")
    if (path / "source.json").is_file():
        return CifarOnDevice(path, device, train_subset, test_subset)
    return ImageFolderData(path, device, crop, workers, train_subset, test_subset)
