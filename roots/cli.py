"""``roots`` / ``python -m roots``: list the paper's variants, count them, prepare data, train, time."""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import signal
import sys
import time
from pathlib import Path

from roots import device as devices
from roots import provenance
from roots.bench import timing
from roots.commands import DESCRIPTION, HELP
from roots.errors import RootsError
from roots.nn import counting, external, implementations, models
from roots.paper import schedules
from roots.pipeline import dataset, notebooks, plots_page, stage, sweep, transfer
from roots.results import summary as measured_table
from roots.train import data, job, loop
from roots.train import recipe as recipes

PACK_RESERVE_SECONDS = 45  # what `roots campaign` keeps of its minutes for packing the results
# `roots train --help` for the recipe's options (roots.train.recipe.Recipe says why each is there)
RECIPE_HELP = {
    "epochs": "passes over the training images",
    "batch_size": "images per step, over all processes together",
    "lr": "peak learning rate of the one-cycle schedule",
    "warmup": "fraction of the steps over which the rate rises linearly from 0",
    "anneal": "shape of the decay after the warm-up: cos or linear",
    "momentum": "SGD momentum",
    "nesterov": "Nesterov momentum",
    "weight_decay": "L2 penalty on the weights",
    "label_smoothing": "target weight spread over the other classes",
    "ema": "per-step decay of the average of the weights that is evaluated and saved; 0: off",
    "precision": "auto (bf16 on a GPU and on a CPU with native bf16, else fp32), bf16 or fp32",
    "channels_last": "NHWC memory layout",
    "deterministic": "cuDNN's deterministic kernels (off: cudnn.benchmark picks faster ones)",
    "train_subset": "0: every training image; n: n of them, evenly spaced",
    "test_subset": "0: every test image; n: n of them, evenly spaced",
    "workers": "DataLoader processes for an ImageFolder (CIFAR-10 lives on the device)",
}


class _Parser(argparse.ArgumentParser):
    """A bad option ends in one line, like every other error here, with exit status 2."""

    def error(self, message: str):
        self.exit(2, f"roots: error: {message} (see `{self.prog} --help`)\n")


def _add_fields(command: argparse.ArgumentParser, cls, helps: dict[str, str]) -> None:
    """Every field of dataclass ``cls`` as an option typed by its annotation, defaulting to the field's
    default: both spellings (--batch-size by hand, --batch_size from dvc.yaml's ${dict} unpacking)."""
    for field in dataclasses.fields(cls):
        names = sorted({f"--{field.name.replace('_', '-')}", f"--{field.name}"})
        helped = helps.get(field.name, "")
        if field.type == "bool":
            command.add_argument(*names, action=argparse.BooleanOptionalAction, default=field.default, help=helped)
        else:
            kind = {"int": int, "float": float}.get(field.type, str)
            default = f"default {field.default}" if field.default is not None else ""
            command.add_argument(
                *names, type=kind, default=field.default, help="; ".join(filter(None, (helped, default)))
            )


def _from_args(cls, args: argparse.Namespace, **values):
    """An instance of dataclass ``cls`` from the options ``_add_fields`` made (``values`` win)."""
    return cls(**{field.name: getattr(args, field.name) for field in dataclasses.fields(cls)} | values)


def _list(args: argparse.Namespace) -> None:
    for family in models.ALL_FAMILIES.values():
        print(f"{family.name:16s} {family.title}")
        print(f"{'':16s} variants: {', '.join(family.variants())}")
        print(f"{'':16s} slots for --groups: {', '.join(family.slots())}")


def _profile(args: argparse.Namespace) -> None:
    if external.is_external(args.model):
        _profile_external(args)
        return
    result = counting.profile(models.variant(args.model, args.variant, args.groups))
    if args.json:
        print(json.dumps(result))
        return
    size = "x".join(map(str, result["input_size"]))
    print(f"{result['model']} {result['variant']} ({schedules.label(result['groups'])}), input {size}")
    print(f"  FLOPs (multiply-adds): {result['flops']:,}")
    print(f"  params ({result['params_convention']}): {result['params']:,}")
    print(f"  trainable params of this PyTorch model: {result['trainable_params']:,}")


