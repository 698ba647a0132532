"""``roots`` / ``python -m roots``: list the paper's variants, count their FLOPs and params, prepare data."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from roots import counting, data, models, schedules
from roots.errors import RootsError


def _list(args: argparse.Namespace) -> None:
    for family in models.FAMILIES.values():
        print(f"{family.name:10s} {family.title}")
        print(f"{'':10s} variants: {', '.join(family.variants())}")
        print(f"{'':10s} slots for --groups: {', '.join(family.slots())}")


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


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="roots", description=__doc__)
    commands = main.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="families and their named variants").set_defaults(run=_list)
    profile = commands.add_parser("profile", help="FLOPs and params of one variant")
    profile.add_argument("--model", required=True, help=f"one of: {', '.join(models.FAMILIES)}")
    profile.add_argument("--variant", default="orig", help="a named variant (see `roots list`)")
    profile.add_argument("--groups", help="your own schedule instead, e.g. conv2a=4,conv3a=2")
    profile.add_argument("--json", action="store_true", help="print one JSON object")
    profile.set_defaults(run=_profile)
    prepare = commands.add_parser("prepare-data", help="verify a CIFAR-10 archive and decode it once")
    prepare.add_argument("--archive", type=Path, default=Path("../shared/data/cifar10-jpeg.tar.gz"),
                         help="cifar-10-python.tar.gz (official) or cifar10-jpeg.tar.gz (offline copy)")  # fmt: skip
    prepare.add_argument("--out", type=Path, default=Path("data/cifar10.npz"), help="the decoded arrays (.npz)")
    prepare.set_defaults(run=_prepare_data)
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except RootsError as error:
        print(f"roots: error: {error}", file=sys.stderr)
        return 2
    return 0
