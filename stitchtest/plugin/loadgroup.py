"""The xdist scheduler of an audit: testbed tests grouped by method, surviving a worker that dies.

Which tests are testbed tests, and their groups, the controller reads from public data only: the
node ids the workers collected, and the test files they name (:class:`AuditIds`). It writes no
private attribute of pytest or xdist: pytest 9.2 made ``Node._nodeid`` a read-only view, so the
``@group`` suffix xdist's own ``--dist loadgroup`` adds to node ids is no longer there to read.

What it does rely on, and CI tests at both ends of the range ``pyproject.toml`` admits: the
queue of xdist's ``LoadScopeScheduling`` (``workqueue``, ``assigned_work``) and its documented
override point ``_split_scope``. pytest-xdist 3.8's scheduler also hangs the session for good when
a worker is killed (an OOM kill, a ``kill -9``) and its replacement starts: it puts the dead
worker's finished groups back on the queue as empty work (pytest-dev/pytest-xdist#1323, #1378),
hands the replacement a single test and never tells it that no second one is coming (#1327), and
runs the test the worker died on again, so a test that kills its worker kills every replacement
too (#1371). Each is fixed here, in a subclass: the other workers' work goes on, the dead worker's
rows are kept, and ``--stitch-resume`` recomputes only what it lost.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Callable, Dict, Iterable, Optional, Tuple

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
    from ..engine.methods import get

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
    other workers idled (the cold default run of 2026-12-01 on the Intel Xeon: 797 cells on it at
    the end, one core in use). Longest first is the classic remedy: every worker starts with an
    SGD method, the quick groups fill in.
    """
    return sorted(groups, key=training_weight, reverse=True)


class RecoveringLoadGroup(LoadGroupScheduling):
    """xdist's ``loadgroup`` with testbed tests grouped by :class:`AuditIds` (other tests as xdist groups them)."""

    _ordered = False
    groups: Optional[AuditIds] = None

    def _split_scope(self, nodeid: str) -> str:
        group = self.groups.group(nodeid) if self.groups is not None else None
        return group if group is not None else super()._split_scope(nodeid)

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


def split_id(nodeid: str) -> Tuple[str, Optional[str]]:
    """A node id's file and its parametrization id: ``("t.py", "dm-2")`` for ``t.py::test_x[dm-2]``.
    A ``@group`` suffix that an older xdist's ``--dist loadgroup`` appends is dropped."""
    if nodeid.rfind("@") > nodeid.rfind("]"):
        nodeid = nodeid[:nodeid.rfind("@")]
    path = nodeid.split("::", 1)[0]
    params = nodeid[nodeid.index("[", len(path)) + 1:-1] if nodeid.endswith("]") and "[" in nodeid[len(path):] else None
    return path, params


def declares_testbed(path: Path) -> bool:
    """Whether a test file declares the ``testbed`` marker (``pytestmark = pytest.mark.testbed(...)``,
    or as a decorator): read as source, never imported, so the controller, which collects nothing,
    knows what its workers will audit before any test is scheduled."""
    try:
        tree = ast.parse(path.read_bytes())
    except (OSError, SyntaxError, ValueError):
        return False
    return any(isinstance(node, ast.Attribute) and node.attr == "testbed"
               and isinstance(node.value, ast.Attribute) and node.value.attr == "mark" for node in ast.walk(tree))


class AuditIds:
    """The controller's reading of the workers' collected ids: which are testbed tests (their file
    declares the marker), and each one's group: its method's (the parametrization id names one of
    the audited methods, ``methods()``), else its file's. Files are read once.

    Why one group per method, over every testbed: a method's cells share models and activations,
    and a cell two testbeds ask for is computed once (``Audit.cells``). It also balances: the SGD
    objectives cost about the same and are about as many as workers, while the cheap methods fill
    in where a worker frees up (:func:`heavy_first`)."""

    def __init__(self, root: Path, methods: Callable[[], Iterable[str]] = tuple):
        self._root, self._methods = Path(root), methods
        self._files: Dict[str, bool] = {}

    def is_testbed(self, nodeid: str) -> bool:
        path = split_id(nodeid)[0]
        if path not in self._files:
            self._files[path] = declares_testbed(self._root / path)
        return self._files[path]

    def any_testbed(self, ids: Iterable[str]) -> bool:
        return any(self.is_testbed(nodeid) for nodeid in ids)

    def group(self, nodeid: str) -> Optional[str]:
        """``stitchtest-method-dm`` for ``testbeds/test_x.py::test_y[dm]``; None for a test that is no testbed's."""
        if not self.is_testbed(nodeid):
            return None
        path, params = split_id(nodeid)
        method = _method_in(params, self._methods()) if params is not None else None
        return GROUP_PREFIX + (f"method-{method}" if method is not None else path)


def _method_in(params: str, names: Iterable[str]) -> Optional[str]:
    """The longest of ``names`` that is one of the ``-``-joined ids in ``params`` (pytest joins the ids of
    several parametrizations with ``-``; a method name may hold one too)."""
    found = [n for n in names if params == n or params.startswith(n + "-") or params.endswith("-" + n)
             or f"-{n}-" in params]
    return max(found, key=len) if found else None


class AuditScheduling:
    """The scheduler for ``--dist load`` and ``loadgroup``, chosen once the first worker's
    collection is known: :class:`RecoveringLoadGroup` for an audit (cells that share models stay
    on one worker), xdist's own ``plain`` scheduler for any other session, which then runs as if
    stitchtest were not installed. The controller collects nothing itself, so the choice cannot
    be made earlier; the nodes that joined before it are handed on. ``audit_ids()`` gives the
    session's :class:`AuditIds` once it is known to audit (before the first collection is added),
    else None."""

    def __init__(self, config, log, plain, audit_ids: Callable[[], Optional[AuditIds]] = lambda: None):
        self._config, self._log, self._plain, self._audit_ids = config, log, plain, audit_ids
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
            ids = self._audit_ids()
            if ids is not None:
                self._real = RecoveringLoadGroup(self._config, self._log)
                self._real.groups = ids
            else:
                self._real = self._plain(self._config, self._log)
            for early in self._early:
                self._real.add_node(early)
        self._real.add_node_collection(node, collection)

    def __getattr__(self, name):  # schedule, mark_test_complete, ...: only called once collections came
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._real, name)