def _profile_external(args: argparse.Namespace) -> None:
    result = external.profile(args.model, args.schedule or "root-8")
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['model']} {result['schedule']}, input {'x'.join(map(str, result['input_size']))}")
    for what, label in (("flops", "FLOPs (multiply-adds)"), ("params", "params (all of the PyTorch model's)")):
        ratio = result[what] / result[f"dense_{what}"]
        print(f"  {label}: {result[what]:,} ({ratio:.1%} of the {result['dense_' + what]:,} without root modules)")
    print(f"  grouped: {', '.join(f'{name}={groups}' for name, groups in result['groups'].items()) or 'nothing'}")


def _prepare_data(args: argparse.Namespace) -> None:
    out = data.prepare(args.archive, args.out)
    sizes, source = data.describe(out)
    print(f"{out}: {sizes['train']} train and {sizes['test']} test images from {source.name} ({source.description})")


def _train(args: argparse.Namespace) -> None:
    run, recipe = _from_args(loop.Run, args), _from_args(recipes.Recipe, args)
    metrics = loop.train(run, recipe, recipes.recipe_name(args.recipe, recipe), force=args.force)
    print(
        f"{run.out}: test accuracy {metrics['test_accuracy']:.2%} (top-5 {metrics['test_top5_accuracy']:.2%}) "
        f"after {metrics['epochs']} epochs, "
        f"{metrics['images_per_second']:,.0f} img/s on {metrics['device']['name']}"
    )


def _add_train(commands, recipe_defaults: dict) -> None:
    command = commands.add_parser(
        "train",
        help=HELP["train"],
        description="Train one variant; run again with the same options to resume after an interruption. "
        "Several GPUs: torchrun --nproc-per-node N -m roots train ...",
    )
    _add_fields(
        command,
        loop.Run,
        {
            "model": f"one of: {', '.join(models.ALL_FAMILIES)}",
            "variant": "a named variant (see `roots list`)",
            "groups": "your own schedule instead, e.g. conv2a=4,conv3a=2",
            "data": "prepared CIFAR-10 folder, or ImageFolder root",
            "out": "folder for checkpoint, metrics.json, model.pt; default runs/MODEL/VARIANT-sSEED (git-ignored)",
            "device": f"one of: {', '.join(devices.DEVICE_NAMES)}",
        },
    )
    command.add_argument(
        "--recipe",
        metavar="FILE:SECTION",
        help="defaults for the options below from a YAML section, e.g. params.yaml:recipes.imagenet; "
        "options given on the command line still win. Default: params.yaml's recipe for the model and "
        "device (nin: nin_cpu on a CPU, nin_paper on a GPU; the CIFAR proxies: proxy; ILSVRC: imagenet), "
        "or, without a params.yaml here, the built-in defaults below",
    )
    command.add_argument(
        "--force", action="store_true", help="train again a finished run in --out, replacing its metrics and weights"
    )
    _add_fields(command, recipes.Recipe, RECIPE_HELP)
    command.set_defaults(run=_train, **recipe_defaults)


def _job(args: argparse.Namespace) -> None:
    arguments = ["train", *job.listed_arguments(args.params, args.runs_list, args.key, args.data, args.device)]
    if args.print:
        print(shlex.join(["python", "-m", "roots", *arguments]))
        return
    _train(parse_args(arguments))


