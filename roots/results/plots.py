"""The paper's figures, drawn from our numbers beside its own."""

from __future__ import annotations

import math
import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch

DECADES_APART = 20  # counts whose largest is this many times the smallest go on a log axis
TOPOLOGY_COLOURS = {"orig": "black", "root": "tab:green", "tree": "tab:orange", "col": "tab:blue"}


def _title(figure: plt.Figure, text: str, fontsize: float = 10, **kwargs) -> None:
    """A figure's title, each line wrapped to the figure's width: a budget line (recipe, epochs,
    data, devices, seeds) is longer than a narrow figure, whose edges would cut it off."""
    per_line = max(20, int(figure.get_figwidth() * 72 / (0.55 * fontsize)))  # a character is about 0.55 em wide
    wrapped = "\n".join(textwrap.fill(line, per_line) for line in text.split("\n"))
    figure.suptitle(wrapped, fontsize=fontsize, **kwargs)


# where a point's label may go, in points from the point: the first that overlaps no label placed
# before and no marker is taken (NiN's k = 8 and 16 variants of three topologies crowd within 1e7 FLOPs)
_LABEL_SPOTS = (
    ((5, 4), "left", "bottom"),
    ((5, -4), "left", "top"),
    ((-5, 4), "right", "bottom"),
    ((-5, -4), "right", "top"),
    ((0, 8), "center", "bottom"),
    ((0, -8), "center", "top"),
    ((12, 0), "left", "center"),
    ((-12, 0), "right", "center"),
)


def _labels(ax, frame: pd.DataFrame, x: str, y: pd.Series) -> list[tuple]:
    """The labels of ``frame``'s points (its variants), for ``_place_labels`` once the figure is complete."""
    return [(ax, point[x], value, point["variant"]) for (_, point), value in zip(frame.iterrows(), y)]


def _place_labels(figure: plt.Figure, labels: list[tuple]) -> None:
    """Each label at the first of ``_LABEL_SPOTS`` that keeps it clear of the labels placed before
    it and of every marker; where none does, the first spot. Run last: it measures the drawn figure."""
    figure.canvas.draw()  # the final limits and layout, so that the measured boxes are the saved ones
    renderer = figure.canvas.get_renderer()
    taken: dict = {}
    markers = {ax: [ax.transData.transform((x, y)) for other, x, y, _ in labels if other is ax] for ax, *_ in labels}
    for ax, x, y, text in labels:

        def put(spot):
            offset, ha, va = spot
            return ax.annotate(text, (x, y), xytext=offset, textcoords="offset points", fontsize=7, ha=ha, va=va)

        def crowded(box) -> bool:
            return any(box.overlaps(other) for other in taken.get(ax, [])) or any(
                box.contains(*marker) for marker in markers[ax]
            )

        for spot in _LABEL_SPOTS:
            note = put(spot)
            if not crowded(note.get_window_extent(renderer)):
                break
            note.remove()
        else:
            note = put(_LABEL_SPOTS[0])
        taken.setdefault(ax, []).append(note.get_window_extent(renderer))


def fig5(frame: pd.DataFrame, title: str) -> plt.Figure:
    """Fig. 5's layout: top-1 error against FLOPs and against parameters, as the paper plots it
    (the best models nearest the origin); ours in the top row, the paper's in the bottom one.

    ``frame`` is ``compare.accuracy_vs_paper``'s. Counts are in the paper's units (x10^8 FLOPs,
    x10^5 parameters). Orig carries an error bar of one standard deviation over its seeds and a
    band across the panel: a variant inside the band is within seed-to-seed noise of Orig. Each
    row has its own error scale: a training budget moves every error, the claims are within a row.
    """
    figure, axes = plt.subplots(2, 2, figsize=(11, 8.5), layout="constrained")
    labels = []
    orig = frame.set_index("variant").loc["orig"]
    units = {"flops": (1e8, "FLOPs (multiply-adds, x10^8)"), "params": (1e5, "parameters (x10^5)")}
    for row, (who, accuracy, prefix) in enumerate((("ours", "accuracy", ""), ("paper", "paper_accuracy", "paper_"))):
        for column, cost in enumerate(("flops", "params")):
            ax, (scale, label) = axes[row, column], units[cost]
            shown = frame.dropna(subset=[accuracy]).assign(x=lambda f: f[prefix + cost] / scale)
            for name, group in shown.groupby("topology", sort=False):
                group = group.sort_values("x")
                error = (1 - group[accuracy]) * 100
                ax.plot(
                    group["x"],
                    error,
                    "o-" if name != "orig" else "s",
                    color=TOPOLOGY_COLOURS.get(name, "grey"),
                    label=name,
                    markersize=6,
                )
                labels += _labels(ax, group, "x", error)
            if who == "ours" and pd.notna(orig["accuracy_std"]):
                error, std = (1 - orig["accuracy"]) * 100, orig["accuracy_std"] * 100
                ax.errorbar(orig[cost] / scale, error, yerr=std, color="black", capsize=4)
                ax.axhspan(
                    error - std, error + std, color="black", alpha=0.08, label=f"orig ± 1 std ({orig['seeds']} seeds)"
                )
            ax.margins(x=0.12, y=0.12)  # room for the labels of the outermost points
            ax.set_xlabel(label)
            ax.set_ylabel(f"top-1 error (%), {who}")
            ax.set_title(
                f"{'our runs' if who == 'ours' else 'the paper'}: error vs {cost.replace('flops', 'FLOPs')}",
                fontsize=10,
            )
    handles, names = axes[0, 0].get_legend_handles_labels()
    figure.legend(handles, names, loc="outside lower center", ncol=len(names), fontsize=9, frameon=False)
    _title(figure, title, 11)
    sns.despine(figure)
    _place_labels(figure, labels)
    return figure


