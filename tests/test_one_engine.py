"""stitchtest.compare and the testbeds compute cells with one engine: the same Method.evaluate_many,
group by group (methods.each_group), on a context of either kind (engine.context.CellContext)."""
import numpy as np
import pytest
import torch
from torch import nn

from stitchtest import api
from stitchtest.data import DataSpec
from stitchtest.engine import methods
from stitchtest.engine.cells import Cell
from stitchtest.engine.context import Context
from stitchtest.engine.own_models import A, B, OwnContext
from stitchtest.models.zoo import ModelSpec, Zoo
from stitchtest.stitching import StitchConfig
from stitchtest.stitching.layers import LayerModel
from stitchtest.stitching.objectives import OBJECTIVES
from test_api import FAST, one_thread  # noqa: F401  (the same fast stitch budget; one torch thread, autouse)

DATA = DataSpec(n_train=300, n_test=100)
SPEC_A = ModelSpec(width=8, epochs=2, data=DATA, seed=0)
SPEC_B = SPEC_A.replace(seed=1)


def cnn(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))


def data(n: int = 80):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 1, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g)


def broken(a, b):
    raise RuntimeError("boom")


def nan(a, b):
    return float("nan")


def stage(model, cut: str) -> str:
    """A zoo model's cut as a layer name of ``named_modules()`` (its stages are a ModuleList)."""
    return f"stages.{model.cuts.index(cut)}"


def test_a_measure_fails_and_scores_alike_through_compare_and_a_testbed_context(tmp_path):
    """The testbeds' MeasureMethod.evaluate on zoo models in a Context, and compare on the same
    models and images: the same failure rows for a measure that raises or returns NaN, the same score."""
    ctx = Context(Zoo(tmp_path), FAST)
    cut = "layer2.0"
    cell = Cell(SPEC_A, cut, SPEC_B, cut)
    zoo_a, zoo_b = ctx.zoo.model(SPEC_A), ctx.zoo.model(SPEC_B)
    with pytest.warns(RuntimeWarning, match="NaN"):
        result = api.compare(zoo_a, zoo_b, ctx.data(cell), layers_a=[stage(zoo_a, cut)], layers_b=[stage(zoo_b, cut)],
                             methods=[broken, nan, "linear_cka"])
    by = {r.method: r.readouts for r in result.records}
    for measure in (broken, nan):
        testbed = methods.wrap(measure).evaluate(ctx, cell)
        assert "failure" in testbed and by[measure.__name__] == {"failure": testbed["failure"]}
    # the Context's copies fold BatchNorm into the convolutions: equal to float rounding
    testbed = methods.get("linear_cka").evaluate(ctx, cell)
    assert by["linear_cka"]["score"] == pytest.approx(testbed["score"], abs=1e-4)


def test_compare_calls_a_stitching_methods_evaluate_many_group_by_group(monkeypatch):
    """A StitchingMethod of the user's is called by compare exactly as the audit calls it: once per
    group of cells into one receiver layer, on a CellContext, fitting each group in one pass."""
    calls, fits = [], []

    class Spy(methods.StitchingMethod):
        def evaluate_many(self, ctx, cells):
            calls.append((type(ctx).__name__, [(c.sender_cut, c.receiver_cut) for c in cells]))
            return super().evaluate_many(ctx, cells)

    real = methods.fit_stitches
    monkeypatch.setattr(methods, "fit_stitches", lambda *a, **k: fits.append(a[2]) or real(*a, **k))
    result = api.compare(cnn(0), cnn(1), data(), layers_a=["1", "3"], layers_b=["1", "3"],
                         methods=[Spy(OBJECTIVES.get("tlm")())], stitch=FAST)
    assert calls == [("OwnContext", [("1", "1"), ("3", "1")]), ("OwnContext", [("1", "3"), ("3", "3")])]
    assert fits == ["1", "3"]  # one fit per receiver layer: its two stitches train together
    assert np.isfinite(result.matrix("tlm")).all()
    assert {"fit_stitches", "_stitch_cells", "fit_readouts", "measure_readouts"}.isdisjoint(vars(api))


def test_a_cell_no_stitch_connects_fails_alone_in_its_group():
    """A flat sender and a spatial one into one receiver layer: one group; the flat cell fails with
    the reason, the other trains, in compare and in the engine called directly on an OwnContext."""
    x, y = data()
    with pytest.warns(RuntimeWarning, match="both cuts must be flat"):
        result = api.compare(cnn(0), cnn(1), (x[:60], y[:60]), test_data=(x[60:], y[60:]), layers_a=["1", "5"],
                             layers_b=["3"], methods=["tlm"], stitch=FAST)
    failures = result.failures("tlm")
    assert list(failures) == [("5", "3")] and "cannot stitch A@5 (8,) into B@3 (8, 8, 8)" in failures["5", "3"]
    assert np.isfinite(result.matrix("tlm")[0, 0])

    a = LayerModel(cnn(0).eval().requires_grad_(False), ["1", "5"], x[:8])
    b = LayerModel(cnn(1).eval().requires_grad_(False), ["3"], x[:8])
    ctx = OwnContext(a, b, (x[:60], y[:60]), (x[60:], y[60:]), FAST)
    got = methods.get("tlm").evaluate_many(ctx, [Cell(A, "1", B, "3"), Cell(A, "5", B, "3")])
    assert got[1]["failure"] == failures["5", "3"] and "accuracy" in got[0]
    readouts = [r for r in result.records if r.sender_cut == "1"][0].readouts
    assert {k: v for k, v in got[0].items() if k != "seconds"} == pytest.approx(readouts)


class Branchy(nn.Module):
    """Data-dependent control flow: torch.fx cannot trace it, so a stitch's rest of it is replayed."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a, self.b = nn.Linear(64, 16), nn.Linear(16, 10)

    def forward(self, x):
        h = self.a(x.flatten(1))
        if h.sum() > -1e9:
            h = h.relu()
        return self.b(h)


@pytest.mark.parametrize("replayed", [False, True])
def test_groups_run_side_by_side_unless_the_receiver_is_replayed(monkeypatch, replayed):
    """A replayed rest hooks the shared model, so its context is not thread_safe and each_group
    keeps every group in the caller's thread; a traced one lets two groups run at once."""
    import threading

    threads = set()
    real = methods.StitchingMethod._evaluate_group

    def spy(self, ctx, cells):
        threads.add(threading.get_ident())
        return real(self, ctx, cells)

    monkeypatch.setattr(methods.StitchingMethod, "_evaluate_group", spy)
    model, layers = (Branchy(), ["a", "b"]) if replayed else (cnn(0), ["1", "3"])
    result = api.compare(model, model, data(), layers_a=layers[:1], layers_b=layers, methods=["tlm"],
                         stitch=StitchConfig(steps=5, batch_size=32, precision="fp32", concurrent_groups=2))
    assert not result.failures("tlm")
    assert (threads == {threading.get_ident()}) == replayed, threads