def _add_job(commands) -> None:
    command = commands.add_parser(
        "job",
        help=HELP["job"],
        description=f"Train entry KEY of RUNS_LIST ({', '.join(job.RUN_LISTS)}) with its recipe, into "
        "results/runs/: the very command `roots sweep` runs for it.",
    )
    command.add_argument("runs_list", metavar="RUNS_LIST", help=", ".join(job.RUN_LISTS))
    command.add_argument("key", metavar="KEY", help="the run's name in that list, e.g. root-8-s0")
    command.add_argument("--params", type=Path, default=Path("params.yaml"), help="where the list and recipes are")
    command.add_argument("--data", type=Path, default=Path("data/cifar10"), help="prepared CIFAR-10 folder")
    command.add_argument("--device", default="auto", help=f"one of: {', '.join(devices.DEVICE_NAMES)}")
    command.add_argument("--print", action="store_true", help="print the roots train command instead of running it")
    command.set_defaults(run=_job)


def _time(args: argparse.Namespace) -> None:
    if args.variants != "all":
        variants = args.variants.split(",")
    elif external.is_external(args.model):
        variants = list(external.DEFAULT_SCHEDULES)
    else:
        variants = models.family(args.model).variants()
    settings = [
        _from_args(timing.Setting, args, implementation=implementation, layout=layout).check()
        for implementation in args.implementation.split(",")
        for layout in args.layout.split(",")
    ]
    failed = []
    for setting, result in zip(settings, timing.measure_settings(args.model, variants, settings)):
        try:
            if isinstance(result, Exception):
                raise result
            if args.out_dir:
                timing.save(result, args.out_dir)
            if args.json:
                print(json.dumps(result))
            else:
                _print_timing(args.model, setting, result)
            if args.layers:
                _time_layers(args, variants, setting)
        except RootsError:
            raise
        except Exception as error:  # e.g. a kernel this GPU cannot compile: the other settings still count
            said = str(error).strip().splitlines()
            failed.append(f"{setting.implementation} {setting.layout}")
            print(
                f"roots: {args.model} {failed[-1]} {setting.dtype} failed: {type(error).__name__}: "
                f"{said[0] if said else 'no message'}",
                file=sys.stderr,
            )
    if failed:
        measured = "nothing was measured" if len(failed) == len(settings) else "the others were measured"
        raise timing.TimingError(
            f"{len(failed)} of {len(settings)} settings of {args.model} failed ({', '.join(failed)}); {measured}"
        )


def _print_timing(model: str, setting: timing.Setting, result: dict) -> None:
    where = result["environment"]
    print(
        f"{model}: per-image forward, batch {setting.batch}, {setting.implementation} {setting.layout} "
        f"{setting.dtype}{' compiled' if setting.compile else ''}, on {where['name']} ({where['threads']} "
        f"threads), median of {setting.rounds} interleaved rounds [quartiles]"
    )
    unit, scale = ("µs", 1e3) if result["variants"][0]["ms_per_image"] < 0.1 else ("ms", 1)  # a GPU's microseconds
    for row in result["variants"]:
        print(
            f"  {row['variant']:10s} {row['ms_per_image'] * scale:9.3f} {unit} [{row['ms_q1'] * scale:.3f}-"
            f"{row['ms_q3'] * scale:.3f}]  speed-up {row['speedup']:5.2f}x [{row['speedup_q1']:.2f}-"
            f"{row['speedup_q3']:.2f}]  FLOPs ratio {row['flops_ratio']:5.2f}x "
            f"({row['speedup_of_flops_ratio']:.0%} of it)"
        )


def _time_layers(args: argparse.Namespace, variants: list[str], setting: timing.Setting) -> None:
    """Per-layer breakdown of one setting: where the time goes."""
    table = timing.layer_times(args.model, variants, setting)
    if args.out_dir:
        table.to_csv(timing.layers_path(args.out_dir, args.model, setting), index=False)
    if not args.json:
        print(table.pivot(index="layer", columns="variant", values="ms_per_image").round(4).to_string())


