"""Our numbers beside the paper's: counts, accuracies and speed-ups, as the notebooks show them."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd

from roots.bench import timing
from roots.nn import alexnet, counting, models
from roots.paper import reported as paper
from roots.paper import schedules
from roots.train import runs


@cache
def variant_layers(family: str, variant: str) -> tuple[counting.LayerCount, ...]:
    """Counted layers of a named variant, built once per session (ResNet-200 takes seconds)."""
    chosen = models.family(family)
    return tuple(counting.count_layers(models.build(family, variant), chosen.input_size, chosen.count_kwargs))


def built_schedules(family: str) -> pd.DataFrame:
    """The group counts the built models really have, one row per named variant.

    Each cell is the group count of every layer of that slot (they must agree), so the table
    checks the builders against the paper's schedule tables rather than echoing them.
    """
    chosen = models.family(family)
    rows = []
    for variant in chosen.variants():
        seen: dict[str, set[int]] = {}
        for layer in variant_layers(family, variant):
            if layer.slot is not None:
                seen.setdefault(layer.slot, set()).add(layer.groups)
        row = {"variant": variant}
        for slot in chosen.slots():
            counts = seen.get(slot, set())
            row[slot] = counts.pop() if len(counts) == 1 else "/".join(map(str, sorted(counts))) or "-"
        row["matches paper"] = all(row[slot] == groups for slot, groups in schedules.named(family, variant).items())
        row["source"] = schedules.source(family, variant)
        rows.append(row)
    return pd.DataFrame(rows)


_COUNT_COLUMNS = (
    "table",
    "variant",
    "flops",
    "paper_flops",
    "flops_rel_err",
    "params",
    "paper_params",
    "params_rel_err",
    "params_convention",
)


def counts_vs_paper(family: str, tolerance: float = 0.01) -> pd.DataFrame:
    """FLOPs and params of every variant the paper reports, ours beside theirs.

    ``*_rel_err`` is (ours - paper) / paper and ``*_ok`` says whether it is within
    ``tolerance``. The paper prints three significant figures, so its rounding alone can
    account for up to about 0.5%.
    """
    convention = paper.params_convention(family)
    reported = paper.reported()
    reported = reported[reported["model"] == family]
    rows = []
    for _, row in reported.iterrows():
        layers = list(variant_layers(family, row["variant"]))
        flops, params = counting.total_flops(layers), counting.total_params(layers, convention)
        rows.append(
            {
                "table": int(row["table"]),
                "variant": row["variant"],
                "flops": flops,
                "paper_flops": row["paper_flops"],
                "flops_rel_err": flops / row["paper_flops"] - 1,
                "params": params,
                "paper_params": row["paper_params"],
                "params_rel_err": params / row["paper_params"] - 1,
                "params_convention": convention,
            }
        )
    frame = pd.DataFrame(rows, columns=_COUNT_COLUMNS)  # a family the paper does not report: no rows
    frame.insert(frame.columns.get_loc("flops_rel_err") + 1, "flops_ok", frame["flops_rel_err"].abs() <= tolerance)
    frame.insert(frame.columns.get_loc("params_rel_err") + 1, "params_ok", frame["params_rel_err"].abs() <= tolerance)
    return frame


def convention_fit(family: str) -> pd.Series:
    """Worst relative error of the paper's params column under each counting convention.

    This is how each table's convention was found: the one whose worst row fits best.
    """
    reported = paper.reported()
    reported = reported[reported["model"] == family]
    errors = {
        convention: max(
            abs(counting.total_params(list(variant_layers(family, variant)), convention) / paper_params - 1)
            for variant, paper_params in zip(reported["variant"], reported["paper_params"])
        )
        for convention in counting.PARAM_CONVENTIONS
    }
    return pd.Series(errors, name=family)


def in_paper_units(frame: pd.DataFrame, flops_exp: int, params_exp: int) -> pd.DataFrame:
    """``counts_vs_paper`` in the units the paper prints (e.g. FLOPs x10^8), for display."""
    return pd.DataFrame(
        {
            "variant": frame["variant"],
            f"FLOPs x10^{flops_exp}": frame["flops"] / 10**flops_exp,
            "FLOPs (paper)": frame["paper_flops"] / 10**flops_exp,
            "FLOPs rel. err": frame["flops_rel_err"],
            "FLOPs ok": frame["flops_ok"],
            f"params x10^{params_exp}": frame["params"] / 10**params_exp,
            "params (paper)": frame["paper_params"] / 10**params_exp,
            "params rel. err": frame["params_rel_err"],
            "params ok": frame["params_ok"],
        }
    )


def accuracy_vs_paper(trained: pd.DataFrame, table: int) -> pd.DataFrame:
    """Test accuracy of our trained runs (mean, std and count over seeds) beside a paper table.

    One row per variant the paper reports, in its order; a variant we have not trained keeps
    the paper's numbers and empty ones of ours (all of ours are empty when ``trained`` has no
    rows). ``*_vs_orig`` is the difference to Orig's mean, the quantity the paper's claims
    are about (absolute accuracies depend on budget). Accuracies are top-1.
    """
    ours = trained.groupby("variant").agg(
        accuracy=("test_accuracy", "mean"),
        accuracy_std=("test_accuracy", "std"),
        seeds=("seed", "count"),
        top5_accuracy=("test_top5_accuracy", "mean"),
        flops=("flops", "first"),
        params=("params", "first"),
    )
    reported = paper.table_rows(table)[
        ["model", "variant", "top1_accuracy", "top5_accuracy", "paper_flops", "paper_params"]
    ]
    reported = reported.rename(columns={"top1_accuracy": "paper_accuracy", "top5_accuracy": "paper_top5_accuracy"})
    frame = reported.merge(ours, on="variant", how="left")
    frame.insert(1, "topology", [schedules.topology(m, v) for m, v in zip(frame["model"], frame["variant"])])
    frame.insert(2, "k", [schedules.k(m, v) for m, v in zip(frame["model"], frame["variant"])])
    frame["seeds"] = frame["seeds"].fillna(0).astype(int)
    orig = frame.set_index("variant").loc["orig"]
    frame["accuracy_vs_orig"] = frame["accuracy"] - orig["accuracy"]
    frame["paper_accuracy_vs_orig"] = frame["paper_accuracy"] - orig["paper_accuracy"]
    frame["flops_vs_orig"] = frame["flops"] / orig["flops"]
    frame["paper_flops_vs_orig"] = frame["paper_flops"] / orig["paper_flops"]
    return frame


def against_orig(table: pd.DataFrame) -> pd.DataFrame:
    """Each variant's difference to Orig, ours beside the paper's: FLOPs ratio, accuracy difference
    and ours in Orig's seed-to-seed standard deviations (``vs_orig_in_orig_std``: within one is
    seed noise, not a loss). Both empty where Orig has fewer than two seeds: one run has no spread."""
    orig_std = table.set_index("variant").loc["orig", "accuracy_std"]
    columns = ["variant", "flops_vs_orig", "paper_flops_vs_orig", "accuracy_vs_orig", "paper_accuracy_vs_orig"]
    frame = table[columns].copy()
    frame["vs_orig_in_orig_std"] = frame["accuracy_vs_orig"] / orig_std if orig_std > 0 else float("nan")
    # unknown, not False, where there is no spread to be within
    frame["within orig noise"] = (frame["vs_orig_in_orig_std"].abs() <= 1).astype("boolean")
    frame.loc[frame["vs_orig_in_orig_std"].isna(), "within orig noise"] = pd.NA
    return frame


def topologies_at_equal_k(frame: pd.DataFrame) -> pd.DataFrame:
    """Root, tree and column at each k (similar FLOPs): which is most accurate, ours and the paper's.

    ``margin`` is the best topology's lead over the runner-up, ``root lead`` root's accuracy less
    the better of tree and column (the paper's claim: not below zero), and ``orig_std`` Orig's
    seed-to-seed standard deviation: a lead smaller than it is not evidence either way.
    """
    table = frame[frame["topology"] != "orig"]
    orig_std = frame.set_index("variant").loc["orig", "accuracy_std"]
    rows = []
    for k, group in table.groupby("k"):
        row = {"k": k}
        for who, column in (("ours", "accuracy"), ("paper", "paper_accuracy")):
            ranked = group.dropna(subset=[column]).sort_values(column, ascending=False)
            for _, entry in ranked.iterrows():
                row[f"{entry['topology']} ({who})"] = entry[column]
            row[f"best ({who})"] = ranked["topology"].iloc[0] if len(ranked) else None
            row[f"margin ({who})"] = ranked[column].iloc[0] - ranked[column].iloc[1] if len(ranked) > 1 else None
            others = ranked.loc[ranked["topology"] != "root", column]
            root = ranked.loc[ranked["topology"] == "root", column]
            row[f"root lead ({who})"] = root.iloc[0] - others.max() if len(root) and len(others) else None
        row["orig_std"] = orig_std
        rows.append(row)
    return pd.DataFrame(rows)


# A lead under this many standard errors is read as seed noise: about a 95% two-sided bound under a
# normal approximation. With 2-3 seeds a side Student's t would ask for more (2.8 at 4 degrees of
# freedom), so this errs towards a verdict, never away from one.
NOISE_STANDARD_ERRORS = 2.0


def root_lead_against_seed_noise(table: pd.DataFrame) -> pd.DataFrame:
    """At each k, root's lead over the more accurate of tree and column, against the noise of their seeds.

    ``topologies_at_equal_k`` weighs a lead against Orig's spread; this weighs it against the two
    topologies' own seeds: the lead's standard error is Welch's, sqrt(s_root^2/n_root +
    s_rival^2/n_rival), empty where either side has a single seed. ``table`` is
    ``accuracy_vs_paper``'s (each variant's mean, std and count over seeds, topology and k).
    """
    trained = table[(table["topology"] != "orig") & (table["seeds"] > 0)]
    rows = []
    for k, group in trained.groupby("k"):
        stats = group.set_index("topology")
        if "root" not in stats.index or len(stats) < 2:
            continue
        root, rival_name = stats.loc["root"], stats.drop("root")["accuracy"].idxmax()
        rival = stats.loc[rival_name]
        lead = root["accuracy"] - rival["accuracy"]
        error = (root["accuracy_std"] ** 2 / root["seeds"] + rival["accuracy_std"] ** 2 / rival["seeds"]) ** 0.5
        in_errors = lead / error if error > 0 else float("nan")  # NaN where a side has one seed
        if pd.isna(in_errors):
            verdict = "one seed: no spread to weigh"
        elif abs(in_errors) < NOISE_STANDARD_ERRORS:
            verdict = "within seed noise"
        else:
            verdict = "root ahead" if lead > 0 else f"{rival_name} ahead"
        rows.append(
            {
                "k": k,
                "root seeds": int(root["seeds"]),
                "root mean": root["accuracy"],
                "root std": root["accuracy_std"],
                "rival": rival_name,
                "rival seeds": int(rival["seeds"]),
                "rival mean": rival["accuracy"],
                "rival std": rival["accuracy_std"],
                "root lead": lead,
                "lead std error": error,
                "lead in std errors": in_errors,
                "verdict": verdict,
            }
        )
    return pd.DataFrame(rows)


def paper_speedups(device: str) -> pd.DataFrame:
    """The paper's per-image times on ``cpu`` or ``cuda`` (Caffe; 2x10-core Xeon, Titan Z) as speed-ups over Orig."""
    column = {"cpu": "cpu_ms", "cuda": "gpu_ms"}[device]
    frame = paper.reported().dropna(subset=[column])
    frame = frame.drop_duplicates(["model", "variant"])[["model", "variant", column]].rename(columns={column: "ms"})
    orig = frame[frame["variant"] == "orig"].set_index("model")["ms"]
    frame["speedup"] = frame["model"].map(orig) / frame["ms"]
    return frame.reset_index(drop=True)


