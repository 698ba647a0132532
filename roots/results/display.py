"""How the notebooks show things: the shared preamble, the formats of the tables they display,
and their figures.

Only for notebooks (it uses pandas' Styler and IPython's display): the tables themselves come from
``roots.compare``, the figures from ``roots.plots``.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from IPython.display import Image, display
from matplotlib.figure import Figure

from roots.paper import reported as paper
from roots.results import compare

RUN_COLUMNS = [
    "run",
    "variant",
    "seed",
    "recipe",
    "test_accuracy",
    "epochs",
    "train_images",
    "images_per_second",
    "train_seconds",
    "device",
    "data",
    "git_commit",
]
PERCENT = ["accuracy", "accuracy_std", "paper_accuracy", "accuracy_vs_orig", "paper_accuracy_vs_orig"]
SPEEDUP_FORMATS = {
    "flops_ratio": "{:.2f}x",
    "speedup": "{:.2f}x",
    "paper_speedup": "{:.2f}x",
    "speedup_q1": "{:.2f}",
    "speedup_q3": "{:.2f}",
    "ms_per_image": "{:.3f}",
    "paper_ms": "{:.3g}",
    "speedup_of_flops_ratio": "{:.0%}",
    "paper_speedup_of_flops_ratio": "{:.0%}",
}


def setup(out_dir: str | Path, precision: int = 4, style: str = "whitegrid") -> tuple[Path, Path]:
    """Every notebook's first lines: its tables/ and figures/ folders (made), pandas' and
    seaborn's look."""
    tables_dir, figures_dir = Path(out_dir) / "tables", Path(out_dir) / "figures"
    tables_dir.mkdir(parents=True, exist_ok=True)
    figures_dir.mkdir(parents=True, exist_ok=True)
    pd.set_option("display.precision", precision)
    sns.set_theme(style=style)
    return tables_dir, figures_dir


def figure(drawn: Figure | sns.FacetGrid, path: Path, **savefig) -> None:
    """Save a figure to ``path`` and show that file, not a second rendering of it: a notebook's
    embedded image is then the committed figure byte for byte, so a check can compare the two."""
    drawn.savefig(path, **savefig)
    plt.close(drawn if isinstance(drawn, Figure) else drawn.figure)
    display(Image(filename=path))


def accuracy_table(table: pd.DataFrame):
    """``compare.accuracy_vs_paper``'s table as the notebooks show it: percentages, counts to three figures."""
    return (
        table.style.format("{:.2%}", subset=[c for c in PERCENT if c in table], na_rep="-")
        .format("{:.3g}", subset=["paper_flops", "flops", "paper_params", "params"], na_rep="-")
        .format("{:.3f}", subset=["flops_vs_orig", "paper_flops_vs_orig"], na_rep="-")
    )


def against_orig(frame: pd.DataFrame):
    """``compare.against_orig``'s table as the notebooks show it: points, ratios, standard deviations."""
    return (
        frame.style.format("{:+.2%}", subset=["accuracy_vs_orig", "paper_accuracy_vs_orig"], na_rep="-")
        .format("{:.3f}", subset=["flops_vs_orig", "paper_flops_vs_orig"], na_rep="-")
        .format("{:+.1f}", subset=["vs_orig_in_orig_std"], na_rep="-")
        .format(na_rep="-", subset=["within orig noise"])
    )


def speedups(frame: pd.DataFrame):
    """Time columns (speed-ups beside the paper's) as the notebooks show them."""
    return frame.style.format({key: value for key, value in SPEEDUP_FORMATS.items() if key in frame}, na_rep="-")


def time_columns(timed: pd.DataFrame, columns: pd.DataFrame, family: str) -> list[tuple[str, object]]:
    """An ILSVRC table's time columns per device: a line saying where they were measured and the
    table, or the paper's column alone where no device of that kind has been timed."""
    shown = []
    for device in ("cpu", "cuda"):
        measured = columns[columns["device"] == device] if len(columns) else columns
        if measured.empty:
            shown.append(
                (
                    f"{device}: not measured here (no results/timing folder for it); the paper's speed-ups:",
                    compare.paper_speedups(device).query("model == @family").reset_index(drop=True),
                )
            )
            continue
        where = timed[(timed["device"] == device) & (timed["model"] == family)].iloc[0]
        shown.append(
            (
                f"{device}: {where['device_name']}, {where['threads']} threads, torch {where['torch']}, "
                f"batch {where['batch']}, {where['rounds']} rounds",
                speedups(
                    measured[
                        [
                            "choice",
                            "setting",
                            "variant",
                            "flops_ratio",
                            "ms_per_image",
                            "speedup",
                            "speedup_q1",
                            "speedup_q3",
                            "speedup_of_flops_ratio",
                            "paper_ms",
                            "paper_speedup",
                        ]
                    ]
                ).format({"ms_per_image": "{:.2f}"}),
            )
        )
    return shown


def proxy(trained: pd.DataFrame, table: pd.DataFrame, family: str) -> list[object]:
    """The CIFAR-10 proxy of an ILSVRC family: its runs (budget, device, data) and their accuracy
    beside the paper's ILSVRC column, or a line saying that none has been trained."""
    if trained.empty:
        return [f"No {family}-cifar run under the runs folder: the proxy runs need a GPU (README, 'Running on a GPU')."]
    return [
        trained[
            [
                "run",
                "variant",
                "seed",
                "test_accuracy",
                "test_top5_accuracy",
                "epochs",
                "train_images",
                "device",
                "precision",
                "data",
                "recipe",
                "images_per_second",
                "train_seconds",
            ]
        ],
        table[
            [
                "variant",
                "seeds",
                "accuracy",
                "accuracy_std",
                "accuracy_vs_orig",
                "paper_accuracy",
                "paper_accuracy_vs_orig",
                "flops_vs_orig",
                "paper_flops_vs_orig",
            ]
        ],
    ]


def paper_units(frame: pd.DataFrame, family: str):
    """``compare.counts_vs_paper`` in the units the paper's table prints, relative errors as percentages."""
    shown = compare.in_paper_units(frame, *paper.units(family))
    return shown.style.format(precision=3).format("{:+.2%}", subset=["FLOPs rel. err", "params rel. err"])
