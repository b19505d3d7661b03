"""Adversarially trained vs standard networks (Balogh & Jelasity; FuLA's cross-task setting).

Groups: standard models and PGD-trained models, ``seeds`` of each. In-group pairs (std->std,
AT->AT) should look more similar than cross-group pairs (std->AT, AT->std); separation is scored
as AUPRC (ReSi) within each cut, averaged over cuts, once on clean accuracy and once on the robustness readout
``robust_gap`` = |robust accuracy of the stitched network (attacked end to end) - the receiver's own|.
docs/lab/facts.md#f12 to #f13: clean accuracy separates nothing at this scale; robust accuracy does.
"""
import pytest

from stitchtest.testing import Kind, separation, separation_per_seed, two_group_cells

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
    robust = method.kind == Kind.OBJECTIVE
    tag = "" if sender_task is None else f"[{sender_task}->{task}]"
    at = audit.cuts(DEPTHS)
    rows = two_group_cells(audit, TESTBED, method, {"std": (s_std, std), "AT": (s_adv, adv)}, at, tag, robust=robust)
    return rows["std->std"] + rows["AT->AT"], rows["std->AT"] + rows["AT->std"]


def test_separation_clean_readout(audit, method):
    inside, across = cells(audit, method)
    readout = method.primary
    audit.expect(TESTBED, "separation_clean", method, readout,
                 separation(inside, across, readout, THRESHOLD),
                 separation_per_seed(inside, across, readout, THRESHOLD))


def test_separation_robust_readout(audit, method):
    if method.kind != Kind.OBJECTIVE:
        pytest.skip("robust accuracy is a readout of a stitched network")
    inside, across = cells(audit, method)
    audit.expect(TESTBED, "separation_robust", method, "robust_gap",
                 separation(inside, across, "robust_gap", THRESHOLD),
                 separation_per_seed(inside, across, "robust_gap", THRESHOLD))


def test_cross_task_separation_robust_readout(audit, method):
    """Sender trained on parity, receiver on the digit classes, same images (small scale and up)."""
    if not audit.scale.cross_task:
        pytest.skip(f"cross-task stitching runs at --stitch-scale small and up, not {audit.scale.name}")
    if method.kind != Kind.OBJECTIVE:
        pytest.skip("robust accuracy is a readout of a stitched network")
    inside, across = cells(audit, method, task="class", sender_task="parity")
    audit.expect(TESTBED, "cross_task_separation_robust", method, "robust_gap",
                 separation(inside, across, "robust_gap", THRESHOLD),
                 separation_per_seed(inside, across, "robust_gap", THRESHOLD))


def test_threat_model_reported(audit):
    """The attack behind every robust readout, stated in the report (reported, not asserted)."""
    ds = audit.context.data(audit.spec(seed=0).clean_view())
    eps, steps = audit.scale.eps, audit.context.robust_steps
    pixel_eps = ", ".join(f"{eps * float(s):.3f}" for s in ds.std)
    rows = [["norm and radius", f"L-inf, eps {eps:g} in normalised input units (= {pixel_eps} in [0, 1] pixel units)"],
            ["attack", f"PGD-{steps}, step size 2.5 eps / steps, uniform random start, cross-entropy, "
                       "the whole stitched network attacked end to end"],
            ["valid pixel range", "not enforced: adversarial images are not clipped to [0, 1] (docs/lab/facts.md#f22: "
                                  "15-25% of adversarial pixels fall outside it)"],
            ["strength", "an upper bound on robust accuracy: APGD-CE with 50 steps finds 5.5 points less than "
                         "PGD-10 on an adversarial zoo model (0.587 vs 0.642, docs/lab/facts.md#f22)"],
            ["adversarial training", f"PGD-{audit.scale.attack_steps} at the same eps"]]
    audit.exhibit(TESTBED, "threat_model", "Threat model of the robust readouts",
                  text="Robust accuracy and robust_gap are measured under this attack; compare them only within it.",
                  table={"headers": ["setting", "value"], "rows": rows})
    assert eps > 0 and steps > 0
