"""Graded interventions (Ding, Denain & Steinhardt, NeurIPS 2021, "Grounding representation
similarity with statistical testing").

A similarity method is *sensitive* if it moves when function moves. The intervention: delete the
top ``k`` principal components of a trained network's representation at a cut (``k`` on a grid,
:class:`~stitchtest.synthetic.PCDeleted`); the functional change is the network's own accuracy
drop when its cut is replaced by the edited one; the method compares the edited representation
(sender) with the original (receiver, same network and cut). Check: over the grid, similarity
falls in rank order with the functional change (Spearman per seed pair over the edits of both
cuts, mean >= 0.8).

Measures and closed-form objectives (DM) only at ``smoke``: an SGD stitch per grid point and cell
is the costly part, so SGD objectives run from ``small`` on.
"""
import numpy as np
import pytest

from stitchtest import checks
from stitchtest.audit import Planned, values
from stitchtest.cells import Cell
from stitchtest.synthetic import OnSyntheticSender, PCDeleted

from _grids import per_seed, similarity

pytestmark = pytest.mark.testbed("interventions")
TESTBED = "interventions"
DEPTHS = (0.5, 0.75)  # R1111: layer2.0 (1,024 features), layer3.0 (512)
GRID = (0, 1, 2, 4, 8, 16, 32)
THRESHOLD = 0.8


def readout_for(method):
    return "accuracy" if method.kind == "objective" else method.primary


def grid_rows(audit, method):
    objective = getattr(method, "objective", None)
    if objective is not None and not objective.closed_form and audit.scale.name == "smoke":
        pytest.skip("an SGD stitch per grid point: from --stitch-scale small on")
    cells = [(k, c) for k in range(audit.scale.seeds) for c in audit.cuts(DEPTHS)]
    rows = []
    for pcs in GRID:
        planned = [Planned(Cell(audit.spec(seed=k), c, audit.spec(seed=k), c), f"pc_deleted({pcs})", k)
                   for k, c in cells]
        rows += [dict(r, pcs=pcs) for r in audit.cells(TESTBED, OnSyntheticSender(method, PCDeleted(pcs)), planned)]
    return rows


def rhos(rows, readout):
    """Per seed pair: Spearman of similarity against minus the functional change over every edit of
    both cuts together (as Ding et al. pool layers): within one cut deleting more removes more of
    everything, so any measure ranks a cut's edits; across cuts it must also weigh them by function."""
    by = {}
    for r, s in zip(rows, similarity(rows, readout)):
        change = r["readouts"].get("functional_change")
        by.setdefault(r["seed"], []).append((s, np.nan if change is None else -change))
    return {seed: checks.spearman([s for s, _ in pairs], [f for _, f in pairs]) for seed, pairs in sorted(by.items())}


def test_similarity_follows_functional_change(audit, method):
    """Sensitivity: the more of the receiver's accuracy an edit removes, the less alike it looks."""
    readout = readout_for(method)
    rho = rhos(grid_rows(audit, method), readout)
    audit.expect(TESTBED, "sensitivity_spearman", method, readout, checks.at_least(list(rho.values()), THRESHOLD),
                 {"value": list(rho.values())})


def test_functional_change_is_graded(audit, method):
    """Validates the intervention: no edit changes nothing, and deleting more changes more."""
    if method.kind != "measure":
        pytest.skip("the same functional change for every method; checked once per measure")
    rows = grid_rows(audit, method)
    none = [r for r in rows if r["pcs"] == 0]
    most = [r for r in rows if r["pcs"] == GRID[-1]]
    audit.expect(TESTBED, "functional_change_graded", method, "functional_change",
                 checks.margin(values(most, "functional_change"), values(none, "functional_change"), margin=0.2),
                 per_seed(most, lambda rs: {"value": float(np.nanmean(values(rs, "functional_change")))}))
