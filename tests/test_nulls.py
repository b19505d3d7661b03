"""Permutation nulls: the prepared-once fast paths equal scoring every shuffle, the readouts, and the\nstitch nulls (grouped null stitches train as they would alone)."""
import math

import numpy as np
import pytest
import torch

from stitchtest.audit import checks
from stitchtest.engine.cells import Cell
from stitchtest.engine.context import Context
from stitchtest.data import DataSpec
from stitchtest.measures import SVCCA, FunctionMeasure, LinearCKA, MutualKNN, Procrustes
from stitchtest.engine.methods import get
from stitchtest.instruments.nulls import (Calibrated, CalibratedStitch, PermutationNull, gated, null_accuracies,
                                          p_value, significant_share, threshold)
from stitchtest.stitching import StitchConfig
from stitchtest.models.zoo import ModelSpec, Zoo

MEASURES = [LinearCKA(), LinearCKA(debiased=True), Procrustes(), SVCCA(), SVCCA(keep=1.0, max_share=1.0),
            MutualKNN(), MutualKNN(metric="l2")]


def pair(seed=0, n=80, p=30, q=20):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, p, generator=g, dtype=torch.float64)
    y = x @ torch.randn(p, q, generator=g, dtype=torch.float64) + 0.5 * torch.randn(n, q, generator=g, dtype=torch.float64)
    return x, y


@pytest.mark.parametrize("m", MEASURES, ids=lambda m: m.string_id())
@pytest.mark.parametrize("wide", [False, True], ids=["narrow", "wide"])
def test_prepared_null_equals_scoring_each_shuffle(m, wide):
    x, y = pair(n=60, p=90 if wide else 12, q=70 if wide else 9)
    orders = PermutationNull(8, seed=3).orders(len(x))
    fast = m.permuted_scores(x, y, orders)
    slow = [m.score(x, y[torch.from_numpy(o)]) for o in orders]
    assert np.allclose(fast, slow, rtol=1e-9, atol=1e-12), (fast, slow)


def test_identity_order_gives_the_raw_score():
    x, y = pair()
    for m in MEASURES:
        assert m.permuted_scores(x, y, [np.arange(len(x))])[0] == pytest.approx(m.score(x, y), abs=1e-12)


def test_orders_must_be_permutations():
    x, y = pair()
    with pytest.raises(ValueError, match="permutation"):
        LinearCKA().permuted_scores(x, y, [np.zeros(len(x), dtype=int)])
    with pytest.raises(ValueError, match="same number"):
        LinearCKA().permuted_scores(x, y[:-1], [np.arange(len(x))])


def test_a_users_function_gets_the_generic_null():
    def dot(a, b):
        return float((a * b).sum())
    x = torch.randn(20, 3, dtype=torch.float64)
    orders = PermutationNull(4).orders(20)
    assert FunctionMeasure(dot).permuted_scores(x, x, orders) == [dot(x, x[torch.from_numpy(o)]) for o in orders]


