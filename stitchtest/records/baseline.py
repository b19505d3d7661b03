"""Compare a run with a baseline: which checks changed outcome, which readouts moved.

A new objective (or a change to the library) should be judged against what the same audit gave
before, not only against the expectations table, so a run can be compared with a baseline: a
single JSON-lines file written by ``pytest --stitch-save-baseline`` (or any results directory).
Everything here is pure functions over rows; ``stitchtest compare`` and ``pytest --stitch-baseline``
only wire it up.

A **regression** is a check that stopped passing (``pass`` before, anything else now), a check
that newly fails (``fail`` now, anything but ``fail`` before: a known failure that turned into a
plain one, say), or a baseline check that is missing for a method and testbed the new run
audited. Other outcome changes (``fail`` -> ``pass``, ``known-fail`` -> ``unexpected-pass``, ...)
are listed but are not regressions. Readouts of cells present in both that moved by more than
an absolute tolerance are listed too; they are regressions only when asked (``fail_on_drift``).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set, Tuple, Type, TypeVar

from .folder import ResultsFolder
from .keys import CheckKey
from .rows import CellRow, CheckRow, Record, ResultsError, RunRow, RunSettings, run_of
from .results import load_rows, numbered_rows, read_rows, save_rows

R = TypeVar("R", CellRow, CheckRow)

#: Readouts that measure the machine, not the method.
IGNORED_READOUTS = frozenset({"seconds", "reused_from"})
DEFAULT_TOL = 0.02
#: Significant digits of the readouts a saved baseline keeps.
SIGNIFICANT = 6


class BaselineError(ResultsError):
    """A baseline that cannot be compared with a run (other scale, data or seeds; nothing shared)."""


@dataclass
class Results:
    """Rows and where they came from (a results directory or a baseline file), for error messages."""

    path: Path
    rows: List[Record]

    @property
    def run(self) -> Optional[RunRow]:
        return run_of(self.rows)

    @property
    def settings(self) -> Optional[RunSettings]:
        run = self.run
        return None if run is None else run.settings

    def where(self, key: str) -> str:
        """``file:line`` of the row with ``key`` (read again: only error messages need it)."""
        files = ResultsFolder(self.path).results_files() if self.path.is_dir() else [self.path]
        found = str(self.path)
        for path in files:
            for lineno, row in numbered_rows(path, tolerate_unfinished_tail=True):
                if row.key == key:
                    found = f"{path}:{lineno}"
        return found


def load(path: os.PathLike | str) -> Results:
    """A results directory (``results-*.jsonl``) or a single baseline file; ResultsError otherwise."""
    path = Path(path)
    if path.is_dir():
        rows = load_rows(path)
        if not rows:
            raise ResultsError(f"{path}: no results-*.jsonl rows in this directory")
        return Results(path, rows)
    return Results(path, read_rows(path))


def check_match(settings: Optional[RunSettings], base: Results) -> None:
    """Raise :class:`BaselineError` naming the baseline's ``run`` row if the runs differ in setting
    (:attr:`RunSettings.MATCH`)."""
    theirs = base.settings
    if settings is None or theirs is None:
        return
    differ = settings.differences(theirs, RunSettings.MATCH)
    if differ:
        raise BaselineError(f"{base.where('run')}: baseline is from another setting: {'; '.join(differ)}; "
                            f"compare runs of the same scale, data, seeds and --stitch-arch, or save a new baseline")


def _significant(value, digits: int = SIGNIFICANT):
    """``value`` rounded to ``digits`` significant digits if it is a finite float, else as it is."""
    if isinstance(value, float) and math.isfinite(value) and value != 0:
        return round(value, digits - 1 - math.floor(math.log10(abs(value))))
    return value


def save(results: Results, path: os.PathLike | str) -> None:
    """Write ``results`` as a baseline file: the run row first, volatile fields and timings left out.

    Kept small enough to commit: a cell's id is already in its key, so the ``cell`` field is
    dropped, and readouts, check details and per-seed statistics keep 6 significant digits (far
    below any drift tolerance).
    """
    def rounded(value):
        if isinstance(value, dict):
            return {k: rounded(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rounded(v) for v in value]
        return _significant(value)

    def clean(row: Record) -> Record:
        row = replace(row, worker=None, time=None)  # they change on every run without meaning anything
        if isinstance(row, CellRow):
            readouts = {k: _significant(v) for k, v in row.readouts.items() if k not in IGNORED_READOUTS}
            return replace(row, cell=None, readouts=readouts)
        if isinstance(row, CheckRow):
            return replace(row, detail=rounded(row.detail), per_seed=rounded(row.per_seed))
        return row

    save_rows([clean(r) for r in results.rows if isinstance(r, (RunRow, CellRow, CheckRow))], path)


# ---------------------------------------------------------------- comparison


@dataclass(frozen=True)
class Change:
    """A check whose outcome differs (``None``: absent on that side)."""

    key: str
    before: Optional[str]
    after: Optional[str]
    regression: bool


@dataclass(frozen=True)
class Move:
    """A readout of one cell (or a check's value) that moved by more than the tolerance."""

    where: str
    readout: str
    before: object
    after: object

    @property
    def delta(self) -> float:
        ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (self.before, self.after))
        return float(self.after) - float(self.before) if ok else math.nan