def _add_time(commands) -> None:
    command = commands.add_parser(
        "time",
        help=HELP["time"],
    )
    command.add_argument(
        "--model", required=True, help=f"one of: {', '.join(models.ALL_FAMILIES)}; or torchvision:NAME"
    )
    command.add_argument(
        "--variants",
        default="all",
        help="comma-separated named variants, or all (Orig is always added); for torchvision:NAME, rootify "
        f"schedules such as root-8, tree-4, col-2 (all: {', '.join(external.DEFAULT_SCHEDULES)})",
    )
    _add_fields(
        command,
        timing.Setting,
        {
            "device": f"one of: {', '.join(devices.DEVICE_NAMES)}",
            "batch": "images per forward pass",
            "implementation": "grouped convolution, or several comma-separated: "
            + ", ".join(implementations.IMPLEMENTATIONS),
            "layout": f"memory layout, or several comma-separated: {', '.join(timing.LAYOUTS)}",
            "dtype": f"one of: {', '.join(timing.DTYPES)}",
            "fold_bn": "merge BatchNorm into the convolutions first, as inference would",
            "compile": "torch.compile every network first",
            "warmup": "untimed passes per network",
            "rounds": "timed passes per network",
        },
    )
    command.add_argument(
        "--layers",
        action="store_true",
        help="also time each convolution of each setting, with its FLOP rate and roofline",
    )
    command.add_argument("--out-dir", type=Path, help="write one JSON file per implementation and layout here")
    command.add_argument("--json", action="store_true", help="print one JSON object per implementation and layout")
    command.set_defaults(run=_time)


def _sweep(args: argparse.Namespace) -> None:
    jobs = sweep.load_plan(args.params, args.plan)
    sweep.check_parallel(args.parallel)
    deadline = sweep.parse_duration(args.deadline) if args.deadline else None
    if args.status:
        lines, _ = sweep.status(jobs, args.root, args.parallel, args.data, args.device)
        print(f"plan {args.plan} ({args.params}) in {args.root}:")
        print("\n".join(lines))
        return
    hooks = {}
    if args.into is not None:
        if not (args.into / "dvc.yaml").is_file():
            raise sweep.SweepError(f"--into {args.into}: not a checkout of this repository (it has no dvc.yaml)")
        hooks = {
            "finished": lambda job: transfer.deliver_run(job.folder(args.root), args.root, args.into),
            "stopped": lambda job: transfer.keep_checkpoint(job.folder(args.root), args.root, args.into),
        }
    summary = sweep.sweep(
        jobs,
        args.root,
        args.params,
        args.data,
        args.parallel,
        deadline,
        args.device,
        carry_over=args.carry_over,
        **hooks,
    )
    print(summary.line(args.plan))
    if summary.stopped_by_signal:
        raise KeyboardInterrupt  # an exit status that says so (130), for a script that ran it
    if summary.failed:
        raise sweep.SweepError(
            f"{len(summary.failed)} job(s) failed: {', '.join(summary.failed)} (their logs are in "
            f"{Path(args.root) / 'logs'})"
        )


def _add_sweep(commands) -> None:
    command = commands.add_parser(
        "sweep",
        help=HELP["sweep"],
        description="Work down a plan from params.yaml: skips finished runs, resumes interrupted ones, stops "
        "cleanly at --deadline; a second call continues where the first stopped.",
    )
    command.add_argument(
        "--plan",
        default=sweep.CAMPAIGN,
        help="a run list (nin_runs, nin_cpu_runs, proxy_runs), an item of params.yaml's campaign or cpu_campaign, "
        "or a whole queue (campaign, cpu_campaign)",
    )
    command.add_argument("--params", type=Path, default=Path("params.yaml"), help="where the plans and recipes are")
    command.add_argument(
        "--root", type=Path, default=Path("."), help="results go to ROOT/results/runs, logs to ROOT/logs"
    )
    command.add_argument("--data", type=Path, default=Path("data/cifar10"), help="prepared CIFAR-10 folder")
    command.add_argument("--parallel", type=int, default=1, help="training runs at once on the device")
    command.add_argument(
        "--deadline",
        help="stop by then, e.g. 8m: start nothing that would not finish, "
        "interrupt what is still going (it keeps its checkpoint)",
    )
    command.add_argument(
        "--carry-over",
        action="store_true",
        help="start runs that will not finish by --deadline too: they stop at it and resume next call (runs that "
        "span sessions)",
    )
    command.add_argument(
        "--into",
        type=Path,
        metavar="REPO",
        help="hand each finished run to the checkout REPO (checked, listed in its params.yaml, recorded in its "
        "dvc.lock, committed) and commit each stopped run's checkpoint there (the CPU campaign from a worktree)",
    )
    command.add_argument("--device", default="auto", help=f"one of: {', '.join(devices.DEVICE_NAMES)}")
    command.add_argument("--status", action="store_true", help="show what is done and what remains, and run nothing")
    command.set_defaults(run=_sweep)


