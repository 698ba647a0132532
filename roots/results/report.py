"""What a pipeline stage reports to DVC: a metrics file (``dvc metrics show/diff``, the columns
of ``dvc exp show``) and the data of its plots (``dvc plots show/diff``), each plot's lines told
apart by a ``series`` column (the template ``.dvc/plots/series.json``)."""

from __future__ import annotations

import json
import math
import numbers
from pathlib import Path

import numpy
import pandas as pd

from roots.train import runs

SIGNIFICANT = 6  # beyond this, float sums over threads differ from run to run: nothing a reader compares


def _number(value) -> float | int | None:
    """A JSON number (a count exact, a float to ``SIGNIFICANT`` figures), or None for what is not one."""
    if isinstance(value, (bool, numpy.bool_, numbers.Integral)):
        return int(value)
    if isinstance(value, numbers.Real) and math.isfinite(value):
        return float(f"{float(value):.{SIGNIFICANT}g}")
    return None


def _by_row(rows: pd.DataFrame, key, column: str) -> dict:
    """``{key(row): row[column]}`` over ``rows``, cells that are not numbers left out."""
    return {key(row): value for _, row in rows.iterrows() if (value := _number(row[column])) is not None}


def write_metrics(path: Path, metrics: dict) -> dict:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(metrics, indent=1, sort_keys=False) + "\n")
    return metrics


def write_plot_data(path: Path, frame: pd.DataFrame) -> Path:
    """A CSV for a plot that ``dvc.yaml`` declares, or a table of statistics computed by BLAS;
    floats to ``SIGNIFICANT`` figures, so that a re-run that changed nothing writes the same bytes
    (on another CPU too: the covariance scores differ in the tenth figure between an AVX2 and an
    AVX-512 machine)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, float_format=f"%.{SIGNIFICANT}g")
    return Path(path)


def accuracy_metrics(table: pd.DataFrame, trained: pd.DataFrame, per_variant: bool = True) -> dict:
    """A NiN or proxy table's headline (``compare.accuracy_vs_paper``): the budget that made it,
    Orig's top-1 accuracy and, with ``per_variant``, each variant's difference to Orig (the
    paper's claims are about these; its own numbers never change, so they are in the tables)."""
    orig = table.set_index("variant").loc["orig"]
    metrics = {"budget": _budget(trained), "orig_top1": _number(orig["accuracy"])}
    if per_variant:
        others = table[table["variant"] != "orig"]
        metrics["top1_vs_orig"] = _by_row(others, lambda row: str(row["variant"]), "accuracy_vs_orig")
    return metrics


def _budget(trained: pd.DataFrame) -> dict:
    budget = runs.budget_metrics(trained)
    return {"epochs": budget["epochs"], "runs": budget["runs"]}


def worst_count_errors(counts: pd.DataFrame) -> dict:
    """The largest relative differences of our FLOPs and params from the paper's, over a table's rows."""
    return {
        "worst_flops_rel_err": _number(counts["flops_rel_err"].abs().max()),
        "worst_params_rel_err": _number(counts["params_rel_err"].abs().max()),
    }


def topology_metrics(table: pd.DataFrame, trained: pd.DataFrame, equal_k: pd.DataFrame, noise: pd.DataFrame) -> dict:
    """Table 8's headline: the budget, Orig's accuracy, root's lead over the better of tree and
    column at each k (the paper's claim: not below zero) and, where both have several seeds, that
    lead in its standard errors (``compare.root_lead_against_seed_noise``)."""
    return {
        **accuracy_metrics(table, trained, per_variant=False),
        "root_lead": _by_row(equal_k, lambda row: f"k{int(row['k'])}", "root lead (ours)"),
        "root_lead_in_std_errors": _by_row(noise, lambda row: f"k{int(row['k'])}", "lead in std errors"),
    }


def covariance_metrics(scores: pd.DataFrame, pair: str = "conv2c-conv3a") -> dict:
    """Per run, the block-diagonality of the whitened covariance between the layers of ``pair``
    (Figs. 6 and 12's pair): the appendix's measure of how much the filter groups keep apart."""
    rows = scores[scores["pair"] == pair]
    return {f"{pair}_whitened": _by_row(rows, lambda row: str(row["run"]), "score_whitened")}


def error_vs_cost(table: pd.DataFrame) -> pd.DataFrame:
    """Fig. 5's points as plot data: top-1 error against FLOPs and params, ours and the paper's."""
    return pd.DataFrame(
        {
            "series": table["topology"],
            "variant": table["variant"],
            "flops": table["flops"],
            "params": table["params"],
            "top1_error": 1 - table["accuracy"],
            "paper_flops": table["paper_flops"],
            "paper_params": table["paper_params"],
            "paper_top1_error": 1 - table["paper_accuracy"],
        }
    )


def curves(curves: pd.DataFrame) -> pd.DataFrame:
    """``runs.curves`` as plot data, a line per run (the ``series`` template of ``.dvc/plots``)."""
    return curves.rename(columns={"run": "series"})


def time_vs_flops(timed: pd.DataFrame) -> pd.DataFrame:
    """Every timed point (``timing.results_table``), a line per device, model and setting."""
    return timed.assign(series=timed["device"] + " " + timed["model"] + " " + timed["setting"])[
        ["series", "variant", "flops", "ms_per_image", "speedup"]
    ]


def _most_grouped(rows: pd.DataFrame) -> pd.Series:
    """The variant of ``rows`` with the largest FLOPs ratio to Orig: where a speed-up shows most."""
    return rows.loc[rows["flops_ratio"].idxmax()]


def timing_metrics(columns: pd.DataFrame) -> dict:
    """Per device and model, the most grouped variant's speed-up over Orig and its share of the
    FLOPs ratio (time columns with one setting per device and model, as the notebook chose)."""
    metrics: dict = {}
    for (device, model), rows in columns.groupby(["device", "model"]):
        row = _most_grouped(rows)
        metrics.setdefault(device, {})[model] = {
            str(row["variant"]): {
                "speedup": _number(row["speedup"]),
                "of_flops_ratio": _number(row["speedup_of_flops_ratio"]),
            }
        }
    return metrics


def ilsvrc_metrics(counts: pd.DataFrame, columns: pd.DataFrame, proxy: pd.DataFrame, trained: pd.DataFrame) -> dict:
    """An ILSVRC family's headline: the worst count errors against the paper, the most grouped
    variant's speed-up with ``roots time``'s default setting per device, and the CIFAR-10 proxy's
    accuracies where runs exist."""
    metrics = worst_count_errors(counts)
    if len(columns):
        default = columns[columns["choice"].str.startswith("default")]
        metrics["speedup"] = {
            device: {str(row["variant"]): _number(row["speedup"])}
            for device, rows in default.groupby("device")
            for row in [_most_grouped(rows)]
        }
    if len(trained):
        metrics["proxy"] = accuracy_metrics(proxy, trained)
    return metrics


def write_nin(out_dir: Path, table: pd.DataFrame, reported: pd.DataFrame, metrics: dict | None = None) -> dict:
    """A NiN notebook's metrics (``accuracy_metrics`` unless given) and plot data (Fig. 5's points,
    every reported run's curve), written under ``out_dir``; the metrics."""
    metrics = accuracy_metrics(table, reported) if metrics is None else metrics
    write_metrics(Path(out_dir) / "metrics.json", metrics)
    write_plot_data(Path(out_dir) / "plots" / "error_vs_cost.csv", error_vs_cost(table))
    write_plot_data(Path(out_dir) / "plots" / "curves.csv", curves(runs.curves(reported["folder"].tolist())))
    return metrics
