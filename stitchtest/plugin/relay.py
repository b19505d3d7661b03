"""Rows from xdist workers to the controller, through xdist's own channel.

A worker may run on another host, in another working directory, so it never writes results
files: its rows (cells, checks, exhibits) and progress lines wait in an :class:`Outbox` and leave
with the report of the test phase that made them (an attribute of the report, which pytest
serialises with it and xdist carries to the controller). A worker that dies therefore loses at
most its test in flight, and not even that where it sees the controller's folder: it then also
spools each row there the moment it has it (:mod:`stitchtest.records.spool`). The controller's
:class:`Inbox` writes every row that arrives to ``results-<worker>.jsonl`` in its own results
directory, durably, the moment it arrives, and counts them: at the end each worker says how
many rows it handed over, and a shortfall is named.

Only the controller writes results; the workers learn what it already has (``--stitch-resume``)
from their ``workerinput``.
"""
from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from ..records.folder import ResultsFolder
from ..records.rows import Record
from ..records.results import ResultsWriter, _dumps, check_row

#: the report attributes rows and progress lines travel in (pytest serialises a report's attributes)
ROWS, PROGRESS = "stitchtest_rows", "stitchtest_progress"
#: what a worker's ``workeroutput`` says at the end: rows handed over, and any not yet sent
SENT, LEFT = "stitchtest_sent", "stitchtest_left"


class Outbox:
    """A worker's results writer: rows wait here until the next report takes them.

    Rows are stored as they would be written (a record's JSON, non-finite floats made ``null``),
    so what travels is plain data and what the controller writes is exactly what a single process
    would have written.
    """

    def __init__(self, worker: str, spool: Optional[ResultsWriter] = None):
        self.worker = worker
        self.spool = spool  #: where each row is also written at once (:mod:`stitchtest.records.spool`), if anywhere
        self._rows: List[dict] = []
        self._lines: List[str] = []
        self._lock = threading.Lock()  # cells of several groups may be recorded from threads
        self.sent = 0

    def append(self, row: Record) -> None:
        check_row(row)
        row = row.stamped(self.worker, time.time())
        plain = json.loads(_dumps(row))
        with self._lock:
            if self.spool is not None:
                self.spool.append(row)
            self._rows.append(plain)

    def log(self, line: str) -> None:
        with self._lock:
            self._lines.append(line)

    def take(self) -> Tuple[List[dict], List[str]]:
        """Everything waiting (rows as JSON objects), now counted as handed over."""
        with self._lock:
            rows, lines, self._rows, self._lines = self._rows, self._lines, [], []
            self.sent += len(rows)
        return rows, lines


class Inbox:
    """The controller's end: rows from each worker to ``results-<worker>.jsonl``, counted."""

    def __init__(self, directory: Path):
        self.folder = ResultsFolder(directory)
        self.received: Counter = Counter()
        self._writers: Dict[str, ResultsWriter] = {}

    def receive(self, worker: str, rows: List[dict], lines: List[str] = ()) -> None:
        """Write the rows (JSON objects, as :meth:`Outbox.take` gave them) and progress lines of ``worker``."""
        if rows:
            writer = self._writers.get(worker) or self._writers.setdefault(worker, ResultsWriter(self.folder.root, worker))
            for row in rows:
                writer.append(Record.from_json(row, f"a row from worker {worker}"))  # keeps its own worker and time
            self.received[worker] += len(rows)
        if lines:
            with open(self.folder.progress(worker), "a", encoding="utf-8") as f:
                f.writelines(line + "\n" for line in lines)

    def shortfall(self, worker: str, sent: int) -> int:
        """How many of the ``sent`` rows of ``worker`` never arrived."""
        return max(0, sent - self.received[worker])
