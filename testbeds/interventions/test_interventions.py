"""Graded interventions (Ding, Denain & Steinhardt, NeurIPS 2021, "Grounding representation
similarity with statistical testing").

A similarity method is *sensitive* if it moves when function moves. The intervention, as Ding et
al.'s code runs it (js-d/sim_metric, experiments/pca_deletion/compute_dists.py;
docs/lab/ding-deletion.md): keep only the top ``kept`` principal components of a trained network's
representation at a cut, i.e. delete the *lowest*-variance ones (``kept`` on :data:`KEPT`,
:class:`~stitchtest.instruments.synthetic.PCKept`), and compare the edited representation (sender,
seed ``100 + k``) with *another seed's* unedited one (receiver, seed ``k``, same cut). The functional
change is the edited network's own accuracy drop when its cut is replaced by the edited one. Check
``low_variance_deletion_spearman``: over the grid, similarity falls in rank order with the
functional change (Spearman per seed pair over the edits of both cuts, mean >= 0.8). Ding et al.
report CKA missing such deletions while other measures detect them.

The earlier design (delete the *top* ``k`` components, compare with the same network:
:class:`~stitchtest.instruments.synthetic.PCDeleted`) is an edit every measure sees; it survives only
as the specificity check's yardstick below.

A method is *specific* if it does not move when function does not. The yardstick is the same
receiver's PC-deletion curve: for each receiver (seed ``k``) and cut, the seed-changed pair -- the
same architecture trained with another seed (``seed=100 + k``, the random-control testbed's reference
sender, so the zoo trains nothing new) as sender, the receiver at the same cut -- gives a similarity
``s_seed`` and a functional change ``f_seed = |accuracy(sender) - accuracy(receiver)|`` on the test
images (:mod:`stitchtest.instruments.functional`; the absolute accuracy difference is Ding et al.'s functional
distance, their code takes ``np.abs(acc1 - acc2)``; the two networks' disagreement is recorded
beside it). The curve's edits give ``(|f_k|, s_k)``; the similarity an edit of change ``f_seed``
would give is interpolated over the edits whose change rises with ``k``
(:func:`stitchtest.audit.checks.curve_similarity`; ``k = 0`` is the point ``(0, self-similarity)``).
Check: per seed pair, the mean over both cuts of ``s_seed - s_curve(f_seed)`` is at least
``-SPECIFIC_MARGIN``, on the mean and in :func:`~stitchtest.audit.checks.seeds_agreeing` of the seed
pairs (:func:`~stitchtest.audit.checks.at_least_agreeing`). The margin, 0.02, is about two standard errors
of an accuracy near 0.97 on the smoke test set (397 images), fixed before measuring; for measures it
is 0.02 of their 0-to-1 score. A seed change moves accuracy by a point or less, so the test asks
whether two seeds look at least as alike as a network and itself with that point of accuracy
edited away. Per seed pair the check records ``value`` (the excess), ``s_seed``, ``s_curve``,
``f_seed``, ``disagreement`` and ``excess_disagreement`` (the curve read on its edits' disagreement
with the unedited network instead: reported, not checked), which the claims compare between methods.

Measures and closed-form objectives (DM) only at ``smoke``: an SGD stitch per grid point and cell
is the costly part, so SGD objectives run from ``small`` on.
"""
from dataclasses import dataclass
from typing import Dict, List

import numpy as np
import pytest

from stitchtest.audit import checks
from stitchtest.audit import Planned, values
from stitchtest.engine.cells import Cell
from stitchtest.instruments.functional import WithFunctionalChange
from stitchtest.records import CellRow
from stitchtest.instruments.synthetic import OnSyntheticSender, PCDeleted, PCKept
from stitchtest.testing import Kind, per_seed, similarity

pytestmark = pytest.mark.testbed("interventions")
TESTBED = "interventions"
DEPTHS = (0.5, 0.75)  # R1111: layer2.0 (1,024 features), layer3.0 (512)
GRID = (0, 1, 2, 4, 8, 16, 32)
#: top principal components kept (None: no edit); R1111 width 8 has 1,024 / 512 features at the two
#: cuts, so 256 kept already deletes 3/4 / 1/2 of the directions (the basis holds the top 256)
KEPT = (None, 256, 128, 64, 32, 16, 8, 4, 2, 1)
THRESHOLD = 0.8
SPECIFIC_MARGIN = 0.02


