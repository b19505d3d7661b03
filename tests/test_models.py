"""Cut-point API of every architecture: composition, shapes, naming."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stitchtest.models import INPUT, build

ARCHS = ["R1111", "R1212", "R2222", "resnet18", "resnet34", "vgg4", "vgg3"]


@settings(max_examples=15, deadline=None)
@given(arch=st.sampled_from(ARCHS), cut_index=st.integers(-1, 30), channels=st.sampled_from([1, 3]),
       size=st.sampled_from([8, 16]), classes=st.sampled_from([2, 10]), seed=st.integers(0, 2**16))
def test_suffix_of_prefix_is_the_full_forward(arch, cut_index, channels, size, classes, seed):
    torch.manual_seed(seed)
    model = build(arch, width=4, in_channels=channels, num_classes=classes).eval()
    cut = INPUT if cut_index < 0 else model.cuts[cut_index % len(model.cuts)]
    x = torch.randn(3, channels, size, size)
    full = model(x)
    assert full.shape == (3, classes)
    torch.testing.assert_close(model.suffix(model.prefix(x, cut), cut), full, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arch", ARCHS)
def test_activations_match_prefixes_in_one_pass(arch):
    model = build(arch, width=4, in_channels=3, num_classes=10).eval()
    x = torch.randn(2, 3, 16, 16)
    wanted = [model.cuts[0], model.spatial_cuts[-1], "pool"]
    acts = model.activations(x, wanted)
    assert list(acts) == wanted
    for cut in wanted:
        torch.testing.assert_close(acts[cut], model.prefix(x, cut))


@pytest.mark.parametrize("arch,blocks", [("R1111", 4), ("R2222", 8), ("resnet34", 16), ("vgg4", 4)])
def test_cut_names_and_shapes(arch, blocks):
    model = build(arch, width=8, in_channels=1, num_classes=7)
    assert model.cuts[-2:] == ("pool", "logits")
    assert len(model.spatial_cuts) == blocks + (1 if arch.startswith(("R", "resnet")) else 0)
    shapes = model.cut_shapes((1, 16, 16))
    assert shapes[INPUT] == (1, 16, 16)
    assert shapes["logits"] == (7,)
    assert shapes["pool"] == (64,)  # widths w, 2w, 4w, 8w
    sides = [shapes[c][-1] for c in model.spatial_cuts]
    assert sides == sorted(sides, reverse=True) and sides[-1] == 2  # halves three times
    assert model.depth(model.spatial_cuts[0]) == 0.0 and model.depth(model.spatial_cuts[-1]) == 1.0


def test_resnet_block_names():
    assert build("R1212").cuts == ("stem", "layer1.0", "layer2.0", "layer2.1", "layer3.0",
                                   "layer4.0", "layer4.1", "pool", "logits")


@pytest.mark.parametrize("bad", ["R111", "R0111", "resnet50", "mlp", ""])
def test_unknown_architecture_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="unknown architecture"):
        build(bad)


def test_unknown_cut_names_the_cuts():
    with pytest.raises(KeyError, match="layer1.0"):
        build("R1111").prefix(torch.zeros(1, 3, 8, 8), "layer9.9")


def tiny_family(width, in_channels, num_classes):
    """A third party's family: two conv stages, as a builder f(width, in_channels, num_classes)."""
    from torch import nn

    from stitchtest.models import CutModel, Head

    return CutModel([("block1", nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU())),
                     ("block2", nn.Sequential(nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU())),
                     ("pool", Head()), ("logits", nn.Linear(width, num_classes))])


@pytest.fixture
def architectures(monkeypatch):
    """The architecture registry, restored after the test."""
    from stitchtest.models import ARCHITECTURES

    for attr in ("_classes", "_origins", "_broken"):
        monkeypatch.setattr(ARCHITECTURES, attr, dict(getattr(ARCHITECTURES, attr)))
    return ARCHITECTURES


def test_registered_entry_point_and_module_path_families_build(architectures, monkeypatch):
    from importlib import metadata

    architectures.register(tiny_family, name="tiny")
    assert build("tiny", width=4, in_channels=1, num_classes=3).cuts == ("block1", "block2", "pool", "logits")
    assert build("test_models:tiny_family", width=4).spatial_cuts == ("block1", "block2")
    ep = metadata.EntryPoint(name="tiny_ep", value="test_models:tiny_family", group="stitchtest.models")
    real = metadata.entry_points
    monkeypatch.setattr(metadata, "entry_points", lambda **kw: metadata.EntryPoints(
        [*real(**kw).select(group="stitchtest.models"), ep]))
    assert build("tiny_ep", width=4)(torch.randn(2, 3, 8, 8)).shape == (2, 10)
    assert architectures.origins()["tiny_ep"] == "entry point test_models:tiny_family"
    with pytest.raises(ValueError, match="unknown architecture 'nope'.*module:Name"):
        build("nope")
    architectures.register(lambda **kw: torch.nn.Linear(2, 2), name="not_cut")
    with pytest.raises(TypeError, match="not a CutModel"):
        build("not_cut")


def test_a_registered_family_trains_in_the_zoo(architectures, tmp_path):
    from stitchtest.data import DataSpec
    from stitchtest.models.zoo import ModelSpec, Zoo

    architectures.register(tiny_family, name="tiny")
    spec = ModelSpec(arch="tiny", width=4, epochs=1, data=DataSpec(n_train=200, n_test=100))
    model = Zoo(tmp_path).model(spec)
    assert model.spatial_cuts == ("block1", "block2") and "arch=tiny" in spec.string_id()


def test_cuts_at_depths():
    from stitchtest.models import cuts_at_depths

    r = build("R1111", width=4)
    assert cuts_at_depths(r, (0.0, 0.25, 0.75, 1.0)) == ("stem", "layer1.0", "layer3.0", "layer4.0")
    assert cuts_at_depths(build("vgg4", width=4), (0.0, 0.25, 0.75, 1.0)) == ("conv1", "conv2", "conv3", "conv4")
    assert cuts_at_depths(build("R2222", width=4), (0.5,)) == ("layer2.1",)
