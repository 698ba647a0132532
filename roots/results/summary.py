"""The README's table of the paper's claims beside what this repository measured, written from
the files the pipeline writes (``roots summary``), so that no number in it is typed by hand;
a test compares the README's copy with a fresh rendering."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from roots.paper import reported as paper
from roots.paper import schedules
from roots.train import runs

BEGIN, END = "<!-- measured: begin (roots summary --write README.md) -->", "<!-- measured: end -->"
FAMILY_TITLES = {"nin": "NiN", "resnet50": "ResNet-50", "resnet200": "ResNet-200", "googlenet": "GoogLeNet"}


def _points(value: float) -> str:
    """An accuracy difference in percentage points, signed."""
    return f"{value * 100:+.2f}"


def _percent(value: float) -> str:
    return f"{value * 100:.2f}%"


def _budget(reported: pd.DataFrame) -> str:
    """The budget of the runs a notebook reports (``runs.most_complete_budget``), as its figures'
    titles say it, and what training them cost: each run's own training time (its epochs, resumed
    ones included), summed."""
    hours = reported["train_seconds"].sum() / 3600
    return f"{runs.budget_label(reported)}; {hours:.1f} h of training over its {len(reported)} runs"


def _counts(results: Path) -> dict:
    summary = pd.read_csv(results / "architectures" / "tables" / "summary.csv", index_col=0)
    matched = [
        f"{FAMILY_TITLES[family]} {_percent(row['worst FLOPs rel. err'])} / {_percent(row['worst params rel. err'])}"
        for family, row in summary.iterrows()
        if row["FLOPs within tolerance"] == row["rows"]
    ]
    unmatched = [
        f"{FAMILY_TITLES[family]} params {_percent(row['worst params rel. err'])}, its FLOPs column not matched "
        f"(off by {_percent(row['worst FLOPs rel. err'])})"
        for family, row in summary.iterrows()
        if row["FLOPs within tolerance"] != row["rows"]
    ]
    return {
        "claim": "FLOPs and parameters of every variant (Tables 2, 4-6, 8)",
        "paper": "as printed, 3 significant figures",
        "ours": "worst relative difference, FLOPs / params: " + "; ".join(matched + unmatched),
        "measured": "counted from the built networks (no data)",
        "file": "architectures/tables/summary.csv",
    }


def _table2(results: Path) -> dict:
    table = pd.read_csv(results / "nin_cifar10" / "tables" / "table2.csv").set_index("variant")
    table2_runs = pd.read_csv(results / "nin_cifar10" / "tables" / "runs.csv")
    grouped = [variant for variant in table.index if variant != "orig"]
    orig = table.loc["orig"]
    seeds = f" ± {orig['accuracy_std'] * 100:.2f}, {int(orig['seeds'])} seeds" if orig["seeds"] > 1 else ""
    return {
        "claim": "NiN with root modules keeps Orig's accuracy at fewer FLOPs (Table 2)",
        "paper": f"Orig {_percent(orig['paper_accuracy'])}; "
        + ", ".join(f"{v} {_points(table.loc[v, 'paper_accuracy_vs_orig'])}" for v in grouped)
        + " points",
        "ours": f"Orig {_percent(orig['accuracy'])}{seeds}; "
        + ", ".join(f"{v} {_points(table.loc[v, 'accuracy_vs_orig'])}" for v in grouped)
        + " points",
        "measured": _budget(runs.most_complete_budget(table2_runs, list(table.index))),
        "file": "nin_cifar10/tables/table2.csv",
    }


def _table8(results: Path) -> dict:
    equal_k = pd.read_csv(results / "topology" / "tables" / "topologies_at_equal_k.csv")
    table8 = pd.read_csv(results / "topology" / "tables" / "table8.csv")
    table8_runs = pd.read_csv(results / "topology" / "tables" / "runs.csv")
    noise = pd.read_csv(results / "topology" / "tables" / "root_lead_against_seed_noise.csv").dropna(
        subset=["lead std error"]
    )

    def leads(who: str) -> str:
        return ", ".join(f"k={row['k']} {_points(row[f'root lead ({who})'])}" for _, row in equal_k.iterrows())

    weighed = "".join(
        f"; k={row['k']} over {row['root seeds']} and {row['rival seeds']} seeds: {_points(row['root lead'])} "
        f"± {row['lead std error'] * 100:.2f} (1 standard error, against {row['rival']}): {row['verdict']}"
        for _, row in noise.iterrows()
    )
    return {
        "claim": "root beats tree and column at equal k (Table 8)",
        "paper": f"root's lead over the better of the two: {leads('paper')} points",
        "ours": f"{leads('ours')} points (Orig's seed std {equal_k['orig_std'].iloc[0] * 100:.2f}){weighed}",
        "measured": _budget(runs.most_complete_budget(table8_runs, list(table8["variant"]))),
        "file": "topology/tables/topologies_at_equal_k.csv",
    }


def _speedup(row: pd.Series, prefix: str = "") -> str:
    speedup, ratio = row[f"{prefix}speedup"], row[f"{prefix}speedup_of_flops_ratio"]
    return f"{FAMILY_TITLES[row['model']]} {row['variant']} {speedup:.2f}x ({ratio:.0%} of its FLOPs ratio)"


def _machine(results: Path, device: str, timed: pd.DataFrame) -> str:
    """The timed machine as its timing files describe it (a CPU's name is just its cores: its
    instruction set says which of the machines sessions draw it was)."""
    first = timed.iloc[0]
    found = sorted((results / "timing" / device).glob("*.json"))
    capability = json.loads(found[0].read_text())["environment"].get("capability") if found else None
    return f"{first['device_name']}{f', {capability}' if capability else ''}, {first['threads']} threads"


def _speedups(results: Path) -> list[dict]:
    columns = pd.read_csv(results / "gpu_implementation" / "tables" / "time_columns.csv")
    timings = pd.read_csv(results / "gpu_implementation" / "tables" / "all_timings.csv")
    rows = []
    for device, on_device in columns.groupby("device", sort=False):
        compared = on_device.dropna(subset=["paper_speedup"])
        root = [
            schedules.topology(model, variant) == "root" for model, variant in compared[["model", "variant"]].values
        ]
        most = compared[root].loc[lambda f: f.groupby("model")["flops_ratio"].idxmax()]  # the most grouped root variant
        most = most.sort_values("model", key=lambda models: models.map(list(FAMILY_TITLES).index))
        timed = timings[timings["device"] == device]
        batches = timed.groupby("model")["batch"].first()
        rows.append(
            {
                "claim": f"speed-up over Orig on a {device.upper()} (Tables 2, 4, 6; Sec. 5: it lags FLOPs)",
                "paper": ", ".join(_speedup(row, "paper_") for _, row in most.iterrows()),
                "ours": ", ".join(_speedup(row) for _, row in most.iterrows()),
                "measured": f"{_machine(results, device, timed)}, {most['setting'].iloc[0]}, BatchNorm folded, batch "
                + ", ".join(f"{batches[model]} ({FAMILY_TITLES[model]})" for model in most["model"])
                + f", median of {timed['rounds'].iloc[0]} interleaved rounds",
                "file": "gpu_implementation/tables/time_columns.csv",
            }
        )
    return rows


def _covariance(results: Path) -> dict:
    scores = pd.read_csv(results / "covariance" / "tables" / "block_scores.csv")
    pair = scores[scores["pair"] == "conv2c-conv3a"]
    return {
        "claim": "grouped layers learn block-diagonal inter-layer covariance (Figs. 6, 10-13)",
        "paper": "shown in pictures, no number",
        "ours": "conv2c-conv3a, ZCA-whitened (1: no blocks): "
        + ", ".join(f"{r['run']} {r['score_whitened']:.2f}" for _, r in pair.iterrows())
        + f"; untrained twins {pair['untrained_score_whitened'].min():.2f}-{pair['untrained_score_whitened'].max():.2f}"
        + f"; Orig {pair['baseline_score_whitened'].min():.2f}-{pair['baseline_score_whitened'].max():.2f}",
        "measured": _budget(pd.read_csv(results / "covariance" / "tables" / "runs.csv")),
        "file": "covariance/tables/block_scores.csv",
    }


def claims(results: Path) -> pd.DataFrame:
    """One row per claim of the paper: its numbers, ours, on what budget and device, from which file."""
    results = Path(results)
    rows = [_counts(results), _table2(results), _table8(results), *_speedups(results), _covariance(results)]
    if "cuda" not in set(pd.read_csv(results / "gpu_implementation" / "tables" / "time_columns.csv")["device"]):
        gpu = paper.reported().dropna(subset=["gpu_ms"])
        rows.append(
            {
                "claim": "speed-up over Orig on a GPU (Tables 2, 4, 6; Sec. 5)",
                "paper": f"{len(gpu)} variants timed on its GPU",
                "ours": "not measured: these results hold no GPU timing",
                "measured": "-",
                "file": "-",
            }
        )
    return pd.DataFrame(rows)


def markdown(results: Path) -> str:
    frame = claims(results)
    lines = [
        "| the paper's claim | the paper | ours | measured on | file (under `results/`) |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {r['claim']} | {r['paper']} | {r['ours']} | {r['measured']} | `{r['file']}` |" for _, r in frame.iterrows()
    ]
    return "\n".join([BEGIN, *lines, END])


def write_into(readme: Path, block: str) -> bool:
    """Replace the README's measured block with ``block``; whether it changed."""
    text = Path(readme).read_text()
    if BEGIN not in text or END not in text:
        raise runs.RunsError(f"{readme} has no '{BEGIN}' ... '{END}' block to write the measured table into")
    start, stop = text.index(BEGIN), text.index(END) + len(END)
    updated = text[:start] + block + text[stop:]
    Path(readme).write_text(updated)
    return updated != text


def readme_block(readme: Path) -> str:
    """The measured block as the README has it now."""
    text = Path(readme).read_text()
    if BEGIN not in text or END not in text:
        return ""
    return text[text.index(BEGIN) : text.index(END) + len(END)]
