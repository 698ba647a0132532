"""The trainer on CPU at tiny scale: it learns, resumes exactly, runs under torchrun, fails clearly."""

import dataclasses
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from PIL import Image
from tiny import write_tiny_cifar

from roots import device as devices
from roots import provenance
from roots.cli import main, parse_args
from roots.device import DeviceError
from roots.train import loaders, loop, runs
from roots.train import recipe as recipes
from roots.train.data import DataError

PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"
TINY = recipes.Recipe(epochs=3, batch_size=40, lr=0.05, warmup=0.3, workers=0)


@pytest.fixture(scope="module")
def tiny_cifar(tmp_path_factory):
    return write_tiny_cifar(tmp_path_factory.mktemp("data") / "cifar10", size=16)


def _run(tiny_cifar, out, **changes):
    return loop.Run(model="nin", variant="root-4", data=str(tiny_cifar), out=str(out), device="cpu", **changes)


def test_tiny_run_learns_and_writes_its_metrics_and_weights(tiny_cifar, tmp_path):
    metrics = loop.train(_run(tiny_cifar, tmp_path / "run"), TINY)
    losses = [epoch["train_loss"] for epoch in metrics["history"]]
    assert losses[-1] < losses[0]
    assert metrics["test_accuracy"] > 0.3  # chance is 0.1
    assert metrics["test_accuracy"] <= metrics["test_top5_accuracy"] <= 1
    written = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert set(written) == set(loop.RunMetrics.__annotations__)  # the one schema runs.table reads
    assert set(runs.TABLE_KEYS) <= set(written)
    assert written["data"]["name"] == "tiny" and written["device"]["torch"] == torch.__version__
    assert written["images_per_second"] > 0 and written["epochs"] == 3
    assert not (tmp_path / "run" / "checkpoint.pt").exists()  # a finished run leaves no checkpoint
    assert set(torch.load(tmp_path / "run" / "model.pt")) >= {"conv1a.0.weight", "conv3c.1.running_mean"}


def _train_command(tiny_cifar, out, precision):
    # the CPU recipe's options (label smoothing, an EMA, linear decay): what the campaign resumes across sessions
    return [
        sys.executable,
        "-m",
        "roots",
        "train",
        "--model",
        "nin",
        "--variant",
        "root-4",
        "--data",
        str(tiny_cifar),
        "--out",
        str(out),
        "--device",
        "cpu",
        "--epochs",
        "8",
        "--batch-size",
        "40",
        "--lr",
        "0.05",
        "--warmup",
        "0.3",
        "--workers",
        "0",
        "--precision",
        precision,
        "--label-smoothing",
        "0.1",
        "--ema",
        "0.9",
        "--anneal",
        "linear",
    ]


