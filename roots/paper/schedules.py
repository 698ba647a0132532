"""The paper's group schedules (Tables 1, 3, 7 and 8), read from ``tables/groups_*.csv``.

A schedule maps each *slot* of a family (a column of the paper's table, e.g. NiN's
``conv2a`` or ResNet's ``res3_3x3``) to its number of filter groups.
"""

from __future__ import annotations

import csv
from functools import cache
from importlib import resources

from roots.errors import UnknownNameError

Schedule = dict[str, int]


def _table_path(family: str):
    return resources.files("roots.paper") / "tables" / f"groups_{family}.csv"


BASELINE = "orig"  # every table's ungrouped network, the variant the others are compared with
_NOT_SLOTS = ("variant", "topology", "k", "source")


@cache
def _read(family: str) -> tuple[dict[str, Schedule], dict[str, dict[str, str]], tuple[str, ...]]:
    with _table_path(family).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    slots = tuple(column for column in rows[0] if column not in _NOT_SLOTS)
    schedules = {row["variant"]: {slot: int(row[slot]) for slot in slots} for row in rows}
    about = {row["variant"]: {key: row[key] for key in _NOT_SLOTS} for row in rows}
    return schedules, about, slots


def slots(family: str) -> tuple[str, ...]:
    return _read(family)[2]


def variants(family: str) -> list[str]:
    """The paper's named variants of a family, in the paper's order."""
    return list(_read(family)[0])


def _about(family: str, variant: str) -> dict[str, str]:
    named(family, variant)  # an unknown name: the one clear error
    return _read(family)[1][variant]


def source(family: str, variant: str) -> str:
    """Where in the paper a named schedule comes from."""
    return _about(family, variant)["source"]


def topology(family: str, variant: str) -> str:
    """``root``, ``tree``, ``col``, or ``orig`` for the ungrouped baseline (the table's column)."""
    return _about(family, variant)["topology"]


def k(family: str, variant: str) -> int:
    """The topology's group count k (root-k starts at k groups, tree-k ends at 2k); 1 for Orig."""
    return int(_about(family, variant)["k"])


def named(family: str, variant: str) -> Schedule:
    schedules = _read(family)[0]
    if variant not in schedules:
        raise UnknownNameError(f"unknown {family} variant {variant!r}; choose one of: {', '.join(schedules)}")
    return dict(schedules[variant])


def parse(family: str, text: str) -> Schedule:
    """A user's own schedule, e.g. ``"conv2a=4,conv3a=2"``; slots not named keep 1 group."""
    schedule, given = dict.fromkeys(slots(family), 1), set()
    for item in (part.strip() for part in text.split(",")):
        if not item:  # a stray comma: the user may have meant a slot that is now silently 1
            raise UnknownNameError(f"{text!r} has an empty item (a stray comma?); write SLOT=GROUPS,SLOT=GROUPS")
        slot, sep, value = item.partition("=")
        slot = slot.strip()
        if not sep or slot not in schedule:
            raise UnknownNameError(
                f"cannot read {item!r} as SLOT=GROUPS for {family}; slots are: {', '.join(schedule)}"
            )
        if slot in given:
            raise UnknownNameError(f"{slot} is given twice in {text!r}; give each slot once")
        given.add(slot)
        try:
            schedule[slot] = int(value)
        except ValueError:
            raise UnknownNameError(f"{slot}: group count must be an integer, got {value.strip()!r}") from None
    return schedule


def label(schedule: Schedule) -> str:
    """A compact name for a schedule: the slots with more than one group."""
    grouped = [f"{slot}={groups}" for slot, groups in schedule.items() if groups != 1]
    return ",".join(grouped) or "ungrouped"
