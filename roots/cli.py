"""``roots`` / ``python -m roots``: list the paper's variants, count them, prepare data, train, time."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from roots import counting, data, implementations, models, schedules, timing, train
from roots import device as devices
from roots.errors import RootsError


def _list(args: argparse.Namespace) -> None:
    for family in models.ALL_FAMILIES.values():
        print(f"{family.name:16s} {family.title}")
        print(f"{'':16s} variants: {', '.join(family.variants())}")
        print(f"{'':16s} slots for --groups: {', '.join(family.slots())}")


def _profile(args: argparse.Namespace) -> None:
    result = counting.profile(args.model, args.variant, args.groups)
    if args.json:
        print(json.dumps(result))
        return
    size = "x".join(map(str, result["input_size"]))
    print(f"{result['model']} {result['variant']} ({schedules.label(result['groups'])}), input {size}")
    print(f"  FLOPs (multiply-adds): {result['flops']:,}")
    print(f"  params ({result['params_convention']}): {result['params']:,}")
    print(f"  trainable params of this PyTorch model: {result['trainable_params']:,}")


def _prepare_data(args: argparse.Namespace) -> None:
    out = data.prepare(args.archive, args.out)
    sizes, source = data.describe(out)
    print(f"{out}: {sizes['train']} train and {sizes['test']} test images from {source.name} ({source.description})")


def _train(args: argparse.Namespace) -> None:
    run = train.Run(**{field.name: getattr(args, field.name) for field in dataclasses.fields(train.Run)})
    recipe = train.Recipe(**{field.name: getattr(args, field.name) for field in dataclasses.fields(train.Recipe)})
    metrics = train.train(run, recipe)
    print(f"{run.out}: test accuracy {metrics['test_accuracy']:.2%} (top-5 {metrics['test_top5_accuracy']:.2%}) "
          f"after {metrics['epochs']} epochs, "
          f"{metrics['images_per_second']:,.0f} img/s on {metrics['device']['name']}")  # fmt: skip


def _add_train(commands, recipe_defaults: dict) -> None:
    command = commands.add_parser(
        "train", help="train one variant (resumes an interrupted run; torchrun for several GPUs)",
        description="Train one variant; run again with the same options to resume after an interruption. "
        "Several GPUs: torchrun --nproc-per-node N -m roots train ...",
    )  # fmt: skip
    command.add_argument("--model", default="nin", help=f"one of: {', '.join(models.ALL_FAMILIES)}")
    command.add_argument("--variant", default="orig", help="a named variant (see `roots list`)")
    command.add_argument("--groups", help="your own schedule instead, e.g. conv2a=4,conv3a=2")
    command.add_argument("--seed", type=int, default=0)
    command.add_argument("--data", default="data/cifar10", help="prepared CIFAR-10 folder, or ImageFolder root")
    command.add_argument("--out", default="runs/nin/orig-s0", help="folder for checkpoint, metrics.json, model.pt")
    command.add_argument("--device", default="auto", help=f"one of: {', '.join(devices.DEVICE_NAMES)}")
    command.add_argument("--recipe", metavar="FILE:SECTION",
                         help="defaults for the options below from a YAML section, e.g. params.yaml:imagenet_train; "
                         "options given on the command line still win")  # fmt: skip
    for field in dataclasses.fields(train.Recipe):
        # both spellings: --batch-size by hand, --batch_size from dvc.yaml's ${dict} unpacking
        names = sorted({f"--{field.name.replace('_', '-')}", f"--{field.name}"})
        if field.type == "bool":
            command.add_argument(*names, action=argparse.BooleanOptionalAction, default=field.default)
        else:
            kind = {"int": int, "float": float}.get(field.type, str)
            command.add_argument(*names, type=kind, default=field.default, help=f"default {field.default}")
    command.set_defaults(run=_train, **recipe_defaults)


def _time(args: argparse.Namespace) -> None:
    family = models.family(args.model)
    variants = family.variants() if args.variants == "all" else args.variants.split(",")
    common = {field.name: getattr(args, field.name) for field in dataclasses.fields(timing.Setting)
              if field.name not in ("implementation", "layout")}  # fmt: skip
    settings = [timing.Setting(implementation=implementation, layout=layout, **common).check()
                for implementation in args.implementation.split(",") for layout in args.layout.split(",")]  # fmt: skip
    for setting in settings:
        result = timing.measure(args.model, variants, setting)
        if args.out_dir:
            args.out_dir.mkdir(parents=True, exist_ok=True)
            name = f"{args.model}-{setting.implementation}-{setting.layout}-{setting.dtype}.json"
            (args.out_dir / name).write_text(json.dumps(result, indent=1) + "\n")
        if args.json:
            print(json.dumps(result))
        else:
            _print_timing(args.model, setting, result)
        if args.layers:
            _time_layers(args, variants, setting)


def _print_timing(model: str, setting: timing.Setting, result: dict) -> None:
    where = result["environment"]
    print(f"{model}: per-image forward, batch {setting.batch}, {setting.implementation} {setting.layout} "
          f"{setting.dtype}{' compiled' if setting.compile else ''}, on {where['name']} ({where['threads']} "
          f"threads), median of {setting.rounds} interleaved rounds [quartiles]")  # fmt: skip
    for row in result["variants"]:
        print(f"  {row['variant']:10s} {row['ms_per_image']:9.3f} ms [{row['ms_q1']:.3f}-{row['ms_q3']:.3f}]  "
              f"speed-up {row['speedup']:5.2f}x [{row['speedup_q1']:.2f}-{row['speedup_q3']:.2f}]  "
              f"FLOPs ratio {row['flops_ratio']:5.2f}x ({row['speedup_of_flops_ratio']:.0%} of it)")  # fmt: skip


def _time_layers(args: argparse.Namespace, variants: list[str], setting: timing.Setting) -> None:
    """Per-layer breakdown (native implementation only, so once per layout)."""
    if setting.implementation != "native":
        return
    table = timing.layer_times(args.model, variants, setting)
    if args.out_dir:
        table.to_csv(args.out_dir / f"{args.model}-layers-{setting.layout}-{setting.dtype}.csv", index=False)
    if not args.json:
        print(table.pivot(index="layer", columns="variant", values="ms_per_image").round(4).to_string())


def _add_time(commands) -> None:
    command = commands.add_parser("time", help="per-image forward time of variants, interleaved, with speed-ups")
    command.add_argument("--model", required=True, help=f"one of: {', '.join(models.ALL_FAMILIES)}")
    command.add_argument("--variants", default="all", help="comma-separated named variants, or all (Orig is always added)")
    defaults = timing.Setting()
    command.add_argument("--device", default=defaults.device, help=f"one of: {', '.join(devices.DEVICE_NAMES)}")
    command.add_argument("--batch", type=int, default=defaults.batch, help="images per forward pass")
    command.add_argument("--implementation", default=defaults.implementation,
                         help=f"grouped convolution, or several comma-separated: {', '.join(implementations.IMPLEMENTATIONS)}")  # fmt: skip
    command.add_argument("--layout", default=defaults.layout,
                         help=f"memory layout, or several comma-separated: {', '.join(timing.LAYOUTS)}")  # fmt: skip
    command.add_argument("--dtype", default=defaults.dtype, help=f"one of: {', '.join(timing.DTYPES)}")
    command.add_argument("--fold-bn", action=argparse.BooleanOptionalAction, default=defaults.fold_bn,
                         help="merge BatchNorm into the convolutions first, as inference would")  # fmt: skip
    command.add_argument("--compile", action="store_true", help="torch.compile every network first")
    command.add_argument("--warmup", type=int, default=defaults.warmup, help="untimed passes per network")
    command.add_argument("--rounds", type=int, default=defaults.rounds, help="timed passes per network")
    command.add_argument("--layers", action="store_true",
                         help="also time each convolution (native implementation): where the time goes")  # fmt: skip
    command.add_argument("--out-dir", type=Path, help="write one JSON file per implementation and layout here")
    command.add_argument("--json", action="store_true", help="print one JSON object per implementation and layout")
    command.set_defaults(run=_time)


def parser(recipe_defaults: dict | None = None) -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="roots", description=__doc__)
    commands = main.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="families and their named variants").set_defaults(run=_list)
    profile = commands.add_parser("profile", help="FLOPs and params of one variant")
    profile.add_argument("--model", required=True, help=f"one of: {', '.join(models.ALL_FAMILIES)}")
    profile.add_argument("--variant", default="orig", help="a named variant (see `roots list`)")
    profile.add_argument("--groups", help="your own schedule instead, e.g. conv2a=4,conv3a=2")
    profile.add_argument("--json", action="store_true", help="print one JSON object")
    profile.set_defaults(run=_profile)
    prepare = commands.add_parser("prepare-data", help="verify a CIFAR-10 archive and decode it once")
    prepare.add_argument("--archive", type=Path, default=Path("data/cifar10-jpeg.tar.gz"),
                         help="cifar-10-python.tar.gz (official) or cifar10-jpeg.tar.gz (offline copy)")  # fmt: skip
    prepare.add_argument("--out", type=Path, default=Path("data/cifar10"), help="folder for the decoded arrays")
    prepare.set_defaults(run=_prepare_data)
    _add_train(commands, recipe_defaults or {})
    _add_time(commands)
    return main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line; ``train --recipe FILE:SECTION`` makes that section the train options' defaults."""
    args = parser().parse_args(argv)
    if getattr(args, "recipe", None):
        args = parser(train.recipe_section(args.recipe)).parse_args(argv)
    return args


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
        args.run(args)
    except RootsError as error:
        print(f"roots: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("roots: interrupted; the same command resumes from the last finished epoch", file=sys.stderr)
        return 130
    return 0
