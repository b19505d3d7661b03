"""The functional distance of a cell's two networks: Ding et al.'s |accuracy difference|, and disagreement."""
from types import SimpleNamespace

import pytest
import torch

from stitchtest.instruments.functional import WithFunctionalChange, functional_distance
from stitchtest.measures import LinearCKA
from stitchtest.engine.methods import MeasureMethod


def one_hot(labels, classes=3):
    return torch.nn.functional.one_hot(torch.tensor(labels), classes).float()


def test_accuracy_gap_and_disagreement():
    y = torch.tensor([0, 1, 2, 0])
    out = functional_distance(one_hot([0, 1, 2, 1]), one_hot([0, 1, 1, 0]), y)
    assert out["sender_accuracy"] == pytest.approx(0.75) and out["receiver_accuracy"] == pytest.approx(0.75)
    assert out["functional_change"] == 0.0  # equal accuracy ...
    assert out["disagreement"] == pytest.approx(0.5)  # ... on different images
    out = functional_distance(one_hot([0, 1, 2, 0]), one_hot([1, 1, 1, 1]), y)
    assert out["functional_change"] == pytest.approx(0.75) and out["disagreement"] == pytest.approx(0.75)
    with pytest.raises(ValueError, match="length"):
        functional_distance(one_hot([0]), one_hot([0, 1]), y)
    with pytest.raises(ValueError, match="no test images"):
        functional_distance(torch.zeros(0, 3), torch.zeros(0, 3), torch.zeros(0, dtype=torch.long))


def test_wrapper_keeps_the_method_and_adds_the_distance():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(60, 5, generator=g), torch.randn(60, 4, generator=g)
    y = torch.arange(60) % 3
    logits = {"s": one_hot((y + (torch.arange(60) < 6)).remainder(3).tolist()), "r": one_hot(y.tolist())}
    ctx = SimpleNamespace(pair=lambda cell, split: (a, {"cut": b}), data=lambda cell: SimpleNamespace(y_test=y),
                          trace=lambda spec, cell, split: {"logits": logits[spec]})
    cell = SimpleNamespace(sender="s", receiver="r", receiver_cut="cut")
    base = MeasureMethod(LinearCKA())
    wrapped = WithFunctionalChange(base)
    assert (wrapped.name, wrapped.kind, wrapped.primary) == ("linear_cka", "measure", "score")
    assert wrapped.string_id() == "with_functional_change(method=linear_cka(debiased=False))"
    r = wrapped.evaluate_many(ctx, [cell])[0]
    assert r["score"] == pytest.approx(base.evaluate(ctx, cell)["score"])
    assert r["functional_change"] == pytest.approx(0.1) and r["disagreement"] == pytest.approx(0.1)
    assert r["receiver_accuracy"] == 1.0


def test_the_wrapped_method_may_train_a_stitch():
    """A stitching objective trains inside evaluate_many: the wrapper must leave autograd on there
    (under no_grad TLM's backward failed in the interventions testbed at `small`)."""
    seen = []

    class Trains(MeasureMethod):
        def evaluate_many(self, ctx, cells):
            seen.append(torch.is_grad_enabled())
            w = torch.ones(2, requires_grad=True)
            (w * 2).sum().backward()  # what fit_stitches does
            return [{"score": float(w.grad.sum())} for _ in cells]

    y = torch.arange(6) % 3
    ctx = SimpleNamespace(data=lambda cell: SimpleNamespace(y_test=y), trace=lambda spec, cell, split: {"logits": one_hot(y.tolist())})
    cell = SimpleNamespace(sender="s", receiver="r")
    r = WithFunctionalChange(Trains(LinearCKA())).evaluate_many(ctx, [cell])[0]
    assert seen == [True] and r["score"] == 4.0 and r["functional_change"] == 0.0