def _pack(args: argparse.Namespace) -> None:
    report = transfer.pack(args.root, args.out, int(args.max_mib * transfer.MIB), args.max_files, args.all)
    print(f"packed {len(report.packed)} files into {len(report.archives)} archive(s) in {args.out}")
    if report.left:
        print(f"left in {args.root} (no room in {args.max_files} archives): {', '.join(report.left)}")


def _import(args: argparse.Namespace) -> None:
    refused = transfer.import_results(args.sources, args.repo, commit=not args.no_commit)
    for line in refused:
        print(f"roots: {line}", file=sys.stderr)
    if refused:
        raise transfer.TransferError(f"{len(refused)} result(s) refused, the rest imported")


def _campaign(args: argparse.Namespace) -> None:
    started = time.monotonic()
    devices.resolve(args.device)  # no GPU: say so before preparing anything
    commit = provenance.git_commit()
    if commit == "unknown" or commit.endswith("+uncommitted-changes"):
        raise sweep.SweepError(
            f"the code's commit is {commit}: `roots import` takes only results of committed code, so "
            f"commit first, and where this copy has no git history set {provenance.COMMIT_VARIABLE}="
            "<the commit it is>"
        )
    prepared = args.root / "data" / "cifar10"
    if not (prepared / "source.json").is_file():
        data.prepare(args.archive, prepared)
    jobs = sweep.load_plan(args.params, args.plan)
    left = args.minutes * 60 - PACK_RESERVE_SECONDS - (time.monotonic() - started)
    if left <= 0:
        raise sweep.SweepError(f"--minutes {args.minutes} leaves no time after preparing the data and packing")
    summary = sweep.sweep(jobs, args.root, args.params, prepared, args.parallel, left, args.device)
    print(summary.line(args.plan))
    print("\n".join(sweep.status(jobs, args.root, args.parallel, prepared)[0]))
    _pack(argparse.Namespace(root=args.root, out=args.out, max_mib=args.max_mib, max_files=args.max_files, all=False))


