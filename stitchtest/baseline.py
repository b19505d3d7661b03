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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set, Tuple

from .results import ResultsError, Row, load_rows, numbered_rows, read_rows, save_rows

#: Run settings that must agree for two runs to be comparable (the ``run`` row's fields).
MUST_MATCH = ("scale", "data", "seeds", "arch")  # arch: only in runs with --stitch-arch (absent = the scale's)
#: ... and what ``--stitch-resume`` must agree on too: a resumed report never mixes methods of two runs.
RESUMED = MUST_MATCH + ("audited",)
#: Readouts that measure the machine, not the method.
IGNORED_READOUTS = frozenset({"seconds", "reused_from"})
#: Row fields that change on every run without meaning anything (left out of saved baselines).
VOLATILE = ("time", "worker")
DEFAULT_TOL = 0.02
#: Significant digits of the readouts a saved baseline keeps.
SIGNIFICANT = 6


class BaselineError(ResultsError):
    """A baseline that cannot be compared with a run (other scale, data or seeds; nothing shared)."""


@dataclass
class Results:
    """Rows and where they came from (a results directory or a baseline file), for error messages."""

    path: Path
    rows: List[Row]

    @property
    def run(self) -> Optional[Row]:
        return next((r for r in self.rows if r.get("kind") == "run"), None)

    def where(self, key: str) -> str:
        """``file:line`` of the row with ``key`` (read again: only error messages need it)."""
        files = sorted(self.path.glob("results-*.jsonl")) if self.path.is_dir() else [self.path]
        found = str(self.path)
        for path in files:
            for lineno, row in numbered_rows(path, tolerate_unfinished_tail=True):
                if row["key"] == key:
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


def run_row(scale: str, data: str, seeds: int, **more) -> Row:
    """The ``run`` row a results directory and a baseline carry: what makes two runs comparable."""
    return {"kind": "run", "key": "run", "scale": scale, "data": data, "seeds": seeds, **more}


def check_match(run: Optional[Row], base: Results) -> None:
    """Raise :class:`BaselineError` naming the baseline's ``run`` row if the runs differ in setting."""
    theirs = base.run
    if run is None or theirs is None:
        return
    differ = [f"{k} {theirs.get(k)!r} (this run: {run.get(k)!r})" for k in MUST_MATCH if theirs.get(k) != run.get(k)]
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

    def clean(row: Row) -> Row:
        row = {k: v for k, v in row.items() if k not in VOLATILE and not (k == "cell" and row.get("kind") == "cell")}
        if isinstance(row.get("readouts"), dict):
            row["readouts"] = {k: _significant(v) for k, v in row["readouts"].items() if k not in IGNORED_READOUTS}
        for field in ("detail", "per_seed"):
            if isinstance(row.get(field), dict):
                row[field] = rounded(row[field])
        return row

    save_rows([clean(r) for r in results.rows if r.get("kind") in ("run", "cell", "check")], path)


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
    """Stopped passing, or newly failing; a check gone missing counts (``after`` None)."""
    if before is None:
        return False
    return after is None or (before == "pass" and after != "pass") or (after == "fail" and before != "fail")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _moved(before, after, tol: float) -> bool:
    if _number(before) and _number(after):
        return abs(float(after) - float(before)) > tol
    return before != after  # a finite value against none (null, missing, a failure message)


def _cell_label(row: Row) -> str:
    return (f"{row.get('testbed')} {row.get('method_id') or row.get('method')} {row.get('pair')} "
            f"s{row.get('seed')} {row.get('sender_cut')}->{row.get('receiver_cut')}")


def _readout_moves(new: Row, base: Row, tol: float) -> List[Move]:
    label = _cell_label(base)
    old, now = base.get("readouts") or {}, new.get("readouts") or {}
    if ("failure" in old) != ("failure" in now):
        return [Move(label, "failure", old.get("failure"), now.get("failure"))]
    return [Move(label, name, value, now.get(name)) for name, value in sorted(old.items())
            if name not in IGNORED_READOUTS and name != "failure"
            and (_number(value) or value is None) and _moved(value, now.get(name), tol)]


def _by_kind(rows: Sequence[Row], kind: str) -> Dict[str, Row]:
    return {r["key"]: r for r in rows if r.get("kind") == kind}


def compare(new: Results, base: Results, tol: float = DEFAULT_TOL) -> Comparison:
    """Outcome changes, regressions and moved readouts of ``new`` against ``base``.

    Raises :class:`BaselineError` when the two runs are of another setting: their ``run`` rows
    differ in scale, data or seeds, or, failing ``run`` rows to tell, they share no cell. Runs of
    the same setting whose cell ids differ (another stitchtest version) still compare outcomes.
    """
    check_match(new.run, base)
    new_cells, base_cells = _by_kind(new.rows, "cell"), _by_kind(base.rows, "cell")
    new_checks, base_checks = _by_kind(new.rows, "check"), _by_kind(base.rows, "check")
    common = [k for k in base_cells if k in new_cells]
    same_setting = new.run is not None and base.run is not None and any(k in new_checks for k in base_checks)
    if not common and not same_setting:
        raise BaselineError(f"{new.path} and {base.path} share no cell (different scale, data, methods or "
                            f"stitch budget?): {len(new_cells)} cells against {len(base_cells)}")
    audited: Set[Tuple[str, str]] = {(r.get("testbed"), r.get("method")) for r in new.rows
                                     if r.get("kind") in ("cell", "check")}
    result = Comparison(common_cells=len(common), tol=tol)
    for key, old in sorted(base_checks.items()):
        now = new_checks.get(key)
        if now is None and (old.get("testbed"), old.get("method")) not in audited:
            continue
        before, after = old.get("outcome"), now and now.get("outcome")
        if before != after:
            result.changes.append(Change(key, before, after, is_regression(before, after)))
        if now is not None and _moved(old.get("value"), now.get("value"), tol):
            result.moves.append(Move(f"{old.get('testbed')}/{old.get('check')} {old.get('method')}", "value",
                                     old.get("value"), now.get("value")))
    result.new_checks = sorted(k for k in new_checks if k not in base_checks)
    for key in common:
        result.moves += _readout_moves(new_cells[key], base_cells[key], tol)
    new_methods = {m for _, m in audited}
    result.not_audited = sorted({r.get("method") for r in base_checks.values()} - new_methods)
    return result


def baseline_failures(base: Results) -> Set[str]:
    """Check keys that failed in the baseline: with ``pytest --stitch-baseline`` they fail again as xfails."""
    return {r["key"] for r in base.rows if r.get("kind") == "check" and r.get("outcome") == "fail"}


# ---------------------------------------------------------------- text


def _fmt(value) -> str:
    if value is None:
        return "—"
    return f"{value:.3f}" if _number(value) else str(value)


def _check_label(key: str) -> Tuple[str, str]:
    parts = key.split("|")
    return ("/".join(parts[:-1]), parts[-1]) if len(parts) > 1 else (key, "")


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