def timing_vs_paper(timed: pd.DataFrame, device: str) -> pd.DataFrame:
    """Our speed-ups over Orig (one timing setting) beside the paper's, both against the FLOPs ratio."""
    theirs = paper_speedups(device).rename(columns={"ms": "paper_ms", "speedup": "paper_speedup"})
    columns = ["model", "variant", "flops_ratio", "ms_per_image", "speedup", "speedup_q1", "speedup_q3"]
    frame = timed[columns].merge(theirs, on=["model", "variant"], how="left")
    frame["speedup_of_flops_ratio"] = frame["speedup"] / frame["flops_ratio"]
    frame["paper_speedup_of_flops_ratio"] = frame["paper_speedup"] / frame["flops_ratio"]
    return frame


def error_vs_cost(family: str) -> pd.DataFrame:
    """The paper's top-1 and top-5 errors of each variant with its counts and ours (Figs. 8, 9)."""
    counts = counts_vs_paper(family)[["variant", "flops", "params", "paper_flops", "paper_params"]]
    reported = paper.reported().query("model == @family")[["variant", "top1_accuracy", "top5_accuracy"]]
    frame = counts.merge(reported, on="variant")
    frame.insert(1, "topology", [schedules.topology(family, variant) for variant in frame["variant"]])
    frame["paper_top1_error"] = 1 - frame.pop("top1_accuracy")
    frame["paper_top5_error"] = 1 - frame.pop("top5_accuracy")
    return frame


