"""Stitch forms, least-squares initialisation, and the self-stitch sanity check."""
import itertools
from copy import deepcopy

import pytest
import torch

from stitchtest.data import DataSpec
from stitchtest.models import build
from stitchtest.stitching.stitch import IncompatibleCuts, Stitch
from stitchtest.models.training import accuracy
from stitchtest.models.zoo import ModelSpec, Zoo


def test_every_cut_pair_of_two_different_resnets_stitches():
    torch.manual_seed(0)
    a, b = build("R1111", 4, 1, 10).eval(), build("R2222", 6, 1, 10).eval()
    x = torch.randn(2, 1, 16, 16)
    sa, sb = a.cut_shapes((1, 16, 16)), b.cut_shapes((1, 16, 16))
    for i, j in itertools.product(a.spatial_cuts, b.spatial_cuts):
        stitch = Stitch(sa[i], sb[j])
        h = stitch(a.prefix(x, i))
        assert h.shape[1:] == sb[j], (i, j)
        assert b.suffix(h, j).shape == (2, 10)
    assert Stitch(sa["pool"], sb["pool"]).mode == "flat"


@pytest.mark.parametrize("sender,receiver,mode", [((8, 16, 16), (4, 16, 16), "same"),
                                                  ((8, 16, 16), (4, 4, 4), "down"),
                                                  ((8, 4, 4), (4, 16, 16), "up"),
                                                  ((8,), (4,), "flat")])
def test_least_squares_init_equals_lstsq(sender, receiver, mode):
    g = torch.Generator().manual_seed(0)
    stitch = Stitch(sender, receiver)
    assert stitch.mode == mode
    a = torch.randn(64, *sender, generator=g)
    b = torch.randn(64, *receiver, generator=g)
    stitch.fit_least_squares(a, b, batch_size=16)  # streamed in batches
    design = stitch.design(a).double()
    design = torch.cat([design, torch.ones(len(design), 1, dtype=design.dtype)], 1)
    reference = torch.linalg.lstsq(design, Stitch.rows(b).double(), driver="gelsd").solution
    got = torch.cat([stitch.map.weight.reshape(receiver[0], -1).T, stitch.map.bias[None]]).double()
    torch.testing.assert_close(got, reference, rtol=1e-4, atol=1e-5)


def test_least_squares_recovers_an_exact_affine_map():
    g = torch.Generator().manual_seed(1)
    truth = Stitch((6, 8, 8), (5, 4, 4))
    with torch.no_grad():
        truth.map.weight.normal_(generator=g)
        truth.map.bias.normal_(generator=g)
    a = torch.randn(50, 6, 8, 8, generator=g)
    fitted = Stitch((6, 8, 8), (5, 4, 4)).fit_least_squares(a, truth(a).detach())
    torch.testing.assert_close(fitted(a), truth(a), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("bn", [False, True])
@pytest.mark.parametrize("sender,receiver", [((8, 16, 16), (4, 16, 16)), ((8, 16, 16), (4, 4, 4)),
                                             ((8, 2, 2), (4, 16, 16)), ((8,), (4,))])
def test_forward_is_the_map_of_the_design_rows(sender, receiver, bn):
    """The forward pass may order its work as it likes (an up-stitch maps at the sender's resolution,
    then upsamples), but it must compute the map of :meth:`design`'s input, the function least
    squares fits: ``bn_after(map(upsample(bn_before(a))))``; in training mode too (BatchNorm batch
    statistics of an upsampled map equal the map's)."""
    torch.manual_seed(0)
    stitch = Stitch(sender, receiver, bn_before=bn, bn_after=bn).train()
    reference = deepcopy(stitch)
    a = torch.randn(16, *sender)
    expected = reference.bn_after(reference.map(reference._pre(a)))
    torch.testing.assert_close(stitch(a), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("sender,receiver,message", [((8, 16, 16), (8, 6, 6), "power-of-two"),
                                                     ((8, 12, 12), (8, 4, 4), "power-of-two"),
                                                     ((8, 4, 4), (8,), "flat"),
                                                     ((8, 4, 8), (8, 4, 4), "aspect")])
def test_incompatible_cuts_name_both_cuts(sender, receiver, message):
    with pytest.raises(IncompatibleCuts, match=message) as err:
        Stitch(sender, receiver, names=("A@layer1.0", "B@layer3.0"))
    assert "A@layer1.0" in str(err.value) and "B@layer3.0" in str(err.value)


@pytest.mark.parametrize("bn", [False, True])
def test_self_stitch_reproduces_the_receiver(tmp_path, bn):
    """A model stitched into itself at the same cut, least-squares initialised, is the model."""
    spec = ModelSpec(width=8, epochs=4, data=DataSpec(n_train=600, n_test=200))
    model = Zoo(tmp_path).model(spec)
    from stitchtest.models.zoo import training_data
    ds = training_data(spec, torch.device("cpu"))
    ref = accuracy(model, ds.x_test, ds.y_test)
    assert ref > 0.5
    for cut in model.spatial_cuts:
        a = model.prefix(ds.x_train, cut)
        stitch = Stitch(a.shape[1:], a.shape[1:], bn_before=bn, bn_after=bn).fit_least_squares(a, a).eval()
        stitched = lambda x: model.suffix(stitch(model.prefix(x, cut)), cut)  # noqa: E731
        with torch.no_grad():
            acc = (stitched(ds.x_test).argmax(1) == ds.y_test).float().mean().item()
        assert acc == pytest.approx(ref, abs=0.005), cut


def test_token_cuts_stitch_token_by_token_and_least_squares_is_exact():
    """``(N, T, D)`` cuts (a transformer's tokens): one linear map over features at every token."""
    g = torch.Generator().manual_seed(3)
    a = torch.randn(40, 7, 6, generator=g)
    w, bias = torch.randn(6, 5, generator=g), torch.randn(5, generator=g)
    stitch = Stitch((7, 6), (7, 5))
    assert stitch.mode == "tokens"
    stitch.fit_least_squares(a, a @ w + bias, batch_size=16)
    torch.testing.assert_close(stitch(a), a @ w + bias, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(stitch(a[:1, 2:3]), stitch(a[:1])[:, 2:3])  # each token alone
    with pytest.raises(IncompatibleCuts, match="same number of tokens"):
        Stitch((7, 6), (8, 6))
    with pytest.raises(IncompatibleCuts, match="flat"):
        Stitch((7, 6), (6, 4, 4))
