"""Who computes an :meth:`~stitchtest.audit.Audit.cells` call's missing groups of cells: the seam
between the audit and where the work runs.

An executor gets the groups (:func:`~stitchtest.engine.methods.groups`) of the cells an audit
lacks and yields ``(indices, readouts)`` per group as each finishes; the audit records the rows.
Two exist: :class:`Threads`, this process (several groups at once in threads, the default and the
xdist workers' way), and :class:`stitchtest.audit.slurm.Slurm`, a job array on a Slurm cluster.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, List, Sequence, Tuple

from ..engine import methods as methods_mod

if TYPE_CHECKING:
    from ..engine.methods import Method, Readouts


class Executor:
    """Computes the groups of ``todo`` (cells the audit has no row for) and yields them as they finish."""

    def run(self, audit, testbed: str, method: "Method", todo: Sequence
            ) -> Iterator[Tuple[List[int], List["Readouts"]]]:
        """``audit`` is the :class:`~stitchtest.audit.Audit` asking, ``todo`` its missing
        :class:`~stitchtest.audit.Planned` cells; yields ``(indices into todo, their readouts)``."""
        raise NotImplementedError


class Threads(Executor):
    """In this process: the groups in threads (:func:`stitchtest.engine.methods.each_group`)."""

    def run(self, audit, testbed, method, todo):
        return methods_mod.each_group(audit.context, [p.cell for p in todo], method.evaluate_many)

