"""`roots sweep`: a tiny plan of 3 runs, 2 at once, stopped (Ctrl-C, a deadline) and continued,
ends exactly like an uninterrupted sweep; it starts nothing it cannot finish, and one sweep per root."""

import dataclasses
import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from tiny import TINY_RECIPE, dvc, git, make_checkout, write_tiny_cifar, write_tiny_params

from roots.cli import main
from roots.errors import RootsError
from roots.pipeline import sweep
from roots.train import recipe as recipes

ROOT = Path(__file__).resolve().parents[1]
RUNS = {
    key: {"variant": key.rsplit("-s", 1)[0], "seed": 0, "recipe": "tiny"}
    for key in ("orig-s0", "root-4-s0", "col-2-s0")
}
LONGER = {**TINY_RECIPE, "epochs": 8}  # long enough to be stopped in the middle
COMPARED = ("train_loss", "train_accuracy", "test_loss", "test_accuracy", "test_top5_accuracy", "lr", "images")


@pytest.fixture(scope="module")
def tiny_cifar(tmp_path_factory):
    return write_tiny_cifar(tmp_path_factory.mktemp("data") / "cifar10", size=16)


@pytest.fixture(scope="module")
def params(tmp_path_factory):
    return write_tiny_params(tmp_path_factory.mktemp("params") / "params.yaml", RUNS, LONGER)


def _command(root, params, data, *extra):
    return [
        sys.executable,
        "-m",
        "roots",
        "sweep",
        "--plan",
        "nin_runs",
        "--params",
        str(params),
        "--root",
        str(root),
        "--data",
        str(data),
        "--parallel",
        "2",
        "--device",
        "cpu",
        *extra,
    ]


def _sweep(root, params, data, *extra):
    done = subprocess.run(_command(root, params, data, *extra), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _results(root):
    metrics = {key: json.loads((root / "results/runs/nin" / key / "metrics.json").read_text()) for key in RUNS}
    weights = {key: torch.load(root / "results/runs/nin" / key / "model.pt") for key in RUNS}
    return metrics, weights


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, params, tiny_cifar):
    root = tmp_path_factory.mktemp("uninterrupted")
    _sweep(root, params, tiny_cifar)
    return _results(root)


def _assert_same(results, expected):
    (metrics, weights), (expected_metrics, expected_weights) = results, expected
    for key in RUNS:
        for field in COMPARED:
            assert [epoch[field] for epoch in metrics[key]["history"]] == [
                epoch[field] for epoch in expected_metrics[key]["history"]
            ], (key, field)
        assert all(torch.equal(weights[key][name], expected_weights[key][name]) for name in expected_weights[key])


