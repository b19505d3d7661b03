"""Result rows on disk: one JSON object per line, one file per pytest worker.

Only the process that owns the results directory writes here: a run without xdist, or the xdist
controller, which writes the rows its workers send (:mod:`stitchtest.plugin.relay`) to one
``results-<worker>.jsonl`` per worker and fsyncs every row, so writers never contend for a file
and an interrupted run keeps every row it finished (``--stitch-resume`` skips their keys). A crash
can leave at most one unfinished last line per file; readers skip it with a warning, and a writer
reopening the file removes it. Anything else malformed is an error that names the file and line,
because a silently dropped row would silently change a report.

Each line is one typed record (:mod:`stitchtest.records`); the file names are the
:class:`~stitchtest.records.folder.ResultsFolder`'s. JSON has no NaN or infinity, so non-finite floats are
written as ``null``: readers see ``None`` ("no finite value"), and the files stay strict JSON that
any tool can read.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Dict, Iterable, List, Set, Tuple

import numpy as np

from .folder import ResultsFolder
from .rows import CellRow, CheckRow, Record, ResultsError


def _finite(value: Any) -> Any:
    """``value`` with numpy scalars made plain and non-finite floats made ``None`` (recursively)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _dumps(row: Record) -> str:
    return json.dumps(_finite(row.to_json()), sort_keys=True, allow_nan=False)


def _parse(line: bytes, path: Path, lineno: int) -> Record:
    where = f"{path}:{lineno}"
    try:
        obj = json.loads(line)
    except ValueError as e:
        raise ResultsError(f"{where}: not valid JSON ({e})") from None
    return Record.from_json(obj, where)


def _is_json(line: bytes) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def numbered_rows(path: os.PathLike | str, tolerate_unfinished_tail: bool) -> List[Tuple[int, Record]]:
    """(line number, row) of one file; blank lines are ignored. Line numbers are for messages."""
    path = Path(path)
    lines = path.read_bytes().split(b"\n")
    # After the final newline split() leaves b"": anything else there is an unterminated line.
    rows = [(n, _parse(line, path, n)) for n, line in enumerate(lines[:-1], 1) if line.strip()]
    n, tail = len(lines), lines[-1]
    if not tail.strip():
        return rows
    # Any proper prefix of a JSON object is invalid JSON: an unterminated one is an interrupted write.
    if tolerate_unfinished_tail and not _is_json(tail):
        warnings.warn(f"{path}:{n}: skipping an unfinished last line (interrupted write)", stacklevel=4)
    else:
        rows.append((n, _parse(tail, path, n)))
    return rows


def _read(path: Path, tolerate_unfinished_tail: bool) -> List[Record]:
    return [row for _, row in numbered_rows(path, tolerate_unfinished_tail)]


def check_row(row: Any) -> None:
    """Only records are written (a programming error otherwise)."""
    if not isinstance(row, Record):
        raise TypeError(f"a result row is a stitchtest.records record, got {type(row).__name__}: {row!r}")


class ResultsWriter:
    """Appends rows to ``directory/results-<worker>.jsonl`` (or to ``path``), durably, one line per row."""

    def __init__(self, directory: os.PathLike | str, worker: str = "main", path: os.PathLike | str | None = None):
        self.worker = worker
        self.path = Path(path) if path is not None else ResultsFolder(directory).results(worker)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._end_last_line()

    def _end_last_line(self) -> None:
        """Make the file end in a newline so appends never glue onto a crash's unfinished line."""
        if not self.path.exists():
            return
        with open(self.path, "rb+") as f:
            data = f.read()
            if not data or data.endswith(b"\n"):
                return
            start = data.rfind(b"\n") + 1
            if _is_json(data[start:]):  # a whole row that only lost its newline
                f.write(b"\n")
            else:  # unfinished row: drop it; its key is not done, so it will be redone
                warnings.warn(f"{self.path}: dropping an unfinished last line (interrupted write)",
                              stacklevel=3)
                f.truncate(start)

    def append(self, row: Record) -> None:
        """Write one row and fsync it; adds ``worker`` and ``time`` if missing."""
        check_row(row)
        line = _dumps(row.stamped(self.worker, time.time())) + "\n"
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())


def load_rows(directory: os.PathLike | str) -> List[Record]:
    """All rows of ``directory/results-*.jsonl``, one per key.

    Files are read in sorted name order; when a key repeats, the newest row (by its ``time``,
    then by file and line) wins, so a re-run row replaces the one it repeats even when a resumed
    run put it in another worker's file. Rows keep the position where their key first appeared.
    A missing directory has no rows.
    """
    by_key: Dict[str, Record] = {}
    for path in ResultsFolder(directory).results_files():
        for row in _read(path, tolerate_unfinished_tail=True):
            old = by_key.get(row.key)
            if old is None or (row.time or 0) >= (old.time or 0):
                by_key[row.key] = row
    return list(by_key.values())


def done_keys(directory: os.PathLike | str) -> Set[str]:
    """Keys already recorded (failed cells included: a failure is a result), for ``--stitch-resume``."""
    return {row.key for row in load_rows(directory)}


def cells(rows: Iterable[Record]) -> List[CellRow]:
    return [r for r in rows if isinstance(r, CellRow)]


def checks(rows: Iterable[Record]) -> List[CheckRow]:
    return [r for r in rows if isinstance(r, CheckRow)]


def save_rows(rows: Iterable[Record], path: os.PathLike | str) -> None:
    """Write a single-file JSONL (a baseline), sorted by kind and key so it diffs cleanly; ``run``
    rows (the run's settings) come first, so a reader meets them at the top.

    The file is replaced atomically: a reader never sees half of it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ordered = sorted(rows, key=lambda r: (r.kind != "run", r.kind, r.key))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes it private; a baseline is meant to be shared
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.writelines(_dumps(r) + "\n" for r in ordered)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def read_rows(path: os.PathLike | str) -> List[Record]:
    """Rows of a single JSONL file (a baseline), strictly: any malformed line is an error."""
    path = Path(path)
    if not path.is_file():
        raise ResultsError(f"{path}: results file not found")
    return _read(path, tolerate_unfinished_tail=False)
