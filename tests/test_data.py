"""CIFAR-10 archives: checksum, decode, clear errors, nothing half-written."""

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from roots.cli import main
from roots.train import data

SHARED_ARCHIVE = Path(__file__).resolve().parents[1] / data.OFFLINE_COPY


def _add(tar, name, payload):
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))


def _jpeg_archive(path, per_class=2):
    """A tiny archive in the JPEG copy's layout, and the pixels a decoder must return."""
    rng = np.random.default_rng(0)
    expected = {"train": [], "test": []}
    with tarfile.open(path, "w:gz") as tar:
        for split in expected:
            for label, name in enumerate(data.CLASSES):
                for index in range(per_class):
                    buffer = io.BytesIO()
                    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buffer, "JPEG")
                    _add(tar, f"cifar10-jpeg/{split}/{name}/{index:04d}.jpg", buffer.getvalue())
                    expected[split].append((np.asarray(Image.open(io.BytesIO(buffer.getvalue()))), label))
    return expected


def _source_for(path, name="cifar10-jpeg"):
    return data.Source(name, path.name, "sha256", data.file_digest(path, "sha256"), "test archive")


def test_jpeg_archive_decodes_to_the_images_in_class_order(tmp_path):
    archive = tmp_path / "tiny.tar.gz"
    expected = _jpeg_archive(archive)
    arrays, source = data.load(data.prepare(archive, tmp_path / "out" / "c10", _source_for(archive)))
    assert source.description == "test archive"
    for split in ("train", "test"):
        assert arrays[f"{split}_images"].shape == (20, 32, 32, 3) and arrays[f"{split}_images"].dtype == np.uint8
        np.testing.assert_array_equal(arrays[f"{split}_images"], np.stack([image for image, _ in expected[split]]))
        np.testing.assert_array_equal(arrays[f"{split}_labels"], [label for _, label in expected[split]])


def test_official_python_archive_decodes(tmp_path):
    archive = tmp_path / "cifar-10-python.tar.gz"
    rng = np.random.default_rng(1)
    batches = {}
    with tarfile.open(archive, "w:gz") as tar:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            batch = {"data": rng.integers(0, 256, (3, 3072), dtype=np.uint8), "labels": [1, 2, 3]}
            batches[name] = batch
            _add(tar, f"cifar-10-batches-py/{name}", pickle.dumps(batch))
    source = data.Source("cifar10-python", archive.name, "md5", data.file_digest(archive, "md5"), "test")
    arrays, _ = data.load(data.prepare(archive, tmp_path / "c10", source))
    assert arrays["train_images"].shape == (15, 32, 32, 3)
    # channel-planar rows become HWC images
    np.testing.assert_array_equal(arrays["test_images"][0, :, :, 2].ravel(), batches["test_batch"]["data"][0, 2048:])


def test_bad_checksum_is_refused_and_nothing_is_written(tmp_path):
    archive = tmp_path / "cifar10-jpeg.tar.gz"  # the offline copy's name, but not its bytes
    _jpeg_archive(archive, per_class=1)
    out = tmp_path / "out" / "c10"
    with pytest.raises(data.DataError, match="corrupt or not cifar10-jpeg.tar.gz: its sha256 is"):
        data.prepare(archive, out)
    assert not out.exists() and not list(tmp_path.glob("out/*"))


def test_missing_data_says_how_to_get_it(tmp_path):
    with pytest.raises(data.DataError, match="no CIFAR-10 archive at .*download the official cifar-10-python"):
        data.prepare(tmp_path / "cifar-10-python.tar.gz", tmp_path / "c10")
    with pytest.raises(data.DataError, match="run `roots prepare-data` first"):
        data.load(tmp_path / "c10")
    with pytest.raises(data.DataError, match="not a known CIFAR-10 archive"):
        (tmp_path / "images.tar.gz").write_bytes(b"")
        data.verify(tmp_path / "images.tar.gz")


def test_prepare_data_command_reports_a_missing_archive(tmp_path, capsys):
    assert main(["prepare-data", "--archive", str(tmp_path / "nope.tar.gz"), "--out", str(tmp_path / "c")]) == 2
    assert "no CIFAR-10 archive" in capsys.readouterr().err


@pytest.mark.skipif(not SHARED_ARCHIVE.is_file(), reason="the offline CIFAR-10 copy is not beside the project")
def test_the_shared_jpeg_copy_verifies_and_decodes(tmp_path):
    arrays, source = data.load(data.prepare(SHARED_ARCHIVE, tmp_path / "c10"))
    assert source.name == "cifar10-jpeg"
    assert arrays["train_images"].shape == (50000, 32, 32, 3) and arrays["test_images"].shape == (10000, 32, 32, 3)
    assert np.bincount(arrays["test_labels"]).tolist() == [1000] * 10
    # its README: decoded test-set channel means 0.4941 0.4851 0.4504
    np.testing.assert_allclose((arrays["test_images"] / 255).mean(axis=(0, 1, 2)), [0.4941, 0.4851, 0.4504], atol=1e-4)


def test_preparing_twice_gives_the_same_bytes_so_dvc_sees_no_change(tmp_path):
    archive = tmp_path / "tiny.tar.gz"
    _jpeg_archive(archive, per_class=1)
    outs = [data.prepare(archive, tmp_path / name, _source_for(archive)) for name in ("a", "b")]
    expected = {f"{name}.npy" for name in data.ARRAYS} | {"source.json"}
    assert {path.name for path in outs[0].iterdir()} == expected
    for path in outs[0].iterdir():
        assert path.read_bytes() == (outs[1] / path.name).read_bytes()


def test_prepare_replaces_a_prepared_set_but_never_a_folder_of_other_files(tmp_path):
    archive = tmp_path / "tiny.tar.gz"
    _jpeg_archive(archive, per_class=1)
    prepared = data.prepare(archive, tmp_path / "c10", _source_for(archive))
    assert data.prepare(archive, prepared, _source_for(archive)) == prepared  # a prepared set: replaced
    (tmp_path / "empty").mkdir()
    data.prepare(archive, tmp_path / "empty", _source_for(archive))  # an empty folder: filled
    thesis = tmp_path / "work" / "sub" / "thesis.tex"
    thesis.parent.mkdir(parents=True)
    thesis.write_text("months of it")
    (tmp_path / "work" / "notes.txt").write_text("notes")
    with pytest.raises(data.DataError, match=r"work holds files that are not a prepared data set \(notes.txt, sub\)"):
        data.prepare(archive, tmp_path / "work", _source_for(archive))
    assert thesis.read_text() == "months of it" and (tmp_path / "work" / "notes.txt").is_file()
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(data.DataError, match="is a file; give a folder"):
        data.prepare(archive, tmp_path / "a-file", _source_for(archive))


def test_a_failed_write_leaves_no_partial_folder(tmp_path, monkeypatch):
    archive = tmp_path / "tiny.tar.gz"
    _jpeg_archive(archive, per_class=1)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(data.np, "save", disk_full)
    with pytest.raises(data.DataError, match=r"could not write the prepared data next to .*No space left on device"):
        data.prepare(archive, tmp_path / "c10", _source_for(archive))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["tiny.tar.gz"]
