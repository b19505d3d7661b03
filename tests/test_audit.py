"""Audit: a cell that several testbeds ask for is computed once per process, and rows say so."""
import pytest

from stitchtest.audit import Audit, Planned
from stitchtest.engine.cells import Cell
from stitchtest.data import DataSpec
from stitchtest.engine.methods import Method
from stitchtest.records.results import ResultsWriter, cells, load_rows
from stitchtest.audit.scales import Scale
from stitchtest.models.zoo import Zoo


class Counting(Method):
    """Records which cells it was asked to compute; fails the cells named in ``fail``."""

    name, kind, primary = "counting", "measure", "score"

    def __init__(self, fail=()):
        self.asked, self.fail, self.calls = [], set(fail), []

    def string_id(self):
        return "counting()"

    def evaluate_many(self, ctx, cells):
        self.asked += [c.string_id() for c in cells]
        self.calls.append(len(cells))
        return [{"failure": "boom"} if c.sender_cut in self.fail else {"score": 0.5, "seconds": 1.0} for c in cells]


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    return Zoo(tmp_path_factory.mktemp("zoo"))


def make_audit(zoo, tmp_path, done=None):
    scale = Scale("smoke", width=4, epochs=1)
    return Audit(scale, DataSpec(n_train=200, n_test=100), zoo, ResultsWriter(tmp_path, "main"), done)


def planned(audit, cut="layer1.0", **cell):
    a, b = audit.spec(seed=0), audit.spec(seed=1)
    return [Planned(Cell(a, cut, b, cut, **cell), "a->b", 0)]


def test_a_cell_two_testbeds_ask_for_is_computed_once(zoo, tmp_path):
    audit, method = make_audit(zoo, tmp_path), Counting()
    first = audit.cells("one", method, planned(audit))
    second = audit.cells("two", method, planned(audit))
    assert len(method.asked) == 1 and audit.computed == 1 and audit.reused == 1
    assert first[0].testbed == "one" and second[0].testbed == "two"
    assert second[0].readouts == {"score": 0.5, "seconds": 0.0, "reused_from": "one"}
    assert {r.testbed for r in cells(load_rows(tmp_path))} == {"one", "two"}


def test_robust_readouts_serve_a_plain_ask_but_not_the_other_way(zoo, tmp_path):
    audit, method = make_audit(zoo, tmp_path), Counting()
    audit.cells("plain", method, planned(audit, "layer2.0"))
    audit.cells("robust", method, planned(audit, "layer2.0", robust=True))  # needs more: computed
    audit.cells("plain_again", method, planned(audit, "layer3.0", robust=True))
    audit.cells("plain_too", method, planned(audit, "layer3.0"))  # served by the robust one
    assert len(method.asked) == 3 and audit.reused == 1


def test_a_failed_cell_is_not_reused(zoo, tmp_path):
    audit, method = make_audit(zoo, tmp_path), Counting(fail={"layer1.0"})
    audit.cells("one", method, planned(audit))
    audit.cells("two", method, planned(audit))
    assert len(method.asked) == 2 and audit.reused == 0


def test_resumed_rows_of_another_testbed_are_reused(zoo, tmp_path):
    audit, method = make_audit(zoo, tmp_path), Counting()
    audit.cells("one", method, planned(audit))
    done = {r.key: r for r in cells(load_rows(tmp_path))}
    resumed, again = make_audit(zoo, tmp_path, done), Counting()
    rows = resumed.cells("two", again, planned(resumed))
    assert again.asked == [] and rows[0].readouts["reused_from"] == "one"


def test_plans_asked_together_reach_the_method_in_one_group_and_come_back_plan_by_plan(zoo, tmp_path):
    """One call, so that cells of several pair types into one receiver cut train as one group."""
    audit, method = make_audit(zoo, tmp_path), Counting()
    a, b = audit.spec(seed=0), audit.spec(seed=1)
    into = lambda cut: [Planned(Cell(a, cut, b, "layer2.0"), f"{cut}->", 0)]  # one receiver cut
    first, second = into("layer1.0"), into("layer2.0") + into("layer1.0")
    one, two = audit.cells_together("one", method, first, second)
    assert method.calls == [2]  # one group of both plans; the cell they share computed once
    assert [r.sender_cut for r in one] == ["layer1.0"] and [r.sender_cut for r in two] == ["layer2.0", "layer1.0"]
    assert two[1] is one[0] and audit.computed == 2