@dataclass
class Comparison:
    changes: List[Change] = field(default_factory=list)
    moves: List[Move] = field(default_factory=list)
    new_checks: List[str] = field(default_factory=list)  # in the new run only
    not_audited: List[str] = field(default_factory=list)  # baseline methods the new run did not audit
    common_cells: int = 0
    tol: float = DEFAULT_TOL

    @property
    def regressions(self) -> List[Change]:
        return [c for c in self.changes if c.regression]

    def failed(self, fail_on_drift: bool = False) -> bool:
        return bool(self.regressions) or (fail_on_drift and bool(self.moves))


def is_regression(before: Optional[str], after: Optional[str]) -> bool:
    """Stopped passing, or newly failing; a check gone missing counts (``after`` None).

    A pass that became *undecided* (its value now within noise of the threshold) is listed as a
    change but is no regression: the two sides of the noise band are exactly where another CPU's
    arithmetic moves a value, and a baseline must not fail a run for the machine it ran on."""
    if before is None:
        return False
    return (after is None or (before == "pass" and after not in ("pass", "undecided"))
            or (after == "fail" and before != "fail"))


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _moved(before, after, tol: float) -> bool:
    if _number(before) and _number(after):
        return abs(float(after) - float(before)) > tol
    return before != after  # a finite value against none (null, missing, a failure message)


def _cell_label(row: CellRow) -> str:
    return f"{row.testbed} {row.method_label} {row.pair} s{row.seed} {row.sender_cut}->{row.receiver_cut}"


def _readout_moves(new: CellRow, base: CellRow, tol: float) -> List[Move]:
    label = _cell_label(base)
    old, now = base.readouts, new.readouts
    if ("failure" in old) != ("failure" in now):
        return [Move(label, "failure", old.get("failure"), now.get("failure"))]
    return [Move(label, name, value, now.get(name)) for name, value in sorted(old.items())
            if name not in IGNORED_READOUTS and name != "failure"
            and (_number(value) or value is None) and _moved(value, now.get(name), tol)]


def _by_kind(rows: Sequence[Record], cls: Type[R]) -> Dict[str, R]:
    return {r.key: r for r in rows if isinstance(r, cls)}


