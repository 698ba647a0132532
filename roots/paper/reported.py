"""The numbers the paper reports (Tables 2, 4, 5, 6 and 8), read from ``tables/reported.csv``,
and which table reports each family and what its parameter column counts (``tables/families.csv``).

Values are stored as printed, with the power of ten of each column's heading
(``flops_exp``, ``params_exp``: "FLOPS x10^8" is 8). Table 2 repeats the Orig and root rows
of Table 8, so only Table 8 is stored for NiN; ``table_rows(2)`` selects those rows.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

from roots.errors import UnknownNameError
from roots.paper import schedules

# Table 2 reports the NiN variants whose schedules Table 1 gives (groups_nin.csv's source column)
NIN_TABLE2_VARIANTS = tuple(name for name in schedules.variants("nin") if schedules.source("nin", name) == "Table 1")

# Sec. 2 (Fig. 2): "the AlexNet network has approximately 57% fewer connection weights than the
# corresponding network without filter groups"; Fig. 2's errors are not in the text we have.
ALEXNET_FEWER_WEIGHTS = 0.57


# What a parameter count includes where the paper reports no table to fit it to (a new family)
DEFAULT_PARAMS_CONVENTION = "weights+biases"


def _families() -> pd.DataFrame:
    with (resources.files("roots.paper") / "tables" / "families.csv").open() as handle:
        return pd.read_csv(handle).set_index("family")


def paper_table(family: str) -> int:
    """The number of the paper's table that reports ``family`` (e.g. 4 for ResNet-50)."""
    families = _families()
    if family not in families.index:
        raise UnknownNameError(f"the paper reports no {family!r}; choose one of: {', '.join(families.index)}")
    return int(families.loc[family, "table"])


def params_convention(family: str) -> str:
    """What ``family``'s parameter counts include (``roots.nn.counting.PARAM_CONVENTIONS``): the
    convention that fits its paper table best (the architectures notebook shows the fit), or
    weights and biases for a family the paper does not report."""
    families = _families()
    return families.loc[family, "params_convention"] if family in families.index else DEFAULT_PARAMS_CONVENTION


def reported() -> pd.DataFrame:
    """Every reported row, with absolute ``paper_flops`` and ``paper_params`` added, and
    ``top1_accuracy`` and ``top5_accuracy`` whichever way the table printed them (NiN's
    accuracy, Tables 4 and 6's accuracies, Table 5's errors)."""
    with (resources.files("roots.paper") / "tables" / "reported.csv").open() as handle:
        frame = pd.read_csv(handle)
    frame["paper_flops"] = frame["flops"] * 10.0 ** frame["flops_exp"]
    frame["paper_params"] = frame["params"] * 10.0 ** frame["params_exp"]
    frame["top1_accuracy"] = frame["accuracy"].fillna(frame["top1_acc"]).fillna(1 - frame["top1_err"])
    frame["top5_accuracy"] = frame["top5_acc"].fillna(1 - frame["top5_err"])
    return frame


def units(model: str) -> tuple[int, int]:
    """The powers of ten a model's table prints its FLOPs and params in (e.g. 9, 7 for Table 4)."""
    rows = reported().query("model == @model")
    if rows.empty:
        raise UnknownNameError(
            f"the paper reports no {model!r}; choose one of: {', '.join(reported()['model'].unique())}"
        )
    return int(rows["flops_exp"].iloc[0]), int(rows["params_exp"].iloc[0])


def table_rows(table: int) -> pd.DataFrame:
    """The rows of one of the paper's result tables (2, 4, 5, 6 or 8)."""
    frame = reported()
    if table == 2:
        return frame[(frame["model"] == "nin") & frame["variant"].isin(NIN_TABLE2_VARIANTS)].reset_index(drop=True)
    if table not in set(frame["table"]):
        raise UnknownNameError(f"the paper has no result table {table}; choose one of: 2, 4, 5, 6, 8")
    return frame[frame["table"] == table].reset_index(drop=True)
