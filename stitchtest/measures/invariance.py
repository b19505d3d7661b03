"""The invariance property checks, for any measure: which transforms of a representation it ignores.

A measure's ``invariances`` are claims (:data:`~stitchtest.measures.INVARIANCES`); the test suite
holds every built-in measure to exactly its claims with these transforms (``tests/test_measures.py``),
and :func:`check` runs the same transforms on any registered measure, a user's plain function
included, so ``stitchtest check-measure NAME`` can say which claims it could make.

A transform family *holds* when, over ``trials`` seeded random pairs of related representations
and a random member of the family applied to either side, the score never moves by more than the
suite's tolerance. Symmetry (``score(x, y) == score(y, x)``) and self-similarity (a
representation against itself scores 1) are checked the same way.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

import numpy as np
import torch

from .core import INVARIANCES, Measure

TOL = dict(rel_tol=1e-6, abs_tol=1e-9)


def random_orthogonal(rng: np.random.Generator, d: int) -> np.ndarray:
    """Haar-distributed orthogonal matrix (QR of a Gaussian with the sign fix)."""
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def make_pair(seed: int, n: int, p: int, q: int):
    """Two related representations (x: n x p, y: n x q) plus the generator for more draws.

    x has a decaying spectrum in a random basis (so SVCCA's variance cut actually drops
    directions) and a non-zero mean (so centring is exercised); y is a noisy linear readout.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, p)) * np.geomspace(1.0, 0.05, p) @ random_orthogonal(rng, p)
    x += 3.0 * rng.standard_normal(p)
    y = x @ rng.standard_normal((p, q)) + 0.3 * rng.standard_normal((n, q))
    y += 3.0 * rng.standard_normal(q)
    return x, y, rng


def _orthogonal(rng, a):
    return a @ random_orthogonal(rng, a.shape[1])


def _isotropic_scaling(rng, a):
    return a * math.exp(rng.uniform(math.log(1e-2), math.log(1e2)))


def _translation(rng, a):
    return a + 10.0 * rng.standard_normal(a.shape[1])


def _permutation(rng, a):
    return a[:, rng.permutation(a.shape[1])]


def _invertible_linear(rng, a):
    d = a.shape[1]
    singular_values = np.exp(rng.uniform(math.log(0.2), math.log(5.0), d))
    return a @ (random_orthogonal(rng, d) * singular_values @ random_orthogonal(rng, d))


#: A random member of each transform family, applied to the features of one representation.
TRANSFORMS: Dict[str, Callable[[np.random.Generator, np.ndarray], np.ndarray]] = {
    "orthogonal": _orthogonal,
    "isotropic_scaling": _isotropic_scaling,
    "translation": _translation,
    "permutation": _permutation,
    "invertible_linear": _invertible_linear,
}
assert set(TRANSFORMS) == set(INVARIANCES)


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


@dataclass(frozen=True)
class Finding:
    """One property: whether it held on every trial, the largest change seen, and whether it is claimed."""

    prop: str
    holds: bool
    worst: float
    claimed: Optional[bool]  # None: not a claim a measure makes

    @property
    def verdict(self) -> str:
        if self.claimed is None:
            return "holds" if self.holds else "breaks"
        if self.holds:
            return "holds (claimed)" if self.claimed else "holds (not claimed: could be)"
        return "BREAKS (claimed!)" if self.claimed else "breaks (not claimed)"


def check(measure: Measure, trials: int = 10, seed: int = 0) -> List[Finding]:
    """Every invariance family, symmetry and self-similarity of ``measure`` on ``trials`` random pairs."""
    rng = np.random.default_rng(seed)
    cases = [make_pair(int(rng.integers(2**32)), int(rng.integers(40, 121)), int(rng.integers(3, 13)),
                       int(rng.integers(3, 13))) for _ in range(trials)]
    out = []
    for prop in INVARIANCES:
        worst = 0.0
        ok = True
        for x, y, r in cases:
            base = measure.score(_t(x), _t(y))
            for moved in (measure.score(_t(x), _t(TRANSFORMS[prop](r, y))),
                          measure.score(_t(TRANSFORMS[prop](r, x)), _t(y))):
                worst = max(worst, abs(moved - base))
                ok = ok and math.isclose(moved, base, **TOL)
        out.append(Finding(prop, ok, worst, prop in measure.invariances))
    sym = [(measure.score(_t(x), _t(y)), measure.score(_t(y), _t(x))) for x, y, _ in cases]
    out.append(Finding("symmetric", all(math.isclose(a, b, **TOL) for a, b in sym),
                       max(abs(a - b) for a, b in sym), bool(measure.symmetric)))
    self_scores = [measure.score(_t(x), _t(x)) for x, _, _ in cases]
    out.append(Finding("self_similarity_one", all(math.isclose(s, 1.0, rel_tol=0, abs_tol=1e-6) for s in self_scores),
                       max(abs(s - 1.0) for s in self_scores), None))
    return out