def seed_spread(trained: pd.DataFrame, table: pd.DataFrame, title: str) -> plt.Figure:
    """Every seed's top-1 accuracy, one column per variant, grouped by k: how far apart the
    topologies at a k are, next to how far apart one variant's seeds are.

    ``trained`` holds the runs, ``table`` is ``compare.accuracy_vs_paper``'s (its order, topology
    and k). A bar marks each variant's mean; the band is Orig's mean ± 1 std over its seeds.
    """
    order = table.dropna(subset=["accuracy"])[["variant", "topology", "k"]]
    rank = {topology: place for place, topology in enumerate(TOPOLOGY_COLOURS)}
    order = order.sort_values(["k", "topology"], key=lambda c: c.map(rank) if c.name == "topology" else c)
    order = order.reset_index(drop=True)
    figure, ax = plt.subplots(figsize=(max(6.0, 0.55 * len(order) + 1.5), 4.4), layout="constrained")
    orig = table.set_index("variant").loc["orig"]
    if pd.notna(orig["accuracy_std"]):
        mean, std = orig["accuracy"] * 100, orig["accuracy_std"] * 100
        ax.axhspan(mean - std, mean + std, color="black", alpha=0.08, label=f"orig ± 1 std ({orig['seeds']} seeds)")
    for x, entry in order.iterrows():
        seeds = trained.loc[trained["variant"] == entry["variant"], "test_accuracy"] * 100
        colour = TOPOLOGY_COLOURS.get(entry["topology"], "grey")
        spread = np.linspace(-0.12, 0.12, len(seeds)) if len(seeds) > 1 else np.zeros(1)  # seeds side by side
        ax.plot(x + spread, seeds, "o", color=colour, markersize=5, alpha=0.8)
        ax.hlines(seeds.mean(), x - 0.25, x + 0.25, color=colour, linewidth=2)
    for x in order.index[order["k"].ne(order["k"].shift())][1:]:
        ax.axvline(x - 0.5, color="grey", linewidth=0.6)  # a new k: the columns to compare are between these lines
    ax.set_xticks(order.index, order["variant"], rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("top-1 accuracy (%), one dot per seed")
    handles = [plt.Line2D([], [], marker="o", linestyle="", color=c, label=t) for t, c in TOPOLOGY_COLOURS.items()]
    extra, _ = ax.get_legend_handles_labels()
    figure.legend(handles=handles + extra, fontsize=8, ncol=len(handles) + len(extra), loc="outside lower center")
    _title(figure, title)
    sns.despine(figure)
    return figure


def time_vs_flops(frame: pd.DataFrame, paper_ratios: pd.DataFrame, device: str, title: str = "") -> plt.Figure:
    """Sec. 5's question in one picture per model: does time fall as FLOPs fall?

    ``frame`` is ``timing.results_table``'s rows for one device. Each implementation is a line
    through its variants; the dashed line is the ideal (time proportional to FLOPs) through
    Orig of the fastest setting; crosses are the paper's measured speed-ups (``paper_ratios``:
    model, variant, speedup) placed at that same Orig time divided by the paper's ratio.
    """
    families = list(dict.fromkeys(frame["model"]))
    figure, axes = plt.subplots(
        1, len(families), figsize=(5.2 * len(families), 4.4), layout="constrained", squeeze=False
    )
    for ax, model in zip(axes[0], families):
        rows = frame[frame["model"] == model]
        totals = rows.groupby("setting")["ms_per_image"].sum()
        for setting, group in rows.groupby("setting"):
            group = group.sort_values("flops")
            ax.plot(
                group["flops"],
                group["ms_per_image"],
                "o-",
                label=setting,
                markersize=4,
                linewidth=2.5 if setting == totals.idxmin() else 1.2,
            )
        fastest = rows[rows["setting"] == totals.idxmin()].set_index("variant")
        orig_flops, orig_ms = fastest.loc["orig", "flops"], fastest.loc["orig", "ms_per_image"]
        span = pd.Series([rows["flops"].min(), orig_flops])
        ax.plot(span, orig_ms * span / orig_flops, "k--", linewidth=1, label="ideal: time ∝ FLOPs")
        theirs = paper_ratios[paper_ratios["model"] == model].set_index("variant")
        shared = theirs.index.intersection(fastest.index)
        ax.plot(
            fastest.loc[shared, "flops"],
            orig_ms / theirs.loc[shared, "speedup"],
            "kx",
            markersize=8,
            label="paper's speed-up",
        )
        batch = f", batch {rows['batch'].iloc[0]}" if "batch" in rows else ""  # per-image time depends on it
        ax.set_title(f"{model} on {device}{batch}")
        ax.set_xlabel("FLOPs (multiply-adds per image)")
        ax.set_ylabel("forward time per image (ms)")
        ax.margins(x=0.05, y=0.08)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncol=min(4, len(labels)), fontsize=8, frameon=False)
    if title:
        _title(figure, title)
    sns.despine(figure)
    return figure


