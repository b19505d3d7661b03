"""Permutation nulls: what a method scores when the two sides share nothing but their statistics.

A raw similarity score has no zero: linear CKA rates two random networks 0.7 on the same
images, and width and depth inflate every measure (Groger, Wen & Brbic, ICML 2026, "An
Aristotelian view"). A permutation null says what a score would be by chance: shuffle which
image each row of one representation belongs to (the rows of ``y``, ``B`` times), and score
again. The shuffled pairs keep both representations' own geometry and lose only their
correspondence, so

* ``calibrated = score - null_mean`` (the raw score minus the mean of the null scores; 0 = no
  more alike than unrelated images, and the same zero for every measure). The Aristotelian-view
  paper calibrates against such a null too; this harness reports the plain difference, and the
  null's mean, spread and 95th percentile beside it, so any other normalisation can be read off;
* ``p_value = (1 + #(null >= score)) / (B + 1)``, the one-sided permutation p-value (never 0:
  the observed pairing is one of the permutations), so ``B = 50`` resolves p down to 0.02.

:class:`Calibrated` wraps a measure as a method with these readouts; its id carries the null's
configuration, so calibrated cells never mix with raw ones in results or baselines.
:class:`CalibratedStitch` does the same for a closed-form stitch (DM): the null refits the
least-squares stitch with the sender's *training* images shuffled against the receiver's (the
pairing the fit learns from destroyed, both sides' statistics kept) and reads its stitched accuracy
on the unshuffled test images; an SGD objective would need a training per permutation.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Dict, List

import numpy as np
import torch

from .ids import string_id
from .measures import Measure
from .methods import MeasureMethod, Method, StitchingMethod

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
        return {"score": float(score), "null_mean": float(null.mean()), "null_std": float(null.std(ddof=1))
                if null.size > 1 else 0.0, "null_q95": float(np.quantile(null, 0.95)),
                "calibrated": float(score - null.mean()), "p_value": p_value(score, null),
                "permutations": float(self.permutations)}


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


class _TrainShuffled:
    """A context whose sender activations on the training images come in ``order`` (rows permuted
    against the receiver's); the test images and everything else delegate unchanged."""

    def __init__(self, ctx: Any, order: np.ndarray):
        self._ctx, self._order = ctx, torch.as_tensor(order)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)

    def pair(self, cell, split: str):
        a, trace = self._ctx.pair(cell, split)
        if split != "train":
            return a, trace
        if len(self._order) != len(a):
            raise ValueError(f"a shuffle of {len(self._order)} rows for {len(a)} training images")
        return a[self._order.to(a.device)], trace


class CalibratedStitch(Method):
    """A closed-form stitching objective's stitched accuracy beside its permutation null
    (:meth:`PermutationNull.readouts`, ``score`` = the raw stitched accuracy, which the stitch's other
    readouts keep beside it); named as the objective, with an id of its own."""

    def __init__(self, method: StitchingMethod, null: PermutationNull = PermutationNull()):
        if not getattr(method, "objective", None) or not method.objective.closed_form:
            raise ValueError(f"a stitch null needs a closed-form objective, got {method.string_id()}: an SGD "
                             "objective would train once per permutation")
        self.method, self.null = method, null
        self.name, self.kind, self.primary = method.name, method.kind, method.primary

    def string_id(self) -> str:
        return f"calibrated_stitch(method={self.method.string_id()},null={self.null.string_id()})"

    def evaluate_many(self, ctx: Any, cells) -> List[Dict[str, Any]]:
        start = time.perf_counter()
        raw = self.method.evaluate_many(ctx, cells)
        nulls: List[List[float]] = [[] for _ in cells]
        n_train = len(ctx.data(cells[0]).y_train) if cells else 0
        for order in self.null.orders(n_train):
            for i, r in enumerate(self.method.evaluate_many(_TrainShuffled(ctx, order), cells)):
                nulls[i].append(math.nan if "failure" in r else float(r["accuracy"]))
        seconds = (time.perf_counter() - start) / max(1, len(cells))
        out = []
        for r, null in zip(raw, nulls):
            if "failure" in r:
                out.append(r)
            elif not np.isfinite(null).all():
                out.append({"failure": "a null stitch failed", "seconds": seconds})
            else:
                out.append({**r, **self.null.readouts(r["accuracy"], np.array(null)), "seconds": seconds})
        return out


def significant_share(p_values, alpha: float = ALPHA) -> float:
    """Share of finite p-values at or below ``alpha`` (NaN: none measured)."""
    p = np.asarray(p_values, dtype=float)
    p = p[np.isfinite(p)]
    return float((p <= alpha).mean()) if p.size else math.nan
