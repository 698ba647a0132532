"""Grouped-convolution implementations agree with the native one; the timing command's contract."""

import json
import math

import hand_counts
import pytest
import torch
from torch import nn

from roots.bench import timing
from roots.cli import main
from roots.nn import counting, external, implementations, models
from roots.paper import schedules

_HAND_RATIO = hand_counts.nin(schedules.named("nin", "orig")) / hand_counts.nin(
    schedules.named("nin", "root-8")
)  # 2.153


@pytest.mark.parametrize("implementation", ["loop", "bmm"])
@pytest.mark.parametrize(
    ("in_channels", "out_channels", "kernel", "stride", "padding", "groups"),
    [(16, 8, 3, 1, 1, 4), (12, 12, 5, 2, 2, 3), (8, 16, 1, 1, 0, 2), (6, 6, 3, 2, 0, 6)],
)
def test_every_implementation_matches_the_native_grouped_convolution(
    implementation, in_channels, out_channels, kernel, stride, padding, groups
):
    torch.manual_seed(0)
    conv = nn.Conv2d(in_channels, out_channels, kernel, stride, padding, groups=groups, bias=True)
    x = torch.randn(3, in_channels, 11, 9)
    other = implementations.GroupedConv2d(conv, implementation)
    torch.testing.assert_close(other(x), conv(x), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(other(x.contiguous(memory_format=torch.channels_last)), conv(x), rtol=1e-5, atol=1e-5)
    conv.to(memory_format=torch.channels_last)  # as `roots time --layout channels_last` stores the weights
    torch.testing.assert_close(other(x), conv(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("implementation", ["loop", "bmm"])
@pytest.mark.parametrize(("model", "variant", "size"), [("nin", "root-8", 32), ("resnet50", "root-64", 64)])
def test_a_whole_model_gives_the_same_output_with_every_implementation(implementation, model, variant, size):
    torch.manual_seed(0)
    network = models.build(model, variant).eval()
    swapped = implementations.use(network, implementation)
    assert any(isinstance(module, implementations.GroupedConv2d) for module in swapped.modules())
    assert not any(isinstance(module, implementations.GroupedConv2d) for module in network.modules())
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():  # float32 rounding differs by summation order and grows over 50 layers
        torch.testing.assert_close(swapped(x), network(x), rtol=1e-3, atol=1e-3)


def _randomise_batchnorm(network: nn.Module, generator: torch.Generator) -> None:
    """Statistics and affine terms far from the identity, so that a wrong fold cannot pass unnoticed."""
    for module in network.modules():
        if isinstance(module, nn.BatchNorm2d):
            size = module.num_features
            module.running_mean.copy_(torch.randn(size, generator=generator, dtype=torch.float64) * 2)
            module.running_var.copy_(torch.rand(size, generator=generator, dtype=torch.float64) * 4 + 0.1)
            if module.affine:
                sign = torch.randint(0, 2, (size,), generator=generator) * 2 - 1
                module.weight.copy_(sign * (torch.rand(size, generator=generator, dtype=torch.float64) * 1.5 + 0.5))
                module.bias.copy_(torch.randn(size, generator=generator, dtype=torch.float64))


@pytest.mark.parametrize(
    ("model", "variant", "size"),
    [
        ("nin", "root-4", 32),
        ("resnet50", "root-16", 64),
        ("googlenet", "root-4", 224),
        # torchvision's networks keep Conv2d and BatchNorm2d apart: torch.fx finds the pairs
        ("torchvision:resnet18", "root-4", 64),
        ("torchvision:googlenet", "root-8", 64),
        ("torchvision:mobilenet_v2", "orig", 64),  # depthwise convolutions, left dense by rootify
    ],
)
def test_folding_batchnorm_into_the_convolutions_keeps_the_output(model, variant, size):
    generator = torch.Generator().manual_seed(0)
    built = external.network(model, variant) if external.is_external(model) else models.build(model, variant)
    network = built.double().eval()
    x = torch.randn(2, 3, size, size, generator=generator, dtype=torch.float64)
    with torch.no_grad():
        identity = network(x)
        _randomise_batchnorm(network, generator)
        expected = network(x)
        assert (expected - identity).abs().max() > 0.1 * identity.abs().max()  # the statistics matter
        folded = implementations.fold_batchnorm(network)
        assert not any(isinstance(module, nn.BatchNorm2d) for module in folded.modules())
        torch.testing.assert_close(folded(x), expected, rtol=1e-9, atol=1e-9 * expected.abs().max().item())
    with pytest.raises(ValueError, match="eval-mode"):
        implementations.fold_batchnorm(network.train())


class _Branching(nn.Module):
    """A forward torch.fx cannot trace: which way it goes depends on the data."""

    def __init__(self):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)

    def forward(self, x):
        y = self.bn(self.conv(x))
        return y if y.sum() > 0 else -y


def test_a_model_whose_batchnorm_cannot_be_found_gets_a_clear_error():
    with pytest.raises(
        ValueError, match="cannot fold the BatchNorms of _Branching: torch.fx cannot trace.*--no-fold-bn"
    ):
        implementations.fold_batchnorm(_Branching().eval())


def test_a_torchvision_model_is_timed_with_its_rootify_schedules(capsys, tmp_path):
    argv = ["time", "--model", "torchvision:resnet18", "--variants", "root-8", "--batch", "1", "--rounds", "2"]
    assert main([*argv, "--warmup", "0", "--json", "--out-dir", str(tmp_path)]) == 0
    result = json.loads(capsys.readouterr().out)
    dense, rooted = result["variants"]
    assert (dense["variant"], rooted["variant"]) == ("orig", "root-8")
    counted = {name: external.flops(external.network("torchvision:resnet18", name)) for name in ("orig", "root-8")}
    assert rooted["flops_ratio"] == pytest.approx(counted["orig"] / counted["root-8"]) and rooted["flops_ratio"] > 1.5
    assert [path.name for path in tmp_path.iterdir()] == ["torchvision-resnet18-native-channels_last-fp32.json"]


def test_time_json_has_speedups_flops_ratios_and_the_environment(capsys):
    argv = [
        "time",
        "--model",
        "nin",
        "--variants",
        "root-8",
        "--batch",
        "2",
        "--rounds",
        "3",
        "--warmup",
        "1",
        "--implementation",
        "bmm",
        "--layout",
        "nchw",
        "--json",
    ]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert [row["variant"] for row in result["variants"]] == ["orig", "root-8"]  # Orig added as the baseline
    assert result["setting"] == {
        "device": "cpu",
        "batch": 2,
        "implementation": "bmm",
        "dtype": "fp32",
        "layout": "nchw",
        "fold_bn": True,
        "compile": False,
        "warmup": 1,
        "rounds": 3,
    }
    for key in ("device", "name", "threads", "torch"):
        assert key in result["environment"]
    root8 = result["variants"][1]
    assert root8["flops_ratio"] == pytest.approx(_HAND_RATIO) and len(root8["samples_ms"]) == 3
    assert root8["ms_q1"] <= root8["ms_per_image"] <= root8["ms_q3"] and root8["speedup"] > 0
    assert result["variants"][0]["speedup"] == 1.0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--device", "gpu"], "unknown device 'gpu'"),
        (["--implementation", "winograd"], "unknown implementation 'winograd'; choose one of: native, loop, bmm"),
        (["--dtype", "fp8"], "unknown dtype 'fp8'"),
        (["--layout", "nhwc"], "unknown layout 'nhwc'"),
        (["--variants", "orig,root-3"], "unknown"),
        (["--rounds", "0"], "rounds must be at least 1"),
    ],
)
def test_bad_timing_input_gives_one_clear_line(capsys, argv, message):
    assert main(["time", "--model", "nin", "--batch", "1", "--rounds", "1"] + argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("roots: error: ") and message in err and len(err.strip().splitlines()) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_timing_on_cuda_without_a_gpu_says_so():
    with pytest.raises(timing.RootsError, match="torch sees no GPU"):
        timing.measure("nin", ["root-8"], timing.Setting(device="cuda"))


def test_several_implementations_and_layouts_write_one_file_each(tmp_path, capsys):
    argv = [
        "time",
        "--model",
        "nin",
        "--variants",
        "root-2",
        "--batch",
        "1",
        "--rounds",
        "1",
        "--warmup",
        "0",
        "--implementation",
        "native,loop",
        "--layout",
        "nchw,channels_last",
        "--out-dir",
        str(tmp_path),
    ]
    assert main(argv) == 0
    names = sorted(path.name for path in tmp_path.iterdir())
    assert names == [f"nin-{i}-{layout}-fp32.json" for i in ("loop", "native") for layout in ("channels_last", "nchw")]
    assert json.loads((tmp_path / "nin-loop-nchw-fp32.json").read_text())["setting"]["implementation"] == "loop"
    assert capsys.readouterr().out.count("speed-up") == 8  # two variants in each of four settings
    table = timing.results_table(tmp_path)
    assert len(table) == 8 and set(table["setting"]) == {
        f"{i} {layout} fp32" for i in ("native", "loop") for layout in ("nchw", "channels_last")
    }
    with pytest.raises(timing.TimingError, match="no timing results under"):
        timing.results_table(tmp_path / "nothing")


def test_a_setting_that_fails_costs_only_itself(tmp_path, capsys, monkeypatch):
    """As when a GPU cannot compile one implementation's kernel (when its networks are built and
    warmed up) or one fails in a later round: the other settings are still measured and written,
    each failure is one line, and the command fails at the end."""
    prepare = timing._prepare

    class FailsLater(nn.Module):
        def __init__(self, network):
            super().__init__()
            self.network, self.calls = network, 0

        def forward(self, x):
            self.calls += 1
            if self.calls > 3:
                raise RuntimeError("illegal memory access")
            return self.network(x)

    def failing(network, setting, device):
        if setting.implementation == "loop":
            raise RuntimeError("out of resources: shared memory\n(a long compiler log)")
        prepared = prepare(network, setting, device)
        return FailsLater(prepared) if setting.implementation == "bmm" else prepared

    monkeypatch.setattr(timing, "_prepare", failing)
    monkeypatch.setattr(timing, "MIN_SAMPLE_SECONDS", 0)  # one forward pass a sample
    argv = [
        "time",
        "--model",
        "nin",
        "--variants",
        "root-2",
        "--batch",
        "1",
        "--rounds",
        "3",
        "--warmup",
        "0",
        "--implementation",
        "loop,native,bmm",
        "--layout",
        "nchw",
        "--out-dir",
        str(tmp_path),
    ]
    assert main(argv) == 2
    assert [path.name for path in tmp_path.iterdir()] == ["nin-native-nchw-fp32.json"]
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("roots:")]  # not progress bars
    assert err == [
        "roots: nin loop nchw fp32 failed: RuntimeError: out of resources: shared memory",
        "roots: nin bmm nchw fp32 failed: RuntimeError: illegal memory access",
        "roots: error: 2 of 3 settings of nin failed (loop nchw, bmm nchw); the others were measured",
    ]