@pytest.mark.slow
def test_an_interrupted_sweep_continues_and_ends_like_an_uninterrupted_one(tmp_path, params, tiny_cifar, uninterrupted):
    before = subprocess.run(_command(tmp_path, params, tiny_cifar, "--status"), capture_output=True, text=True)
    assert before.stdout.count("to do, ~") == 3 and "0 of 3 done, 3 to do" in before.stdout

    sweeping = subprocess.Popen(
        _command(tmp_path, params, tiny_cifar), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    checkpoints = [tmp_path / "results/runs/nin" / key / "checkpoint.pt" for key in RUNS]
    started = time.monotonic()
    while not any(path.is_file() for path in checkpoints):  # a run has finished its first epoch
        assert sweeping.poll() is None and time.monotonic() - started < 300
        time.sleep(0.05)
    sweeping.send_signal(signal.SIGINT)  # Ctrl-C
    out, _ = sweeping.communicate(timeout=120)
    assert "stopped after" in out and "interrupted: the same command continues" in out
    assert sweeping.returncode == 130  # a script that ran it learns it did not finish
    kept = [path for path in checkpoints if path.is_file()]
    assert kept and not (kept[0].parent / "metrics.json").exists()  # stopped mid-run, its checkpoint kept

    middle = subprocess.run(_command(tmp_path, params, tiny_cifar, "--status"), capture_output=True, text=True).stdout
    assert "interrupted after epoch" in middle and "3 of 3 done" not in middle
    again = _sweep(tmp_path, params, tiny_cifar)
    assert "resum" in (tmp_path / "logs" / f"{kept[0].parent.name}.log").read_text()
    assert "0 remaining" in again
    after = subprocess.run(_command(tmp_path, params, tiny_cifar, "--status"), capture_output=True, text=True).stdout
    assert "3 of 3 done, 0 to do" in after and " left at " not in after  # a finished item quotes no time left
    _assert_same(_results(tmp_path), uninterrupted)
    assert "3 done (0 in this call)" in _sweep(tmp_path, params, tiny_cifar)  # a third call has nothing to do


@pytest.mark.slow
def test_a_deadline_stops_the_sweep_and_a_second_call_finishes(tmp_path, params, tiny_cifar, uninterrupted):
    first = _sweep(tmp_path, params, tiny_cifar, "--deadline", "2s")  # about a run's start-up
    stopped = re.search(r"(\d+) remaining \((\d+) interrupted, (\d+) not started, 0 failed\)", first)
    assert stopped and int(stopped[1]) >= 1 and int(stopped[2]) >= 1, first  # a run that ends in time may finish
    assert first.count("stopped after") == int(stopped[2])
    _sweep(tmp_path, params, tiny_cifar)
    _assert_same(_results(tmp_path), uninterrupted)


@pytest.mark.slow
def test_a_run_that_would_not_finish_by_the_deadline_is_not_started(tmp_path, tiny_cifar):
    slow = {
        "about": "stated to train 1 image/s",
        "model": "nin",
        "recipe": "tiny",
        "images_per_second": 1,
        "runs": [{"seeds": [0], "variants": ["orig"]}],
    }
    params = write_tiny_params(tmp_path / "params.yaml", {}, campaign={"slow": slow})
    out = _sweep(tmp_path, params, tiny_cifar, "--deadline", "60s", "--plan", "slow")  # the last --plan wins
    assert "orig-s0: not started: needs ~" in out and "1 not started" in out
    assert not (tmp_path / "results").exists()


def test_one_sweep_per_root(tmp_path, params, tiny_cifar):
    with open(tmp_path / ".sweep.lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running sweep holds it
        held.write("4242\n")
        held.flush()
        done = subprocess.run(_command(tmp_path, params, tiny_cifar), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.startswith("roots: error: another sweep (process 4242) is working in")
    assert "kill -INT 4242" in done.stderr
    assert not (tmp_path / "results").exists()


def test_a_trainer_stops_when_its_sweep_is_killed(tmp_path):
    """SIGKILL cannot be caught: the kernel itself tells each trainer (PR_SET_PDEATHSIG)."""
    marker = tmp_path / "stopped"
    trainer = (
        "import signal, sys, time\n"
        f"signal.signal(signal.SIGINT, lambda *_: (open({str(marker)!r}, 'w').close(), sys.exit(130)))\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    sweep_like = (
        "import subprocess, sys, time\n"
        "from roots.pipeline import sweep\n"
        f"child = subprocess.Popen([sys.executable, '-c', {trainer!r}], process_group=0, "
        "preexec_fn=sweep._stop_with_the_sweep, stdout=subprocess.PIPE, text=True)\n"
        "child.stdout.readline()\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", sweep_like], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    parent.send_signal(signal.SIGKILL)
    parent.wait(timeout=10)
    started = time.monotonic()
    while not marker.exists() and time.monotonic() - started < 10:
        time.sleep(0.05)
    assert marker.exists(), f"the trainer (process {child}) went on after its sweep was killed"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--plan", "everything"],
            "unknown plan 'everything'; choose one of: campaign, cpu_campaign, nin_runs, nin_cpu_runs, proxy_runs",
        ),
        (["--deadline", "soon"], "--deadline takes a duration such as 90s, 8m or 1.5h; got 'soon'"),
        (["--parallel", "0"], "--parallel must be at least 1, got 0"),
        (["--parallel", "0", "--status"], "--parallel must be at least 1, got 0"),
        (["--parallel", "-1", "--status"], "--parallel must be at least 1, got -1"),
        (["--deadline", "nan"], "--deadline must be a positive, finite duration, got 'nan'"),
        (["--deadline", "inf", "--status"], "--deadline must be a positive, finite duration, got 'inf'"),
    ],
)
def test_bad_sweep_input_gives_one_line(tmp_path, params, tiny_cifar, argv, message, capsys):
    assert main(_command(tmp_path, params, tiny_cifar)[3:] + argv) == 2  # in this process: no imports to wait for
    stderr = capsys.readouterr().err
    assert message in stderr and len(stderr.strip().splitlines()) == 1