def time_columns(timed: pd.DataFrame, model: str) -> pd.DataFrame:
    """A table's time columns for ``model``: per timed device, ``roots time``'s default setting
    and the fastest one (``timing.fastest``), beside the paper's."""
    timed = timed[timed["model"] == model]
    fastest = timing.fastest(timed).set_index("device")["setting"] if len(timed) else pd.Series(dtype=str)
    frames = []
    for device, rows in timed.groupby("device"):
        choices = {setting: "default" for setting in rows.loc[timing.is_default(rows), "setting"].unique()}
        choices[fastest[device]] = "default, fastest" if fastest[device] in choices else "fastest"
        for setting, choice in choices.items():
            chosen = timing_vs_paper(rows[rows["setting"] == setting], device)
            frames.append(chosen.assign(device=device, choice=choice, setting=setting))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def fastest_time_columns(timed: pd.DataFrame) -> pd.DataFrame:
    """Every model's time columns with its fastest setting on each device (``timing.fastest``), beside the paper's."""
    chosen = timed.merge(timing.fastest(timed), on=["device", "model", "setting"])  # keeps timed's row order
    frames = [
        timing_vs_paper(rows, device).assign(device=device, setting=rows["setting"].to_numpy())
        for device, rows in chosen.groupby("device")
    ]
    return pd.concat(frames, ignore_index=True)


