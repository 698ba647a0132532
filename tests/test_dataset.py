"""Before `dvc repro`: where CIFAR-10 comes from, or one line saying how to get it."""

import pytest
import yaml

from roots.pipeline import dataset


def _checkout(tmp_path, source="../shared/data/cifar10-jpeg.tar.gz", imported="data/cifar10-jpeg.tar.gz"):
    repo = tmp_path / "repo"
    repo.mkdir(parents=True)
    (repo / "data.dvc").write_text(yaml.safe_dump({"deps": [{"path": source}], "outs": [{"path": imported}]}))
    return repo


def test_a_clone_without_the_archive_is_told_what_to_do(tmp_path):
    with pytest.raises(dataset.DatasetError, match=r"no CIFAR-10 archive: .*`make official-data`"):
        dataset.check(_checkout(tmp_path))


def test_the_archive_beside_the_checkout_or_already_imported_or_a_url_is_enough(tmp_path):
    repo = _checkout(tmp_path)
    (tmp_path / "shared/data").mkdir(parents=True)
    (tmp_path / "shared/data/cifar10-jpeg.tar.gz").write_bytes(b"archive")
    assert dataset.check(repo).startswith("../shared/data/cifar10-jpeg.tar.gz (DVC copies it")
    (repo / "data").mkdir()
    (repo / "data/cifar10-jpeg.tar.gz").write_bytes(b"archive")
    assert dataset.check(repo).startswith("data/cifar10-jpeg.tar.gz (imported from")
    online = _checkout(tmp_path / "online", dataset.OFFICIAL_URL, "data/cifar-10-python.tar.gz")
    assert "DVC downloads it" in dataset.check(online)


def test_a_missing_data_dvc_is_one_line(tmp_path):
    with pytest.raises(dataset.DatasetError, match="data.dvc is missing or not a DVC import"):
        dataset.check(tmp_path)