def test_related_is_significant_unrelated_is_not():
    x, y = pair(n=100)
    null = PermutationNull(50)
    for m in (LinearCKA(), MutualKNN()):
        related = null.readouts(m.score(x, y), null.scores(m, x, y))
        assert related["p_value"] == pytest.approx(1 / 51) and related["calibrated"] > 0.2
        unrelated = torch.randn(100, 20, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
        r = null.readouts(m.score(x, unrelated), null.scores(m, x, unrelated))
        assert r["p_value"] > 0.05 and abs(r["calibrated"]) < 3 * r["null_std"] + 1e-12


def test_p_value_and_readouts():
    assert p_value(0.5, np.array([0.1, 0.2, 0.6])) == pytest.approx(2 / 4)
    assert p_value(0.5, np.array([0.5])) == 1.0  # ties count against the score
    r = PermutationNull(3).readouts(0.9, np.array([0.1, 0.2, 0.3]))
    assert r["calibrated"] == pytest.approx(0.7) and r["null_mean"] == pytest.approx(0.2) and r["p_value"] == 0.25
    with pytest.raises(ValueError, match="expected 3"):
        PermutationNull(3).readouts(0.9, np.array([0.1]))
    assert significant_share([0.01, 0.5, float("nan"), 0.05]) == pytest.approx(2 / 3)
    assert math.isnan(significant_share([]))


# ------------------------ transcribed from mlbio-epfl/Aristotelian @785054b, aristotelian/metrics/aggregation.py
def tau_order_statistic(null_samples, quantile, *, obs=None):
    arr = np.asarray(null_samples, dtype=float)
    if obs is not None:
        arr = np.append(arr, float(obs))
    arr = np.sort(arr)
    m = arr.size
    if m == 0:
        raise ValueError("null_samples must be non-empty")
    rank = min(max(int(np.ceil(float(quantile) * m)), 1), m)
    return float(arr[rank - 1])


def gated_rescaled(T_obs, *, tau_alpha, s_max, EPS=1e-12):
    if s_max is None:
        return float(max(T_obs - tau_alpha, 0.0))
    if T_obs <= tau_alpha:
        return 0.0
    if s_max <= tau_alpha:
        return 1.0
    denom = s_max - tau_alpha
    if abs(denom) <= EPS:
        return 1.0
    return float(min((T_obs - tau_alpha) / denom, 1.0))
# ------------------------ end of the transcription (their EPS is utils.EPS; only its use at s_max = tau matters)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("b", [19, 50])
def test_tau_and_gated_score_equal_grogers_code(seed, b):
    """tau: their exact cutoff at 1 - alpha of the null with the observed score appended (calibration.py
    calls tau_order_statistic(null, quantile, obs=raw)); gated = (s - tau) / (1 - tau), 0 below tau;
    p = (1 + #null >= s) / (N + 1), their add-one estimator."""
    rng = np.random.default_rng(seed)
    null = rng.uniform(0.2, 0.6, b)
    for score in (0.1, float(np.quantile(null, 0.9)), 0.61, 0.95):
        tau = tau_order_statistic(null, 0.95, obs=score)
        assert threshold(score, null) == tau
        assert gated(score, tau) == pytest.approx(gated_rescaled(score, tau_alpha=tau, s_max=1.0))
        r = PermutationNull(b).readouts(score, null)
        assert (r["tau"], r["gated"]) == (pytest.approx(tau), pytest.approx(gated(score, tau)))
        assert r["p_value"] == pytest.approx((np.sum(null >= score) + 1) / (b + 1))
    # a score above every null value: tau is the 19th of 20 values (B = 19), the null's largest
    if b == 19:
        assert threshold(0.95, null) == null.max()
        assert PermutationNull(b).readouts(0.95, null)["gated"] == pytest.approx((0.95 - null.max()) / (1 - null.max()))
    assert PermutationNull(b).readouts(0.1, null)["gated"] == 0.0  # at or below tau: 0


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_null_needs_positive_permutations(bad):
    with pytest.raises(ValueError, match="permutations"):
        PermutationNull(bad)


def test_ids_carry_the_null():
    assert PermutationNull().string_id() == "permutation_null(permutations=50,seed=0)"
    c = Calibrated(LinearCKA(), PermutationNull(20))
    assert c.name == "linear_cka" and c.kind == "measure"
    assert c.string_id() == "calibrated(measure=linear_cka(debiased=False),null=permutation_null(permutations=20,seed=0))"
    from stitchtest.records.export import parse_id
    assert parse_id(c.string_id())[0] == "calibrated"


def test_significance_check_both_ways():
    assert checks.significance([0.02] * 4, expect=True).passed
    assert not checks.significance([0.02, 0.02, 0.3], expect=True).passed
    assert checks.significance([0.02, 0.5, 0.6, 0.9, 0.7], expect=False, allowed=0.2).passed
    out = checks.significance([0.02, 0.02, 0.5], expect=False, allowed=0.2)
    assert not out.passed and out.value == pytest.approx(2 / 3) and out.better == "lower"
    assert checks.significance([float("nan")]).figure == "no data: 0 of 1 p-values finite"


def test_calibrated_method_reads_out_the_null_beside_the_score():
    from types import SimpleNamespace
    x, y = pair(n=60)
    ctx = SimpleNamespace(pair=lambda cell, split: (x, {"cut": y}))
    r = Calibrated(MutualKNN(), PermutationNull(10)).evaluate(ctx, SimpleNamespace(receiver_cut="cut"))
    assert r["score"] == pytest.approx(MutualKNN().score(x, y))
    assert set(r) >= {"null_mean", "null_std", "null_q95", "calibrated", "p_value", "seconds"}
    assert r["p_value"] == pytest.approx(1 / 11)
    broken = Calibrated(FunctionMeasure(lambda a, b: 1.0 if len(a) else 0.0), PermutationNull(3))
    ctx_bad = SimpleNamespace(pair=lambda cell, split: (x, {"cut": y[:-1]}))
    assert "failure" in broken.evaluate(ctx_bad, SimpleNamespace(receiver_cut="cut"))


DATA = DataSpec(n_train=300, n_test=200)
A = ModelSpec(width=8, epochs=4, data=DATA, seed=0)
B = A.replace(seed=1)


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    return Context(Zoo(tmp_path_factory.mktemp("zoo")), StitchConfig(steps=40, group=2))


@pytest.mark.parametrize("name", ["tlm", "dm"])
def test_null_stitches_train_as_they_would_alone_and_the_identity_order_is_the_raw_stitch(ctx, name):
    """Trained in groups (of 2 here, over 3 orders: a group and a remainder), each null stitch is
    the stitch trained alone on its shuffled pairs; the unshuffled order gives the raw cell."""
    method, cell = get(name), Cell(A, "layer4.0", B, "layer4.0")
    a, _ = ctx.pair(cell, "train")
    orders = [np.arange(len(a))] + PermutationNull(2, seed=5).orders(len(a))
    null = null_accuracies(method.objective, ctx, cell, orders)
    assert null[0] == pytest.approx(method.evaluate(ctx, cell)["accuracy"], abs=1 / 200)

    class Shuffled:  # the sender's training rows in one order, everything else as ctx
        def __init__(self, order):
            self.order = torch.as_tensor(order)

        def __getattr__(self, name):
            return getattr(ctx, name)

        def pair(self, c, split):
            a, trace = ctx.pair(c, split)
            return (a[self.order], trace) if split == "train" else (a, trace)
    alone = [method.evaluate(Shuffled(o), cell)["accuracy"] for o in orders[1:]]
    assert null[1:] == pytest.approx(alone, abs=1 / 200)
    assert max(alone) < null[0] - 0.2  # the shuffled pairs teach the stitch nothing: near chance


def test_calibrated_stitch_of_an_sgd_objective_reads_out_its_null(ctx):
    m = CalibratedStitch(get("tlm"), PermutationNull(4))
    assert (m.name, m.kind, m.primary) == ("tlm", "objective", "accuracy")
    assert m.string_id() == f"calibrated_stitch(method={get('tlm').string_id()},null=permutation_null(permutations=4,seed=0))"
    (r,) = m.evaluate_many(ctx, [Cell(A, "layer4.0", B, "layer4.0")])
    assert r["accuracy"] == r["score"] and r["steps"] == 40  # the stitch's own readouts stay
    assert r["p_value"] == pytest.approx(1 / 5) and r["null_q95"] < r["accuracy"] - 0.3
    assert r["calibrated"] == pytest.approx(r["accuracy"] - r["null_mean"])


def test_a_stitch_null_needs_an_objective_and_orders_of_the_training_images(ctx):
    assert CalibratedStitch(get("dm")).name == "dm" and CalibratedStitch(get("fula")).name == "fula"
    with pytest.raises(ValueError, match="stitching objective"):
        CalibratedStitch(get("linear_cka"))
    with pytest.raises(ValueError, match="a shuffle of 3 rows"):
        null_accuracies(get("dm").objective, ctx, Cell(A, "layer4.0", B, "layer4.0"), [np.arange(3)])
