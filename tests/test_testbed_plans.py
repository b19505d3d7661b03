"""What two testbeds plan at each scale, without computing a cell: where the calibration testbed
trains an SGD objective's null (19 trainings per cell), and the misleading testbed's cross-task
cells, which only ``small`` and up have (their models are too slow to train here)."""
import importlib.util
from pathlib import Path

import pytest

from stitchtest.audit import Audit
from stitchtest.data import DataSpec
from stitchtest.engine.methods import get
from stitchtest.instruments.nulls import CalibratedStitch
from stitchtest.audit.scales import SCALES

TESTBEDS = Path(__file__).resolve().parent.parent / "testbeds"


def load_testbed(name):
    """``test_<testbed>``, the module in the folder ``testbeds/<testbed>/``."""
    spec = importlib.util.spec_from_file_location(f"_plan_{name}", TESTBEDS / name[len("test_"):] / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def planner(scale):
    """An audit that can plan (specs and cuts) but has no zoo: computing a cell would fail."""
    return Audit(SCALES[scale], DataSpec("digits"), zoo=None, writer=None)


@pytest.mark.parametrize("scale, sgd_cells", [("smoke", 2), ("small", 6), ("paper", 9)])
def test_calibration_plans_an_sgd_null_where_it_is_affordable(scale, sgd_cells):
    calibration, a = load_testbed("test_calibration"), planner(scale)
    m, where = calibration.calibrated(a, get("tlm"))
    assert isinstance(m, CalibratedStitch) and m.null.permutations == calibration.STITCH_PERMUTATIONS == 19
    for kind in ("trained->trained", "random->random"):
        planned = calibration.pairs(a, kind, where)
        assert len(planned) == sgd_cells
        assert all(p.pair == kind and p.cell.sender_cut == p.cell.receiver_cut for p in planned)
    if scale == "smoke":
        assert {p.cell.receiver_cut for p in planned} == {"layer4.0"} and {p.seed for p in planned} == {0, 1}
    dm, dm_where = calibration.calibrated(a, get("dm"))  # closed form: every cell, as the measures
    assert isinstance(dm, CalibratedStitch) and len(calibration.pairs(a, "trained->trained", dm_where)) == 9


def test_misleading_plans_cross_task_senders_at_small_only():
    misleading, small = load_testbed("test_misleading"), planner("small")
    reference, cross = misleading.cross_task_pairs(small)
    assert len(reference) == len(cross) == SCALES["small"].seeds * 2
    for ref, c in zip(reference, cross):
        assert c.cell.sender.task == "parity" and c.cell.receiver.task == "class" == ref.cell.sender.task
        assert c.cell.receiver == ref.cell.receiver and c.cell.receiver_cut == ref.cell.receiver_cut
        assert c.cell.sender.seed == ref.cell.sender.seed != c.cell.receiver.seed  # never a model into itself
        assert c.cell.sender.regime == "standard" and c.seed == ref.seed
    assert {c.cell.receiver_cut for c in cross} == {"layer3.0", "layer4.0"}
    # the reference is the shortcut test's clean -> clean, so the default run computes it once
    shortcut_reference = misleading.ring_pairs([small.spec(seed=k) for k in range(3)], [small.spec(seed=k) for k in range(3)],
                                               "clean->clean@clean", small.cuts(misleading.DEPTHS), cue_p=0.0)
    assert [p.cell for p in reference] == [p.cell for p in shortcut_reference]
    with pytest.raises(pytest.skip.Exception, match="small and up"):
        misleading.test_cross_task_sender_rated_below_trained(planner("smoke"), get("tlm"))
