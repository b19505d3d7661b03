"""Random-network controls (Bansal et al. 2021; docs/lab/facts.md#f3, #f4, #f8, #f10).

Pairs per seed index k: trained -> trained (the reference), random sender -> trained,
trained -> random receiver, random -> random; and each trained receiver with itself.
"""
import numpy as np
import pytest

from stitchtest.audit import checks
from stitchtest.audit import Planned, values
from stitchtest.engine.cells import Cell
from stitchtest.data import num_classes
from stitchtest.testing import Kind, per_seed

pytestmark = pytest.mark.testbed("random_controls")
TESTBED = "random_controls"
# proportional depths (R1111: layer3.0, layer4.0) where a random network's features stop being an
# invertible projection, and a shallow one (R1111: layer1.0); the stem (depth 0) only for the self-stitch
DEEP = (0.75, 1.0)
DEPTHS = (0.25,) + DEEP


def models(audit, k):
    """Receiver, trained sender, random sender, random receiver for seed index k."""
    return (audit.spec(seed=k), audit.spec(seed=100 + k), audit.spec(seed=200 + k, regime="random"),
            audit.spec(seed=300 + k, regime="random"))


def pairs(audit, kind, depths=DEPTHS):
    out = []
    for k in range(audit.scale.seeds_of(TESTBED)):
        b, a, r, rb = models(audit, k)
        sender, receiver = {"self": (b, b), "trained->trained": (a, b), "random->trained": (r, b),
                            "trained->random": (a, rb), "random->random": (r, rb)}[kind]
        out += [Planned(Cell(sender, c, receiver, c), kind, k) for c in audit.cuts(depths)]
    return out


def test_self_stitch_matches_receiver(audit, method):
    """Validates the harness: a network stitched into itself must be itself (score 1 for measures)."""
    rows = audit.cells(TESTBED, method, pairs(audit, "self", (0.0,) + DEPTHS))
    if method.kind == Kind.MEASURE:
        outcome = checks.close(values(rows, "score"), [1.0] * len(rows), tol=1e-3)
    else:
        outcome = checks.close(values(rows, "accuracy"), values(rows, "receiver_accuracy"), tol=0.02)
    audit.expect(TESTBED, "self_stitch_matches_receiver", method, method.primary, outcome)


def test_trained_beats_random_sender(audit, method):
    """At deep cuts a trained sender must stitch better than a random one (seed-paired margin)."""
    readout = method.primary
    trained = values(audit.cells(TESTBED, method, pairs(audit, "trained->trained", DEEP)), readout)
    random = values(audit.cells(TESTBED, method, pairs(audit, "random->trained", DEEP)), readout)
    audit.expect(TESTBED, "trained_beats_random_sender", method, readout,
                 checks.margin(trained, random, margin=0.05))


def late_minus_early(rows, readout):
    """One seed pair's readout at its deepest cut minus at its shallowest (Hernandez et al.'s layer
    patterns of the random controls: which end of the network a random partner lets through)."""
    by_depth = sorted((r.receiver_depth, v) for r, v in zip(rows, values(rows, readout)))
    return by_depth[-1][1] - by_depth[0][1]


def test_random_receiver_at_chance(audit, method):
    """Matching a random receiver's own activations cannot carry the task: accuracy stays within 0.1
    of chance (1 / the data's class count: 0.2 for ten classes); a measure's score stays at most 0.2.
    Per seed also the deepest cut minus the shallowest, for the claims."""
    rows = audit.cells(TESTBED, method, pairs(audit, "trained->random"))
    readout = "accuracy" if method.kind == Kind.OBJECTIVE else "score"
    bound = 1 / num_classes(audit.data) + 0.1 if method.kind == Kind.OBJECTIVE else 0.2
    audit.expect(TESTBED, "random_receiver_at_chance", method, readout, checks.at_most(values(rows, readout), bound),
                 per_seed(rows, lambda seed_rows: {"value": checks.at_most(values(seed_rows, readout), bound).value,
                                                   "late_minus_early": late_minus_early(seed_rows, readout)}))


def test_random_to_random_reported(audit, method):
    """Reported, not asserted: how similar two random networks look to each method. Per seed the
    best cut (``max``), for the claim that random -> random stitches poorly at every cut."""
    rows = audit.cells(TESTBED, method, pairs(audit, "random->random"))
    readout = method.primary
    audit.expect(TESTBED, "random_to_random", method, readout, checks.at_least(values(rows, readout), 0.0),
                 per_seed(rows, lambda seed_rows: {"max": best(values(seed_rows, readout))}))


def best(vs):
    """The largest finite value; NaN when every cell failed."""
    finite = [v for v in vs if np.isfinite(v)]
    return max(finite) if finite else float("nan")
