"""The audit scheduler's order: SGD methods' groups first (longest-processing-time first)."""
from collections import OrderedDict

from stitchtest.loadgroup import GROUP_PREFIX, RecoveringLoadGroup, heavy_first, training_weight


def group(name: str) -> str:
    return f"{GROUP_PREFIX}method-{name}"


def test_sgd_objectives_weigh_more_than_measures_and_closed_form_dm():
    assert training_weight(group("tlm")) == training_weight(group("fula")) == 1
    assert training_weight(group("dm")) == training_weight(group("linear_cka")) == 0
    assert training_weight(group("not_registered_anywhere")) == 1  # a user's module:Name: assume SGD
    assert training_weight("testbeds/test_x.py") == 0  # not a method's group


def test_heavy_first_keeps_each_kind_in_its_order():
    order = [group(n) for n in ("dm", "tlm", "linear_cka", "slm", "svcca", "fula")]
    assert heavy_first(order) == [group(n) for n in ("tlm", "slm", "fula", "dm", "linear_cka", "svcca")]


class FakeNode:
    def __init__(self):
        self.sent = []

    def send_runtest_some(self, indexes):
        self.sent.append(indexes)


def test_the_scheduler_hands_out_sgd_groups_first():
    """Two workers, xdist's collection order dm, linear_cka, tlm, slm: each worker's first group is
    an SGD method's (xdist alone would give one worker dm and linear_cka)."""
    sched = RecoveringLoadGroup.__new__(RecoveringLoadGroup)  # no xdist config needed for the queue
    names = ("dm", "linear_cka", "tlm", "slm")
    collection = [f"t.py::test_{n}@{group(n)}" for n in names]
    sched.workqueue = OrderedDict((group(n), {nodeid: False}) for n, nodeid in zip(names, collection))
    sched.assigned_work, nodes = {}, [FakeNode(), FakeNode()]
    sched.registered_collections = {node: collection for node in nodes}
    for node in nodes:
        sched._assign_work_unit(node)
    assert [list(sched.assigned_work[node]) for node in nodes] == [[group("tlm")], [group("slm")]]
    assert list(sched.workqueue) == [group("dm"), group("linear_cka")]
