"""The four architecture families of the paper, each built from a group schedule, and the
CIFAR-10 proxies of its three ILSVRC families (the same networks with a 32x32 stem)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial

from torch import nn

from roots.errors import UnknownNameError
from roots.nn.models.googlenet import build_googlenet
from roots.nn.models.nin import build_nin
from roots.nn.models.resnet import build_resnet50, build_resnet200
from roots.paper import schedules


@dataclass(frozen=True)
class Family:
    """How to build a family and what input it takes: architecture only (which paper table
    reports it, and how that table counts params, is ``roots.paper.reported``'s, and optional).

    ``count_kwargs`` are passed to ``forward`` when counting, e.g. to include GoogLeNet's
    training-time auxiliary heads. A proxy (``proxy_of``) takes the group schedules of the
    paper family it stands in for.
    """

    name: str
    title: str
    build: Callable[..., nn.Module]
    input_size: tuple[int, int, int]
    count_kwargs: Mapping[str, object] = field(default_factory=dict)
    proxy_of: str | None = None

    @property
    def schedule_family(self) -> str:
        return self.proxy_of or self.name

    def variants(self) -> list[str]:
        return schedules.variants(self.schedule_family)

    def slots(self) -> tuple[str, ...]:
        return schedules.slots(self.schedule_family)


FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family("nin", "Network-in-Network (CIFAR-10)", build_nin, (3, 32, 32)),
        Family("resnet50", "ResNet-50 (ILSVRC)", build_resnet50, (3, 224, 224)),
        Family("resnet200", "ResNet-200 (ILSVRC)", build_resnet200, (3, 224, 224)),
        Family("googlenet", "GoogLeNet (ILSVRC)", build_googlenet, (3, 224, 224), {"with_aux": True}),
    )
}

# The ILSVRC families on CIFAR-10 (no ImageNet here): the paper's schedules, a 32x32 stem, 10 classes.
PROXIES: dict[str, Family] = {
    f"{paper.name}-cifar": Family(
        f"{paper.name}-cifar",
        f"{paper.title.removesuffix(' (ILSVRC)')}, 32x32 stem (CIFAR-10 proxy)",
        partial(paper.build, stem="cifar", num_classes=10),
        (3, 32, 32),
        paper.count_kwargs,
        proxy_of=paper.name,
    )
    for paper in FAMILIES.values()
    if paper.name != "nin"
}
ALL_FAMILIES: dict[str, Family] = {**FAMILIES, **PROXIES}


def family(name: str) -> Family:
    if name not in ALL_FAMILIES:
        raise UnknownNameError(f"unknown model {name!r}; choose one of: {', '.join(ALL_FAMILIES)}")
    return ALL_FAMILIES[name]


@dataclass(frozen=True)
class Variant:
    """A model resolved once: its family, its name and its schedule. Everything downstream
    (training, counting, timing, the notebooks' tables) takes one of these, not a name to
    look up again."""

    family: Family
    name: str  # a named variant, or the label of a user's schedule
    schedule: schedules.Schedule

    def build(self, **kwargs) -> nn.Module:
        return self.family.build(self.schedule, **kwargs)


def variant(model: str, name: str = "orig", groups: str | None = None) -> Variant:
    """A named variant of ``model``, or a user's own ``groups="slot=g,..."``; a clear error for an
    unknown model, variant, slot or group count."""
    chosen = family(model)
    table = chosen.schedule_family
    if groups is not None and name != schedules.BASELINE:
        raise UnknownNameError(
            f"both a variant ({name}) and groups ({groups}) are given; give one: groups name every slot's count"
        )
    if groups is not None:
        schedule = schedules.parse(table, groups)
        return Variant(chosen, schedules.label(schedule), schedule)
    return Variant(chosen, name, schedules.named(table, name))


def build(model: str, name: str = "orig", groups: str | None = None, **kwargs) -> nn.Module:
    return variant(model, name, groups).build(**kwargs)
