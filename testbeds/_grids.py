"""Helpers shared by the testbeds: seed-matched pairs of models and similarity grids."""
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np

from stitchtest import checks
from stitchtest.audit import Planned, values
from stitchtest.cells import Cell
from stitchtest.readouts import direction
from stitchtest.report import matrix


def ring_pairs(group_a: Sequence, group_b: Sequence, label: str, cuts, **cell) -> List[Planned]:
    """Seed index k: model k of ``group_a`` -> model k+1 of ``group_b`` (never a model with itself)."""
    n = len(group_a)
    return [Planned(Cell(group_a[k], c, group_b[(k + 1) % n], c, **cell), label, k)
            for k in range(n) for c in cuts]


def similarity(rows, readout: str) -> List[float]:
    """A readout oriented so that higher = more similar."""
    return [direction(readout) * v for v in values(rows, readout)]


def by_cut(rows, readout: str) -> Dict[str, List[float]]:
    """Similarities grouped by the (same) cut of each cell, for per-cut separation."""
    out: Dict[str, List[float]] = {}
    for r, v in zip(rows, similarity(rows, readout)):
        out.setdefault(r["receiver_cut"], []).append(v)
    return out


def separation(inside, across, readout: str, threshold: float):
    """ReSi group separation, per cut, averaged (see :func:`stitchtest.checks.separation_by_cut`)."""
    return checks.separation_by_cut(by_cut(inside, readout), by_cut(across, readout), threshold)


def per_seed(rows, stats: Callable[[list], Dict[str, float]]) -> Dict[str, List[float]]:
    """``stats`` of each seed pair's rows alone, as ``{name: [value per seed index]}``: what
    :mod:`stitchtest.claims` compares between methods, seed pair by seed pair."""
    seeds: Dict[int, list] = {}
    for r in rows:
        seeds.setdefault(r["seed"], []).append(r)
    out: Dict[str, List[float]] = {}
    for k in sorted(seeds):
        for name, v in stats(seeds[k]).items():
            out.setdefault(name, []).append(float(v))
    return out


def separation_per_seed(inside, across, readout: str, threshold: float) -> Dict[str, List[float]]:
    """Per seed pair: its separation (mean AUPRC over cuts), mean in-group / cross-group similarity,
    and their difference ``gap``: a continuous separation, where an AUPRC over a few pairs per cut
    moves in coarse steps and ties (the adversarial claims at 3 seed pairs, SCIENCE.md)."""
    rows = [dict(r, group="in") for r in inside] + [dict(r, group="cross") for r in across]

    def stats(seed_rows):
        ins = [r for r in seed_rows if r["group"] == "in"]
        crs = [r for r in seed_rows if r["group"] == "cross"]
        mean_in, mean_cross = float(np.nanmean(similarity(ins, readout))), float(np.nanmean(similarity(crs, readout)))
        return {"value": separation(ins, crs, readout, threshold).value, "mean_in": mean_in,
                "mean_cross": mean_cross, "gap": mean_in - mean_cross}
    return per_seed(rows, stats)


def grid(rows, readout: str) -> Tuple[np.ndarray, List[float], List[float]]:
    """Seed-mean similarity matrix (rows: sender cuts, columns: receiver cuts, by depth) and the depths."""
    senders, receivers, m = matrix(rows, readout)
    depth_s = {r["sender_cut"]: r["sender_depth"] for r in rows}
    depth_r = {r["receiver_cut"]: r["receiver_depth"] for r in rows}
    return direction(readout) * m, [depth_s[c] for c in senders], [depth_r[c] for c in receivers]
