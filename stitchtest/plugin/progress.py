"""Live progress on the controller's terminal, however many workers compute the cells.

A testbed test is a whole (testbed, method) matrix and can run for minutes, and xdist reports a
test only when it ends, so pytest's own dots say nothing in between. Every process already
appends what it does to ``progress-<worker>.log`` in the results directory (cells, model
training epochs); the controller follows those files in a background thread and prints, at
``-v``, each new line with its worker's name, and otherwise a running count of computed cells
and trained models, at most once per ``every`` seconds. Files are the only channel the workers need: nothing is
sent between processes, and an interrupted run leaves the logs behind for inspection.
"""
from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List

from ..records.folder import ResultsFolder

#: the lines counted: :meth:`stitchtest.audit.Audit._record` and :meth:`stitchtest.models.zoo.Zoo.get` write
#: them after a time stamp ("01:42:11 cell cross_layer tlm ...", "01:40:00 zoo: training model(...)")
CELL = re.compile(r"^\S+ cell ")
TRAINING = re.compile(r"^\S+ zoo: training ")


class ProgressFollower:
    """Follow ``results_dir/progress-*.log`` and report through ``write`` (one line per call)."""

    def __init__(self, results_dir: Path, write: Callable[[str], None], verbose: bool, every: float = 30.0,
                 poll_every: float = 1.0):
        self.folder, self.write, self.verbose = ResultsFolder(results_dir), write, verbose
        self.every, self.poll_every = every, poll_every
        self._last_count = float("-inf")
        self._offsets: Dict[Path, int] = {}
        self.cells: Dict[str, int] = {}
        self.trainings = 0
        self._reported = (0, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stitchtest-progress", daemon=True)

    def start(self, thread: bool = True) -> "ProgressFollower":
        """Skip what the logs already hold (``--stitch-resume``: only what this run adds is shown) and, with
        ``thread``, poll in the background; without, the caller polls (in the process that runs the
        tests, where only the main thread may lift pytest's output capture)."""
        for path in self.folder.progress_files():
            self._offsets[path] = path.stat().st_size
        if thread:
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop following, after one last poll so the final count is shown."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        else:
            self.poll(final=True)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_every):
            self.poll()
        self.poll(final=True)

    def poll(self, final: bool = False) -> None:
        """Read what the workers appended since the last poll; report it (the count at most once
        per ``every`` seconds, and always on the ``final`` poll if it changed)."""
        for worker, path in self.folder.progress_logs():
            for line in self._new_lines(path):
                if CELL.match(line):
                    self.cells[worker] = self.cells.get(worker, 0) + 1
                if TRAINING.search(line):
                    self.trainings += 1
                if self.verbose:
                    self.write(f"[{worker}] {line}")
        due = final or time.monotonic() - self._last_count >= self.every
        if not self.verbose and due and (self.total, self.trainings) != self._reported:
            self._reported, self._last_count = (self.total, self.trainings), time.monotonic()
            per = ", ".join(f"{w} {n}" for w, n in sorted(self.cells.items()))
            trained = f"; {_count(self.trainings, 'model')} trained" if self.trainings else ""
            self.write(f"[stitchtest] {_count(self.total, 'cell')} computed{f' ({per})' if per else ''}{trained}")

    @property
    def total(self) -> int:
        return sum(self.cells.values())

    def _new_lines(self, path: Path) -> List[str]:
        """Complete lines appended to ``path`` since the last read (a partial last line waits)."""
        try:
            with open(path, "rb") as f:
                f.seek(self._offsets.get(path, 0))
                data = f.read()
        except OSError:
            return []
        complete = data[: data.rfind(b"\n") + 1]
        self._offsets[path] = self._offsets.get(path, 0) + len(complete)
        return complete.decode("utf-8", errors="replace").splitlines()


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