def heatmap_grid(
    matrices: dict[tuple[str, str], object],
    rows: list[str],
    columns: list[str],
    title: str,
    size: float = 2.2,
    vmax: float | None = None,
    axes_note: str = "",
    value: str = "|value|",
) -> plt.Figure:
    """A grid of absolute-value heat maps, ``matrices[row, column]``, in the appendix's style.

    Without ``vmax`` each map is scaled to its own largest magnitude (the pattern, not the
    level, is what the appendix compares) and the colour bar reads as that fraction; with it,
    every map shares the scale 0..vmax. ``axes_note`` says what the rows and columns of a map are,
    ``value`` what its colour is.
    """
    width = max(size * len(columns) + 1.6, 7.5)  # a single column of maps still leaves room for the title
    figure, axes = plt.subplots(
        len(rows), len(columns), figsize=(width, size * len(rows) + 0.9), squeeze=False, layout="constrained"
    )
    image = None
    for i, row in enumerate(rows):
        for j, column in enumerate(columns):
            ax = axes[i, j]
            matrix = matrices.get((row, column))
            if matrix is not None:
                magnitude = abs(np.asarray(matrix, dtype=float))
                if vmax is None:
                    magnitude = magnitude / max(magnitude.max(), np.finfo(float).tiny)
                image = ax.imshow(magnitude, cmap="viridis", vmin=0, vmax=vmax or 1, interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
            else:
                ax.axis("off")
            if i == 0:
                ax.set_title(column, fontsize=9)
            if j == 0:
                ax.set_ylabel(row, fontsize=9)
    if image is not None:
        figure.colorbar(image, ax=axes, shrink=0.8, label=value if vmax else f"{value} / largest in its map")
    if axes_note:
        figure.supxlabel(axes_note, fontsize=8)
    _title(figure, title)
    return figure


def error_vs_cost(paper_rows: pd.DataFrame, proxy: pd.DataFrame, title: str) -> plt.Figure:
    """Figs. 8 and 9: error against FLOPs and against parameters, best models nearest the origin.

    Top rows: the paper's ILSVRC top-1 and top-5 errors (``compare.error_vs_cost``) drawn at the
    paper's counts (filled) and at ours for the same networks (hollow). Bottom row: our CIFAR-10
    proxy (``compare.proxy_vs_paper``), its top-1 error against the proxy's own counts, with
    Orig's seed band; a note instead where no proxy run has been trained.
    """
    trained = proxy.dropna(subset=["accuracy"])
    rows = 3 if len(trained) else 2  # no proxy run trained yet: no empty panels, the title says so
    figure, axes = plt.subplots(rows, 2, figsize=(11, 3.4 * rows + 0.6), layout="constrained")
    point_labels = []
    exponent = {
        "flops": int(np.floor(np.log10(paper_rows["paper_flops"].min()))),
        "params": int(np.floor(np.log10(paper_rows["paper_params"].min()))),
    }
    labels = {"flops": "FLOPs (multiply-adds", "params": "parameters ("}
    for column, cost in enumerate(("flops", "params")):
        scale = 10.0 ** exponent[cost]
        unit = f"{labels[cost]}{', ' if cost == 'flops' else ''}x10^{exponent[cost]})"
        for row, (error, colour) in enumerate((("top1", "tab:red"), ("top5", "tab:purple"))):
            ax, y = axes[row, column], paper_rows[f"paper_{error}_error"] * 100
            ax.plot(paper_rows[f"paper_{cost}"] / scale, y, "o-", color=colour, label="paper's error at paper's count")
            ax.plot(
                paper_rows[cost] / scale,
                y,
                "o",
                color=colour,
                markerfacecolor="none",
                label="paper's error at our count",
            )
            point_labels += _labels(ax, paper_rows.assign(x=paper_rows[f"paper_{cost}"] / scale), "x", y)
            ax.margins(x=0.12, y=0.12)
            counts = pd.concat([paper_rows[f"paper_{cost}"], paper_rows[cost]])
            spread = counts.max() / counts.min() > DECADES_APART  # ResNet-200's FLOPs: 5.6e12 printed, 1.5e10 counted
            if spread:
                ax.set_xscale("log")
            xlabel = unit.removesuffix(")") + ", log scale)" if spread else unit
            ax.set(xlabel=xlabel, ylabel=f"ILSVRC {error.replace('top', 'top-')} error (%), paper")
            ax.legend(fontsize=7, loc="best")
        if not len(trained):
            continue
        ax = axes[2, column]
        ours = trained.sort_values(cost)
        ax.plot(ours[cost] / scale, (1 - ours["accuracy"]) * 100, "o-", color="tab:green", label="proxy top-1 error")
        point_labels += _labels(ax, ours.assign(x=ours[cost] / scale), "x", (1 - ours["accuracy"]) * 100)
        orig = ours.set_index("variant").loc["orig"] if "orig" in set(ours["variant"]) else None
        if orig is not None and pd.notna(orig["accuracy_std"]):
            error, std = (1 - orig["accuracy"]) * 100, orig["accuracy_std"] * 100
            ax.axhspan(
                error - std, error + std, color="black", alpha=0.08, label=f"orig ± 1 std ({orig['seeds']} seeds)"
            )
        ax.margins(x=0.12, y=0.12)
        ax.set(xlabel=f"{unit} of the 32x32 proxy", ylabel="CIFAR-10 top-1 error (%), our proxy")
        ax.legend(fontsize=7)
    _title(figure, title + ("" if len(trained) else "\n(no CIFAR-10 proxy run trained yet: they need a GPU, README)"))
    sns.despine(figure)
    _place_labels(figure, point_labels)
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


def fig2(counts: pd.DataFrame, paper_fewer: float) -> plt.Figure:
    """Fig. 2's parameter axis: AlexNet's weights against its number of filter groups
    (``compare.alexnet_groups``), each bar marked with how many fewer than without groups. The
    paper's top-5 errors of Fig. 2 are not in its text, so they are not drawn."""
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.8), layout="constrained")
    labels = [f"{count}" + ("\n(original)" if count == 2 else "") for count in counts["groups"]]
    for ax, column, title in zip(axes, ("conv_weights", "weights"), ("convolution weights", "all weights (with FC)")):
        bars = ax.bar(labels, counts[column] / 1e6, color="tab:blue" if column == "conv_weights" else "tab:orange")
        for bar, fewer in zip(bars, counts[f"fewer_{column}"]):
            if fewer:
                ax.annotate(
                    f"-{fewer:.0%}",
                    (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center",
                    va="bottom",
                    fontsize=8,
                    xytext=(0, 2),
                    textcoords="offset points",
                )
        ax.margins(y=0.12)
        ax.set(title=title, xlabel="filter groups in conv2, conv4, conv5", ylabel="millions")
    _title(
        figure,
        f"AlexNet counted here (Fig. 2's parameter axis); the paper: about {paper_fewer:.0%} fewer "
        "connection weights with its filter groups\n(Fig. 2's top-5 errors are not in the text we have)",
        9,
    )
    sns.despine(figure)
    return figure


def counts_vs_paper(counts: pd.DataFrame) -> plt.Figure:
    """Our FLOPs and params against the paper's, every family (``compare.counts_vs_paper`` rows with
    a ``model`` column): the diagonal is agreement."""
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, column in zip(axes, ["flops", "params"]):
        sns.scatterplot(data=counts, x=f"paper_{column}", y=column, hue="model", style="model", s=60, ax=ax)
        low, high = counts[[column, f"paper_{column}"]].min().min(), counts[[column, f"paper_{column}"]].max().max()
        ax.plot([low, high], [low, high], color="grey", lw=1, ls="--", label="ours = paper")
        ax.set(
            xscale="log",
            yscale="log",
            xlabel=f"paper's {column}",
            ylabel=f"our {column}",
            title=f"{column}: ours vs paper",
        )
        ax.legend(fontsize=8)
    figure.tight_layout()
    return figure


def fig15(layerwise: pd.DataFrame) -> plt.Figure:
    """Fig. 15: ResNet-50's layer-wise FLOPs and parameters, two variants side by side per layer."""
    figure, axes = plt.subplots(2, 1, figsize=(14, 7), sharex=True, layout="constrained")
    for ax, column, label in zip(axes, ["flops", "params"], ["FLOPs (multiply-adds)", "parameters"]):
        sns.barplot(data=layerwise, x="layer", y=column, hue="variant", ax=ax, width=0.9)
        ax.set(ylabel=label, xlabel="")
        ax.get_legend().remove()  # one legend for both, below them: inside, it covered the tallest bars
    axes[1].set_xlabel("layer (execution order: conv1, then reduce, 3x3, expand [, projection] per block, then fc)")
    axes[1].set_xticks(range(0, layerwise["layer"].max() + 1, 4))
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncol=len(labels), frameon=False)
    _title(figure, "ResNet-50 layer-wise FLOPs and parameters (cf. the paper's Fig. 15)", 12)
    return figure


