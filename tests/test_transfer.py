"""The GPU path without a GPU: `roots campaign` in a scratch checkout (tiny data, CPU), its archives
split at the size limit, and `roots import` taking what matches params.yaml and refusing the rest."""

import json
import os
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml
from tiny import TIMING_ENTRY, TINY_RECIPE, dvc, git, make_checkout

from roots.pipeline import sweep, transfer

pytestmark = pytest.mark.slow  # DVC, subprocesses, notebooks or Triton's interpreter: minutes

CAMPAIGN = {
    "first": {
        "about": "a tiny run",
        "model": "nin",
        "recipe": "tiny",
        "images_per_second": 100,
        "runs": [{"seeds": [0], "variants": ["orig"]}],
    },
    "timing": {
        "about": "tiny timings",
        "timing": "tiny",
        "models": ["nin", "resnet50", "googlenet"],
        "entry": TIMING_ENTRY,
        "minutes": 1,
    },
    "second": {
        "about": "a run whose recipe will change",
        "model": "nin",
        "recipe": "other",
        "images_per_second": 100,
        "runs": [{"seeds": [0], "variants": ["root-4"]}],
    },
}


def _roots(repo, *args, check=True):
    done = subprocess.run([sys.executable, "-m", "roots", *args], cwd=repo, capture_output=True, text=True, timeout=900)
    assert not check or done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """A scratch checkout whose campaign ran (CPU, tiny data) and packed its results into out/."""
    repo = make_checkout(
        tmp_path_factory.mktemp("checkout"),
        campaign=CAMPAIGN,
        recipes={"tiny": dict(TINY_RECIPE), "other": dict(TINY_RECIPE)},
    )
    work = repo / "scratch" / "gpu"
    shutil.copytree(repo / "data", work / "data")  # `roots campaign` prepares it from an archive where it is missing
    out = _roots(repo, "campaign", "--device", "cpu", "--minutes", "10", "--parallel", "2", "--out", "out").stdout
    return repo, out


def test_the_campaign_works_down_its_queue_and_packs_what_it_made(checkout):
    repo, out = checkout
    assert "sweep campaign: 5 done (5 in this call), 0 remaining" in out
    assert "timing: 3 of 3 done" in out and "5 of 5 done, 0 to do" in out
    archives = sorted((repo / "out").glob("*.tar.gz"))
    assert archives and all(path.stat().st_size <= 16 * transfer.MIB for path in archives)
    names = {member for path in archives for member in tarfile.open(path).getnames()}
    assert {
        "results/runs/nin/orig-s0/metrics.json",
        "results/runs/nin/orig-s0/model.pt",
        "results/timing/tiny/nin-native-channels_last-fp32.json",
        "logs/orig-s0.log",
    } <= names
    again = _roots(repo, "pack", "--root", "scratch/gpu", "--out", "out-again").stdout
    assert again.startswith("packed 0 files")  # what was sent is not sent twice


def test_import_takes_matching_results_refuses_the_rest_and_records_them_in_dvc(checkout):
    repo, _ = checkout
    params = repo / "params.yaml"
    changed = yaml.safe_load(params.read_text())
    changed["recipes"]["other"]["epochs"] = 4  # after the GPU trained with 3
    params.write_text("# the scratch checkout's parameters\n" + yaml.safe_dump(changed, sort_keys=False))
    done = _roots(repo, "import", *sorted(map(str, (repo / "out").glob("*.tar.gz"))), check=False)
    assert done.returncode == 2
    assert "imported results/runs/nin/orig-s0: 100.00% top-1, recipe tiny" in done.stdout
    assert "imported results/timing/tiny" in done.stdout
    assert (
        "roots: refused results/runs/nin/root-4-s0: its recipe differs from params.yaml's recipes.other: "
        "epochs 3 (params.yaml: 4)"
    ) in done.stderr
    content = yaml.safe_load(params.read_text())
    assert content["nin_runs"] == {"orig-s0": {"variant": "orig", "seed": 0, "recipe": "tiny"}}
    assert content["timing_devices"] == {"tiny": TIMING_ENTRY}
    assert params.read_text().startswith("# the scratch checkout's parameters")  # comments kept
    assert not (repo / "results/runs/nin/root-4-s0").exists()
    assert "up to date" in dvc(repo, "status", "nin_train@orig-s0", "timing@tiny").stdout
    # the campaign timed with exactly the command the timing stage runs
    from dvc.repo import Repo

    stage_cmd = next(stage.cmd for stage in Repo(str(repo)).index.stages if stage.name == "timing@tiny")
    jobs = sweep.load_plan(params, "timing")
    assert (
        stage_cmd
        == 'python -m roots stage --outputs results/timing/tiny -- "'
        + " && ".join(f"python -m roots time {' '.join(job.arguments())} --out-dir results/timing/tiny" for job in jobs)
        + '"'
    )


def test_import_refuses_results_of_code_that_has_changed_since(checkout, tmp_path):
    repo, _ = checkout
    copy = tmp_path / "copy"
    git(tmp_path, "clone", "-q", str(repo), str(copy))
    shutil.copytree(repo / "data", copy / "data")
    (copy / "roots" / "train" / "loaders.py").write_text(
        (copy / "roots" / "train" / "loaders.py").read_text() + "\n# changed\n"
    )
    git(copy, "commit", "-qam", "change the data loader")
    done = _roots(copy, "import", "--no-commit", *sorted(map(str, (repo / "out").glob("*.tar.gz"))), check=False)
    assert "refused results/runs/nin/orig-s0: it ran commit" in done.stderr
    assert "this checkout's roots/train/loaders.py differ from it" in done.stderr
    assert "refused results/timing/tiny" not in done.stderr  # timing does not depend on the loader


