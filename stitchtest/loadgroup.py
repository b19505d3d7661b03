"""xdist's ``loadgroup`` scheduler, made to survive a worker that dies.

pytest-xdist 3.8's scheduler hangs the session for good when a worker is killed (an OOM kill,
a ``kill -9``) and its replacement starts: it puts the dead worker's finished groups back on
the queue as empty work (pytest-dev/pytest-xdist#1323, #1378), hands the replacement a single
test and never tells it that no second one is coming (#1327), and runs the test the worker
died on again, so a test that kills its worker kills every replacement too (#1371). Each is
fixed here, in a subclass, until an xdist release carries the fixes: the other workers' work
goes on, the dead worker's rows are kept, and ``--stitch-resume`` recomputes only what it lost.
"""
from __future__ import annotations

from typing import Optional

from xdist.scheduler import LoadGroupScheduling


#: the xdist group every testbed test is put in starts with this (``@stitchtest-method-dm``)
GROUP_PREFIX = "stitchtest-"


def training_weight(group: str) -> int:
    """How much a testbed group costs, roughly: 1 for a method whose cells train stitches by SGD (an
    objective that is not closed form, or one this process cannot resolve, such as a user's
    ``module:Name``), 0 for measures and closed-form objectives, whose cells take milliseconds."""
    prefix = GROUP_PREFIX + "method-"
    if not group.startswith(prefix):
        return 0
    from .methods import get

    try:
        method = get(group[len(prefix):])
    except Exception:  # an unregistered name: assume the expensive kind
        return 1
    objective = getattr(method, "objective", None)
    return int(objective is not None and not objective.closed_form)


def heavy_first(groups) -> list:
    """``groups`` with the SGD methods' groups first, each kind in its given order.

    Why: xdist hands every worker two groups at the start; in collection order one worker got
    the measures and DM and then an SGD method, and ran alone at the end of the run while the
    other workers idled (session 7: 797 cells on it at the end, one core in use). Longest
    first is the classic remedy: every worker starts with an SGD method, the quick groups fill in.
    """
    return sorted(groups, key=training_weight, reverse=True)


class RecoveringLoadGroup(LoadGroupScheduling):
    _ordered = False

    def _assign_work_unit(self, node) -> None:
        """As xdist's, with the queue put in :func:`heavy_first` order before the first group goes out."""
        if not self._ordered:
            for group in heavy_first(list(self.workqueue)):
                self.workqueue.move_to_end(group)
            self._ordered = True
        super()._assign_work_unit(node)

    def remove_node(self, node) -> Optional[str]:
        """Requeue only the dead worker's unfinished groups, without the test it died on
        (xdist reports that one as crashed)."""
        workload = self.assigned_work.pop(node)
        pending = [(scope, nodeid) for scope, unit in workload.items() for nodeid, done in unit.items() if not done]
        if not pending:
            return None
        scope, crashitem = pending[0]
        workload[scope][crashitem] = True
        for scope, unit in workload.items():
            if not all(unit.values()):
                self.workqueue[scope] = unit
        for other in self.assigned_work:
            self._reschedule(other)
        return crashitem

    def _reschedule(self, node) -> None:
        """As xdist's, and a worker that got the last group is told to shut down once it has
        run it: a worker runs its last queued test only when a next one or a shutdown comes."""
        super()._reschedule(node)
        if not self.workqueue and not node.shutting_down:
            node.shutdown()


def is_audit(ids) -> bool:
    """Whether a worker's collection holds stitchtest audits: their node ids end in a
    ``@stitchtest-...`` group, which workers add to items with the ``testbed`` marker."""
    return any(GROUP_PREFIX in nodeid.rpartition("@")[2] for nodeid in ids if "@" in nodeid)


class AuditScheduling:
    """The scheduler for ``--dist load`` and ``loadgroup``, chosen once the first worker's
    collection is known: :class:`RecoveringLoadGroup` for an audit (cells that share models stay
    on one worker), xdist's own ``plain`` scheduler for any other session, which then runs as if
    stitchtest were not installed. The controller collects nothing itself, so the choice cannot
    be made earlier; the nodes that joined before it are handed on."""

    def __init__(self, config, log, plain):
        self._config, self._log, self._plain = config, log, plain
        self._early: list = []
        self._real = None

    @property
    def nodes(self):
        return self._real.nodes if self._real is not None else list(self._early)

    @property
    def collection_is_completed(self) -> bool:
        return self._real is not None and self._real.collection_is_completed

    @property
    def tests_finished(self) -> bool:
        return self._real is not None and self._real.tests_finished

    @property
    def has_pending(self) -> bool:
        return self._real is not None and self._real.has_pending

    def add_node(self, node) -> None:
        if self._real is None:
            self._early.append(node)
        else:
            self._real.add_node(node)

    def remove_node(self, node):
        if self._real is None:  # a worker that died before any collection came (maybe before it was ready)
            if node in self._early:
                self._early.remove(node)
            return None
        return self._real.remove_node(node)

    def add_node_collection(self, node, collection) -> None:
        if self._real is None:
            self._real = (RecoveringLoadGroup if is_audit(collection) else self._plain)(self._config, self._log)
            for early in self._early:
                self._real.add_node(early)
        self._real.add_node_collection(node, collection)

    def __getattr__(self, name):  # schedule, mark_test_complete, ...: only called once collections came
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._real, name)
