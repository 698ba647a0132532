"""The subcommands of ``roots`` and what each does, said once: ``roots --help`` prints them without
importing torch (seconds), and ``roots.cli`` gives each subcommand's parser its line from here."""

from __future__ import annotations

import sys

DESCRIPTION = "Deep Roots (CVPR 2017) reproduced: list the paper's variants, count them, prepare data, train, time."
HELP = {
    "list": "families and their named variants",
    "profile": "FLOPs and params of one variant",
    "prepare-data": "verify a CIFAR-10 archive and decode it once",
    "check-data": "say where dvc repro takes CIFAR-10 from, or how to get it (make repro runs it first)",
    "train": "train one variant (resumes an interrupted run; torchrun for several GPUs)",
    "job": "train one run that params.yaml lists (dvc.yaml's training stages run this)",
    "time": "per-image forward time of variants, interleaved, with speed-ups",
    "sweep": "train a plan of runs (a run list, a campaign item, a whole queue), several at once",
    "pack": "pack a root's new results into archives of at most --max-mib each",
    "import": "bring packed results into results/, check them against params.yaml, record them in DVC",
    "campaign": "on a GPU machine without dvc: prepare the data, work down the queue, pack the results",
    "stage": "run a pipeline stage's command; its outputs change only if it succeeds (dvc.yaml uses it)",
    "tidy-notebook": "remove run times, random ids and addresses from executed notebooks",
    "plots-page": "write an HTML page for `dvc plots show --html-template` that works offline (make plots)",
    "summary": "the README's table of the paper's claims beside ours, from the results' files",
}


def _overview() -> str:
    width = max(map(len, HELP)) + 2
    commands = "\n".join(f"  {name:<{width}}{text}" for name, text in HELP.items())
    return (
        f"usage: roots [-h] COMMAND ...\n\n{DESCRIPTION}\n\ncommands:\n{commands}\n\n"
        "Each command's options: roots COMMAND --help\n"
    )


def main(argv: list[str] | None = None) -> int:
    """The console script: the overview at once, anything else through ``roots.cli``."""
    argv = sys.argv[1:] if argv is None else argv
    if argv in (["-h"], ["--help"]):
        print(_overview(), end="")
        return 0
    from roots.cli import main as run  # torch, torchvision, pandas: seconds to import

    return run(argv)