def readout_for(method):
    return "accuracy" if method.kind == Kind.OBJECTIVE else method.primary


def grid_rows(audit, method) -> Dict[int, List[CellRow]]:
    """The edited cells, by the number of components deleted."""
    objective = getattr(method, "objective", None)
    if objective is not None and not objective.closed_form and audit.scale.name == "smoke":
        pytest.skip("an SGD stitch per grid point: from --stitch-scale small on")
    cells = [(k, c) for k in range(audit.scale.seeds_of(TESTBED)) for c in audit.cuts(DEPTHS)]
    grid = {}
    for pcs in GRID:
        planned = [Planned(Cell(audit.spec(seed=k), c, audit.spec(seed=k), c), f"pc_deleted({pcs})", k)
                   for k, c in cells]
        grid[pcs] = audit.cells(TESTBED, OnSyntheticSender(method, PCDeleted(pcs)), planned)
    return grid


def _all(grid: Dict[int, List[CellRow]]) -> List[CellRow]:
    return [r for rows in grid.values() for r in rows]


def rhos(rows, readout):
    """Per seed pair: Spearman of similarity against minus the functional change over every edit of
    both cuts together (as Ding et al. pool layers): within one cut deleting more removes more of
    everything, so any measure ranks a cut's edits; across cuts it must also weigh them by function."""
    by = {}
    for r, s in zip(rows, similarity(rows, readout)):
        change = r.readouts.get("functional_change")
        by.setdefault(r.seed, []).append((s, np.nan if change is None else -change))
    return {seed: checks.spearman([s for s, _ in pairs], [f for _, f in pairs]) for seed, pairs in sorted(by.items())}


def ding_rows(audit, method) -> List[CellRow]:
    """Another seed's representation (seed ``100 + k``) with its lowest-variance components deleted,
    against seed ``k``'s unedited one at the same cut, for every ``kept`` in :data:`KEPT`."""
    objective = getattr(method, "objective", None)
    if objective is not None and not objective.closed_form and audit.scale.name == "smoke":
        pytest.skip("an SGD stitch per grid point: from --stitch-scale small on")
    cells = [(k, c) for k in range(audit.scale.seeds_of(TESTBED)) for c in audit.cuts(DEPTHS)]
    rows = []
    for kept in KEPT:
        planned = [Planned(Cell(audit.spec(seed=100 + k), c, audit.spec(seed=k), c), f"pc_kept({kept})", k)
                   for k, c in cells]
        rows += audit.cells(TESTBED, OnSyntheticSender(method, PCKept(kept)), planned)
    return rows


def test_similarity_follows_low_variance_deletion(audit, method):
    """Sensitivity, Ding et al.'s design: the more of its accuracy an edit removes from a network,
    the less alike it looks to another seed's network."""
    readout = readout_for(method)
    rows = ding_rows(audit, method)
    rho = rhos(rows, readout)
    audit.expect(TESTBED, "low_variance_deletion_spearman", method, readout,
                 checks.at_least(list(rho.values()), THRESHOLD), {"value": list(rho.values())})


def test_functional_change_is_graded(audit, method):
    """Validates the intervention: no edit changes nothing, and deleting more changes more."""
    if method.kind != Kind.MEASURE:
        pytest.skip("the same functional change for every method; checked once per measure")
    grid = grid_rows(audit, method)
    none, most = grid[0], grid[GRID[-1]]
    audit.expect(TESTBED, "functional_change_graded", method, "functional_change",
                 checks.margin(values(most, "functional_change"), values(none, "functional_change"), margin=0.2),
                 per_seed(most, lambda rs: {"value": float(np.nanmean(values(rs, "functional_change")))}))


