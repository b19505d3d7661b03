"""Helpers for testbed authors: seed-matched pairs of models and similarity grids (over the
:class:`~stitchtest.records.CellRow` records that ``audit.cells`` returns). They were
``testbeds/_grids.py``; in the package, a testbed folder anywhere (a plug-in's too) imports them."""
from typing import Callable, Dict, List, Mapping, Sequence, Tuple

import numpy as np

from .audit import Planned, checks, values
from .audit.report import matrix
from .audit.statistics import auprc_chance
from .engine.cells import Cell
from .engine.methods import Kind  # noqa: F401  (what a method is: Kind.OBJECTIVE or Kind.MEASURE)
from .records import CellRow
from .records.readout_spec import direction


def ring_pairs(group_a: Sequence, group_b: Sequence, label: str, cuts, **cell) -> List[Planned]:
    """Seed index k: model k of ``group_a`` -> model k+1 of ``group_b`` (never a model with itself)."""
    n = len(group_a)
    return [Planned(Cell(group_a[k], c, group_b[(k + 1) % n], c, **cell), label, k)
            for k in range(n) for c in cuts]


def two_group_cells(audit, testbed: str, method, groups: Mapping[str, Tuple[Sequence, Sequence]], at, suffix: str = "",
                    **cell) -> Dict[str, List[CellRow]]:
    """Rows of the four ring pairings of two groups of models, keyed ``"a->a"``, ``"b->b"``, ``"a->b"``,
    ``"b->a"`` by the groups' names (``groups``: name -> (senders, receivers), in that order).

    All four are computed in one call (:meth:`~stitchtest.audit.Audit.cells_together`): a->a and b->a
    stitch into the same receivers, so their stitches train as one group.
    """
    (a, (sa, ra)), (b, (sb, rb)) = groups.items()
    plans = {f"{x}->{y}": ring_pairs(s, r, f"{x}->{y}{suffix}", at, **cell)
             for x, y, s, r in ((a, a, sa, ra), (b, b, sb, rb), (a, b, sa, rb), (b, a, sb, ra))}
    return dict(zip(plans, audit.cells_together(testbed, method, *plans.values())))


def similarity(rows: Sequence[CellRow], readout: str) -> List[float]:
    """A readout oriented so that higher = more similar."""
    return [direction(readout) * v for v in values(rows, readout)]


def by_cut(rows: Sequence[CellRow], readout: str) -> Dict[str, List[float]]:
    """Similarities grouped by the (same) cut of each cell, for per-cut separation."""
    out: Dict[str, List[float]] = {}
    for r, v in zip(rows, similarity(rows, readout)):
        out.setdefault(r.receiver_cut, []).append(v)
    return out


def separation(inside, across, readout: str, threshold: float):
    """ReSi group separation, per cut, averaged (see :func:`stitchtest.audit.checks.separation_by_cut`)."""
    return checks.separation_by_cut(by_cut(inside, readout), by_cut(across, readout), threshold)


def per_seed(rows: Sequence, stats: Callable[[list], Dict[str, float]]) -> Dict[str, List[float]]:
    """``stats`` of each seed pair's rows alone, as ``{name: [value per seed index]}``: what
    :mod:`stitchtest.audit.claims` compares between methods, seed pair by seed pair. ``rows`` are cell
    rows, or anything else with the seed index as its ``seed``."""
    seeds: Dict[int, list] = {}
    for r in rows:
        seeds.setdefault(r.seed, []).append(r)
    out: Dict[str, List[float]] = {}
    for k in sorted(seeds):
        for name, v in stats(seeds[k]).items():
            out.setdefault(name, []).append(float(v))
    return out


def per_seed_of_groups(groups: Mapping[str, Sequence[CellRow]],
                       stats: Callable[[Dict[str, List[CellRow]]], Dict[str, float]]) -> Dict[str, List[float]]:
    """:func:`per_seed` over several named groups of rows: ``stats`` gets each seed pair's rows of
    every group (``{"in": [...], "cross": [...]}``; a group without rows at that seed is empty)."""
    seeds = sorted({r.seed for rows in groups.values() for r in rows})
    out: Dict[str, List[float]] = {}
    for k in seeds:
        for name, v in stats({g: [r for r in rows if r.seed == k] for g, rows in groups.items()}).items():
            out.setdefault(name, []).append(float(v))
    return out


def separation_per_seed(inside, across, readout: str, threshold: float) -> Dict[str, List[float]]:
    """Per seed pair: its separation (mean AUPRC over cuts), mean in-group / cross-group similarity,
    and their difference ``gap``: a continuous separation, where an AUPRC over a few pairs per cut
    moves in coarse steps and ties (the adversarial claims at 3 seed pairs, docs/lab/facts.md#f28);
    ``chance``: the AUPRC a random ranking of those pairs has on average, per cut, averaged
    (:func:`~stitchtest.audit.statistics.auprc_chance`: 0.681 for 2 + 2, not 0.5), for the claims'
    testability."""
    def stats(seed):
        ins, crs = seed["in"], seed["cross"]
        mean_in, mean_cross = float(np.nanmean(similarity(ins, readout))), float(np.nanmean(similarity(crs, readout)))
        cuts_in, cuts_cross = by_cut(ins, readout), by_cut(crs, readout)
        chance = float(np.mean([auprc_chance(len(cuts_in[c]), len(cuts_cross[c])) for c in cuts_in if c in cuts_cross]
                               or [np.nan]))
        return {"value": separation(ins, crs, readout, threshold).value, "mean_in": mean_in,
                "mean_cross": mean_cross, "gap": mean_in - mean_cross, "chance": chance}
    return per_seed_of_groups({"in": inside, "cross": across}, stats)


def grid_se(rows: Sequence[CellRow], readout: str, n_test: int | None = None) -> np.ndarray:
    """Each cell of :func:`grid`'s matrix: the standard error of its seed mean, the spread over seeds
    (``std / sqrt(n)``) and, for an accuracy or agreement on ``n_test`` images, at least the binomial
    SE of that mean (three seeds can agree by chance). The noise a check on the grid must allow."""
    from .audit.statistics import binomial_se

    senders, receivers, _ = matrix(rows, readout)
    per_cell: Dict[Tuple[str, str], List[float]] = {}
    for r in rows:
        per_cell.setdefault((r.sender_cut, r.receiver_cut), []).append(r.readout(readout))
    se = np.full((len(senders), len(receivers)), np.nan)
    for (a, b), v in per_cell.items():
        v = np.asarray(v, dtype=float)
        spread = float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 and np.isfinite(v).all() else 0.0
        floor = 0.0
        if n_test and readout in ("accuracy", "agreement") and np.isfinite(v).all():
            floor = binomial_se(float(np.clip(v.mean(), 0.0, 1.0)), n_test) / np.sqrt(v.size)
        se[senders.index(a), receivers.index(b)] = max(spread, floor)
    return se


def n_test_images(data) -> int:
    """How many test images a run's data set has (the ``n`` of an accuracy's binomial SE)."""
    from .data.dataset import load

    return int(len(load(data).y_test))


def grid(rows: Sequence[CellRow], readout: str) -> Tuple[np.ndarray, List[float], List[float]]:
    """Seed-mean similarity matrix (rows: sender cuts, columns: receiver cuts, by depth) and the depths."""
    senders, receivers, m = matrix(rows, readout)
    depth_s = {r.sender_cut: r.sender_depth for r in rows}
    depth_r = {r.receiver_cut: r.receiver_depth for r in rows}
    return direction(readout) * m, [depth_s[c] for c in senders], [depth_r[c] for c in receivers]