NATIVE_BF16 = pytest.mark.skipif(not devices.cpu_has_native_bf16(), reason="this CPU has no native bf16")


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp32", pytest.param("bf16", marks=NATIVE_BF16)])
def test_a_run_killed_with_sigkill_and_resumed_ends_like_an_uninterrupted_one(tiny_cifar, tmp_path, precision):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}  # the same arithmetic in every process
    straight = subprocess.run(
        _train_command(tiny_cifar, tmp_path / "straight", precision), env=env, capture_output=True, timeout=300
    )
    assert straight.returncode == 0, straight.stderr[-2000:]

    killed = subprocess.Popen(
        _train_command(tiny_cifar, tmp_path / "resumed", precision),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    checkpoint = tmp_path / "resumed" / "checkpoint.pt"
    started = time.monotonic()
    while not checkpoint.is_file():  # the first epoch is done: kill it in the middle of the next ones
        assert killed.poll() is None and time.monotonic() - started < 120
        time.sleep(0.02)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    epoch = torch.load(checkpoint, weights_only=False)["epoch"]
    assert (
        killed.returncode == -signal.SIGKILL and 1 <= epoch < 8 and not (tmp_path / "resumed" / "metrics.json").exists()
    )
    resumed = subprocess.run(
        _train_command(tiny_cifar, tmp_path / "resumed", precision),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert f"resuming {tmp_path / 'resumed'} after epoch {epoch} of 8" in resumed.stdout

    metrics = [json.loads((tmp_path / name / "metrics.json").read_text()) for name in ("straight", "resumed")]
    assert [run["precision"] for run in metrics] == [precision, precision]
    runs_ = [run["history"] for run in metrics]
    for key in ("train_loss", "train_accuracy", "test_loss", "test_accuracy", "test_top5_accuracy", "lr"):
        assert [epoch[key] for epoch in runs_[1]] == [epoch[key] for epoch in runs_[0]], key
    assert runs_[1][-1]["raw_test_accuracy"] == runs_[0][-1]["raw_test_accuracy"]  # the EMA's and the last weights'
    assert [epoch["lr"] for epoch in runs_[0]][-1] > 0  # linear decay: the last step's rate, not one past the end
    weights = [torch.load(tmp_path / name / "model.pt") for name in ("straight", "resumed")]
    assert all(torch.equal(weights[0][key], weights[1][key]) for key in weights[0])


def test_precision_auto_is_bf16_where_the_cpu_computes_it_natively(monkeypatch):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    for avx512_bf16, amx, expected in ((True, False, "bf16"), (False, True, "bf16"), (False, False, "fp32")):
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
        assert devices.auto_precision(cpu) == expected and devices.auto_precision(cuda) == "bf16"
        assert devices.describe(cpu)["native_bf16"] == (expected == "bf16")


def _interrupted_after_first_epoch(run, recipe, monkeypatch):
    """Train ``run`` until its first epoch is checkpointed, then stop it as a session's end would."""
    evaluate, calls = loop.evaluate, []

    def evaluate_then_stop(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return evaluate(*args)

    monkeypatch.setattr(loop, "evaluate", evaluate_then_stop)
    with pytest.raises(KeyboardInterrupt):
        loop.train(run, recipe)
    monkeypatch.setattr(loop, "evaluate", evaluate)


def test_an_auto_precision_run_resumes_in_the_precision_it_started_in(tiny_cifar, tmp_path, monkeypatch, capsys):
    # sessions draw their machines: a run begun where auto is fp32 resumes where auto is bf16 (and the reverse)
    run, recipe = _run(tiny_cifar, tmp_path / "run"), replace(TINY, epochs=2, precision="auto")
    monkeypatch.setattr(devices, "auto_precision", lambda device: "fp32")
    _interrupted_after_first_epoch(run, recipe, monkeypatch)
    assert torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)["identity"]["precision"] == "fp32"
    monkeypatch.setattr(devices, "auto_precision", lambda device: "bf16")
    capsys.readouterr()
    metrics = loop.train(run, recipe)
    said = capsys.readouterr().out
    assert "resuming in fp32, the precision this run started in (auto here: bf16)" in said
    assert "after epoch 1 of 2" in said and metrics["precision"] == "fp32" and metrics["epochs"] == 2


def test_a_checkpoint_of_other_settings_lends_no_precision(tiny_cifar, tmp_path, monkeypatch, capsys):
    run = _run(tiny_cifar, tmp_path / "run")
    monkeypatch.setattr(devices, "auto_precision", lambda device: "bf16")
    _interrupted_after_first_epoch(run, replace(TINY, epochs=2, precision="auto", lr=0.01), monkeypatch)
    monkeypatch.setattr(devices, "auto_precision", lambda device: "fp32")
    capsys.readouterr()
    metrics = loop.train(run, replace(TINY, epochs=1, precision="auto"))
    assert "belongs to other settings; starting afresh" in capsys.readouterr().out
    assert metrics["precision"] == "fp32" and metrics["epochs"] == 1


def test_the_weight_average_warms_up_before_it_decays_at_its_rate():
    update = loop._ema_update(0.99)
    averaged, current = [torch.zeros(3)], [torch.ones(3)]
    update(averaged, current, torch.tensor(0))  # first update: decay (1 + 0) / (10 + 0) = 0.1
    assert torch.allclose(averaged[0], torch.full((3,), 0.9))
    averaged = [torch.zeros(3)]
    update(averaged, current, torch.tensor(10_000))  # late: the recipe's decay
    assert torch.allclose(averaged[0], torch.full((3,), 0.01))
    counters = [torch.tensor([3])]
    update(counters, [torch.tensor([7])], torch.tensor(5))  # BatchNorm's step counter: the latest
    assert counters[0].item() == 7


def test_a_run_with_an_ema_saves_and_scores_the_average(tiny_cifar, tmp_path):
    plain = loop.train(_run(tiny_cifar, tmp_path / "plain"), replace(TINY, epochs=2))
    averaged = loop.train(_run(tiny_cifar, tmp_path / "ema"), replace(TINY, epochs=2, ema=0.9))
    assert "raw_test_accuracy" not in plain["history"][-1]
    assert averaged["history"][-1]["raw_test_accuracy"] == plain["test_accuracy"]  # the same last weights
    assert "raw_test_accuracy" not in averaged["history"][0]  # scored once, at the end
    saved = [torch.load(tmp_path / name / "model.pt") for name in ("plain", "ema")]
    assert not torch.equal(saved[0]["conv1a.0.weight"], saved[1]["conv1a.0.weight"])


def test_a_checkpoint_of_other_settings_is_not_resumed(tiny_cifar, tmp_path, capsys):
    run = _run(tiny_cifar, tmp_path / "run")
    loop.train(run, replace(TINY, epochs=1))
    torch.save({"identity": "something else"}, tmp_path / "run" / "checkpoint.pt")
    assert loop.train(run, replace(TINY, epochs=1), force=True)["epochs"] == 1
    assert "belongs to other settings; starting afresh" in capsys.readouterr().out


def test_an_unreadable_checkpoint_is_put_aside_and_the_run_starts_afresh(tiny_cifar, tmp_path, capsys):
    run = _run(tiny_cifar, tmp_path / "run")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoint.pt").write_bytes(b"PK\x03\x04 truncated by a full disk")
    assert loop.train(run, replace(TINY, epochs=1))["epochs"] == 1
    assert "checkpoint.pt is unreadable" in capsys.readouterr().out
    assert (tmp_path / "run" / "checkpoint.pt.unreadable").is_file()


def test_a_full_disk_keeps_the_last_good_checkpoint_and_leaves_no_partial_file(tiny_cifar, tmp_path, monkeypatch):
    save, saved = torch.save, []

    def disk_fills(payload, path, *args, **kwargs):
        saved.append(path)
        if len(saved) == 2:  # the second epoch's checkpoint
            raise OSError(28, "No space left on device")
        return save(payload, path, *args, **kwargs)

    monkeypatch.setattr(loop.torch, "save", disk_fills)
    with pytest.raises(recipes.TrainingError, match=r"checkpoint.pt \(No space left on device\); what was written"):
        loop.train(_run(tiny_cifar, tmp_path / "run"), replace(TINY, epochs=2))
    assert sorted(path.name for path in (tmp_path / "run").iterdir()) == ["checkpoint.pt"]
    assert torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)["epoch"] == 1


def test_a_finished_run_is_trained_again_only_with_force(tiny_cifar, tmp_path, capsys):
    argv = ["train", "--data", str(tiny_cifar), "--out", str(tmp_path / "run"), "--device", "cpu", "--epochs", "1",
            "--batch-size", "40", "--workers", "0"]  # fmt: skip
    assert main(argv) == 0
    before = (tmp_path / "run" / "metrics.json").read_text()
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"roots: error: {tmp_path / 'run'} holds a finished run (metrics.json); --force trains it again, "
                   "replacing it, or choose another --out"]  # fmt: skip
    assert (tmp_path / "run" / "metrics.json").read_text() == before
    assert main([*argv, "--force"]) == 0


