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
