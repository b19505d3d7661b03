"""Hernandez et al.'s triangle as a two-sided, chance-corrected statistic.

Hernandez, Dangovski, Lu & Soljacic (2023) find two things about task-loss stitching across
depths: a *deep* sender cut stitched into a *shallow* receiver cut works about as well as the
matching cut, **and** a shallow sender into a deep receiver does not ("the lower-left triangle
had higher accuracy than the top right"). :func:`stitchtest.audit.checks.triangle_score` reads only
the first half (below / diagonal), which a flat grid -- every cell near the same accuracy --
also passes. :func:`triangle_asymmetry` reads both halves against each other, relative to how
far the diagonal is above chance, so a grid at chance everywhere gives NaN, not 1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from .checks import _grid, _triangle_parts

__all__ = ["TriangleAsymmetry", "triangle_asymmetry"]


@dataclass(frozen=True)
class TriangleAsymmetry:
    """The two-sided triangle of one stitching matrix (see :func:`triangle_asymmetry`)."""

    asymmetry: float  # (below - above) / (diagonal - chance); the primary figure
    ratio: float  # below / diagonal, the old one-sided score (secondary)
    mean_below: float
    mean_above: float
    mean_diagonal: float
    n_below: int
    n_above: int
    n_diagonal: int


def triangle_asymmetry(matrix: Any, sender_depths: Sequence[float], receiver_depths: Sequence[float],
                       chance: float) -> TriangleAsymmetry:
    """``asymmetry = (mean below - mean above) / (mean diagonal - chance)``, with the old ratio beside it.

    Orientation, as :func:`stitchtest.audit.checks.triangle_score`: ``matrix[i, j]`` is sender cut ``i``
    (rows) stitched into receiver cut ``j`` (columns), both ordered by proportional depth; the
    diagonal pairs each sender cut with the receiver cut nearest in depth; **below** the diagonal
    the sender is deeper than the receiver (deep sender -> shallow receiver), **above** it the
    sender is shallower (shallow sender -> deep receiver). The cell sets are exactly those of
    ``checks._triangle_parts`` (same code), NaN cells are dropped.

    Reading: ~1 -- below-diagonal cells as good as the diagonal and above-diagonal cells at
    chance (Hernandez et al.'s triangle, both halves); ~0 -- flat, both halves alike; < 0 -- an
    anti-triangle (shallow -> deep stitches better than deep -> shallow). ``ratio`` is
    ``below / diagonal`` (``checks.triangle_score``), kept as a secondary figure.

    Why relative to ``diagonal - chance``: accuracies only mean something above chance, and the
    gap between the halves is bounded by how far the diagonal rises above it; a grid whose
    diagonal is at or below chance has no triangle to read, so the asymmetry is NaN then, and also
    when the below- or above-diagonal set has no finite cell.
    """
    m, ds, dr = _grid(matrix, sender_depths, receiver_depths)
    parts = _triangle_parts(m, ds, dr)
    below, above, diag = parts["mean_below"], parts["mean_above"], parts["mean_diagonal"]
    asymmetry = math.nan
    if parts["n_below"] and parts["n_above"] and parts["n_diagonal"] and diag - chance > 0:
        asymmetry = (below - above) / (diag - chance)
    return TriangleAsymmetry(asymmetry=asymmetry, ratio=parts["score"], mean_below=below, mean_above=above,
                             mean_diagonal=diag, n_below=parts["n_below"], n_above=parts["n_above"],
                             n_diagonal=parts["n_diagonal"])
