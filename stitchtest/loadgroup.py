"""xdist's ``loadgroup`` scheduler, made to survive a worker that dies.

pytest-xdist 3.8's scheduler hangs the session for good when a worker is killed (an OOM kill,
a ``kill -9``) and its replacement starts: it puts the dead worker's finished groups back on
the queue as empty work (pytest-dev/pytest-xdist#1323, #1378), hands the replacement a single
test and never tells it that no second one is coming (#1327), and runs the test the worker
died on again, so a test that kills its worker kills every replacement too (#1371). Each is
fixed here, in a subclass, until an xdist release carries the fixes: the other workers' work
goes on, the dead worker's rows are kept, and ``--resume`` recomputes only what it lost.
"""
from __future__ import annotations

from typing import Optional

from xdist.scheduler import LoadGroupScheduling


class RecoveringLoadGroup(LoadGroupScheduling):
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