def _add_transfer(commands) -> None:
    pack = commands.add_parser(
        "pack",
        help=HELP["pack"],
    )
    pack.add_argument("--root", type=Path, default=Path("."), help="the root a sweep wrote into")
    pack.add_argument("--out", type=Path, required=True, help="folder for the archives")
    pack.add_argument("--max-mib", type=float, default=16, help="largest archive, MiB")
    pack.add_argument("--max-files", type=int, default=8, help="most archives")
    pack.add_argument("--all", action="store_true", help="also what earlier packs sent")
    pack.set_defaults(run=_pack)
    bring = commands.add_parser(
        "import",
        help=HELP["import"],
        description="Unpack archives from `roots pack` (or folders holding results/), check each run's model, "
        "variant, seed, recipe, data and code commit against this checkout, add them to params.yaml and "
        "`dvc commit` their stages; `dvc repro` then regenerates the notebooks from them.",
    )
    bring.add_argument("sources", nargs="+", type=Path, help="archives or folders")
    bring.add_argument("--repo", type=Path, default=Path("."), help="the checkout to import into")
    bring.add_argument("--no-commit", action="store_true", help="do not run `dvc commit`")
    bring.set_defaults(run=_import)
    campaign = commands.add_parser(
        "campaign",
        help=HELP["campaign"],
        description="The short-window GPU path (README, Running on a GPU): prepare CIFAR-10 from --archive, "
        "sweep --plan within --minutes, and pack what is new into --out.",
    )
    campaign.add_argument("--out", type=Path, required=True, help="folder for the archives (the machine sends it back)")
    campaign.add_argument("--minutes", type=float, default=9, help="all of it, packing included, ends by then")
    campaign.add_argument("--archive", type=Path, default=Path("carry/cifar10-jpeg.tar.gz"), help="CIFAR-10 archive")
    campaign.add_argument("--root", type=Path, default=Path("scratch/gpu"), help="work folder (git-ignored)")
    campaign.add_argument("--params", type=Path, default=Path("params.yaml"))
    campaign.add_argument("--plan", default=sweep.CAMPAIGN, help="the queue, or one of its items")
    campaign.add_argument("--parallel", type=int, default=5, help="training runs at once")
    campaign.add_argument("--device", default="cuda", help="cuda; cpu only to try it out")
    campaign.add_argument("--max-mib", type=float, default=16)
    campaign.add_argument("--max-files", type=int, default=8)
    campaign.set_defaults(run=_campaign)


def _stage(args: argparse.Namespace) -> None:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise stage.StageError("no command given after --")
    stage.run(args.outputs, " ".join(command))


def _tidy(args: argparse.Namespace) -> None:
    for path in args.paths:
        notebooks.tidy(path)


def _check_data(args: argparse.Namespace) -> None:
    if args.official:
        dataset.use_official()
    print(f"CIFAR-10: {dataset.check()}")


def _add_stage(commands) -> None:
    command = commands.add_parser(
        "stage",
        help=HELP["stage"],
        description="Runs COMMAND in a shadow of this checkout and moves OUTPUT... into place only when it exits 0: "
        "a stage that fails or is interrupted leaves its committed outputs as they were.",
    )
    command.add_argument("--outputs", nargs="+", type=Path, required=True, metavar="OUTPUT")
    command.add_argument("command", nargs=argparse.REMAINDER, help="after --: the shell command line")
    command.set_defaults(run=_stage)
    tidy = commands.add_parser(
        "tidy-notebook",
        help=HELP["tidy-notebook"],
        description="So that re-running a stage that changed nothing changes no byte (dvc.yaml "
        "runs it after papermill).",
    )
    tidy.add_argument("paths", nargs="+", type=Path, metavar="NOTEBOOK")
    tidy.set_defaults(run=_tidy)
    page = commands.add_parser(
        "plots-page",
        help=HELP["plots-page"],
        description="DVC's plots page loads Vega from a CDN; this one has it inside (vl-convert-python's bundle).",
    )
    page.add_argument("--out", type=Path, default=Path(".dvc/tmp/offline-plots.html"), help="where to write it")
    page.set_defaults(run=lambda args: print(plots_page.write(args.out)))
    check = commands.add_parser(
        "check-data",
        help=HELP["check-data"],
        description="One line: the archive data.dvc imports, or what to do when this machine has none.",
    )
    check.add_argument("--official", action="store_true", help="first switch to the official archive (internet)")
    check.set_defaults(run=_check_data)
    measured = commands.add_parser(
        "summary",
        help=HELP["summary"],
        description="Every number from the files under --results; --write puts the table into the README's "
        "measured block (a test checks that the README's copy is current).",
    )
    measured.add_argument("--results", type=Path, default=Path("results"), help="the pipeline's results folder")
    measured.add_argument("--write", type=Path, metavar="README", help="replace the measured block of this file")
    measured.set_defaults(run=_summary)


def _summary(args: argparse.Namespace) -> None:
    block = measured_table.markdown(args.results)
    if args.write is None:
        print(block)
    else:
        changed = measured_table.write_into(args.write, block)
        print(f"{args.write}: {'measured table rewritten' if changed else 'unchanged'}")