def test_a_plan_naming_an_unknown_recipe_or_a_misnamed_run_is_refused(tmp_path):
    params = write_tiny_params(tmp_path / "params.yaml", {"orig-s0": {"variant": "orig", "seed": 0, "recipe": "big"}})
    with pytest.raises(
        sweep.SweepError, match="nin_runs.orig-s0: unknown recipe 'big'; params.yaml's recipes are: tiny"
    ):
        sweep.load_plan(params, "nin_runs")
    write_tiny_params(params, {"orig-s1": {"variant": "orig", "seed": 0, "recipe": "tiny"}})
    with pytest.raises(sweep.SweepError, match="a run of nin orig seed 0 is named orig-s0"):
        sweep.load_plan(params, "nin_runs")


def test_the_repository_campaign_is_a_valid_queue_in_priority_order():
    content = yaml.safe_load((ROOT / "params.yaml").read_text())
    jobs = sweep.load_plan(ROOT / "params.yaml")
    assert [item for item in dict.fromkeys(job.item for job in jobs)] == list(content["campaign"])
    first = [job for job in jobs if job.item == "nin_seed0"]
    assert len(first) == 18 and {job.variant for job in first} == {
        "orig",
        "root-2",
        "root-4",
        "root-8",
        "root-16",
        "root-32",
        "tree-2",
        "tree-4",
        "tree-8",
        "tree-16",
        "col-2",
        "col-4",
        "col-8",
        "col-16",
    }
    assert sorted(job.seed for job in first if job.variant == "orig") == [0, 1, 2, 3, 4]
    assert all(job.recipe == recipes.Recipe(**content["recipes"]["nin_paper"]) for job in first)
    timings = [job for job in jobs if isinstance(job, sweep.PlannedTiming)]
    assert [job.model for job in timings] == ["nin", "resnet50", "googlenet"]
    assert os.path.commonpath([str(job.folder(Path("."))) for job in timings]) == "results/timing/cuda"


def test_a_timing_job_knows_which_implementations_came_out_whole(tmp_path):
    entry = {
        "device": "cpu",
        "dtype": "fp32",
        "nin": 2,
        "implementations": "native,triton",
        "layouts": "nchw,channels_last",
    }
    job = sweep.PlannedTiming("gpu_timing", "cuda", "nin", tuple(sorted(entry.items())), rounds=3, minutes=1)
    for setting in job.settings():
        if setting.implementation == "native" or setting.layout == "nchw":  # triton stopped after nchw
            result, layers = job.setting_outputs(tmp_path, setting)
            result.parent.mkdir(parents=True, exist_ok=True)
            result.write_text(json.dumps({"setting": dataclasses.asdict(setting)}))
            layers.write_text("variant,layer\n")
    assert job.measured(tmp_path) == ["native"] and not job.done(tmp_path)
    other = dataclasses.replace(job.settings()[0], rounds=5)  # measured with other settings: not this job's
    job.setting_outputs(tmp_path, other)[0].write_text(json.dumps({"setting": dataclasses.asdict(other)}))
    assert job.measured(tmp_path) == []