def seed_rows(audit, method):
    """Each receiver (seed k) at each cut with the same architecture of another seed as sender."""
    planned = [Planned(Cell(audit.spec(seed=100 + k), c, audit.spec(seed=k), c), "seed_changed", k)
               for k in range(audit.scale.seeds_of(TESTBED)) for c in audit.cuts(DEPTHS)]
    return audit.cells(TESTBED, WithFunctionalChange(method), planned)


@dataclass(frozen=True)
class SeedChange:
    """One seed-changed cell against its receiver's PC-deletion curve."""

    row: CellRow
    s_seed: float
    f_seed: float
    s_curve: float
    disagreement: float
    s_curve_disagreement: float

    @property
    def seed(self) -> int:
        return self.row.seed

    @property
    def excess(self) -> float:
        return self.s_seed - self.s_curve

    @property
    def excess_disagreement(self) -> float:
        return self.s_seed - self.s_curve_disagreement


def specificity(grid: Dict[int, List[CellRow]], seeds: List[CellRow], readout):
    """Per (seed pair, cut): the seed-changed pair's similarity and change, and the similarity the
    receiver's own PC-deletion curve gives at that change (``s_curve``, on Ding et al.'s |accuracy
    difference|; ``s_curve_disagreement`` on the share of images labelled differently, reported only);
    and the per-seed means over cuts."""
    curves = {}
    for pcs, rows in grid.items():
        for r, s in zip(rows, similarity(rows, readout)):
            curves.setdefault((r.seed, r.receiver_cut), []).append(
                (pcs, abs(r.readout("functional_change")), r.readout("disagreement"), s))
    cells = []
    for r, s in zip(seeds, similarity(seeds, readout)):
        curve = sorted(curves.get((r.seed, r.receiver_cut), []))
        f, d = r.readout("functional_change"), r.readout("disagreement")
        at = checks.curve_similarity(f, [c[1] for c in curve], [c[3] for c in curve])
        at_d = checks.curve_similarity(d, [c[2] for c in curve], [c[3] for c in curve])
        cells.append(SeedChange(r, s_seed=s, f_seed=f, s_curve=at, disagreement=d, s_curve_disagreement=at_d))
    names = ("excess", "s_seed", "s_curve", "f_seed", "disagreement", "s_curve_disagreement", "excess_disagreement")
    def mean(values):  # a reported-only statistic may be NaN in every cut of a seed pair: NaN, not a warning
        finite = [v for v in values if np.isfinite(v)]
        return float(np.mean(finite)) if finite else float("nan")

    stats = per_seed(cells, lambda cs: {"value" if n == "excess" else n: mean([getattr(c, n) for c in cs])
                                        for n in names})
    return cells, stats


def test_seed_change_moves_similarity_less(audit, method):
    """Specificity: another training seed looks at least as alike as an edit of the same functional change."""
    readout = readout_for(method)
    grid = grid_rows(audit, method)
    cells, stats = specificity(grid, seed_rows(audit, method), readout)
    table = [[c.row.receiver_cut, c.seed, f"{c.f_seed:.3f}", f"{c.disagreement:.3f}", f"{c.s_seed:.3f}",
              f"{c.s_curve:.3f}", f"{c.excess:+.3f}", f"{c.s_curve_disagreement:.3f}",
              f"{c.excess_disagreement:+.3f}"] for c in cells]
    audit.exhibit(TESTBED, f"specificity-{method.name}", f"{method.name}: a seed change against the PC-deletion curve",
                  "Per seed pair and cut: the seed-changed pair's |accuracy difference| and disagreement, its "
                  "similarity, the similarity the receiver's PC-deletion curve gives at that change, and the excess "
                  "(checked: at |Δ accuracy|, Ding et al.'s functional distance; reported: at the disagreement, the "
                  "curve then read on its edits' disagreement with the unedited network).",
                  {"headers": ["cut", "seed", "|Δ accuracy|", "disagreement", "seed pair", "curve at |Δ|", "excess",
                               "curve at disagreement", "excess (disagreement)"],
                   "rows": table})
    audit.expect(TESTBED, "specificity_seed_change", method, readout,
                 checks.at_least_agreeing(stats["value"], -SPECIFIC_MARGIN), stats)
