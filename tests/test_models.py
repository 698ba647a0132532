"""Every named variant builds and trains a step on CPU; the layouts the counts depend on."""

import pytest
import torch

from roots.errors import UnknownNameError
from roots.nn import counting, models
from roots.nn.layers import GroupCountError
from roots.paper import schedules

NAMED = [(name, variant) for name, family in models.FAMILIES.items() for variant in family.variants()]


@pytest.mark.parametrize(("name", "variant"), NAMED, ids=[f"{n}-{v}" for n, v in NAMED])
def test_every_named_variant_runs_forward_and_backward(name, variant):
    torch.manual_seed(0)
    family = models.family(name)
    model = models.build(name, variant)
    outputs = model(torch.randn(2, *family.input_size))
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    classes = 10 if name == "nin" else 1000
    assert all(out.shape == (2, classes) for out in outputs)
    sum(out.square().mean() for out in outputs).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_googlenet_has_two_auxiliary_heads_in_training_only():
    model = models.build("googlenet")
    assert len(model(torch.randn(2, 3, 224, 224))) == 3
    model.eval()
    assert model(torch.randn(1, 3, 224, 224)).shape == (1, 1000)


def _sizes(name, variant="orig"):
    family = models.family(name)
    return {
        layer.name: (layer.out_height, layer.kernel, layer.groups)
        for layer in counting.count_layers(models.build(name, variant), family.input_size, family.count_kwargs)
    }


def test_nin_uses_caffe_ceil_mode_pooling():
    sizes = _sizes("nin", "root-8")
    assert sizes["conv1a.0"] == (32, 5, 1)
    assert sizes["conv2a.0"] == (16, 5, 8)
    assert sizes["conv3a.0"] == (8, 3, 4)


def test_resnet50_downsamples_in_the_first_1x1_and_resnet200_in_the_3x3():
    r50, r200 = _sizes("resnet50"), _sizes("resnet200")
    assert r50["stages.res3.res3_1.reduce.0"][0] == 28 and r50["stages.res3.res3_1.spatial.0"][0] == 28
    assert r200["stages.res3.res3_1.reduce.0"][0] == 56 and r200["stages.res3.res3_1.spatial.0"][0] == 28
    assert sum(name.endswith("spatial.0") for name in r200) == 3 + 24 + 36 + 3


def test_googlenet_has_true_5x5_convolutions():
    sizes = _sizes("googlenet", "root-8")
    assert sizes["body.inception3a.branch5x5.1.0"] == (28, 5, 4)
    assert sizes["body.inception4e.branch5x5.1.0"] == (15, 5, 2)


def test_user_schedule_overrides_named_slots_only():
    schedule = schedules.parse("nin", "conv2a=4, conv3a=2")
    assert schedule == {**schedules.named("nin", "orig"), "conv2a": 4, "conv3a": 2}
    assert models.build("nin", groups="conv2a=4,conv3a=2").conv2a.conv.groups == 4


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": "vgg"}, "unknown model 'vgg'; choose one of: nin, resnet50"),
        ({"model": "nin", "name": "root-3"}, "unknown nin variant 'root-3'; choose one of: orig, root-2"),
        ({"model": "nin", "groups": "conv9z=2"}, "slots are: conv1a"),
        ({"model": "nin", "groups": "conv2a=two"}, "must be an integer"),
        ({"model": "nin", "groups": "conv2a=2,conv2a=4"}, "conv2a is given twice in 'conv2a=2,conv2a=4'"),
        ({"model": "nin", "groups": "conv2a=2,"}, r"has an empty item \(a stray comma\?\)"),
        ({"model": "nin", "name": "root-2", "groups": "conv3a=2"}, r"both a variant \(root-2\) and groups"),
    ],
)
def test_unknown_names_list_the_valid_ones(kwargs, message):
    with pytest.raises(UnknownNameError, match=message):
        models.build(**kwargs)


def test_group_count_that_does_not_divide_fails_before_torch_does():
    with pytest.raises(GroupCountError, match="res3.*7 groups do not divide its 128"):
        models.build("resnet50", groups="res3_3x3=7")


@pytest.mark.parametrize("name", list(models.FAMILIES))
def test_builders_use_he_initialisation(name):
    torch.manual_seed(0)
    conv = next(m for m in models.build(name).modules() if isinstance(m, torch.nn.Conv2d) and m.weight.numel() > 10_000)
    fan_in = conv.weight[0].numel()
    assert conv.weight.std().item() == pytest.approx((2 / fan_in) ** 0.5, rel=0.1)


PROXY_GRIDS = {  # the layers whose grids the 32x32 stem sets: (output size, kernel)
    "resnet50-cifar": {
        "conv1.0": (32, 3),
        "stages.res2.res2_1.spatial.0": (32, 3),
        "stages.res5.res5_3.spatial.0": (4, 3),
    },
    "resnet200-cifar": {"conv1.0": (32, 3), "stages.res3.res3_1.spatial.0": (16, 3)},
    "googlenet-cifar": {
        "stem.conv1.0": (32, 3),
        "body.inception3a.branch5x5.1.0": (32, 5),
        "body.inception4a.branch5x5.1.0": (16, 5),
        "body.inception5b.branch5x5.1.0": (8, 5),
    },
}


@pytest.mark.parametrize("name", list(models.PROXIES))
def test_proxies_take_32x32_images_and_the_paper_familys_schedules(name):
    proxy = models.family(name)
    assert proxy.input_size == (3, 32, 32) and proxy.variants() == models.family(proxy.proxy_of).variants()
    sizes = _sizes(name, "root-8")
    for layer, expected in PROXY_GRIDS[name].items():
        assert sizes[layer][:2] == expected
    model = models.build(name, "root-8").eval()
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_a_proxy_changes_only_the_stem_and_the_classes():
    """Every root module of the ILSVRC network is there, with the same groups and shapes."""
    for name, proxy in models.PROXIES.items():
        paper, ours = (models.build(family, "root-8").named_parameters() for family in (proxy.proxy_of, name))
        paper, ours = dict(paper), dict(ours)
        differ = {key for key in paper if paper[key].shape != ours.get(key, torch.empty(0)).shape}
        differ |= set(paper) ^ set(ours)
        assert all(key.startswith(("conv1", "stem.conv1", "fc", "aux")) for key in differ), sorted(differ)


def test_an_unknown_stem_is_refused():
    with pytest.raises(UnknownNameError, match="unknown stem 'mnist'; choose one of: imagenet, cifar"):
        models.family("resnet50").build(schedules.named("resnet50", "orig"), stem="mnist")


@pytest.mark.parametrize("family", ["nin", "resnet50", "resnet200", "googlenet"])
def test_each_schedule_names_its_topology_and_k(family):
    for variant in schedules.variants(family):
        topology, k = schedules.topology(family, variant), schedules.k(family, variant)
        assert (topology, k) == ("orig", 1) if variant == schedules.BASELINE else variant == f"{topology}-{k}"
    assert (schedules.topology("nin", "tree-8"), schedules.k("nin", "tree-8")) == ("tree", 8)
    with pytest.raises(UnknownNameError, match="unknown nin variant 'root-3'"):
        schedules.topology("nin", "root-3")
