"""Misleading alignment (Smith, Mannering & Marcu, ICML 2025, "Functional alignment can mislead").

Senders that share nothing functional with the receiver but carry the label:

(a) clustered noise (:mod:`stitchtest.instruments.synthetic`): a fixed random code per class plus noise per
    image, no image content, shaped like the receiver's cut; it needs no training;
(b) a shortcut model (trained with a label-encoding patch on every image, about 0.2 accurate on
    cue-free images) stitched into a clean model on cue-free images: the shortcut testbed's cells;
(c) a model trained on a different task over the same images (digit parity, two classes) into a
    class receiver, against a class model into the same receiver; at ``small`` and up, whose zoo
    has the parity models (``Scale.cross_task``: the adversarial testbed's cross-task senders).

A faithful functional similarity rates such a pair clearly below two trained networks of the
same task (seed pair k: sender seed 100+k -> receiver seed k, the random-control testbed's
reference pair, so those cells are shared). The literature says task-loss matching (TLM) does
not: it stitches clustered noise as well as a trained sender. (b) and (c) are set against class
model k -> class model k+1 (the shortcut testbed's clean pairs). Only two deep receiver cuts, the
random-control testbed's, so the SGD objectives add six stitches each for (a) and, at ``small``,
six for (c).
"""
import pytest

from stitchtest.audit import checks
from stitchtest.audit import Planned, values
from stitchtest.engine.cells import Cell
from stitchtest.instruments.synthetic import ClusteredNoise, OnSyntheticSender
from stitchtest.testing import Kind, by_cut, per_seed, per_seed_of_groups, ring_pairs

pytestmark = pytest.mark.testbed("misleading")
TESTBED = "misleading"
DEPTHS = (0.75, 1.0)  # R1111: layer3.0, layer4.0 (the random-control testbed's deep cuts)
MARGIN = 0.05


def trained_pairs(audit):
    return [Planned(Cell(audit.spec(seed=100 + k), c, audit.spec(seed=k), c), "trained->trained", k)
            for k in range(audit.scale.seeds) for c in audit.cuts(DEPTHS)]


def noise_pairs(audit):
    """Sender field = the receiver itself: its activations at the cut only give the shape, and
    :class:`OnSyntheticSender` replaces them with the noise."""
    return [Planned(Cell(audit.spec(seed=k), c, audit.spec(seed=k), c), "clustered_noise->trained", k)
            for k in range(audit.scale.seeds) for c in audit.cuts(DEPTHS)]


def readout_for(method):
    """Agreement with the receiver for objectives (as the shortcut testbed: a receiver's own
    accuracy is not the pair's similarity), the score for measures."""
    return "agreement" if method.kind == Kind.OBJECTIVE else method.primary


def below(reference, misleading, readout):
    """The misleading pair clearly below the reference at *every* cut (a stitch into the last block
    can succeed from any label-carrying input; one into an earlier block need not)."""
    return checks.margin_every_cut(by_cut(reference, readout), by_cut(misleading, readout), margin=MARGIN)


def gap_per_seed(reference, misleading, readout):
    """Per seed pair: the smallest per-cut gap (what the check decides on) and the mean levels."""
    def stats(seed):
        ref, mis = by_cut(seed["ref"], readout), by_cut(seed["mis"], readout)
        gaps = [sum(ref[c]) / len(ref[c]) - sum(mis[c]) / len(mis[c]) for c in ref if c in mis]
        flat_ref, flat_mis = [v for vs in ref.values() for v in vs], [v for vs in mis.values() for v in vs]
        return {"value": min(gaps), "misleading": sum(flat_mis) / len(flat_mis),
                "reference": sum(flat_ref) / len(flat_ref)}
    return per_seed_of_groups({"ref": reference, "mis": misleading}, stats)


def test_clustered_noise_rated_below_trained(audit, method):
    """(a) A label code plus noise must look clearly less like the receiver than a trained network."""
    readout = readout_for(method)
    reference = audit.cells(TESTBED, method, trained_pairs(audit))
    noise = audit.cells(TESTBED, OnSyntheticSender(method, ClusteredNoise()), noise_pairs(audit))
    audit.expect(TESTBED, "clustered_noise_below_trained", method, readout, below(reference, noise, readout),
                 gap_per_seed(reference, noise, readout))


def test_shortcut_sender_rated_below_trained(audit, method):
    """(b) A cue-only model on cue-free images (it scores about 0.2 there) into a clean model,
    against a clean model into the same receiver: the shortcut testbed's cells at the deep cuts."""
    n = audit.scale.seeds
    clean = [audit.spec(seed=k) for k in range(n)]
    cue = [audit.spec(seed=k, regime="shortcut", cue_p=1.0) for k in range(n)]
    at = audit.cuts(DEPTHS)
    readout = readout_for(method)
    # the shortcut testbed's labels, so its cells are shared (the key is testbed, method and cell)
    reference, shortcut = audit.cells_together(TESTBED, method,
                                               ring_pairs(clean, clean, "clean->clean@clean", at, cue_p=0.0),
                                               ring_pairs(cue, clean, "shortcut->clean@clean", at, cue_p=0.0))
    audit.expect(TESTBED, "shortcut_sender_below_trained", method, readout, below(reference, shortcut, readout),
                 gap_per_seed(reference, shortcut, readout))


def cross_task_pairs(audit):
    """(c)'s cells: parity model k -> class model k+1 and, the reference, class model k -> class
    model k+1 (the shortcut testbed's clean -> clean cells, so they are shared), at the deep cuts."""
    n, at = audit.scale.seeds, audit.cuts(DEPTHS)
    clean = [audit.spec(seed=k) for k in range(n)]
    parity = [audit.spec(seed=k, task="parity") for k in range(n)]
    return (ring_pairs(clean, clean, "clean->clean@clean", at, cue_p=0.0),
            ring_pairs(parity, clean, "parity->class", at))


def test_cross_task_sender_rated_below_trained(audit, method):
    """(c) A network trained to tell even digits from odd ones, on the same images, into a digit
    classifier: it carries the label well enough for a stitch to read it out, and computes another
    function (Smith et al.: TLM is misled)."""
    if not audit.scale.cross_task:
        pytest.skip(f"cross-task senders run at --stitch-scale small and up, not {audit.scale.name}")
    readout = readout_for(method)
    reference_planned, cross_planned = cross_task_pairs(audit)
    reference, cross = audit.cells_together(TESTBED, method, reference_planned, cross_planned)  # same receivers
    audit.expect(TESTBED, "cross_task_sender_below_trained", method, readout, below(reference, cross, readout),
                 gap_per_seed(reference, cross, readout))


def test_clustered_noise_stitched_accuracy_reported(audit, method):
    """Reported: how well the noise stitches, relative to the receiver (objectives only)."""
    if method.kind != Kind.OBJECTIVE:
        pytest.skip("a question about stitched accuracy")
    noise = audit.cells(TESTBED, OnSyntheticSender(method, ClusteredNoise()), noise_pairs(audit))
    audit.expect(TESTBED, "clustered_noise_relative_accuracy", method, "relative_accuracy",
                 checks.at_least(values(noise, "relative_accuracy"), 0.0),
                 per_seed(noise, lambda rows: {"value": sum(values(rows, "relative_accuracy")) / len(rows)}))
