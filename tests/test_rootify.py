"""rootify: root modules in any CNN, the paper's schedules from its named topologies."""

import json

import pytest
import torch
import torchvision
from ptflops import get_model_complexity_info
from torch import nn

from roots.cli import main
from roots.errors import UnknownNameError
from roots.nn import models
from roots.nn.layers import GroupCountError
from roots.nn.rootify import rootify, schedule_for, spatial_convolutions
from roots.paper import schedules


def _groups(model: nn.Module) -> dict[str, int]:
    return {name: module.groups for name, module in model.named_modules() if isinstance(module, nn.Conv2d)}


@pytest.mark.slow
@pytest.mark.parametrize("family", ["nin", "resnet50", "resnet200", "googlenet"])
def test_named_topologies_give_every_schedule_of_the_papers_tables(family):
    chosen = models.family(family)
    dense = models.build(family, "orig")
    for variant in schedules.variants(family):
        if variant == schedules.BASELINE:
            continue
        rooted = rootify(dense, variant, chosen.input_size)
        assert _groups(rooted) == _groups(models.build(family, variant)), variant


def _macs_params(model: nn.Module, size=(3, 224, 224)) -> tuple[int, int]:
    macs, params = get_model_complexity_info(model, size, as_strings=False, print_per_layer_stat=False, verbose=False)
    return int(macs), int(params)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda: torchvision.models.resnet18(), {"layer1.0.conv1": 8, "layer2.0.conv1": 4, "layer4.1.conv2": 1}),
        (lambda: torchvision.models.vgg11_bn(), {"features.0": 1, "features.4": 8, "features.8": 4, "features.25": 1}),
        (
            lambda: torchvision.models.googlenet(aux_logits=False, init_weights=True),
            {"conv1.conv": 1, "conv3.conv": 8, "inception3a.branch2.1.conv": 4, "inception5b.branch3.1.conv": 1},
        ),
    ],
)
def test_torchvision_models_take_root_modules_and_lose_the_flops_ptflops_counts(build, expected):
    dense = build().eval()
    rooted = rootify(dense, "root-8").eval()
    groups = _groups(rooted)
    assert {name: groups[name] for name in expected} == expected
    assert all(module.groups == 1 for module in spatial_convolutions(dense).values())  # the original is untouched
    x = torch.randn(1, 3, 224, 224)
    assert rooted(x).shape == dense(x).shape
    # ptflops against the grouped layers' own arithmetic: each keeps 1/g of its multiply-adds and weights
    spared_macs = spared_params = 0
    outputs = {}

    def record(name):
        def hook(module, inputs, output):
            outputs.setdefault(name, output.shape[-2:].numel())

        return hook

    hooks = [module.register_forward_hook(record(name)) for name, module in spatial_convolutions(dense).items()]
    dense(x)
    for hook in hooks:
        hook.remove()
    for name, module in spatial_convolutions(dense).items():
        weights = module.weight.numel()
        spared_params += weights - weights // groups[name]
        spared_macs += (weights - weights // groups[name]) * outputs[name]
    (dense_macs, dense_params), (rooted_macs, rooted_params) = _macs_params(dense), _macs_params(rooted)
    assert dense_params - rooted_params == spared_params > 0
    assert dense_macs - rooted_macs == spared_macs > 0


def test_an_explicit_map_and_bad_schedules_are_clear():
    network = torchvision.models.resnet18()
    rooted = rootify(network, {"layer1.0.conv1": 4})
    assert _groups(rooted)["layer1.0.conv1"] == 4 and _groups(rooted)["layer1.0.conv2"] == 1
    with pytest.raises(GroupCountError, match="layer1.0.conv1: 3 groups do not divide its 64 input channels"):
        rootify(network, {"layer1.0.conv1": 3})
    with pytest.raises(UnknownNameError, match="fc: not a spatial convolution of this model"):
        schedule_for(network, {"fc": 2})
    with pytest.raises(UnknownNameError, match="unknown schedule 'roots-8'"):
        rootify(network, "roots-8")


def test_a_rooted_convolution_is_he_initialised_over_its_groups_fan_in():
    torch.manual_seed(0)
    rooted = rootify(torchvision.models.vgg11_bn(), {"features.4": 8})
    weight = rooted.features[4].weight  # 128 filters over 64/8 = 8 input channels of 3x3
    assert weight.shape == (128, 8, 3, 3)
    assert weight.std().item() == pytest.approx((2 / (8 * 9)) ** 0.5, rel=0.05)


def test_roots_profile_counts_a_torchvision_model_beside_its_dense_self(capsys):
    assert main(["profile", "--model", "torchvision:resnet18", "--schedule", "root-4", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    # torchvision's own published numbers for resnet18: 11,689,512 parameters, 1.81 GFLOPS (multiply-adds)
    assert result["dense_params"] == 11_689_512 and round(result["dense_flops"] / 1e9, 2) == 1.81
    assert result["groups"]["layer1.0.conv1"] == 4 and "layer3.0.conv1" not in result["groups"]  # 4, 2, 1
    assert result["flops"] < result["dense_flops"] and result["params"] < result["dense_params"]
    assert main(["profile", "--model", "torchvision:resnet19"]) == 2
    assert "unknown torchvision model 'resnet19'; choose one of: alexnet" in capsys.readouterr().err
