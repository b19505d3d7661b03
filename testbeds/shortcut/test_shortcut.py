"""Shortcut cues (Smith et al. 2025, "Functional alignment can mislead"; docs/lab/facts.md#f6 to #f7).

Clean models (cue rate 0) and shortcut models (trained with a label-encoding patch on every
image). In-group pairs (clean->clean, shortcut->shortcut) should look more similar than
cross-group pairs; separation is scored as AUPRC (per cut, averaged) on cue-free and on cue-carrying data. Whether a
task-trained stitch from a shortcut model into a clean model recovers accuracy only when the cue
is present is measured and reported, not asserted: the literature does not settle it.

Cue-conflict images (every test image's cue names class ``(y + 1) mod k``, not its label; the
stitch still trains on images whose cue names the label) say what a stitched network *follows*:
per direction, the share of its predictions equal to the label (``accuracy``), to the cue's class
(``cue_following``), and its agreement with the receiver. These are cells of their own
(``cue_conflict=True`` in the cell id), for objectives only.
"""
import math

import numpy as np
import pytest

from stitchtest.audit import checks
from stitchtest.audit import values
from stitchtest.testing import Kind, per_seed_of_groups, separation, separation_per_seed, two_group_cells

pytestmark = pytest.mark.testbed("shortcut")
TESTBED = "shortcut"
DEPTHS = (0.25, 0.5, 0.75, 1.0)  # proportional; R1111: layer1.0 ... layer4.0
THRESHOLD = 0.75


def groups(audit):
    n = audit.scale.seeds
    rates = [p for p in audit.scale.shortcut_rates if p > 0]
    clean = [audit.spec(seed=k) for k in range(n)]
    cued = {p: [audit.spec(seed=k, regime="shortcut", cue_p=p) for k in range(n)] for p in rates}
    return clean, cued


def cells(audit, method, cue_p, rate=1.0):
    clean, cued = groups(audit)
    cue = cued[rate]
    data = "cue" if cue_p else "clean"
    at = audit.cuts(DEPTHS)
    rows = two_group_cells(audit, TESTBED, method, {"clean": (clean, clean), "shortcut": (cue, cue)}, at, f"@{data}",
                           cue_p=cue_p)
    return rows["clean->clean"] + rows["shortcut->shortcut"], rows["shortcut->clean"] + rows["clean->shortcut"]


def readout_for(method):
    """Agreement with the receiver, not accuracy: on cue-free images a shortcut receiver itself
    scores about 0.2, so accuracy would rank every pair *into* a shortcut model low, in-group or
    not, and measure the receiver's failure instead of the pair's similarity."""
    return "agreement" if method.kind == Kind.OBJECTIVE else method.primary


@pytest.mark.parametrize("cue_p", [0.0, 1.0], ids=["clean_data", "cue_data"])
def test_group_separation(audit, method, cue_p):
    inside, across = cells(audit, method, cue_p)
    readout = readout_for(method)
    name = "separation_" + ("cue_data" if cue_p else "clean_data")
    audit.expect(TESTBED, name, method, readout,
                 separation(inside, across, readout, THRESHOLD),
                 separation_per_seed(inside, across, readout, THRESHOLD))


def test_shortcut_stitch_needs_the_cue(audit, method):
    """Reported: does shortcut->clean stitch better on cue data than on clean data?"""
    if method.kind != Kind.OBJECTIVE:
        pytest.skip("a question about task-trained stitches")
    _, across_cue = cells(audit, method, 1.0)
    _, across_clean = cells(audit, method, 0.0)
    on_cue = [r for r in across_cue if r.pair.startswith("shortcut->clean")]
    on_clean = [r for r in across_clean if r.pair.startswith("shortcut->clean")]
    audit.expect(TESTBED, "shortcut_stitch_needs_cue", method, "accuracy",
                 checks.margin(values(on_cue, "accuracy"), values(on_clean, "accuracy"), margin=0.05))


#: direction -> the in-group pair into the same receivers it is read against
REFERENCE = {"shortcut->clean": "clean->clean", "clean->shortcut": "shortcut->shortcut"}
#: direction -> its check's name
CONFLICT_CHECK = {"shortcut->clean": "cue_conflict_shortcut_to_clean", "clean->shortcut": "cue_conflict_clean_to_shortcut"}


def conflict_cells(audit, method, rate=1.0):
    """The four ring pairings on cue-conflict test images (trained as the cue-data cells, on images
    whose cue names the label; cells of their own, so a resumed run computes only these)."""
    clean, cued = groups(audit)
    cue = cued[rate]
    return two_group_cells(audit, TESTBED, method, {"clean": (clean, clean), "shortcut": (cue, cue)},
                           audit.cuts(DEPTHS), "@conflict", cue_p=1.0, cue_conflict=True)


def conflict_stats(seed):
    """One seed pair's cue-conflict figures: for the direction (``dir``) and its in-group reference
    (``ref``, the same receivers) the mean share of predictions equal to the cue's class (``cue``),
    to the label (``label``), agreement with the receiver (``agreement``), the receivers' own cue
    share (``receiver_cue``); ``cue_excess``, the direction's cue share minus the reference's."""
    out = {}
    for side in ("dir", "ref"):
        for name, readout in (("cue", "cue_following"), ("label", "accuracy"), ("agreement", "agreement"),
                              ("receiver_cue", "receiver_cue_following")):
            out[f"{name}_{side}"] = float(np.nanmean(values(seed[side], readout))) if seed[side] else math.nan
    out["cue_excess"] = out["cue_dir"] - out["cue_ref"]
    out["value"] = out["cue_excess"]
    return out


@pytest.mark.parametrize("direction", list(REFERENCE), ids=["shortcut_to_clean", "clean_to_shortcut"])
def test_cue_conflict(audit, method, direction):
    """Reported, per direction: does the stitch transmit the cue? On cue-conflict images, the
    stitched network's cue share against the in-group pair into the same receivers: shortcut->clean against clean->clean (a pair that never learnt the cue), clean->shortcut
    against shortcut->shortcut (a sender that carries it), seed pair by seed pair (each pair's mean over
    cuts). The claims read ``cue_excess`` per seed pair."""
    if method.kind != Kind.OBJECTIVE:
        pytest.skip("a question about what a stitched network predicts")
    rows = conflict_cells(audit, method)
    stats = per_seed_of_groups({"dir": rows[direction], "ref": rows[REFERENCE[direction]]}, conflict_stats)
    higher, lower = ("cue_dir", "cue_ref") if direction == "shortcut->clean" else ("cue_ref", "cue_dir")
    audit.expect(TESTBED, CONFLICT_CHECK[direction], method, "cue_following",
                 checks.margin(stats[higher], stats[lower], margin=0.05), stats)