def compare(new: Results, base: Results, tol: float = DEFAULT_TOL) -> Comparison:
    """Outcome changes, regressions and moved readouts of ``new`` against ``base``.

    Raises :class:`BaselineError` when the two runs are of another setting: their ``run`` rows
    differ in scale, data or seeds, or, failing ``run`` rows to tell, they share no cell. Runs of
    the same setting whose cell ids differ (another stitchtest version) still compare outcomes.
    """
    check_match(new.settings, base)
    new_cells, base_cells = _by_kind(new.rows, CellRow), _by_kind(base.rows, CellRow)
    new_checks, base_checks = _by_kind(new.rows, CheckRow), _by_kind(base.rows, CheckRow)
    common = [k for k in base_cells if k in new_cells]
    same_setting = new.run is not None and base.run is not None and any(k in new_checks for k in base_checks)
    if not common and not same_setting:
        raise BaselineError(f"{new.path} and {base.path} share no cell (different scale, data, methods or "
                            f"stitch budget?): {len(new_cells)} cells against {len(base_cells)}")
    audited: Set[Tuple[str, str]] = {(r.testbed, r.method) for r in new.rows if isinstance(r, (CellRow, CheckRow))}
    result = Comparison(common_cells=len(common), tol=tol)
    for key, old in sorted(base_checks.items()):
        now = new_checks.get(key)
        if now is None and (old.testbed, old.method) not in audited:
            continue
        before, after = old.outcome, now and now.outcome
        if before != after:
            result.changes.append(Change(key, before, after, is_regression(before, after)))
        if now is not None and _moved(old.value, now.value, tol):
            result.moves.append(Move(f"{old.testbed}/{old.check} {old.method}", "value", old.value, now.value))
    result.new_checks = sorted(k for k in new_checks if k not in base_checks)
    for key in common:
        result.moves += _readout_moves(new_cells[key], base_cells[key], tol)
    new_methods = {m for _, m in audited}
    result.not_audited = sorted({r.method for r in base_checks.values()} - new_methods)
    return result


def baseline_failures(base: Results) -> Set[str]:
    """Check keys that failed in the baseline: with ``pytest --stitch-baseline`` they fail again as xfails."""
    return {r.key for r in base.rows if isinstance(r, CheckRow) and r.outcome == "fail"}


# ---------------------------------------------------------------- text


def _fmt(value) -> str:
    if value is None:
        return "—"
    return f"{value:.3f}" if _number(value) else str(value)


def _check_label(key: str) -> Tuple[str, str]:
    """``("testbed/check", "method")`` of a check key ``testbed|check|method``: testbed and check
    names are the project's, a method's may hold a ``|`` (a user's function), so split from the left."""
    try:
        k = CheckKey.parse(key)
    except ValueError:
        return key, ""
    return f"{k.testbed}/{k.check}", k.method


def render(c: Comparison, limit: Optional[int] = None) -> str:
    """The comparison as text: a summary line, then tables of changed checks and moved readouts.

    ``limit`` caps the moved-readout table (largest moves first); ``None`` shows every one.
    """
    from tabulate import tabulate

    out = [f"{len(c.changes)} checks changed outcome ({len(c.regressions)} regressions); "
           f"{len(c.moves)} readouts moved by more than {c.tol:g}; {c.common_cells} cells in common"]
    if not c.common_cells:
        out.append("no cell in common, so no readout was compared: the cell ids differ (another stitchtest "
                   "version or stitch budget?); save a new baseline to compare readouts again")
    if c.changes:
        rows = [[*_check_label(ch.key), ch.before or "(absent)", ch.after or "MISSING",
                 "REGRESSION" if ch.regression else ""] for ch in c.changes]
        out += ["", tabulate(rows, headers=["check", "method", "baseline", "now", ""], tablefmt="github")]
    if c.moves:
        moves = sorted(c.moves, key=lambda m: -abs(m.delta) if math.isfinite(m.delta) else -math.inf)
        shown = moves if limit is None else moves[:limit]
        rows = [[m.where, m.readout, _fmt(m.before), _fmt(m.after),
                 f"{m.delta:+.3f}" if math.isfinite(m.delta) else "n/a"] for m in shown]
        out += ["", tabulate(rows, headers=["moved", "readout", "baseline", "now", "change"], tablefmt="github",
                             disable_numparse=True)]
        if len(shown) < len(moves):
            out.append(f"... and {len(moves) - len(shown)} more (stitchtest compare lists them all)")
    if c.new_checks:
        out += ["", f"{len(c.new_checks)} checks are not in the baseline (new checks or methods), e.g. "
                + ", ".join(c.new_checks[:3])]
    if c.not_audited:
        out += ["", "not compared (not audited in this run): " + ", ".join(c.not_audited)]
    return "\n".join(out)
