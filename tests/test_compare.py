"""Ours beside the paper's: the ILSVRC tables' accuracy, time and ratio columns, and their figures."""

import json

import hand_counts
import matplotlib
import pandas as pd
import pytest
import torch

from roots.paper import reported as paper
from roots.paper import schedules
from roots.results import compare, plots
from roots.train import loop, runs

matplotlib.use("Agg")


def test_every_table_gives_top1_and_top5_accuracy_however_it_printed_them():
    rows = paper.reported().set_index(["model", "variant"])
    assert rows.loc[("nin", "orig"), "top1_accuracy"] == pytest.approx(0.9211)
    assert rows.loc[("resnet50", "root-64"), "top5_accuracy"] == pytest.approx(0.915)
    assert rows.loc[("resnet200", "orig"), "top1_accuracy"] == pytest.approx(1 - 0.2196)  # Table 5 prints errors


def _fake_run(folder, model, variant, seed, accuracy):
    folder.mkdir(parents=True)
    metrics = dict.fromkeys(loop.RunMetrics.__annotations__)  # the schema a trained run writes
    metrics.update(
        model=model,
        variant=variant,
        seed=seed,
        test_accuracy=accuracy,
        test_top5_accuracy=0.99,
        flops=1000 if variant == "orig" else 600,
        params=10,
        epochs=1,
        train_images=5,
        test_images=5,
        images_per_second=1.0,
        device={"name": "test"},
        data={"name": "tiny"},
    )
    (folder / "metrics.json").write_text(json.dumps(metrics))


def _fake_nin_runs(root, *runs):
    """One finished NiN run per (variant, seed, accuracy), each in its own folder."""
    for variant, seed, accuracy in runs:
        _fake_run(root / f"{variant}-s{seed}", "nin", variant, seed, accuracy)


def test_proxy_runs_stand_beside_the_paper_and_other_families_runs_are_left_out(tmp_path):
    assert compare.proxy_vs_paper(compare.proxy_runs(tmp_path, "resnet50"), "resnet50")["accuracy"].isna().all()
    _fake_run(tmp_path / "a", "resnet50-cifar", "orig", 0, 0.90)
    _fake_run(tmp_path / "b", "resnet50-cifar", "orig", 1, 0.92)
    _fake_run(tmp_path / "c", "resnet50-cifar", "root-8", 0, 0.905)
    _fake_run(tmp_path / "d", "googlenet-cifar", "orig", 0, 0.5)
    trained = compare.proxy_runs(tmp_path, "resnet50")
    assert len(trained) == 3
    frame = compare.proxy_vs_paper(trained, "resnet50").set_index("variant")
    assert list(frame.index) == ["orig", "root-2", "root-4", "root-8", "root-16", "root-32", "root-64"]
    assert frame.loc["orig", "seeds"] == 2 and frame.loc["root-2", "seeds"] == 0
    assert frame.loc["root-8", "accuracy_vs_orig"] == pytest.approx(-0.005)
    assert frame.loc["root-8", "paper_accuracy_vs_orig"] == pytest.approx(0.734 - 0.730)
    assert frame.loc["root-8", "flops_vs_orig"] == pytest.approx(0.6)


def test_each_variant_is_measured_in_origs_seed_to_seed_spread(tmp_path):
    """Table 2's claim column: root-8 0.5 points under Orig, whose seeds spread 1 point (std), is
    within noise (-0.5 std); with a single Orig seed there is no spread, so no verdict either way."""
    _fake_nin_runs(tmp_path, ("orig", 0, 0.88), ("orig", 1, 0.8941421356), ("root-8", 0, 0.882071))
    trained = runs.table(tmp_path)
    frame = compare.against_orig(compare.accuracy_vs_paper(trained, 2)).set_index("variant")
    assert frame.loc["root-8", "accuracy_vs_orig"] == pytest.approx(-0.005, abs=1e-6)
    assert frame.loc["root-8", "vs_orig_in_orig_std"] == pytest.approx(-0.5, abs=1e-3)
    assert frame.loc["root-8", "within orig noise"] and pd.isna(frame.loc["root-2", "vs_orig_in_orig_std"])  # untrained
    one_seed = compare.against_orig(compare.accuracy_vs_paper(trained[trained["seed"] == 0], 2)).set_index("variant")
    assert one_seed["vs_orig_in_orig_std"].isna().all() and one_seed["within orig noise"].isna().all()