def test_each_setting_gets_its_own_copy_of_a_network_even_unfolded():
    """One built network serves every setting of a call: preparing it for channels_last must not
    move the NCHW setting's network too (``.to`` works in place)."""
    network = models.build("nin", "root-2").eval()
    prepared = timing._prepare(network, timing.Setting(fold_bn=False, layout="channels_last"), torch.device("cpu"))
    assert prepared is not network
    assert prepared.conv1a[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert not network.conv1a[0].weight.is_contiguous(memory_format=torch.channels_last)


def test_settings_timed_together_take_turns_in_the_same_rounds(monkeypatch):
    """Which implementation is fastest is then as safe from a drifting machine as a speed-up is."""
    turns = []
    interleaved = timing._interleaved
    monkeypatch.setattr(
        timing,
        "_interleaved",
        lambda keys, *args, **kwargs: (turns.append(list(keys)), interleaved(keys, *args, **kwargs)),
    )
    settings = [timing.Setting(batch=1, implementation=name, warmup=0, rounds=2) for name in ("native", "loop")]
    results = timing.measure_settings("nin", ["root-2"], settings)
    assert turns == [[(0, "orig"), (0, "root-2"), (1, "orig"), (1, "root-2")]]
    assert [result["setting"]["implementation"] for result in results] == ["native", "loop"]
    assert all(len(row["samples_ms"]) == 2 for result in results for row in result["variants"])
    with pytest.raises(timing.TimingError, match="share one device and one number of rounds"):
        timing.measure_settings("nin", ["root-2"], [settings[0], timing.Setting(rounds=3)])


def test_per_layer_breakdown_explains_where_the_time_goes(tmp_path, capsys):
    argv = [
        "time",
        "--model",
        "nin",
        "--variants",
        "root-8",
        "--batch",
        "2",
        "--rounds",
        "2",
        "--warmup",
        "1",
        "--layers",
        "--out-dir",
        str(tmp_path),
    ]
    assert main(argv) == 0
    layers = timing.layers_table(tmp_path)
    assert sorted(path.name for path in tmp_path.glob("*.csv")) == ["nin-layers-native-channels_last-fp32.csv"]
    assert set(layers["variant"]) == {"orig", "root-8"} and "other" in set(layers["layer"])
    assert (layers.loc[layers["layer"] != "other", "tflop_per_s"] > 0).all() and layers[
        "roofline_ms"
    ].isna().all()  # no CPU peaks
    conv2a = hand_counts.conv(16, 5, 96, 192)  # 16x16 outputs, 5x5 kernels, 96 -> 192 channels
    assert layers.loc[layers["layer"] == "conv2a", "flops"].tolist() == [conv2a, conv2a // 8]
    explained = timing.where_time_goes(layers).set_index("variant")
    assert explained.loc["root-8", "flops_ratio"] == pytest.approx(_HAND_RATIO)
    assert explained.loc["orig", "speedup"] == explained.loc["orig", "bound"] == 1.0  # Orig has nothing grouped
    root8 = explained.loc["root-8"]
    assert root8["grouped_layers_ms"] > 0 and root8["bound"] > root8["at_orig_rate"] > 0


def test_the_roofline_of_a_layer_is_its_arithmetic_or_its_bytes_at_the_cards_peaks():
    # conv2a of NiN root-8 on an H200 in bf16: 16x16x5x5x12x192 multiply-adds, 96x16x16 values in, 192x16x16 out
    layer = next(
        layer for layer in counting.count_layers(models.build("nin", "root-8"), (3, 32, 32)) if layer.name == "conv2a.0"
    )
    found = timing.roofline(layer, batch=1024, dtype="bf16", device_name="NVIDIA H200")
    moved = 2 * (96 * 16 * 16 + 192 * 16 * 16 + 192 * 12 * 25 / 1024)
    assert found["bytes"] == pytest.approx(moved)
    assert found["compute_bound_ms"] == pytest.approx(2 * hand_counts.conv(16, 5, 96, 192, 8) / 800e12 * 1e3)
    assert found["memory_bound_ms"] == pytest.approx(moved / 4.3e12 * 1e3)
    assert found["roofline_ms"] == max(found["compute_bound_ms"], found["memory_bound_ms"])
    assert math.isnan(timing.roofline(layer, 16, "fp32", "CPU (2 logical cores)")["roofline_ms"])  # peaks unknown
    assert timing.peaks("NVIDIA H100 80GB HBM3")["bytes_per_s"] == 3.35e12
