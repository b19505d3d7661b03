"""Adversarially trained vs standard networks (Balogh & Jelasity; FuLA's cross-task setting).

Groups: standard models and PGD-trained models, ``seeds`` of each. In-group pairs (std->std,
AT->AT) should look more similar than cross-group pairs (std->AT, AT->std); separation is scored
as AUPRC (ReSi) within each cut, averaged over cuts, once on clean accuracy and once on the robustness readout
``robust_gap`` = |robust accuracy of the stitched network (attacked end to end) - the receiver's own|.
SCIENCE.md facts 12-13: clean accuracy separates nothing at this scale; robust accuracy does.
"""
import pytest


from _grids import ring_pairs, separation

pytestmark = pytest.mark.testbed("adversarial")
TESTBED = "adversarial"
DEPTHS = (0.25, 0.5, 0.75, 1.0)  # proportional; R1111: layer1.0 ... layer4.0
THRESHOLD = 0.75  # AUPRC; chance is the in-group share, 0.5 here


def groups(audit, task="class"):
    n = audit.scale.seeds
    std = [audit.spec(seed=k, task=task) for k in range(n)]
    adv = [audit.spec(seed=k, regime="adversarial", task=task) for k in range(n)]
    return std, adv


def cells(audit, method, task="class", sender_task=None):
    std, adv = groups(audit, task)
    s_std, s_adv = groups(audit, sender_task) if sender_task else (std, adv)
    robust = method.kind == "objective"
    tag = "" if sender_task is None else f"[{sender_task}->{task}]"
    at = audit.cuts(DEPTHS)
    inside = (audit.cells(TESTBED, method, ring_pairs(s_std, std, f"std->std{tag}", at, robust=robust))
              + audit.cells(TESTBED, method, ring_pairs(s_adv, adv, f"AT->AT{tag}", at, robust=robust)))
    across = (audit.cells(TESTBED, method, ring_pairs(s_std, adv, f"std->AT{tag}", at, robust=robust))
              + audit.cells(TESTBED, method, ring_pairs(s_adv, std, f"AT->std{tag}", at, robust=robust)))
    return inside, across


def test_separation_clean_readout(audit, method):
    inside, across = cells(audit, method)
    readout = method.primary
    audit.expect(TESTBED, "separation_clean", method, readout,
                 separation(inside, across, readout, THRESHOLD))


def test_separation_robust_readout(audit, method):
    if method.kind != "objective":
        pytest.skip("robust accuracy is a readout of a stitched network")
    inside, across = cells(audit, method)
    audit.expect(TESTBED, "separation_robust", method, "robust_gap",
                 separation(inside, across, "robust_gap", THRESHOLD))


def test_cross_task_separation_robust_readout(audit, method):
    """Sender trained on parity, receiver on the digit classes, same images (small scale and up)."""
    if not audit.scale.cross_task:
        pytest.skip(f"cross-task stitching runs at --scale small and up, not {audit.scale.name}")
    if method.kind != "objective":
        pytest.skip("robust accuracy is a readout of a stitched network")
    inside, across = cells(audit, method, task="class", sender_task="parity")
    audit.expect(TESTBED, "cross_task_separation_robust", method, "robust_gap",
                 separation(inside, across, "robust_gap", THRESHOLD))