def test_roots_lead_is_weighed_against_the_compared_topologies_own_seeds(tmp_path):
    """root-8 at 87 ± 1 (3 seeds) against tree-8 at 85.5 ± 0.71 (2 seeds), the better rival: a lead
    of 1.5 points whose standard error is sqrt(1/3 + 0.5/2) = 0.76 points, so 1.96 standard errors:
    seed noise. Widen the gap and it is a lead; with one seed of root-4 there is no spread to weigh."""
    _fake_nin_runs(
        tmp_path,
        ("orig", 0, 0.88),
        ("root-8", 0, 0.86),
        ("root-8", 1, 0.87),
        ("root-8", 2, 0.88),
        ("tree-8", 0, 0.85),
        ("tree-8", 1, 0.86),
        ("col-8", 0, 0.84),
        ("root-4", 0, 0.87),
        ("col-4", 0, 0.86),
    )
    trained = runs.table(tmp_path)
    noise = compare.root_lead_against_seed_noise(compare.accuracy_vs_paper(trained, 8)).set_index("k")
    assert list(noise.index) == [4, 8]  # k = 2 and 16: no runs
    k8 = noise.loc[8]
    assert k8["rival"] == "tree" and (k8["root seeds"], k8["rival seeds"]) == (3, 2)
    assert k8["root lead"] == pytest.approx(0.015) and k8["lead std error"] == pytest.approx(0.0076376, rel=1e-4)
    assert k8["lead in std errors"] == pytest.approx(1.964, abs=1e-3) and k8["verdict"] == "within seed noise"
    assert noise.loc[4, "verdict"] == "one seed: no spread to weigh" and pd.isna(noise.loc[4, "lead in std errors"])
    wider = trained[trained["variant"] != "col-8"].copy()
    wider.loc[wider["variant"] == "tree-8", "test_accuracy"] -= 0.05  # 80.5 ± 0.71: 8.5 standard errors behind
    k8 = compare.root_lead_against_seed_noise(compare.accuracy_vs_paper(wider, 8)).set_index("k").loc[8]
    assert k8["lead in std errors"] == pytest.approx(8.51, abs=0.01) and k8["verdict"] == "root ahead"
    figure = plots.seed_spread(trained, compare.accuracy_vs_paper(trained, 8), "budget")
    columns = [label.get_text() for label in figure.axes[0].get_xticklabels()]
    assert columns == ["orig", "root-4", "col-4", "root-8", "tree-8", "col-8"]  # grouped by k, root first
    matplotlib.pyplot.close(figure)


def _timed(setting_ms):
    rows = []
    for setting, (orig, root) in setting_ms.items():
        for variant, ms in (("orig", orig), ("root-8", root)):
            implementation, layout, _ = setting.split()  # as timing.results_table labels its columns
            rows.append(
                {
                    "model": "resnet50",
                    "device": "cpu",
                    "setting": setting,
                    "implementation": implementation,
                    "layout": layout,
                    "variant": variant,
                    "ms_per_image": ms,
                    "flops_ratio": 1.0 if variant == "orig" else 1.35,
                    "speedup": orig / ms,
                    "speedup_q1": orig / ms,
                    "speedup_q3": orig / ms,
                }
            )
    return pd.DataFrame(rows)


def test_time_columns_show_the_default_setting_and_the_fastest():
    columns = compare.time_columns(_timed({"native channels_last fp32": (10, 8), "loop nchw fp32": (9, 6)}), "resnet50")
    assert set(columns["choice"]) == {"default", "fastest"}
    fastest = columns[(columns["choice"] == "fastest") & (columns["variant"] == "root-8")].iloc[0]
    assert fastest["setting"] == "loop nchw fp32" and fastest["speedup"] == pytest.approx(1.5)
    assert fastest["paper_speedup"] == pytest.approx(621 / 519)  # Table 4's CPU column
    same = compare.time_columns(_timed({"native channels_last fp32": (10, 8), "bmm nchw fp32": (20, 18)}), "resnet50")
    assert set(same["choice"]) == {"default, fastest"} and len(same) == 2
    assert compare.time_columns(_timed({"native channels_last fp32": (10, 8)}), "googlenet").empty


