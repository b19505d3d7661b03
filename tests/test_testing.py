"""stitchtest.testing.grid_se: the noise a check on a seed-mean grid must allow."""
import math

import numpy as np
import pytest

from stitchtest.records.rows import CellRow
from stitchtest.testing import grid, grid_se


def rows(values, readout="accuracy"):
    """Two cuts each way; ``values[seed][(s, r)]``."""
    out = []
    for seed, cells in enumerate(values):
        for (s, r), v in cells.items():
            out.append(CellRow(key=f"t|m|{s}->{r}:{seed}", testbed="t", method="m", pair="A->B", seed=seed,
                               sender_cut=s, receiver_cut=r, readouts={readout: v},
                               sender_depth=float(s == "b"), receiver_depth=float(r == "b")))
    return out


def test_the_spread_over_seeds_or_the_binomial_floor_whichever_is_larger():
    same = {("a", "a"): 0.9, ("a", "b"): 0.5, ("b", "a"): 0.5, ("b", "b"): 0.9}
    varied = {**same, ("a", "b"): 0.7}
    r = rows([same, varied, same])
    se = grid_se(r, "accuracy", n_test=400)
    m, _, _ = grid(r, "accuracy")
    assert se.shape == m.shape
    # identical seeds: no spread, so the binomial SE of the mean of 3 seeds on 400 images
    assert se[0, 0] == pytest.approx(math.sqrt(0.9 * 0.1 / 400) / math.sqrt(3))
    # a cell that varies over seeds: its spread, larger than the floor
    assert se[0, 1] == pytest.approx(np.std([0.5, 0.7, 0.5], ddof=1) / math.sqrt(3))
    # without a test-set size, or on a score, only the spread counts
    assert grid_se(r, "accuracy")[0, 0] == 0.0
    assert grid_se(rows([same, varied, same], "score"), "score", n_test=400)[0, 0] == 0.0
