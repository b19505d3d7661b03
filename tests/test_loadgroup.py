"""The audit scheduler's order: SGD methods' groups first (longest-processing-time first)."""
from collections import OrderedDict

from stitchtest.plugin.loadgroup import GROUP_PREFIX, RecoveringLoadGroup, heavy_first, training_weight


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
    sched.assigned_work, nodes = OrderedDict(), [FakeNode(), FakeNode()]  # as xdist 3.5 keeps it
    sched.registered_collections = {node: collection for node in nodes}
    for node in nodes:
        sched._assign_work_unit(node)
    assert [list(sched.assigned_work[node]) for node in nodes] == [[group("tlm")], [group("slm")]]
    assert list(sched.workqueue) == [group("dm"), group("linear_cka")]


# ---------------------------------------------------------------- the controller's reading of the ids


from stitchtest.plugin.loadgroup import AuditIds, declares_testbed, split_id  # noqa: E402


def test_split_id_gives_the_file_and_the_parametrization_without_a_group_suffix():
    assert split_id("testbeds/test_x.py::test_y[dm-2]") == ("testbeds/test_x.py", "dm-2")
    assert split_id("testbeds/test_x.py::test_y[dm]@stitchtest-method-dm") == ("testbeds/test_x.py", "dm")
    assert split_id("testbeds/test_x.py::Cls::test_y") == ("testbeds/test_x.py", None)
    assert split_id("a[1]/test_x.py::test_y") == ("a[1]/test_x.py", None)  # a bracket in the path is no parameter


def test_a_testbed_is_recognised_by_the_marker_its_file_declares(tmp_path):
    (tmp_path / "test_module.py").write_text("import pytest\npytestmark = pytest.mark.testbed('x')\n")
    (tmp_path / "test_decorated.py").write_text("import pytest\n@pytest.mark.testbed('x')\ndef test_a(): pass\n")
    (tmp_path / "test_plain.py").write_text("import pytest\n# pytest.mark.testbed in a comment\n"
                                            "@pytest.mark.slow\ndef test_a(): pass\n")
    (tmp_path / "test_broken.py").write_text("def (:\n")
    assert declares_testbed(tmp_path / "test_module.py") and declares_testbed(tmp_path / "test_decorated.py")
    assert not declares_testbed(tmp_path / "test_plain.py")
    assert not declares_testbed(tmp_path / "test_broken.py") and not declares_testbed(tmp_path / "missing.py")


def test_testbed_tests_are_grouped_by_the_method_their_id_names_else_by_file(tmp_path):
    (tmp_path / "tb").mkdir()
    (tmp_path / "tb" / "test_x.py").write_text("import pytest\npytestmark = pytest.mark.testbed('x')\n")
    (tmp_path / "test_other.py").write_text("def test_dm(): pass\n")
    ids = AuditIds(tmp_path, lambda: ["dm", "fula", "fula_kl", "linear_cka"])
    assert ids.group("tb/test_x.py::test_a[dm]") == group("dm")
    assert ids.group("tb/test_x.py::test_a[fula_kl]") == group("fula_kl")
    assert ids.group("tb/test_x.py::test_a[fula_kl-R2222]") == group("fula_kl")
    assert ids.group("tb/test_x.py::test_a[0-linear_cka]") == group("linear_cka")
    assert ids.group("tb/test_x.py::test_figure") == GROUP_PREFIX + "tb/test_x.py"
    assert ids.group("test_other.py::test_dm[dm]") is None  # not a testbed: xdist groups it
    assert ids.any_testbed(["test_other.py::test_dm", "tb/test_x.py::test_a[dm]"])
    assert not ids.any_testbed(["test_other.py::test_dm"])


def test_the_audit_scheduler_groups_by_the_ids_not_by_a_suffix(tmp_path):
    """The scheduler's scope of a testbed test comes from :class:`AuditIds` (pytest 9.2 ids carry no
    ``@group`` suffix); any other test keeps xdist's scope."""
    (tmp_path / "test_x.py").write_text("import pytest\npytestmark = pytest.mark.testbed('x')\n")
    sched = RecoveringLoadGroup.__new__(RecoveringLoadGroup)
    sched.groups = AuditIds(tmp_path, lambda: ["dm"])
    assert sched._split_scope("test_x.py::test_a[dm]") == group("dm")
    assert sched._split_scope("test_y.py::test_b") == "test_y.py::test_b"
    assert sched._split_scope("test_y.py::test_b@mine") == "mine"
