"""The paper's figures, drawn from our numbers beside its own."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch

TOPOLOGY_COLOURS = {"orig": "black", "root": "tab:green", "tree": "tab:orange", "col": "tab:blue"}


def accuracy_vs_cost(frame: pd.DataFrame, title: str) -> plt.Figure:
    """Fig. 5's layout: accuracy against FLOPs and against params, ours (top) and the paper's.

    ``frame`` is ``compare.accuracy_vs_paper``'s. Orig carries an error bar of one standard
    deviation over its seeds and a band across the panel, so a variant inside the band is
    within seed-to-seed noise of Orig. Our row and the paper's row have their own accuracy
    scales: a short training budget moves every accuracy, the comparison is within a row.
    """
    figure, axes = plt.subplots(2, 2, figsize=(11, 7.5), sharex="col", layout="constrained")
    orig = frame.set_index("variant").loc["orig"]
    for row, (who, accuracy, flops, params) in enumerate([
        ("ours", "accuracy", "flops", "params"),
        ("paper", "paper_accuracy", "paper_flops", "paper_params"),
    ]):  # fmt: skip
        for column, cost in enumerate((flops, params)):
            ax = axes[row, column]
            for name, group in frame.dropna(subset=[accuracy]).groupby("topology", sort=False):
                group = group.sort_values(cost)
                ax.plot(group[cost], group[accuracy] * 100, "o-" if name != "orig" else "s",
                        color=TOPOLOGY_COLOURS.get(name, "grey"), label=name)  # fmt: skip
                for _, point in group.iterrows():
                    ax.annotate(point["variant"], (point[cost], point[accuracy] * 100), fontsize=7,
                                xytext=(3, 3), textcoords="offset points")  # fmt: skip
            if who == "ours" and pd.notna(orig["accuracy_std"]):
                mean, std = orig["accuracy"] * 100, orig["accuracy_std"] * 100
                ax.errorbar(orig[cost], mean, yerr=std, color="black", capsize=4)
                ax.axhspan(mean - std, mean + std, color="black", alpha=0.08, label=f"orig ± 1 std ({orig['seeds']} seeds)")
            ax.set_ylabel(f"top-1 accuracy (%), {who}")
            ax.set_xlabel({flops: "FLOPs (multiply-adds)", params: "parameters"}[cost])
            ax.set_xscale("log")
    axes[0, 0].legend(fontsize=8)
    figure.suptitle(title)
    sns.despine(figure)
    return figure


def time_vs_flops(frame: pd.DataFrame, paper_ratios: pd.DataFrame, device: str) -> plt.Figure:
    """Sec. 5's question in one picture per model: does time fall as FLOPs fall?

    ``frame`` is ``timing.results_table``'s rows for one device. Each implementation is a line
    through its variants; the dashed line is the ideal (time proportional to FLOPs) through
    Orig of the fastest setting; crosses are the paper's measured speed-ups (``paper_ratios``:
    model, variant, speedup) placed at that same Orig time divided by the paper's ratio.
    """
    families = list(dict.fromkeys(frame["model"]))
    figure, axes = plt.subplots(1, len(families), figsize=(5.2 * len(families), 4.4), layout="constrained", squeeze=False)
    for ax, model in zip(axes[0], families):
        rows = frame[frame["model"] == model]
        totals = rows.groupby("setting")["ms_per_image"].sum()
        for setting, group in rows.groupby("setting"):
            group = group.sort_values("flops")
            ax.plot(group["flops"], group["ms_per_image"], "o-", label=setting, markersize=4,
                    linewidth=2.5 if setting == totals.idxmin() else 1.2)  # fmt: skip
        fastest = rows[rows["setting"] == totals.idxmin()].set_index("variant")
        orig_flops, orig_ms = fastest.loc["orig", "flops"], fastest.loc["orig", "ms_per_image"]
        span = pd.Series([rows["flops"].min(), orig_flops])
        ax.plot(span, orig_ms * span / orig_flops, "k--", linewidth=1, label="ideal: time ∝ FLOPs")
        theirs = paper_ratios[paper_ratios["model"] == model].set_index("variant")
        shared = theirs.index.intersection(fastest.index)
        ax.plot(fastest.loc[shared, "flops"], orig_ms / theirs.loc[shared, "speedup"], "kx", markersize=8,
                label="paper's speed-up")  # fmt: skip
        ax.set_title(f"{model} on {device}")
        ax.set_xlabel("FLOPs (multiply-adds per image)")
        ax.set_ylabel("forward time per image (ms)")
        ax.legend(fontsize=7)
    sns.despine(figure)
    return figure


def heatmap_grid(matrices: dict[tuple[str, str], object], rows: list[str], columns: list[str], title: str,
                 size: float = 2.2, vmax: float | None = None) -> plt.Figure:  # fmt: skip
    """A grid of absolute-value heat maps, ``matrices[row, column]``, in the appendix's style."""
    figure, axes = plt.subplots(len(rows), len(columns), figsize=(size * len(columns), size * len(rows)),
                                squeeze=False, layout="constrained")  # fmt: skip
    for i, row in enumerate(rows):
        for j, column in enumerate(columns):
            ax = axes[i, j]
            matrix = matrices.get((row, column))
            if matrix is not None:
                sns.heatmap(abs(matrix), ax=ax, cmap="viridis", cbar=False, xticklabels=False, yticklabels=False,
                            square=True, vmin=0, vmax=vmax)  # fmt: skip
            else:
                ax.axis("off")
            if i == 0:
                ax.set_title(column, fontsize=9)
            if j == 0:
                ax.set_ylabel(row, fontsize=9)
    figure.suptitle(title)
    return figure