def test_the_default_out_folder_is_named_after_the_run(tiny_cifar, tmp_path, monkeypatch):
    assert loop.Run(model="nin", variant="root-8", seed=3).out == "runs/nin/root-8-s3"
    assert loop.Run(model="nin", groups="conv2a=4,conv3a=2").out == "runs/nin/conv2a4_conv3a2-s0"


def test_a_data_set_whose_labels_do_not_match_its_images_is_refused(tmp_path):
    data = write_tiny_cifar(tmp_path / "cifar10", size=16)
    np.save(data / "test_labels.npy", np.load(data / "test_labels.npy")[:-5])
    with pytest.raises(DataError, match="60 test images but 55 labels; prepare the data again"):
        loaders.open_data(data, torch.device("cpu"), 32)


def test_cifar_augmentation_crops_the_zero_padded_image_and_mirrors(tiny_cifar):
    data = loaders.CifarOnDevice(tiny_cifar, torch.device("cpu"))
    assert abs(float(data._normalise(data.train_images).mean())) < 1e-4  # mean-subtracted
    images, labels = next(data.train_batches(len(data.train_labels), seed=0, epoch=0))
    order = loaders._order(data.num_train, seed=0, epoch=0, rank=0, world=1, shuffle=True)
    padded = torch.nn.functional.pad(data._normalise(data.train_images[order]), (4, 4, 4, 4))
    assert torch.equal(labels, data.train_labels[order])
    mirrored = 0
    for crop, source in zip(images, padded):
        windows = {
            (dy, dx, flip)
            for dy in range(9)
            for dx in range(9)
            for flip in (False, True)
            if torch.equal(crop, (source.flip(2) if flip else source)[:, dy : dy + 16, dx : dx + 16])
        }
        assert windows, "every training image is a window of its padded original"
        mirrored += all(flip for _, _, flip in windows)
    assert 0 < mirrored < len(images)