def test_import_takes_the_timings_that_came_back_whole_and_says_what_is_left_out(checkout, tmp_path):
    """A GPU window that ran out during one model's timing, or whose kernel failed there, still
    brings the other models' timings into the repository."""
    repo, _ = checkout
    copy = tmp_path / "copy"
    git(tmp_path, "clone", "-q", str(repo), str(copy))
    shutil.copytree(repo / "data", copy / "data")
    back = tmp_path / "back"
    transfer.unpack(sorted((repo / "out").glob("*.tar.gz")), back)
    (back / "results/timing/tiny/resnet50-native-channels_last-fp32.json").unlink()
    done = _roots(copy, "import", "--no-commit", str(back), check=False)
    assert done.returncode == 2 and "imported results/timing/tiny: 3 files" in done.stdout
    assert (
        "roots: left out of results/timing/tiny: resnet50 native: not all their files came back "
        "(a `roots time` that failed or was stopped; its log says why)"
    ) in done.stderr
    assert sorted(path.name for path in (copy / "results/timing/tiny").iterdir()) == [
        "googlenet-native-channels_last-fp32.json",
        "nin-layers-native-channels_last-fp32.csv",
        "nin-native-channels_last-fp32.json",
    ]
    (back / "results/timing/tiny/nin-layers-native-channels_last-fp32.csv").unlink()
    (back / "results/timing/tiny/googlenet-native-channels_last-fp32.json").unlink()
    done = _roots(copy, "import", "--no-commit", str(back), check=False)
    assert "refused results/timing/tiny: no implementation's files came back complete" in done.stderr


def test_packing_splits_files_at_the_size_limit_and_unpacking_joins_them(tmp_path):
    root, out = tmp_path / "root", tmp_path / "out"
    run = root / "results/runs/nin/orig-s0"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps({"test_accuracy": 0.5}))
    (run / "model.pt").write_bytes(os.urandom(int(2.5 * transfer.MIB)))
    (root / "logs").mkdir()
    (root / "logs" / "orig-s0.log").write_text("epoch 1/1\n")
    report = transfer.pack(root, out, max_bytes=transfer.MIB)
    assert len(report.archives) == 4 and not report.left  # 2.5 MiB in pieces of at most 1 MiB less the margin
    assert all(path.stat().st_size <= transfer.MIB for path in report.archives)
    assert "metrics.json" in tarfile.open(report.archives[0]).getnames()[0]  # results first
    unpacked = transfer.unpack(report.archives, tmp_path / "back")
    assert unpacked == [
        "logs/orig-s0.log",
        "results/runs/nin/orig-s0/metrics.json",
        "results/runs/nin/orig-s0/model.pt",
    ]
    for relative in unpacked:
        assert (tmp_path / "back" / relative).read_bytes() == (root / relative).read_bytes()
    with pytest.raises(transfer.TransferError, match="model.pt: piece 2 of 4 is in none of the archives given"):
        transfer.unpack([path for index, path in enumerate(report.archives) if index != 1], tmp_path / "partial")


def test_what_does_not_fit_the_archives_is_left_and_sent_next_time(tmp_path):
    root = tmp_path / "root"
    for key in ("orig-s0", "root-2-s0"):
        run = root / "results/runs/nin" / key
        run.mkdir(parents=True)
        (run / "metrics.json").write_text("{}")
        (run / "model.pt").write_bytes(os.urandom(600 << 10))
    first = transfer.pack(root, tmp_path / "first", max_bytes=transfer.MIB, max_files=1)
    assert first.left == ["results/runs/nin/root-2-s0/model.pt"] and len(first.archives) == 1
    second = transfer.pack(root, tmp_path / "second", max_bytes=transfer.MIB, max_files=1)
    assert second.packed == ["results/runs/nin/root-2-s0/model.pt"] and not second.left


def test_a_full_disk_while_packing_leaves_no_archive_and_packs_again_next_time(tmp_path, monkeypatch):
    root = tmp_path / "root"
    run = root / "results/runs/nin/orig-s0"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text("{}")
    (run / "model.pt").write_bytes(os.urandom(1500 << 10))
    addfile, added = tarfile.TarFile.addfile, []

    def disk_fills(self, *args, **kwargs):
        added.append(1)
        if len(added) == 3:  # the second archive
            raise OSError(28, "No space left on device")
        return addfile(self, *args, **kwargs)

    monkeypatch.setattr(tarfile.TarFile, "addfile", disk_fills)
    with pytest.raises(
        transfer.TransferError, match=r"could not write .*No space left on device\); nothing was packed"
    ):
        transfer.pack(root, tmp_path / "out", max_bytes=transfer.MIB)
    assert list((tmp_path / "out").iterdir()) == []
    monkeypatch.setattr(tarfile.TarFile, "addfile", addfile)
    again = transfer.pack(root, tmp_path / "out", max_bytes=transfer.MIB)
    assert sorted(again.packed) == ["results/runs/nin/orig-s0/metrics.json", "results/runs/nin/orig-s0/model.pt"]