def acceptance_pairs(
    timed: pd.DataFrame,
    pairs: tuple[tuple[str, str], ...] = (("nin", "root-8"), ("resnet50", "root-64")),
    share: float = 0.9,
) -> pd.DataFrame:
    """Sec. 5's acceptance pairs, every timed setting: the speed-up over Orig with its quartiles, its
    share of the FLOPs ratio (the target: at least ``share``) and the paper's on the same kind of device."""
    chosen = pd.concat([timed[(timed["model"] == model) & (timed["variant"] == variant)] for model, variant in pairs])
    theirs = pd.concat([paper_speedups(device).assign(device=device) for device in ("cpu", "cuda")])
    chosen = chosen.merge(
        theirs[["device", "model", "variant", "speedup"]].rename(columns={"speedup": "paper_speedup"}),
        on=["device", "model", "variant"],
        how="left",
    )
    chosen["speed-up [q1, q3]"] = chosen.apply(
        lambda r: f"{r.speedup:.2f}x [{r.speedup_q1:.2f}, {r.speedup_q3:.2f}]", axis=1
    )
    chosen["of FLOPs ratio"] = chosen["speedup_of_flops_ratio"]
    chosen[f"meets {share:.0%}"] = chosen["of FLOPs ratio"] >= share
    columns = [
        "device",
        "model",
        "variant",
        "setting",
        "flops_ratio",
        "speed-up [q1, q3]",
        "of FLOPs ratio",
        f"meets {share:.0%}",
        "paper_speedup",
    ]
    return chosen[columns].sort_values(["device", "model", "of FLOPs ratio"], ascending=[True, True, False])


def proxy_runs(runs_dir: Path, family: str) -> pd.DataFrame:
    """The trained CIFAR-10 proxy runs of an ILSVRC ``family`` (``runs.table`` rows; none is no error)."""
    try:
        trained = runs.table(runs_dir)
    except runs.RunsError:
        return pd.DataFrame(columns=list(runs.COLUMNS))
    return trained[trained["model"] == f"{family}-cifar"].reset_index(drop=True)


def proxy_vs_paper(trained: pd.DataFrame, family: str) -> pd.DataFrame:
    """``proxy_runs`` beside the paper's ILSVRC table of that family (see ``accuracy_vs_paper``)."""
    return accuracy_vs_paper(trained, paper.paper_table(family))


def ratios_to_orig(counts: pd.DataFrame) -> pd.DataFrame:
    """``counts_vs_paper`` as fractions of Orig, ours and the paper's: what a unit slip cannot change."""
    frame = counts.set_index("variant")
    orig = frame.loc["orig"]
    return pd.DataFrame(
        {
            "our FLOPs": frame["flops"],
            "paper FLOPs (as printed)": frame["paper_flops"],
            "our FLOPs / orig": frame["flops"] / orig["flops"],
            "paper FLOPs / orig": frame["paper_flops"] / orig["paper_flops"],
            "our params / orig": frame["params"] / orig["params"],
            "paper params / orig": frame["paper_params"] / orig["paper_params"],
        }
    )


def alexnet_groups(groups: list[int]) -> pd.DataFrame:
    """Fig. 2's counts: AlexNet with conv2, conv4 and conv5 in each number of ``groups`` (2 is the
    original, 1 the network without filter groups); weights and FLOPs, and how many fewer than at 1."""
    rows = []
    for count in groups:
        layers = counting.count_layers(alexnet.build_alexnet(count), alexnet.INPUT_SIZE)
        rows.append(
            {
                "groups": count,
                "conv_weights": counting.total_params(layers, "conv weights"),
                "weights": counting.total_params(layers, "weights"),
                "flops": counting.total_flops(layers),
            }
        )
    frame = pd.DataFrame(rows)
    ungrouped = frame.set_index("groups").loc[1]
    for column in ("conv_weights", "weights", "flops"):
        frame[f"fewer_{column}"] = 1 - frame[column] / ungrouped[column]
    return frame
