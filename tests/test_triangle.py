"""The two-sided triangle (stitchtest.audit.triangle) on constructed grids."""
import math

import numpy as np
import pytest

from stitchtest.audit import checks
from stitchtest.audit.triangle import triangle_asymmetry

D4 = [0.0, 1 / 3, 2 / 3, 1.0]
CHANCE = 0.1


def grid(diag, below, above, n=4):
    """matrix[sender, receiver]: below the diagonal the sender is deeper (row > column)."""
    m = np.full((n, n), above, dtype=float)
    m[np.tril_indices(n, -1)] = below
    np.fill_diagonal(m, diag)
    return m


def test_triangle_both_halves():
    t = triangle_asymmetry(grid(0.95, 0.93, 0.15), D4, D4, CHANCE)
    assert t.asymmetry == pytest.approx((0.93 - 0.15) / (0.95 - CHANCE))
    assert t.ratio == pytest.approx(0.93 / 0.95)
    assert (t.n_below, t.n_above, t.n_diagonal) == (6, 6, 4)


def test_flat_grid_has_no_asymmetry_though_the_old_ratio_passes():
    """The smoke TLM grid is flat: the old statistic reads it as a triangle, the asymmetry does not."""
    m = grid(0.96, 0.96, 0.96)
    t = triangle_asymmetry(m, D4, D4, CHANCE)
    assert t.asymmetry == pytest.approx(0.0)
    assert checks.triangle_score(m, D4, D4) == pytest.approx(1.0) == t.ratio
    # the committed smoke means: diagonal 0.962, below 0.950, above 0.966 -> -0.016 / 0.862
    t = triangle_asymmetry(grid(0.962, 0.950, 0.966), D4, D4, CHANCE)
    assert t.asymmetry == pytest.approx(-0.016 / 0.862)
    assert t.ratio > 0.9  # what the claim reads today


def test_anti_triangle_is_negative():
    t = triangle_asymmetry(grid(0.9, 0.3, 0.85), D4, D4, CHANCE)
    assert t.asymmetry == pytest.approx((0.3 - 0.85) / 0.8)
    assert t.asymmetry < 0


def test_orientation_rows_are_senders():
    """Transposing swaps sender and receiver, so a triangle becomes an anti-triangle."""
    m = grid(0.95, 0.93, 0.15)
    assert triangle_asymmetry(m.T, D4, D4, CHANCE).asymmetry == pytest.approx(-(0.93 - 0.15) / 0.85)


def test_nan_cells_are_dropped():
    m = grid(0.95, 0.93, 0.15)
    m[3, 0] = np.nan  # one below-diagonal cell
    m[0, 3] = np.nan  # one above
    t = triangle_asymmetry(m, D4, D4, CHANCE)
    assert (t.n_below, t.n_above) == (5, 5)
    assert t.asymmetry == pytest.approx((0.93 - 0.15) / 0.85)
    m[np.triu_indices(4, 1)] = np.nan  # no above-diagonal cell: nothing to contrast
    assert math.isnan(triangle_asymmetry(m, D4, D4, CHANCE).asymmetry)


def test_diagonal_at_chance_has_no_triangle_to_read():
    t = triangle_asymmetry(grid(0.1, 0.1, 0.1), D4, D4, CHANCE)
    assert math.isnan(t.asymmetry)
    assert t.ratio == pytest.approx(1.0)  # the old score calls a grid at chance a triangle


def test_unequal_depths_use_the_cells_of_the_old_score():
    """R1111 (5 cuts) into R2222 (9 cuts): the same diagonal and halves as checks.triangle_score."""
    ds, dr = np.linspace(0, 1, 5), np.linspace(0, 1, 9)
    rng = np.random.default_rng(0)
    m = rng.uniform(0.2, 0.9, (5, 9))
    t = triangle_asymmetry(m, ds, dr, CHANCE)
    assert t.ratio == pytest.approx(checks.triangle_score(m, ds, dr))
    below = ds[:, None] > dr[None, :]
    above = ds[:, None] < dr[None, :]
    diag = np.zeros_like(below)
    diag[np.arange(5), np.arange(0, 9, 2)] = True
    assert t.mean_below == pytest.approx(m[below & ~diag].mean())
    assert t.mean_above == pytest.approx(m[above & ~diag].mean())
    assert t.mean_diagonal == pytest.approx(m[diag].mean())