def test_resnet200s_flops_ratios_differ_from_the_papers_but_its_params_ratios_agree():
    ratios = compare.ratios_to_orig(compare.counts_vs_paper("resnet200")).loc["root-32"]
    assert ratios["paper FLOPs / orig"] == pytest.approx(0.75, abs=0.005)
    hand = [hand_counts.resnet((3, 24, 36, 3), schedules.named("resnet200", v), "spatial") for v in ("root-32", "orig")]
    assert ratios["our FLOPs / orig"] == pytest.approx(hand[0] / hand[1])  # 0.544
    assert ratios["our params / orig"] == pytest.approx(ratios["paper params / orig"], abs=0.005)


@pytest.mark.parametrize(("groups", "separators"), [(1, 0), (8, 7), (16, 15)])
def test_filter_grid_marks_each_group_boundary(groups, separators):
    figure = plots.filter_grid(torch.randn(64, 3, 3, 3), groups, "test")
    assert len(figure.axes[0].lines) == separators
    image = figure.axes[0].images[0].get_array()
    assert image.shape == (8 * 4 - 1, 8 * 4 - 1, 3) and 0 <= image.min() and image.max() <= 1


def test_the_error_figure_says_when_no_proxy_is_trained(tmp_path):
    proxy = compare.proxy_vs_paper(compare.proxy_runs(tmp_path, "googlenet"), "googlenet")
    figure = plots.error_vs_cost(compare.error_vs_cost("googlenet"), proxy, "Fig. 9")
    assert len(figure.axes) == 4  # no empty panels for the proxy: the title says why
    assert "no CIFAR-10 proxy run trained yet" in figure.get_suptitle()
    assert len(figure.axes[0].lines) == 2  # the paper's errors at its counts and at ours


@pytest.mark.parametrize(("family", "log_flops"), [("resnet200", True), ("resnet50", False)])
def test_counts_decades_apart_go_on_a_log_axis(tmp_path, family, log_flops):
    # ResNet-200: the paper prints 5.65e12 FLOPs for Orig where the network has about 1.5e10
    proxy = compare.proxy_vs_paper(compare.proxy_runs(tmp_path, family), family)
    figure = plots.error_vs_cost(compare.error_vs_cost(family), proxy, "Fig. 8")
    flops, params = figure.axes[0], figure.axes[1]
    assert (flops.get_xscale() == "log") == log_flops and params.get_xscale() == "linear"
    assert flops.get_xlabel().endswith(", log scale)") == log_flops


def test_each_tables_units_come_from_the_paper():
    assert [paper.units(model) for model in ("nin", "resnet50", "resnet200", "googlenet")] == [
        (8, 5),
        (9, 7),
        (12, 7),
        (9, 7),
    ]
    with pytest.raises(paper.UnknownNameError, match="the paper reports no 'vgg'"):
        paper.units("vgg")


def test_the_roofline_figure_draws_each_layer_under_the_cards_roof():
    layers = pd.DataFrame(
        {
            "variant": ["orig", "orig", "root-8", "orig"],
            "layer": ["conv1a", "conv2a", "conv2a", "other"],
            "flops": [10**9, 2 * 10**9, 2 * 10**9 // 8, 0],
            "bytes": [10**8, 2 * 10**6, 10**6, float("nan")],
            "tflop_per_s": [100.0, 300.0, 20.0, 0.0],
        }
    )
    figure = plots.roofline(layers, {"bf16": 800e12, "bytes_per_s": 4.3e12}, "bf16", "test")
    ax = figure.axes[0]
    assert len(ax.collections) == 2 and sum(len(c.get_offsets()) for c in ax.collections) == 3  # "other" left out
    roof = ax.lines[0].get_ydata()
    assert roof.max() == pytest.approx(800) and roof.min() < 800  # the flat peak and the bandwidth slope
