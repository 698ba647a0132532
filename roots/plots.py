"""The paper's figures, drawn from our numbers beside its own."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

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