def test_a_listed_run_is_trained_by_the_command_the_sweep_runs(params, tiny_cifar):
    """dvc.yaml's training stages run `roots job`; it must train exactly what `roots sweep` would."""
    job, *_ = sweep.load_plan(params, "nin_runs")
    swept = job.command(Path("."), params, tiny_cifar, "auto")
    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "roots",
            "job",
            "nin_runs",
            job.key,
            "--params",
            str(params),
            "--data",
            str(tiny_cifar),
            "--print",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert shown.split()[1:] == swept[1:]
    missing = subprocess.run(
        [sys.executable, "-m", "roots", "job", "nin_runs", "root-9-s0", "--params", str(params)],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2 and missing.stderr.strip().splitlines() == [
        f"roots: error: {params} has no nin_runs.root-9-s0; it lists: {', '.join(RUNS)}"
    ]


@pytest.mark.slow
def test_a_campaign_in_a_worktree_hands_over_its_checkpoint_and_then_its_finished_run(tmp_path):
    """The CPU campaign across sessions: a sweep in a worktree, stopped mid-run, commits the run's
    checkpoint into the main checkout; a worktree made from that commit resumes it, and the
    finished run enters the checkout's nin_cpu_runs and dvc.lock in one commit, checkpoint gone."""
    item = {
        "model": "nin",
        "recipe": "tiny",
        "runs_list": "nin_cpu_runs",
        "runs": [{"seeds": [0], "variants": ["root-4"]}],
    }
    repo = make_checkout(tmp_path / "repo", recipes={"tiny": LONGER}, campaign={}, cpu_campaign={"tiny_item": item})
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
        "OMP_NUM_THREADS": "1",
    }
    folder = Path("results/runs/nin_cpu/root-4-s0")

    def sweep_in(worktree: Path) -> list[str]:
        git(repo, "worktree", "add", "-q", "--detach", str(worktree))
        return [
            sys.executable,
            "-m",
            "roots",
            "sweep",
            "--plan",
            "cpu_campaign",
            "--data",
            str(repo / "data/cifar10"),
            "--into",
            str(repo),
            "--carry-over",
            "--device",
            "cpu",
        ]

    first = subprocess.Popen(
        sweep_in(tmp_path / "one"),
        cwd=tmp_path / "one",
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    started = time.monotonic()
    while not (tmp_path / "one" / folder / "checkpoint.pt").is_file():
        assert first.poll() is None and time.monotonic() - started < 300
        time.sleep(0.05)
    first.send_signal(signal.SIGINT)
    out, _ = first.communicate(timeout=120)
    assert "checkpoint after epoch" in out and "kept in" in out and "committed" in out, out
    assert git(repo, "ls-files", str(folder)).split() == [str(folder / "checkpoint.pt")]
    assert git(repo, "status", "--porcelain") == ""  # exactly the checkpoint was committed

    second = subprocess.run(
        sweep_in(tmp_path / "two"), cwd=tmp_path / "two", env=env, capture_output=True, text=True, timeout=300
    )
    assert second.returncode == 0, second.stdout + second.stderr
    assert "resuming" in (tmp_path / "two" / "logs" / "root-4-s0.log").read_text()
    assert "delivered to" in second.stdout and "committed" in second.stdout, second.stdout
    assert sorted(git(repo, "ls-files", str(folder)).split()) == [
        str(folder / "metrics.json"),
        str(folder / "model.pt"),
    ]
    assert git(repo, "status", "--porcelain") == ""
    listed = yaml.safe_load((repo / "params.yaml").read_text())["nin_cpu_runs"]
    assert listed == {"root-4-s0": {"variant": "root-4", "seed": 0, "recipe": "tiny"}}
    assert "nin_cpu_train@root-4-s0" in yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    assert "nin_cpu_train@root-4-s0" not in dvc(repo, "status", "nin_cpu_train@root-4-s0").stdout  # up to date


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"variant": "orig", "seed": "0", "recipe": "tiny"}, "nin_runs.orig-s0: seed must be an integer, got '0'"),
        ({"variant": "orig", "recipe": "tiny"}, "nin_runs.orig-s0 lacks seed"),
        ("orig", "nin_runs.orig-s0 must be a mapping"),
    ],
)
def test_a_bad_run_entry_is_one_clear_line(tmp_path, entry, message):
    params = write_tiny_params(tmp_path / "params.yaml", {"orig-s0": entry})
    with pytest.raises(RootsError, match=re.escape(message)):
        sweep.load_plan(params, "nin_runs")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("campaign: [\n", "is not valid YAML (line 3, column 1)"),  # after the recipes line
        ("- a list\n", "must be a mapping of sections"),
        ("campaign:\n  a: {model: nin}\n", "campaign.a lacks recipe (an item needs model, recipe, runs)"),
        ("campaign:\n  a: {model: nin, recipe: r, runs: 3}\n", "campaign.a.runs has the wrong type: 3"),
        ("campaign:\n  a: {model: nin, recipe: r, runs: [{seeds: [0]}]}\n", "campaign.a.runs[0] lacks variants"),
        ("campaign:\n  a: {model: nin, recipe: r, runs: [{seeds: ['1'], variants: [orig]}]}\n", "got '1'"),
        ("campaign:\n  t: {timing: cpu, models: [nin]}\n", "campaign.t lacks entry"),
    ],
)
def test_a_malformed_plan_is_one_line_naming_the_key(tmp_path, text, message):
    params = tmp_path / "params.yaml"
    params.write_text("recipes: {r: {epochs: 1}}\n" + text if text.startswith("campaign") else text)
    with pytest.raises(sweep.SweepError, match=re.escape(message)):
        sweep.load_plan(params, "campaign")


