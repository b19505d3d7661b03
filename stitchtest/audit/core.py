"""The testbeds' one collaborator: compute cells (resumably), record rows, judge checks.

A testbed never trains or stitches anything itself: it names cells and asks :meth:`Audit.cells`
for their readouts, then hands :meth:`Audit.check` an outcome from :mod:`stitchtest.audit.checks`.
Every computed cell is appended to this worker's results file the moment it exists, so an
interrupted run loses nothing; with ``resume`` a cell already in the results is not recomputed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from ..engine import methods as methods_mod
from ..engine.cells import Cell
from . import checks as checks_mod
from .checks import Outcome
from .executor import Executor, Threads
from ..engine.context import Context
from ..data.spec import DataSpec
from .expectations import expectation
from ..engine.methods import Method
from ..models.core import build, cuts_at_depths
from ..records.keys import CellKey, CheckKey
from ..records.rows import CellRow, CheckRow, ExhibitRow
from ..runtime.registry import RegistryError
from ..records.results import ResultsWriter
from .scales import Scale
from ..models.zoo import ModelSpec, Zoo


def label(spec: ModelSpec) -> str:
    """Short model label for tables: ``standard/s0``, ``adversarial/s3``, ``shortcut(p=1.0)/s1``."""
    regime = f"shortcut(p={spec.cue_p})" if spec.regime == "shortcut" else spec.regime
    task = "" if spec.task == "class" else f"[{spec.task}]"
    arch = "" if spec.arch == "R1111" else f"{spec.arch}:"
    return f"{arch}{regime}{task}/s{spec.seed}"


@dataclass
class Planned:
    """A cell plus the labels it is reported under."""

    cell: Cell
    pair: str  # group label, e.g. "trained->random"
    seed: int  # seed index of the pair


class Audit:
    def __init__(self, scale: Scale, data: DataSpec, zoo: Zoo, writer: ResultsWriter,
                 done: Optional[Dict[str, CellRow]] = None, progress: Callable[[str], None] = lambda s: None,
                 cache_limit: Optional[int] = None, worker: Tuple[int, int] = (0, 1),
                 executor: Optional[Executor] = None):
        self.scale, self.data, self.zoo, self.writer = scale, scale.data(data), zoo, writer
        self.executor = executor or Threads()  #: who computes the missing groups (:mod:`.executor`)
        self.context = Context(zoo, scale.stitch(), **scale.context_options(cache_limit))
        self.done: Dict[str, CellRow] = dict(done or {})
        #: every row of this process by what it computed (method, cell, stitch), whichever testbed
        #: asked: a cell two testbeds share is computed once (:meth:`_reusable`)
        self.by_work: Dict[str, CellRow] = {CellKey.work_of(k): r for k, r in self.done.items()}
        self.progress = progress
        self.worker = worker  # (index, count): where this process starts warming the zoo
        self.computed = 0
        self.reused = 0

    def spec(self, **changes) -> ModelSpec:
        return self.scale.spec(self.data, **changes)

    def cuts(self, depths: Sequence[float]) -> tuple:
        """The audited family's cuts nearest proportional ``depths`` (0 = its first spatial cut, 1 = its
        last), so a testbed names no architecture's cuts: R1111's stem, layer1.0 ... layer4.0 are
        depths 0, 0.25 ... 1, and ``--stitch-arch vgg4`` gets its own cuts at the same depths (a shallow
        family may land two depths on one cut: it comes once)."""
        return tuple(dict.fromkeys(cuts_at_depths(build(self.scale.arch, self.scale.width), depths)))

    def key(self, testbed: str, method: Method, cell: Cell) -> str:
        """The cell row's key, as results files hold it (:class:`~stitchtest.records.keys.CellKey`)."""
        return str(self.cell_key(testbed, method, cell))

    def cell_key(self, testbed: str, method: Method, cell: Cell) -> CellKey:
        return CellKey(testbed, method.string_id(), cell.string_id(), self.scale.stitch().string_id())

    def cells(self, testbed: str, method: Method, planned: Sequence[Planned]) -> List[CellRow]:
        """Rows for ``planned`` cells: from earlier results when resuming, else computed now.

        Cells are computed in the method's groups (stitches into one receiver cut train together,
        several groups at once where the context allows it: :func:`methods.each_group`) by the
        audit's :attr:`executor` (this process, or jobs on a cluster), and each group's rows are
        written the moment it finishes. The zoo is trained here, before the executor starts.
        """
        keys = [self.key(testbed, method, p.cell) for p in planned]
        todo, planned_now = [], set()
        for p, k in zip(planned, keys):
            if k in self.done or k in planned_now:  # a cell planned twice is computed once
                continue
            planned_now.add(k)
            earlier = self._reusable(method, p.cell)
            if earlier is not None:
                self._record(testbed, method, p, {**earlier.readouts, "seconds": 0.0, "reused_from": earlier.testbed})
            else:
                todo.append(p)
        specs = list(dict.fromkeys(s for p in todo for s in (p.cell.sender, p.cell.receiver)))
        if specs:  # cold zoo: workers asking at once train different models, then compute
            self.zoo.warm(specs, start=self.worker[0] * len(specs) // max(1, self.worker[1]))
        for members, readouts in self.executor.run(self, testbed, method, todo) if todo else ():
            for n, r in zip(members, readouts):
                self._record(testbed, method, todo[n], r)
        return [self.done[k] for k in keys]

    def cells_together(self, testbed: str, method: Method, *plans: Sequence[Planned]) -> List[List[CellRow]]:
        """:meth:`cells` for several plans in one call, the rows returned plan by plan.

        Why: stitches into one receiver cut train as one group, sharing each pass of the frozen
        suffix, but only within one call. A testbed that plans its pair types separately (std->std,
        then AT->std, into the same receivers) trains groups of one, and a small network's suffix
        costs 18-23% more per image at 64 images a pass than at 128 (bf16 on the Intel Xeon with AMX,
        2 cores: ``benchmarks/suffix_batch.py``).
        A stitch trains in a group as it would alone, to float rounding (``fit_stitches``).
        """
        rows = self.cells(testbed, method, [p for plan in plans for p in plan])
        out, start = [], 0
        for plan in plans:
            out.append(rows[start:start + len(plan)])
            start += len(plan)
        return out

    def _work(self, method: Method, cell: Cell) -> str:
        return self.cell_key("", method, cell).work

    def _reusable(self, method: Method, cell: Cell) -> Optional[CellRow]:
        """A row of this process that computed the same cell with the same method and stitch for
        another testbed; a cell with robust readouts serves one that does not ask for them."""
        for c in (cell,) + (() if cell.robust else (replace(cell, robust=True),)):
            row = self.by_work.get(self._work(method, c))
            if row is not None and not row.failed:
                return row
        return None

    def _record(self, testbed: str, method: Method, p: Planned, readouts: dict) -> None:
        c = p.cell
        sender, receiver = self.zoo.model(c.sender), self.zoo.model(c.receiver)
        key = self.key(testbed, method, c)
        row = CellRow(key=key, testbed=testbed, method=method.name, method_id=method.string_id(), cell=c.string_id(),
                      pair=p.pair, seed=p.seed, sender=label(c.sender), sender_cut=c.sender_cut,
                      receiver=label(c.receiver), receiver_cut=c.receiver_cut,
                      sender_depth=sender.depth(c.sender_cut), receiver_depth=receiver.depth(c.receiver_cut),
                      readouts=readouts)
        self.writer.append(row)
        self.done[key] = row
        self.by_work.setdefault(self._work(method, c), row)
        if "reused_from" in readouts:
            self.reused += 1
            return
        self.computed += 1
        seconds = readouts.get("seconds", float("nan"))
        self.progress(f"cell {testbed} {method.name} {p.pair} s{p.seed} {c.sender_cut}->{c.receiver_cut} "
                      f"{_brief(readouts)} ({seconds:.1f}s)")

    def check(self, testbed: str, check: str, method: Method, readout: str, outcome: Outcome,
              per_seed: Optional[Dict[str, List[float]]] = None, se: Optional[float] = None) -> CheckRow:
        """Record a check's outcome against the expectations table; return the row.

        ``per_seed`` holds statistics of the check computed on each seed pair alone (``{"value":
        [...], ...}``, index = seed index), which :mod:`stitchtest.audit.claims` compares across methods.
        A value within two standard errors of its threshold is ``undecided``
        (:func:`~stitchtest.audit.checks.within_noise`), neither pass nor fail: ``se`` is the
        caller's standard error of the value, else the spread of ``per_seed["value"]`` over seed pairs
        (the larger where both are known; not for :func:`~stitchtest.audit.checks.close`, whose value is
        the worst deviation, not a mean); with neither, the check is decided as its outcome says."""
        spread = math.nan  # a worst-case deviation (``close``, its ``tol``) has no spread over seeds
        if per_seed and per_seed.get("value") and "tol" not in outcome.detail:
            spread = checks_mod.spread_se(per_seed["value"])
        known = [x for x in (se, spread) if x is not None and math.isfinite(x)]
        if known:
            outcome = checks_mod.within_noise(outcome, max(known))
        exp = expectation(testbed, check, method.name, self.scale.name, kind=method.kind)
        if exp.status == "reported":
            verdict = "reported"
        elif outcome.undecided:
            verdict = "undecided"
        elif exp.status == "known-fail":
            verdict = "unexpected-pass" if outcome.passed else "known-fail"
        else:
            verdict = "pass" if outcome.passed else "fail"
        row = CheckRow(key=str(CheckKey(testbed, check, method.name)), testbed=testbed, check=check, method=method.name,
                       readout=readout, outcome=verdict, figure=outcome.figure, value=outcome.value,
                       better=outcome.better, reason=exp.reason, detail=outcome.detail, per_seed=per_seed or {})
        self.writer.append(row)
        return row


    def exhibit(self, testbed: str, name: str, title: str, text: str = "", table: Optional[dict] = None,
                images: Optional[dict] = None) -> ExhibitRow:
        """Record a reported table or image grid (``{"headers", "rows"}``, ``{"labels", "images"}``)
        for the testbed's report; like every row it is written at once and re-rendered by
        ``stitchtest report``."""
        row = ExhibitRow(key=f"{testbed}|{name}", testbed=testbed, name=name, title=title, text=text, table=table,
                         images=images)
        self.writer.append(row)
        return row


def _brief(readouts: dict) -> str:
    if "failure" in readouts:
        return f"FAILED: {readouts['failure']}"
    keys = [k for k in ("accuracy", "latent_error", "robust_accuracy", "score", "ev", "es") if k in readouts]
    return " ".join(f"{k}={readouts[k]:.3f}" for k in keys)


def values(rows: Sequence[CellRow], readout: str) -> List[float]:
    """One readout across rows (NaN where a cell failed or lacks it, or where it is null: stored
    non-finite, read back by ``--stitch-resume``)."""
    return [float("nan") if r.failed or r.readouts.get(readout) is None else float(r.readouts[readout])
            for r in rows]


def resolve_methods(names: Optional[str]) -> List[Method]:
    """``--stitch-methods`` text (comma-separated names or module:Name) -> methods; if None, every
    registered method but those registered by name only (``fula_bn``)."""
    chosen = [n.strip() for n in names.split(",") if n.strip()] if names else methods_mod.default_names()
    out = [methods_mod.get(n) for n in chosen]
    for given, m in zip(chosen, out):
        for what, text in (("name", m.name), ("id", m.string_id())):
            if not text.isprintable():  # a newline would split progress-*.log lines and report tables
                raise RegistryError(f"method {given!r} has the {what} {text!r}, which holds a control character "
                                    f"(a newline, tab, ...); expected a name of printable characters")
    return out
