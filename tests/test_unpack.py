"""`roots import` unpacks only what `roots pack` makes: nothing written outside its folder, one line
for a damaged or crafted archive."""

import hashlib
import io
import json
import tarfile

import pytest

from roots.pipeline import transfer

PAYLOAD = b'{"test_accuracy": 1.0}'


def _archive(path, entries, members=None, manifest=None):
    """An archive as `pack` writes one, with the manifest ``entries`` (or raw ``manifest`` bytes)."""
    with tarfile.open(path, "w:gz") as tar:
        for name in members if members is not None else [entry["member"] for entry in entries]:
            info = tarfile.TarInfo(name)
            info.size = len(PAYLOAD)
            tar.addfile(info, io.BytesIO(PAYLOAD))
        text = manifest if manifest is not None else json.dumps(entries).encode()
        info = tarfile.TarInfo(transfer.MANIFEST)
        info.size = len(text)
        tar.addfile(info, io.BytesIO(text))
    return path


def _entry(path, member=None):
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    return {"path": path, "member": member or path, "sha256": digest, "size": len(PAYLOAD), "piece": 1, "pieces": 1}


def test_a_packed_file_is_unpacked_under_its_folder(tmp_path):
    archive = _archive(tmp_path / "good.tar.gz", [_entry("results/runs/nin/orig-s1/metrics.json")])
    assert transfer.unpack([archive], tmp_path / "in") == ["results/runs/nin/orig-s1/metrics.json"]
    assert (tmp_path / "in/results/runs/nin/orig-s1/metrics.json").read_bytes() == PAYLOAD


@pytest.mark.parametrize(
    ("path", "member"),
    [
        ("../results/runs/nin/orig-s1/metrics.json", None),  # up and out of the staging folder
        ("results/../../outside.json", None),
        ("ABSOLUTE", None),  # an absolute path: the test's own folder
        ("dvc.yaml", None),  # inside the checkout, but not something a pack holds
        ("results/runs/nin/orig-s1/metrics.json", "../outside.json"),  # the member's name, not only the path
    ],
)
def test_an_archive_that_would_write_outside_its_folder_is_refused(tmp_path, path, member):
    outside = tmp_path / "outside.json"
    path = str(outside) if path == "ABSOLUTE" else path
    archive = _archive(tmp_path / "crafted.tar.gz", [_entry(path, member)])
    with pytest.raises(transfer.TransferError, match=r"crafted.tar.gz: its manifest names .*refused"):
        transfer.unpack([archive], tmp_path / "in" / "staging")
    assert not outside.exists() and not (tmp_path / "in" / "results").exists()


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (b"not json", "manifest.json is not JSON"),
        (b'{"path": "results/x"}', "manifest.json is not a list of files"),
        (b'[{"path": "results/runs/nin/orig-s1/metrics.json"}]', "lacks or mistypes member, sha256, piece, pieces"),
    ],
)
def test_a_manifest_that_is_not_one_of_packs_is_one_line(tmp_path, manifest, message):
    archive = _archive(tmp_path / "odd.tar.gz", [], members=[], manifest=manifest)
    with pytest.raises(transfer.TransferError, match=message):
        transfer.unpack([archive], tmp_path / "in")


def test_a_truncated_or_missing_archive_is_one_line(tmp_path):
    whole = _archive(tmp_path / "whole.tar.gz", [_entry("results/runs/nin/orig-s1/metrics.json")])
    cut = tmp_path / "cut.tar.gz"
    for kept in (len(whole.read_bytes()) - 40, 40):  # cut in its last member, or in its first header
        cut.write_bytes(whole.read_bytes()[:kept])
        with pytest.raises(transfer.TransferError, match="cut.tar.gz is damaged"):
            transfer.unpack([cut], tmp_path / "in")
    with pytest.raises(transfer.TransferError, match="gone.tar.gz: no such archive or folder"):
        transfer.unpack([tmp_path / "gone.tar.gz"], tmp_path / "in")


def test_a_link_in_a_folder_brought_back_is_refused(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("not a result")
    run = tmp_path / "back/results/runs/nin/orig-s1"
    run.mkdir(parents=True)
    (run / "metrics.json").symlink_to(secret)
    with pytest.raises(transfer.TransferError, match="metrics.json is a link; refused"):
        transfer.unpack([tmp_path / "back"], tmp_path / "in")


def test_packing_a_missing_folder_is_one_line(tmp_path):
    with pytest.raises(transfer.TransferError, match="--root .*gone: no such folder"):
        transfer.pack(tmp_path / "gone", tmp_path / "out")
    assert not (tmp_path / "out").exists()