def error_vs_cost(paper_rows: pd.DataFrame, proxy: pd.DataFrame, title: str) -> plt.Figure:
    """Figs. 8 and 9: error against FLOPs and against parameters, best models nearest the origin.

    Top rows: the paper's ILSVRC top-1 and top-5 errors (``compare.error_vs_cost``) drawn at the
    paper's counts (filled) and at ours for the same networks (hollow). Bottom row: our CIFAR-10
    proxy (``compare.proxy_vs_paper``), its top-1 error against the proxy's own counts, with
    Orig's seed band; a note instead where no proxy run has been trained.
    """
    figure, axes = plt.subplots(3, 2, figsize=(11, 10), layout="constrained")
    labels = {"flops": "FLOPs (multiply-adds)", "params": "parameters"}
    for column, cost in enumerate(("flops", "params")):
        for row, (error, colour) in enumerate((("top1", "tab:red"), ("top5", "tab:purple"))):
            ax, y = axes[row, column], paper_rows[f"paper_{error}_error"] * 100
            ax.plot(paper_rows[f"paper_{cost}"], y, "o-", color=colour, label="paper's error at paper's count")
            ax.plot(paper_rows[cost], y, "o", color=colour, markerfacecolor="none", label="paper's error at our count")
            for _, point in paper_rows.iterrows():
                ax.annotate(point["variant"], (point[f"paper_{cost}"], point[f"paper_{error}_error"] * 100), fontsize=7,
                            xytext=(3, 3), textcoords="offset points")  # fmt: skip
            ax.set(xscale="log", xlabel=labels[cost], ylabel=f"ILSVRC {error.replace('top', 'top-')} error (%), paper")
        ax = axes[2, column]
        trained = proxy.dropna(subset=["accuracy"]).sort_values(cost)
        if trained.empty:
            ax.text(0.5, 0.5, "no CIFAR-10 proxy run trained yet\n(they need a GPU: README)", ha="center",
                    va="center", transform=ax.transAxes)  # fmt: skip
            ax.set_axis_off()
            continue
        ax.plot(trained[cost], (1 - trained["accuracy"]) * 100, "o-", color="tab:green", label="proxy top-1 error")
        for _, point in trained.iterrows():
            ax.annotate(point["variant"], (point[cost], (1 - point["accuracy"]) * 100), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")  # fmt: skip
        orig = trained.set_index("variant").loc["orig"] if "orig" in set(trained["variant"]) else None
        if orig is not None and pd.notna(orig["accuracy_std"]):
            error, std = (1 - orig["accuracy"]) * 100, orig["accuracy_std"] * 100
            ax.axhspan(error - std, error + std, color="black", alpha=0.08, label=f"orig ± 1 std ({orig['seeds']} seeds)")
        ax.set(xscale="log", xlabel=f"{labels[cost]} of the 32x32 proxy", ylabel="CIFAR-10 top-1 error (%), our proxy")
        ax.legend(fontsize=8)
    axes[0, 0].legend(fontsize=8)
    figure.suptitle(title)
    sns.despine(figure)
    return figure


def filter_grid(weights: torch.Tensor, groups: int, title: str, columns: int = 8) -> plt.Figure:
    """Fig. 14's layout: first-layer filters as RGB tiles, ``columns`` per row, in channel order.

    Each filter is stretched to the full colour range on its own, on a grey ground; white lines
    mark where the channels split into ``groups`` consecutive groups.
    """
    filters = weights.detach().float().cpu().numpy().transpose(0, 2, 3, 1)  # n, k, k, rgb
    low = filters.min(axis=(1, 2, 3), keepdims=True)
    span = filters.max(axis=(1, 2, 3), keepdims=True) - low
    filters = (filters - low) / np.where(span > 0, span, 1)
    count, size = len(filters), filters.shape[1]
    rows = math.ceil(count / columns)
    canvas = np.full((rows * (size + 1) - 1, columns * (size + 1) - 1, 3), 0.25)
    for index, tile in enumerate(filters):
        row, column = divmod(index, columns)
        canvas[row * (size + 1) : row * (size + 1) + size, column * (size + 1) : column * (size + 1) + size] = tile
    figure, ax = plt.subplots(figsize=(0.5 * columns + 0.6, 0.5 * rows + 0.8), layout="constrained")
    ax.imshow(canvas, interpolation="nearest")
    per_group = count // groups
    for boundary in range(per_group, count, per_group):
        row, column = divmod(boundary, columns)
        if column:  # a group ends inside a row: a vertical line before its first filter
            x = column * (size + 1) - 1
            ax.plot([x, x], [row * (size + 1) - 1, (row + 1) * (size + 1) - 1], color="white", linewidth=2.5)
        else:
            y = row * (size + 1) - 1
            ax.plot([-0.5, columns * (size + 1) - 1], [y, y], color="white", linewidth=2.5)
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)
    return figure
