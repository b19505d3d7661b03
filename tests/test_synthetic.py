"""Synthetic senders: clustered noise carries the label and nothing else; the swap touches only the sender."""
from types import SimpleNamespace

import pytest
import torch

from stitchtest.measures import LinearCKA
from stitchtest.engine.methods import MeasureMethod
from stitchtest.instruments.synthetic import ClusteredNoise, OnSyntheticSender


def test_codes_per_class_noise_per_image():
    labels = torch.tensor([0, 1, 2, 0, 1, 2] * 50)
    noise = ClusteredNoise(noise=0.5, seed=1)
    train = noise.activations(labels, (4, 2, 2), 3, "train")
    again = noise.activations(labels, (4, 2, 2), 3, "train")
    test = noise.activations(labels, (4, 2, 2), 3, "test")
    assert train.shape == (300, 4, 2, 2) and torch.equal(train, again)  # fixed by the seed
    assert not torch.allclose(train, test)  # fresh noise on the test images
    means = [train[labels == c].mean(0) for c in range(3)]
    test_means = [test[labels == c].mean(0) for c in range(3)]
    for c in range(3):  # the same code in both splits, noise averaged out
        assert torch.allclose(means[c], test_means[c], atol=0.2)
    assert train[labels == 0].std(0).mean() == pytest.approx(0.5, rel=0.15)
    assert not torch.allclose(means[0], means[1], atol=0.5)
    assert torch.equal(ClusteredNoise(noise=0.0).activations(labels[:2], (3,), 3, "test")[0],
                       ClusteredNoise(noise=0.0).activations(labels[3:4], (3,), 3, "train")[0])


def test_bad_configuration():
    with pytest.raises(ValueError, match="noise"):
        ClusteredNoise(noise=-1.0)
    with pytest.raises(ValueError, match="split"):
        ClusteredNoise().activations(torch.tensor([0]), (2,), 2, "val")


def test_on_synthetic_sender_swaps_only_the_sender():
    g = torch.Generator().manual_seed(0)
    image_sender = torch.randn(120, 6, generator=g)
    receiver = torch.randn(120, 5, generator=g)
    y = torch.arange(120) % 4
    ctx = SimpleNamespace(pair=lambda cell, split: (image_sender, {"cut": receiver}), data_key=lambda cell: "d",
                          data=lambda cell: SimpleNamespace(y_train=y, y_test=y, num_classes=4))
    cell = SimpleNamespace(receiver_cut="cut", sender=SimpleNamespace(key="a"), sender_cut="cut")
    base = MeasureMethod(LinearCKA())
    swapped = OnSyntheticSender(base, ClusteredNoise(noise=0.1))
    assert (swapped.name, swapped.kind, swapped.primary) == ("linear_cka", "measure", "score")
    assert swapped.string_id() == ("synthetic_sender(sender=clustered_noise(noise=0.1,seed=0),"
                                   "method=linear_cka(debiased=False))")
    score = swapped.evaluate_many(ctx, [cell])[0]["score"]
    noise = ClusteredNoise(noise=0.1).activations(y, (6,), 4, "test")
    assert score == pytest.approx(LinearCKA().score(noise, receiver))
    assert score != pytest.approx(base.evaluate(ctx, cell)["score"])


def test_pc_deletion_removes_the_top_directions_only():
    from stitchtest.instruments.synthetic import PCDeleted
    g = torch.Generator().manual_seed(2)
    train = torch.randn(200, 6, generator=g, dtype=torch.float64) * torch.tensor([5.0, 3, 2, 1, 0.5, 0.1], dtype=torch.float64)
    test = torch.randn(50, 6, generator=g, dtype=torch.float64)
    assert torch.equal(PCDeleted(0).edit(test, train), test)
    edited = PCDeleted(2).edit(test, train)
    centred = train - train.mean(0)
    _, _, vt = torch.linalg.svd(centred, full_matrices=False)
    mu = train.mean(0)
    assert torch.allclose((edited - mu) @ vt[:2].T, torch.zeros(50, 2, dtype=torch.float64), atol=1e-10)
    assert torch.allclose((edited - mu) @ vt[2:].T, (test - mu) @ vt[2:].T, atol=1e-10)
    maps = train.reshape(200, 6, 1, 1)
    assert PCDeleted(2).edit(test.reshape(50, 6, 1, 1), maps, key=("t",)).shape == (50, 6, 1, 1)
    with pytest.raises(ValueError, match="only 6 directions"):
        PCDeleted(7).edit(test, train)
    with pytest.raises(ValueError, match="k >= 0"):
        PCDeleted(-1)


def test_pc_deletion_readouts_what_the_edit_does_to_the_receiver():
    """Accuracy drop and disagreement of the receiver run on the edited cut; the edit's readouts
    are the receiver's own predictions against those on the edited activations."""
    from stitchtest.instruments.synthetic import PCDeleted
    y = torch.tensor([0, 1, 2, 0, 1])
    own_logits = torch.nn.functional.one_hot(torch.tensor([0, 1, 2, 0, 0]), 3).float()  # wrong on the last
    edited_pred = torch.tensor([0, 1, 1, 0, 2])  # the edit breaks image 2 and moves the last to another wrong label
    receiver = SimpleNamespace(trace=lambda x, cut: {"logits": torch.nn.functional.one_hot(edited_pred, 3).float()})
    ctx = SimpleNamespace(model=lambda spec: receiver, data=lambda cell: SimpleNamespace(y_test=y),
                          pair=lambda cell, split: (None, {"logits": own_logits}))
    out = PCDeleted(1).readouts(ctx, SimpleNamespace(receiver="r", receiver_cut="cut"), torch.zeros(5, 2))
    assert out["edited_accuracy"] == pytest.approx(0.6)
    assert out["functional_change"] == pytest.approx(0.2)  # 0.8 -> 0.6
    assert out["disagreement"] == pytest.approx(0.4)  # two labels changed, one of them wrong either way
