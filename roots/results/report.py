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


def by_row(frame: pd.DataFrame, key: str, columns: dict[str, str]) -> dict:
    """``{row's key: {metric name: value}}`` of ``frame``'s ``columns`` (column: metric name);
    empty and non-finite cells left out, so a variant not measured adds no column."""
    metrics = {}
    for _, row in frame.iterrows():
        values = {name: _number(row[column]) for column, name in columns.items()}
        values = {name: value for name, value in values.items() if value is not None}
        if values:
            metrics[str(row[key])] = values
    return metrics


def write_metrics(path: Path, metrics: dict) -> dict:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(metrics, indent=1, sort_keys=False) + "\n")
    return metrics


def write_plot_data(path: Path, frame: pd.DataFrame) -> Path:
    """A CSV for a plot that ``dvc.yaml`` declares; floats to ``SIGNIFICANT`` figures, so that a
    re-run that changed nothing writes the same bytes."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, float_format=f"%.{SIGNIFICANT}g")
    return Path(path)


ACCURACY_METRICS = {
    "accuracy": "top1",
    "accuracy_vs_orig": "top1_vs_orig",
    "paper_accuracy_vs_orig": "paper_top1_vs_orig",
}


def accuracy_metrics(table: pd.DataFrame, trained: pd.DataFrame) -> dict:
    """A NiN or proxy table's metrics (``compare.accuracy_vs_paper``): the budget that made it, and
    per variant our top-1 accuracy and difference to Orig beside the paper's difference."""
    return {"budget": runs.budget_metrics(trained), **by_row(table, "variant", ACCURACY_METRICS)}


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


def timing_metrics(columns: pd.DataFrame) -> dict:
    """``{device: {model: {variant: {speedup, of_flops_ratio}}}}`` of time columns (one setting per
    device and model: ``compare.time_columns``'s or the notebook's fastest)."""
    return {
        device: {
            model: by_row(rows, "variant", {"speedup": "speedup", "speedup_of_flops_ratio": "of_flops_ratio"})
            for model, rows in per_device.groupby("model")
        }
        for device, per_device in columns.groupby("device")
    }


def ilsvrc_metrics(counts: pd.DataFrame, columns: pd.DataFrame, proxy: pd.DataFrame, trained: pd.DataFrame) -> dict:
    """An ILSVRC family's metrics: count errors against the paper, speed-ups of ``roots time``'s
    default setting per device, and the CIFAR-10 proxy's accuracies where runs exist."""
    metrics = {
        "counts": by_row(counts, "variant", {"flops_rel_err": "flops_rel_err", "params_rel_err": "params_rel_err"})
    }
    if len(columns):
        default = columns[columns["choice"].str.startswith("default")]
        metrics["speedup"] = {
            device: by_row(rows, "variant", {"speedup": "speedup"}) for device, rows in default.groupby("device")
        }
    if len(trained):
        metrics["proxy"] = accuracy_metrics(proxy, trained)
    return metrics


def write_nin(out_dir: Path, table: pd.DataFrame, reported: pd.DataFrame, **extra: dict) -> dict:
    """A NiN notebook's metrics (``accuracy_metrics`` and ``extra`` sections) and plot data (Fig. 5's
    points, every reported run's curve), written under ``out_dir``; the metrics."""
    metrics = {**accuracy_metrics(table, reported), **extra}
    write_metrics(Path(out_dir) / "metrics.json", metrics)
    write_plot_data(Path(out_dir) / "plots" / "error_vs_cost.csv", error_vs_cost(table))
    write_plot_data(Path(out_dir) / "plots" / "curves.csv", curves(runs.curves(reported["folder"].tolist())))
    return metrics
