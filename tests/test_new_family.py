"""What a contributor adds for a new family: a builder, one registry entry and its schedule
file. Here a small VGG, registered for the test only; everything else (building, counting,
timing, the comparison with the paper, which does not report it) must follow."""

from collections import OrderedDict

import pytest
from torch import nn

from roots.bench import timing
from roots.errors import UnknownNameError
from roots.nn import counting, models
from roots.nn.layers import ConvBN, he_init
from roots.paper import reported, schedules
from roots.results import compare

VGG_LAYERS = (("conv1", 3, 32), ("conv2", 3, 64), ("conv3", 3, 64))
SCHEDULES = """variant,topology,k,conv1,conv2,conv3,source
orig,orig,1,1,1,1,a test
root-4,root,4,1,4,2,a test
"""


def build_vgg(groups, num_classes=10):
    layers, channels = OrderedDict(), 3
    for name, kernel, filters in VGG_LAYERS:
        layers[name] = ConvBN(name, channels, filters, kernel, groups=groups[name], slot=name)
        layers[f"{name}_pool"] = nn.MaxPool2d(2)
        channels = filters
    layers["head"] = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))
    return he_init(nn.Sequential(layers))


@pytest.fixture
def vgg(tmp_path, monkeypatch):
    (tmp_path / "groups_vgg.csv").write_text(SCHEDULES)
    table_path = schedules._table_path
    monkeypatch.setattr(
        schedules, "_table_path", lambda f: tmp_path / "groups_vgg.csv" if f == "vgg" else table_path(f)
    )
    schedules._read.cache_clear()
    family = models.Family("vgg", "a small VGG", build_vgg, (3, 32, 32))
    monkeypatch.setitem(models.ALL_FAMILIES, "vgg", family)
    yield family
    schedules._read.cache_clear()


def test_a_new_family_builds_counts_and_times_from_its_entry_and_schedule_file(vgg):
    assert vgg.variants() == ["orig", "root-4"] and vgg.slots() == ("conv1", "conv2", "conv3")
    orig, root = (counting.profile(models.variant("vgg", name)) for name in ("orig", "root-4"))
    assert root["params_convention"] == reported.DEFAULT_PARAMS_CONVENTION
    # conv2: 32 -> 64 filters of 3x3 over 16x16 in 4 groups; conv3: 64 -> 64 over 8x8 in 2
    saved = 3 * 3 * 32 * 64 * 16 * 16 * (1 - 1 / 4) + 3 * 3 * 64 * 64 * 8 * 8 * (1 - 1 / 2)
    assert orig["flops"] - root["flops"] == saved
    assert schedules.topology("vgg", "root-4") == "root" and schedules.k("vgg", "root-4") == 4
    timed = timing.measure("vgg", ["root-4"], timing.Setting(batch=2, warmup=1, rounds=1))
    assert [row["variant"] for row in timed["variants"]] == ["orig", "root-4"]
    assert timed["variants"][1]["flops_ratio"] == orig["flops"] / root["flops"]


def test_the_paper_need_not_report_a_new_family(vgg):
    counts = compare.counts_vs_paper("vgg")
    assert counts.empty and "flops_rel_err" in counts.columns
    with pytest.raises(UnknownNameError, match="the paper reports no 'vgg'"):
        reported.paper_table("vgg")