@pytest.mark.parametrize("damage", [b"", b"not a checkpoint", b"PK\x03\x04truncated"])
def test_an_unreadable_checkpoint_is_a_run_to_do_not_a_traceback(tmp_path, params, damage):
    job = next(job for job in sweep.load_plan(params, "nin_runs") if job.name == "orig-s0")
    folder = job.folder(tmp_path)
    folder.mkdir(parents=True)
    (folder / "checkpoint.pt").write_bytes(damage)
    current = sweep.state(job, tmp_path)
    assert not current.done and current.epoch == 0 and "checkpoint is unreadable" in current.describe()


@pytest.mark.parametrize("native", [True, False])
def test_a_bf16_run_waits_for_a_machine_that_computes_bf16(tmp_path, params, tiny_cifar, monkeypatch, native):
    """Sessions draw their machines: a run begun in bf16 on a Zen 4 is not resumed on a CPU that
    emulates bf16 (about 10x slower), and nothing is started for it there; elsewhere it resumes."""
    job = next(job for job in sweep.load_plan(params, "nin_runs") if job.name == "orig-s0")
    folder = job.folder(tmp_path)
    folder.mkdir(parents=True)
    identity = {"run": {"variant": "orig", "seed": 0}, "recipe": dataclasses.asdict(job.recipe), "precision": "bf16"}
    torch.save({"identity": identity, "epoch": 2, "history": [{}, {}]}, folder / "checkpoint.pt")
    monkeypatch.setattr(sweep, "cpu_has_native_bf16", lambda: native)
    lines, remaining = sweep.status([job], tmp_path, device="cpu")
    assert remaining == 1 and "interrupted after epoch 2/8 in bf16" in lines[0]
    assert (sweep.WAITS_FOR_BF16 in lines[0]) == (not native) and ("(resumes)" in lines[0]) == native
    if not native:
        summary = sweep.sweep([job], tmp_path, params, tiny_cifar, device="cpu", say=lambda line: None)
        assert summary.not_started == ["orig-s0"] and not (tmp_path / "logs" / "orig-s0.log").exists()


@pytest.mark.parametrize(("epoch", "native", "restarts"), [(2, True, True), (5, True, False), (2, False, False)])
def test_an_fp32_run_starts_again_in_bf16_where_that_is_sooner(
    tmp_path, params, tiny_cifar, monkeypatch, epoch, native, restarts
):
    """A run begun in fp32 on an AVX2 machine, found on one with native bf16 (about 1.9x faster):
    with 6 of its 8 epochs left it starts again in bf16 (11.4 fp32-epoch costs against 8), with 3
    left it resumes; on another fp32 machine it resumes. The trainer finds no checkpoint to resume."""
    job = next(job for job in sweep.load_plan(params, "nin_runs") if job.name == "orig-s0")
    folder = job.folder(tmp_path)
    folder.mkdir(parents=True)
    identity = {"run": {"variant": "orig", "seed": 0}, "recipe": dataclasses.asdict(job.recipe), "precision": "fp32"}
    torch.save({"identity": identity, "epoch": epoch, "history": [{}] * epoch}, folder / "checkpoint.pt")
    monkeypatch.setattr(sweep, "cpu_has_native_bf16", lambda: native)
    monkeypatch.setattr(sweep, "auto_precision", lambda device: "bf16" if native else "fp32")
    lines, _ = sweep.status([job], tmp_path, device="cpu")
    assert ("restarts in bf16" in lines[0]) == restarts and ("(resumes)" in lines[0]) == (not restarts)
    probe = f"import os; print('checkpoint there:', os.path.exists({str(folder / 'checkpoint.pt')!r}))"
    monkeypatch.setattr(sweep.PlannedRun, "command", lambda *_: [sys.executable, "-c", probe])
    said = []
    sweep.sweep([job], tmp_path, params, tiny_cifar, device="cpu", say=said.append)
    assert f"checkpoint there: {not restarts}" in (tmp_path / "logs" / "orig-s0.log").read_text()
    assert any(line.startswith("orig-s0: restarts in bf16") for line in said) == restarts
    begins = "orig-s0: starts, ~" if restarts else f"orig-s0: resumes after epoch {epoch}/8, ~"
    assert [line for line in said if line.startswith(begins) and line.endswith("orig-s0.log]")], said


