"""Permutation nulls: what a method scores when the two sides share nothing but their statistics.

A raw similarity score has no zero: linear CKA rates two random networks 0.7 on the same
images, and width and depth inflate every measure (Groger, Wen & Brbic, ICML 2026, "An
Aristotelian view"). A permutation null says what a score would be by chance: shuffle which
image each row of one representation belongs to (the rows of ``y``, ``B`` times), and score
again. The shuffled pairs keep both representations' own geometry and lose only their
correspondence, so

* ``gated``, the calibrated score as Groger et al.'s code defines it (mlbio-epfl/Aristotelian,
  aristotelian/metrics/calibration.py::compute_calibration_stats): the threshold ``tau`` is the
  null's (1 - alpha) quantile, taken as their exact permutation cutoff (aggregation.py::
  tau_order_statistic: the ceil((1 - alpha) m)-th smallest of the null *with the observed score
  appended*, m = B + 1), and ``gated = (score - tau) / (s_max - tau)`` clipped to [0, 1], 0 at or
  below ``tau`` (aggregation.py::gated_rescaled; ``s_max = 1``, the top of every built-in measure and
  of an accuracy);
* ``calibrated = score - null_mean`` (the raw score minus the mean of the null scores; their
  ``null_centered``), with the null's mean, spread and 95th percentile beside it;
* ``p_value = (1 + #(null >= score)) / (B + 1)``, the one-sided permutation p-value (never 0:
  the observed pairing is one of the permutations; their add-one estimator), so ``B = 50``
  resolves p down to 0.02.

:class:`Calibrated` wraps a measure as a method with these readouts; its id carries the null's
configuration, so calibrated cells never mix with raw ones in results or baselines.
:class:`CalibratedStitch` does the same for a stitch, of any objective: the null refits (DM) or
retrains (TLM, SLM, FuLA, a user's objective) the stitch with the sender's *training* images
shuffled against the receiver side's supervision (labels, receiver outputs and activations: the
pairing the stitch learns from destroyed, both sides' statistics kept) and reads its stitched
accuracy on the unshuffled test images. For an SGD objective that is ``B`` trainings per cell,
trained together in groups that share the receiver's suffix (:func:`null_accuracies`).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Sequence

import numpy as np
import torch

from ..runtime import concurrency
from ..runtime.ids import string_id
from ..measures.core import Measure
from ..engine.methods import MeasureMethod, Method, StitchingMethod
from ..stitching.objectives import Objective
from ..stitching.readouts import stitch_readouts
from ..stitching.fit import fit_stitches

#: significance level of the testbeds' calibration checks
ALPHA = 0.05


@dataclass(frozen=True)
class PermutationNull:
    """``permutations`` shuffles of the rows of one side, drawn from ``seed`` (the same shuffles for
    every cell, so two methods' nulls are paired too)."""

    permutations: int = 50
    seed: int = 0

    name = "permutation_null"

    def __post_init__(self) -> None:
        if isinstance(self.permutations, bool) or not isinstance(self.permutations, int) or self.permutations < 1:
            raise ValueError(f"permutation_null needs a positive whole number of permutations, got {self.permutations!r}")

    def string_id(self) -> str:
        return string_id(self)

    def orders(self, n: int) -> List[np.ndarray]:
        """The ``permutations`` row orders for ``n`` samples (each a permutation of ``range(n)``)."""
        rng = np.random.default_rng(self.seed)
        return [rng.permutation(n) for _ in range(self.permutations)]

    def scores(self, measure: Measure, x: Any, y: Any) -> np.ndarray:
        """``measure`` on ``x`` against ``y`` with its rows (samples) shuffled, once per permutation
        (:meth:`~stitchtest.measures.Measure.permuted_scores`: each side prepared once)."""
        return np.array(measure.permuted_scores(x, y, self.orders(torch.as_tensor(y).shape[0])))

    def readouts(self, score: float, null: np.ndarray) -> Dict[str, float]:
        """The raw score beside its null: mean, spread, 95th percentile, calibrated score, p-value."""
        null = np.asarray(null, dtype=float)
        if null.size != self.permutations:
            raise ValueError(f"expected {self.permutations} null scores, got {null.size}")
        tau = threshold(score, null)
        return {"score": float(score), "null_mean": float(null.mean()), "null_std": float(null.std(ddof=1))
                if null.size > 1 else 0.0, "null_q95": float(np.quantile(null, 0.95)),
                "calibrated": float(score - null.mean()), "tau": tau, "gated": gated(score, tau),
                "p_value": p_value(score, null), "permutations": float(self.permutations)}


def threshold(score: float, null: np.ndarray, alpha: float = ALPHA) -> float:
    """Groger et al.'s ``tau``: the exact permutation cutoff at ``1 - alpha``, the ``ceil((1 - alpha) m)``-th
    smallest of the null with the observed score appended (``m = len(null) + 1``; mlbio-epfl/Aristotelian,
    aristotelian/metrics/aggregation.py::tau_order_statistic, called with ``obs=raw``)."""
    values = np.sort(np.append(np.asarray(null, dtype=float), float(score)))
    rank = min(max(int(np.ceil((1 - alpha) * values.size)), 1), values.size)
    return float(values[rank - 1])


def gated(score: float, tau: float, s_max: float = 1.0) -> float:
    """Groger et al.'s calibrated score ``(score - tau) / (s_max - tau)``, 0 at or below ``tau``, at most 1
    (aristotelian/metrics/aggregation.py::gated_rescaled)."""
    if score <= tau:
        return 0.0
    if s_max <= tau or abs(s_max - tau) <= 1e-12:
        return 1.0
    return float(min((score - tau) / (s_max - tau), 1.0))


def p_value(score: float, null: np.ndarray) -> float:
    """One-sided permutation p-value ``(1 + #(null >= score)) / (len(null) + 1)``."""
    null = np.asarray(null, dtype=float)
    return float((1 + int((null >= score).sum())) / (null.size + 1))


class Calibrated(MeasureMethod):
    """A measure scored with its permutation null beside it (readouts of
    :meth:`PermutationNull.readouts`); named as the measure, so checks, expectations and rankings
    treat it as that measure, with an id of its own."""

    def __init__(self, measure: Measure, null: PermutationNull = PermutationNull()):
        super().__init__(measure)
        self.null = null

    def string_id(self) -> str:
        return f"calibrated(measure={self.measure.string_id()},null={self.null.string_id()})"

    def evaluate(self, ctx, cell) -> Dict[str, Any]:
        raw = super().evaluate(ctx, cell)
        if "failure" in raw:
            return raw
        start = time.perf_counter()
        a, trace = ctx.pair(cell, "test")
        x, y = a.float(), trace[cell.receiver_cut].float()
        try:
            null = self.null.scores(self.measure, x, y)
        except (MemoryError, torch.OutOfMemoryError):
            raise
        except Exception as e:  # as MeasureMethod: the cell records what a user's measure raised
            return {"failure": f"{self.measure.string_id()} null raised {type(e).__name__}: {e}",
                    "seconds": raw["seconds"] + time.perf_counter() - start}
        if not np.isfinite(null).all():
            return {"failure": "non-finite null score", "seconds": raw["seconds"] + time.perf_counter() - start}
        out = self.null.readouts(raw["score"], null)
        out["seconds"] = raw["seconds"] + time.perf_counter() - start
        return out


#: shuffled copies of a cell's training activations held at once while its null stitches train
SHUFFLED_BYTES = 2**30


def null_accuracies(objective: Objective, ctx: Any, cell: Any, orders: Sequence[np.ndarray]) -> List[float]:
    """Stitched test accuracy of one stitch per row order, each trained (or, closed-form, fitted)
    on the sender's training activations in that order against the receiver side's labels, outputs
    and activations in theirs: every pairing an objective learns from destroyed, both sides'
    statistics kept. The test images are never shuffled. The stitches train together in groups of
    ``ctx.stitch.group`` (fewer when the shuffled copies would pass :data:`SHUFFLED_BYTES`), one pass
    of the receiver's suffix per step for a group (:func:`~stitchtest.stitching.fit_stitches`),
    each as it would alone. NaN where a stitch failed."""
    ds, receiver = ctx.data(cell), ctx.model(cell.receiver)
    a, t_train = ctx.pair(cell, "train")
    a_test, t_test = ctx.pair(cell, "test")
    chunk = max(1, min(ctx.stitch.group, SHUFFLED_BYTES // max(1, a.numel() * a.element_size())))
    out: List[float] = []
    for i in range(0, len(orders), chunk):
        senders = []
        for order in orders[i:i + chunk]:
            if len(order) != len(a):
                raise ValueError(f"a shuffle of {len(order)} rows for {len(a)} training images")
            senders.append(a[torch.as_tensor(order, device=a.device)])
        for fit in fit_stitches(objective, receiver, cell.receiver_cut, senders, ds.y_train, t_train, ctx.stitch):
            out.append(math.nan if fit.failure else
                       stitch_readouts(fit.stitch, receiver, cell.receiver_cut, a_test, ds.y_test, t_test)["accuracy"])
    return out


class CalibratedStitch(Method):
    """A stitching objective's stitched accuracy beside its permutation null
    (:meth:`PermutationNull.readouts`, ``score`` = the raw stitched accuracy, which the stitch's other
    readouts keep beside it; the null from :func:`null_accuracies`); named as the objective, with an
    id of its own. Any objective, closed-form or SGD; an SGD objective's null is ``B`` trainings per
    cell (in groups of ``StitchConfig.group``), which is what a testbed must budget for."""

    def __init__(self, method: StitchingMethod, null: PermutationNull = PermutationNull()):
        if not isinstance(getattr(method, "objective", None), Objective):
            raise ValueError(f"a stitch null needs a stitching objective, got {method.string_id()}")
        self.method, self.null = method, null
        self.name, self.kind, self.primary = method.name, method.kind, method.primary

    def string_id(self) -> str:
        return f"calibrated_stitch(method={self.method.string_id()},null={self.null.string_id()})"

    def evaluate_many(self, ctx: Any, cells) -> List[Dict[str, Any]]:
        """The raw cells as the objective computes them, then each cell's null; the cells' nulls
        are computed at once where the context allows it, as the objective's groups are
        (:func:`~stitchtest.engine.methods.each_group`)."""
        start = time.perf_counter()
        raw = self.method.evaluate_many(ctx, cells)
        todo = [n for n, r in enumerate(raw) if "failure" not in r]
        n_threads = 1 if ctx.stitch.compile else concurrency.workers(ctx.stitch.concurrent_groups, ctx.device, len(todo))
        nulls = {todo[k]: null for k, null in concurrency.completed(
            lambda n: null_accuracies(self.method.objective, ctx, cells[n],
                                      self.null.orders(len(ctx.data(cells[n]).y_train))), todo, n_threads)}
        seconds = (time.perf_counter() - start) / max(1, len(cells))  # shared: split evenly, as a group's
        out = []
        for n, r in enumerate(raw):
            if "failure" in r:
                out.append(r)
            elif not np.isfinite(nulls[n]).all():
                out.append({"failure": "a null stitch failed", "seconds": seconds})
            else:
                out.append({**r, **self.null.readouts(r["accuracy"], np.array(nulls[n])), "seconds": seconds})
        return out


def significant_share(p_values, alpha: float = ALPHA) -> float:
    """Share of finite p-values at or below ``alpha`` (NaN: none measured)."""
    p = np.asarray(p_values, dtype=float)
    p = p[np.isfinite(p)]
    return float((p <= alpha).mean()) if p.size else math.nan