def test_epochs_are_shared_out_without_overlap_among_processes():
    shares = [loaders._order(100, seed=3, epoch=2, rank=rank, world=2, shuffle=True) for rank in range(2)]
    assert sorted(shares[0] + shares[1]) == list(range(100))
    assert shares[0] != loaders._order(100, seed=3, epoch=3, rank=0, world=2, shuffle=True)


@pytest.mark.slow
def test_two_processes_train_with_torchrun_on_cpu(tiny_cifar, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "roots",
        "train",
        "--model",
        "nin",
        "--variant",
        "root-4",
        "--data",
        str(tiny_cifar),
        "--out",
        str(tmp_path),
        "--device",
        "cpu",
        "--epochs",
        "2",
        "--batch-size",
        "40",
        "--workers",
        "0",
    ]
    finished = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["processes"] == 2 and metrics["epochs"] == 2
    assert metrics["history"][0]["images"] == 120  # 3 batches of 40, shared over both processes
    assert metrics["test_images"] == 60


def test_imagefolder_path_trains_end_to_end(tmp_path):
    rng = np.random.default_rng(0)
    for split, count in (("train", 4), ("val", 2)):
        for name in ("cat", "dog"):
            (tmp_path / split / name).mkdir(parents=True)
            for index in range(count):
                pixels = rng.integers(0, 256, (40 + index, 60, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(tmp_path / split / name / f"{index}.png")
    data = loaders.ImageFolderData(tmp_path, torch.device("cpu"), crop=224, workers=0)
    images, labels = next(data.train_batches(4, seed=0, epoch=0))
    assert images.shape == (4, 3, 224, 224) and data.num_classes == 2
    first, second = (torch.cat([batch for batch, _ in data.test_batches()]) for _ in range(2))
    assert torch.equal(first, second)  # centre crops: evaluation is deterministic
    # the README's ILSVRC command: the recipe of params.yaml, shrunk on the command line
    argv = [
        "train",
        "--model",
        "resnet50",
        "--variant",
        "root-64",
        "--data",
        str(tmp_path),
        "--out",
        str(tmp_path / "run"),
        "--device",
        "cpu",
        "--recipe",
        f"{PARAMS}:recipes.imagenet",
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--workers",
        "0",
    ]
    assert main(argv) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["data"]["name"] == "imagefolder" and metrics["test_images"] == 4 and metrics["epochs"] == 1
    assert metrics["test_top5_accuracy"] == 1.0  # two classes: top-5 holds every one
    imagenet = yaml.safe_load(PARAMS.read_text())["recipes"]["imagenet"]
    assert metrics["recipe"] == dataclasses.asdict(
        recipes.Recipe(**{**imagenet, "epochs": 1, "batch_size": 4, "workers": 0})
    )
    assert metrics["recipe_name"] == "imagenet+changes"  # the command line changed three of its values


def test_a_recipe_section_sets_defaults_and_the_command_line_wins(tmp_path):
    (tmp_path / "recipes.yaml").write_text("recipes:\n  fast: {epochs: 7, lr: 0.3, nesterov: false}\n")
    spec = f"{tmp_path}/recipes.yaml:recipes.fast"
    args = parse_args(["train", "--recipe", spec, "--lr", "0.01"])
    assert (args.epochs, args.lr, args.nesterov, args.batch_size) == (7, 0.01, False, recipes.Recipe.batch_size)
    assert recipes.recipe_name(spec, recipes.Recipe(epochs=7, lr=0.3, nesterov=False)) == "fast"
    assert recipes.recipe_name(spec, recipes.Recipe(epochs=7, lr=0.01, nesterov=False)) == "fast+changes"
    assert recipes.recipe_name(None, recipes.Recipe()) is None


def test_without_a_recipe_train_takes_the_pipelines_for_the_model_and_device(tmp_path, monkeypatch, capsys):
    """`roots train` alone once meant 40 epochs of a GPU budget, hours on a CPU, in no recipe of params.yaml."""
    monkeypatch.chdir(tmp_path)
    assert parse_args(["train", "--device", "cpu"]).recipe is None  # no params.yaml here: the built-in defaults
    assert capsys.readouterr().out == ""
    (tmp_path / "params.yaml").write_text(PARAMS.read_text())
    cpu_recipe = yaml.safe_load(PARAMS.read_text())["recipes"]["nin_cpu"]
    args = parse_args(["train", "--device", "cpu", "--lr", "0.01"])
    assert args.recipe == "params.yaml:recipes.nin_cpu" and (args.epochs, args.ema) == (15, cpu_recipe["ema"])
    assert args.lr == 0.01  # the command line still wins
    assert capsys.readouterr().out.startswith("recipe: params.yaml:recipes.nin_cpu (the pipeline's for nin on")
    assert parse_args(["train", "--model", "resnet50-cifar", "--device", "cpu"]).recipe == "params.yaml:recipes.proxy"
    assert parse_args(["train", "--model", "resnet50", "--device", "cpu"]).recipe == "params.yaml:recipes.imagenet"
    assert parse_args(["train", "--recipe", "params.yaml:recipes.nin_smoke"]).recipe == "params.yaml:recipes.nin_smoke"


def test_every_recipe_in_params_yaml_is_a_valid_recipe_that_says_every_value():
    for name, values in yaml.safe_load(PARAMS.read_text())["recipes"].items():
        # all but workers (ImageFolder only) and the keys added since a recipe was written (defaults: old meaning)
        assert set(dataclasses.asdict(recipes.Recipe())) - set(values) <= {
            "workers",
            "anneal",
            "label_smoothing",
            "ema",
        }, name
        assert dataclasses.asdict(recipes.Recipe(**values)) == {**dataclasses.asdict(recipes.Recipe()), **values}, name


@pytest.mark.parametrize(
    ("content", "spec", "message"),
    [
        ("fast: {epochs: 7}", "recipes.yaml", "--recipe takes FILE:SECTION"),
        ("fast: {epochs: 7}", "missing.yaml:fast", "no file"),
        ("fast: {epochs: 7}", "recipes.yaml:slow", "has no section 'slow'"),
        ("fast: {epochs: 7}", "recipes.yaml:fast.epochs", "has no section 'fast.epochs'"),
        (
            "fast: {epochs: 7, learning_rate: 1}",
            "recipes.yaml:fast",
            "unknown keys learning_rate; a recipe has: anneal, batch_size",
        ),
        ("fast: {epochs: 7", "recipes.yaml:fast", "recipes.yaml is not valid YAML (line 2, column 1)"),
        (
            "fast: {epochs: 1.5}",
            "recipes.yaml:fast",
            "recipe value epochs=1.5 is not allowed: epochs must be an integer",
        ),
        ("fast: {epochs: [1, 2]}", "recipes.yaml:fast", "recipe value epochs=[1, 2] is not allowed"),
        (
            "fast: {nesterov: maybe}",
            "recipes.yaml:fast",
            "recipe value nesterov='maybe' is not allowed: nesterov must be true or false",
        ),
    ],
)
def test_a_bad_recipe_gives_one_clear_line(tmp_path, capsys, monkeypatch, content, spec, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "recipes.yaml").write_text(content + "\n")
    assert main(["train", "--recipe", spec, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("roots: error: ") and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()  # nothing written


def test_a_proxy_trains_on_cifar_images(tmp_path):
    """The CIFAR-10 proxy of GoogLeNet: 32x32 stem, side heads in the loss, 10 classes."""
    data = write_tiny_cifar(tmp_path / "cifar10", size=32)
    metrics = loop.train(
        loop.Run(model="googlenet-cifar", variant="root-16", data=str(data), out=str(tmp_path / "run"), device="cpu"),
        replace(TINY, epochs=1),
    )
    assert metrics["model"] == "googlenet-cifar" and metrics["groups"]["inc3_5x5"] == 8
    assert runs.model(tmp_path / "run")(torch.zeros(1, 3, 32, 32)).shape == (1, 10)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--data", "/nowhere/cifar10"], "no data at /nowhere/cifar10: run `roots prepare-data"),
        (["--device", "tpu"], "unknown device 'tpu'; choose one of: auto, cpu, cuda"),
        (["--precision", "fp8"], "precision='fp8' is not allowed: precision must be one of: auto, fp32, bf16, fp16"),
        (["--epochs", "0"], "epochs=0 is not allowed: epochs must be an integer of at least 1"),
        (["--epochs", "-1"], "epochs=-1 is not allowed"),
        (["--epochs", "abc"], "argument --epochs: invalid int value: 'abc'"),
        (["--batch-size", "-5"], "batch_size=-5 is not allowed: batch_size must be an integer of at least 1"),
        (["--lr", "-1"], "lr=-1.0 is not allowed: lr must be a number above 0"),
        (["--lr", "nan"], "lr=nan is not allowed"),
        (["--warmup", "1"], "warmup=1.0 is not allowed: warmup must be a number from 0 up to, not including, 1"),
        (["--momentum", "0"], "nesterov=True is not allowed with momentum=0"),
        (["--weight-decay", "-0.1"], "weight_decay=-0.1 is not allowed"),
        (["--train-subset", "-3"], "train_subset=-3 is not allowed"),
        (["--batch-size", "1000"], "larger than the 120 training images"),
        (["--variant", "root-3"], "unknown"),
        (["--train-subset", "500"], "train_subset must be between 1 and the 120 train images"),
        (["--seed", "-1"], "seed must be an integer of at least 0, got -1"),
    ],
)
def test_bad_training_input_gives_one_clear_line(tiny_cifar, tmp_path, capsys, argv, message):
    out = tmp_path / "run"
    base = ["train", "--data", str(tiny_cifar), "--out", str(out), "--device", "cpu", "--epochs", "1"]
    with pytest.raises(SystemExit) if argv[-1] == "abc" else nullcontext():  # argparse's own checks exit
        assert main(base + argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("roots: error: ") and message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()  # nothing written, not even an empty folder


def test_an_out_that_is_a_file_gives_one_clear_line(tiny_cifar, tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine\n")
    assert main(["train", "--data", str(tiny_cifar), "--out", str(tmp_path / "notes.txt"), "--device", "cpu"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"roots: error: --out {tmp_path / 'notes.txt'} is a file, not a folder; choose a folder for the run"
    ]
    assert (tmp_path / "notes.txt").read_text() == "mine\n"


def test_an_imagefolder_without_train_and_val_is_refused(tmp_path):
    with pytest.raises(DataError, match="neither a prepared CIFAR-10 folder"):
        loaders.open_data(tmp_path, torch.device("cpu"), 32)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_asking_for_cuda_without_a_gpu_says_so():
    with pytest.raises(DeviceError, match="torch sees no GPU"):
        loop.train(loop.Run(device="cuda"))


def test_a_finished_run_reads_back_as_a_table_row_and_a_model(tiny_cifar, tmp_path):
    loop.train(_run(tiny_cifar, tmp_path / "root-4-s0"), replace(TINY, epochs=1))
    row = runs.table(tmp_path).iloc[0]
    assert (row["run"], row["variant"], row["epochs"], row["data"]) == ("root-4-s0", "root-4", 1, "tiny")
    network = runs.model(tmp_path / "root-4-s0")
    assert not network.training and network.conv2a[0].groups == 4
    assert network(torch.zeros(2, 3, 16, 16)).shape == (2, 10)
    with pytest.raises(runs.RunsError, match="no trained runs in"):
        runs.table(tmp_path / "empty")


def test_a_table_reports_the_budget_that_covers_most_of_its_variants():
    def rows(recipe, epochs, variants):
        return [{"recipe": recipe, "epochs": epochs, "train_images": 50_000, "variant": v, "seed": 0} for v in variants]

    table2 = ["orig", "root-2", "root-4", "root-8", "root-16"]
    smoke = rows("nin_smoke", 2, [*table2, "tree-2"])
    partial = pd.DataFrame(smoke + rows("nin_cpu", 15, ["orig", "root-2"]))
    assert set(runs.most_complete_budget(partial, table2)["recipe"]) == {"nin_smoke"}  # the CPU budget: 2 of 5
    complete = pd.DataFrame(smoke + rows("nin_cpu", 15, table2))
    assert set(runs.most_complete_budget(complete, table2)["recipe"]) == {"nin_cpu"}  # as complete, and longer
    with_others = pd.DataFrame(smoke + rows("nin_cpu", 15, [*table2, "tree-2", "root-32"]))
    assert runs.most_complete_budget(with_others, table2)["variant"].tolist() == table2  # its own variants only
    without_orig = pd.DataFrame(rows("nin_cpu", 15, ["root-2"]))
    with pytest.raises(runs.RunsError, match="has an Orig run"):
        runs.most_complete_budget(without_orig, table2)


def test_the_covariance_runs_move_to_the_campaign_once_it_has_them_all():
    def rows(recipe, epochs, names):
        return [
            {"recipe": recipe, "epochs": epochs, "train_images": 50_000, "run": name, "variant": name[:-3], "seed": 0}
            for name in names
        ]

    names = ["orig-s0", "root-4-s0", "root-32-s0"]
    smoke = rows("nin_smoke", 2, names)
    partial = pd.DataFrame(smoke + rows("nin_cpu", 15, names[:2]))
    assert set(runs.most_complete_runs(partial, names)["recipe"]) == {"nin_smoke"}  # root-32 not trained yet
    chosen = runs.most_complete_runs(pd.DataFrame(smoke + rows("nin_cpu", 15, names)), names[::-1])
    assert list(chosen.index) == names[::-1] and set(chosen["recipe"]) == {"nin_cpu"}
    with pytest.raises(runs.RunsError, match="recipe nin_cpu has no run root-32-s0: train it"):
        runs.most_complete_runs(pd.DataFrame(rows("nin_cpu", 15, names[:2])), names)


def test_a_budget_label_gives_seeds_per_variant_and_every_device_and_precision():
    def row(variant, seed, device="CPU (2 logical cores)", precision="bf16"):
        budget = {"recipe": "nin_cpu", "epochs": 15, "train_images": 50_000, "data": "cifar10-jpeg"}
        return {**budget, "variant": variant, "seed": seed, "device": device, "precision": precision}

    frame = pd.DataFrame(
        [row("orig", 0), row("orig", 1), row("orig", 2), row("root-2", 0)] + [row("root-4", 0, "b", "fp32")]
    )
    assert runs.budget_label(frame) == (
        "recipe nin_cpu: 15 epochs x 50,000 images of cifar10-jpeg, CPU (2 logical cores) (bf16), b (fp32), "
        "seed 0 per variant (orig: 0,1,2)"
    )
    assert runs.budget_label(frame[frame["variant"] == "orig"]).endswith("seeds 0,1,2 per variant")


def test_a_run_is_marked_uncommitted_only_when_the_package_differs_from_its_commit(tmp_path, tmp_path_factory):
    def git(*args):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True, capture_output=True
        )

    (tmp_path / "roots").mkdir()
    (tmp_path / "roots" / "train.py").write_text("code\n")
    (tmp_path / "dvc.lock").write_text("lock\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "first")
    (tmp_path / "dvc.lock").write_text("rewritten by a running stage\n")
    clean = provenance.git_commit(tmp_path / "roots")
    assert len(clean) == 40 and "+" not in clean
    (tmp_path / "roots" / "train.py").write_text("edited\n")
    assert provenance.git_commit(tmp_path / "roots") == clean + "+uncommitted-changes"
    elsewhere = tmp_path_factory.mktemp("not-a-checkout")
    assert provenance.git_commit(elsewhere) == "unknown"
    os.environ[provenance.COMMIT_VARIABLE] = clean  # what a copy without history is told by who sent it
    try:
        assert provenance.git_commit(elsewhere) == clean
    finally:
        del os.environ[provenance.COMMIT_VARIABLE]


def test_a_second_trainer_on_the_same_folder_is_refused(tiny_cifar, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    with open(out / loop.LOCK, "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running trainer holds it
        assert main(["train", "--data", str(tiny_cifar), "--out", str(out), "--device", "cpu", "--epochs", "1"]) == 2
    assert "is being trained by another process" in capsys.readouterr().err
    assert not (out / "checkpoint.pt").exists() and not (out / "metrics.json").exists()


@pytest.mark.parametrize("text", ['{"model": "nin", "test_acc', "[1, 2]"])
def test_a_damaged_metrics_file_is_one_line(tmp_path, text):
    (tmp_path / "orig-s0").mkdir()
    (tmp_path / "orig-s0" / "metrics.json").write_text(text)
    with pytest.raises(runs.RunsError, match="orig-s0/metrics.json (is not readable JSON|holds no run's metrics)"):
        runs.table(tmp_path)


@pytest.mark.parametrize("text", ['{"name": "cifar10-jp', '{"name": "x"}'])
def test_a_damaged_source_file_is_one_line(tiny_cifar, tmp_path, text):
    damaged = tmp_path / "cifar10"
    shutil.copytree(tiny_cifar, damaged)
    (damaged / "source.json").write_text(text)
    with pytest.raises(DataError, match="source.json is damaged .*; prepare the data again"):
        loaders.open_data(damaged, torch.device("cpu"), 16)