_SCORE_NAMES = {  # the columns of ``covariance.scores_with_controls``, as a legend says them
    "score": "trained, raw",
    "untrained_score": "untrained twin, raw",
    "baseline_score": "Orig, raw",
    "score_whitened": "trained, ZCA-whitened",
    "untrained_score_whitened": "untrained twin, ZCA-whitened",
    "baseline_score_whitened": "Orig, ZCA-whitened",
}


def block_scores(scores: pd.DataFrame, title: str) -> sns.FacetGrid:
    """Block-diagonality of each grouped layer pair (``covariance.scores_with_controls``), raw and
    whitened, beside the baseline's and the untrained twin's; 1 is no block structure."""
    long = scores.rename(columns=_SCORE_NAMES).melt(
        id_vars=["run", "pair"],
        value_vars=list(_SCORE_NAMES.values()),
        var_name="covariance of",
        value_name="block-diagonality (1: none)",
    )
    grid = sns.catplot(
        long,
        x="run",
        y="block-diagonality (1: none)",
        hue="covariance of",
        col="pair",
        kind="bar",
        height=3.6,
        aspect=1.3,
    )
    grid.refline(y=1, color="grey", linestyle="--")
    _title(grid.figure, title, y=1.06)
    return grid


def layer_times(layers: pd.DataFrame, title: str) -> sns.FacetGrid:
    """Each NiN layer's time per image (``timing.layer_times`` rows), a bar per variant."""
    grid = sns.catplot(layers, x="layer", y="ms_per_image", hue="variant", kind="bar", height=3.6, aspect=2.4)
    grid.set_axis_labels("", "ms per image")
    _title(grid.figure, title, y=1.03)
    return grid