def parser(recipe_defaults: dict | None = None) -> argparse.ArgumentParser:
    main = _Parser(prog="roots", description=DESCRIPTION)
    commands = main.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "list",
        help=HELP["list"],
    ).set_defaults(run=_list)
    profile = commands.add_parser(
        "profile",
        help=HELP["profile"],
    )
    profile.add_argument(
        "--model", required=True, help=f"one of: {', '.join(models.ALL_FAMILIES)}; or torchvision:NAME"
    )
    profile.add_argument("--variant", default="orig", help="a named variant (see `roots list`)")
    profile.add_argument("--groups", help="your own schedule instead, e.g. conv2a=4,conv3a=2")
    profile.add_argument(
        "--schedule",
        help="for --model torchvision:NAME (any torchvision classifier, e.g. torchvision:resnet18): a named "
        "topology put in by rootify, e.g. root-8 (the default), tree-4, col-2",
    )
    profile.add_argument("--json", action="store_true", help="print one JSON object")
    profile.set_defaults(run=_profile)
    prepare = commands.add_parser(
        "prepare-data",
        help=HELP["prepare-data"],
    )
    prepare.add_argument(
        "--archive",
        type=Path,
        default=Path("data/cifar10-jpeg.tar.gz"),
        help="cifar-10-python.tar.gz (official) or cifar10-jpeg.tar.gz (offline copy)",
    )
    prepare.add_argument("--out", type=Path, default=Path("data/cifar10"), help="folder for the decoded arrays")
    prepare.set_defaults(run=_prepare_data)
    _add_train(commands, recipe_defaults or {})
    _add_job(commands)
    _add_time(commands)
    _add_sweep(commands)
    _add_transfer(commands)
    _add_stage(commands)
    return main


def default_recipe(model: str, device: str, params: Path = Path("params.yaml")) -> str | None:
    """``roots train`` without ``--recipe``: the recipe of ``params`` that the pipeline trains this
    model with on this device (on a CPU, the CPU campaign's 15 epochs rather than a GPU's budget);
    None where ``params`` is not here (a run from another folder keeps the built-in defaults)."""
    if not params.is_file():
        return None
    if model == "nin":
        name = "nin_cpu" if devices.resolve(device).type == "cpu" else "nin_paper"
    else:
        name = "proxy" if model in models.PROXIES else "imagenet"
    return f"{params}:recipes.{name}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line; ``train --recipe FILE:SECTION`` makes that section the train options' defaults."""
    args = parser().parse_args(argv)
    chosen = None
    if args.command == "train" and not args.recipe:
        chosen = args.recipe = default_recipe(args.model, args.device)
    if getattr(args, "recipe", None):
        section = recipes.recipe_section(args.recipe)
        recipes.Recipe(**section)  # a bad value fails here, named as the file has it, not after argparse's conversion
        args = parser(section).parse_args(argv)
    if chosen:
        args.recipe = chosen
        print(f"recipe: {chosen} (the pipeline's for {args.model} on this device; --recipe chooses another)")
    return args


def main(argv: list[str] | None = None) -> int:
    # Ctrl-C (SIGINT) stops cleanly even in a process started in the background (nohup ... &), which
    # inherits SIGINT ignored: a sweep's deadline and `kill -INT` reach it and its trainers alike
    signal.signal(signal.SIGINT, signal.default_int_handler)
    args = None
    try:
        args = parse_args(argv)
        args.run(args)
    except RootsError as error:
        print(f"roots: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"roots: interrupted{_RESUMES.get(getattr(args, 'command', None), '')}", file=sys.stderr)
        return 130
    return 0


# what an interrupted command keeps, where it keeps anything
_RESUMES = {
    "train": "; the same command resumes from the last finished epoch",
    "job": "; the same command resumes from the last finished epoch",
    "sweep": "; the same command continues where this one stopped",
    "campaign": "; the same command continues where this one stopped",
}