def test_a_new_machine_estimates_from_the_epochs_of_interrupted_runs(tmp_path, params, monkeypatch):
    """Before any run of a precision has finished, the epochs its interrupted runs did are the
    measurement: a session on a machine where auto means fp32 must not quote the bf16 machine's rate."""
    jobs = {job.name: job for job in sweep.load_plan(params, "nin_runs")}
    folder = jobs["orig-s0"].folder(tmp_path)
    folder.mkdir(parents=True)
    identity = {"run": {"variant": "orig", "seed": 0}, "recipe": dataclasses.asdict(jobs["orig-s0"].recipe)}
    history = [{"train_seconds": 100.0}, {"train_seconds": 120.0}, {"train_seconds": 110.0}]
    checkpoint = {"identity": {**identity, "precision": "fp32"}, "epoch": 3, "history": history}
    torch.save(checkpoint, folder / "checkpoint.pt")
    monkeypatch.setattr(sweep, "auto_precision", lambda device: "fp32")
    lines, _ = sweep.status(list(jobs.values()), tmp_path, device="cpu")
    by_run = {line.split()[1]: line for line in lines[:3]}
    assert by_run["orig-s0"].endswith("interrupted after epoch 3/8 in fp32 (resumes), ~9m10s")  # 5 epochs x 110 s
    assert by_run["root-4-s0"].endswith("to do, ~14m40s")  # 8 epochs x 110 s
    monkeypatch.setattr(sweep, "auto_precision", lambda device: "bf16")  # a machine where new runs train in bf16
    lines, _ = sweep.status(list(jobs.values()), tmp_path, device="cpu")
    assert not [line for line in lines[:3] if "root-4-s0" in line and "~14m40s" in line]


def test_a_variant_is_estimated_from_its_own_runs_before_its_models(tmp_path, params, monkeypatch):
    """Variants train at different speeds (NiN root-8 about 1.6x Orig): a finished Orig run and an
    interrupted root-4 run each estimate their own variant; col-2, with neither, takes the model's."""
    jobs = {job.name: job for job in sweep.load_plan(params, "nin_runs")}
    for name, history in (("orig-s0", [{"train_seconds": 100.0}] * 3), ("root-4-s0", [{"train_seconds": 40.0}] * 3)):
        folder = jobs[name].folder(tmp_path)
        folder.mkdir(parents=True)
        run = {"variant": jobs[name].variant, "seed": 0}
        identity = {"run": run, "recipe": dataclasses.asdict(jobs[name].recipe), "precision": "fp32"}
        torch.save({"identity": identity, "epoch": 3, "history": history}, folder / "checkpoint.pt")
    monkeypatch.setattr(sweep, "auto_precision", lambda device: "fp32")
    lines, _ = sweep.status(list(jobs.values()), tmp_path, device="cpu")
    by_run = {line.split()[1]: line for line in lines[:3]}
    assert by_run["orig-s0"].endswith("~8m20s")  # 5 epochs x 100 s
    assert by_run["root-4-s0"].endswith("~3m20s")  # 5 epochs x 40 s, not the model's median
    assert by_run["col-2-s0"].endswith("~9m20s")  # 8 epochs x 70 s, the median of both variants' epochs


def test_the_sweep_reads_the_checkpoints_again_only_when_a_run_has_ended(tmp_path, params, tiny_cifar, monkeypatch):
    """The estimates come from every run's checkpoint (6-12 MB each for NiN): read at each poll
    (5 a second), that cost the trainers about a tenth of a core; only an ended run changes them."""
    jobs = [job for job in sweep.load_plan(params, "nin_runs")][:2]
    monkeypatch.setattr(sweep.PlannedRun, "command", lambda *_: [sys.executable, "-c", "import time; time.sleep(1)"])
    learnt = []
    learn = sweep._Estimator.learn
    monkeypatch.setattr(sweep._Estimator, "learn", lambda self, jobs: learnt.append(1) or learn(self, jobs))
    summary = sweep.sweep(jobs, tmp_path, params, tiny_cifar, device="cpu", say=lambda line: None)
    assert summary.failed == [job.name for job in jobs]  # a sleep writes no run: each "fails", after ~1 s
    assert len(learnt) == 2  # at the start, and when the first run ended (the second starts then)