def roofline(layers: pd.DataFrame, device_peaks: dict, dtype: str, title: str) -> plt.Figure:
    """Each convolution's achieved rate against its arithmetic intensity (FLOPs per byte moved),
    under the card's roof: bandwidth x intensity, capped by the peak rate (``timing.roofline``'s
    peaks). A layer far under the roof is held back by its kernel, not by the card."""
    convs = layers[layers["flops"] > 0].assign(intensity=lambda f: 2 * f["flops"] / f["bytes"])
    figure, ax = plt.subplots(figsize=(8, 5), layout="constrained")
    span = np.logspace(np.log10(convs["intensity"].min() / 2), np.log10(convs["intensity"].max() * 2), 100)
    ax.plot(
        span,
        np.minimum(device_peaks[dtype], device_peaks["bytes_per_s"] * span) / 1e12,
        "k-",
        linewidth=1,
        label=f"roof: {device_peaks[dtype] / 1e12:.0f} TFLOP/s, {device_peaks['bytes_per_s'] / 1e12:.2f} TB/s",
    )
    for variant, group in convs.groupby("variant", sort=False):
        ax.scatter(group["intensity"], group["tflop_per_s"], label=variant, s=25)
        for _, point in group.iterrows():
            ax.annotate(
                point["layer"],
                (point["intensity"], point["tflop_per_s"]),
                fontsize=6,
                xytext=(3, 2),
                textcoords="offset points",
            )
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="arithmetic intensity (FLOPs per byte moved)",
        ylabel="achieved TFLOP/s",
        title=title,
    )
    ax.legend(fontsize=8, loc="lower right")
    return figure
