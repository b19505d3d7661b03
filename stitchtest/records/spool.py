"""An xdist worker's rows on the controller's disk, so a worker that dies loses nothing it computed.

Rows travel to the controller with the report of the test that made them (:mod:`stitchtest.plugin.relay`),
so a worker killed in a long test (a ``small`` cross-layer matrix can run an hour) took that
test's finished cells with it. A worker that sees the controller's results folder (same host, or a
shared disk: the session token there is this session's) also appends each row, the moment it has
it, to ``spool-<worker>.jsonl`` there, fsynced. The controller :func:`adopt`\\ s the spools at the
end of the session and when ``--stitch-resume`` opens the folder: every spooled row whose key the
results lack is appended to ``results-<worker>.jsonl`` (with the worker's own time), then the
spool is removed. After a clean run every row has arrived, so adopting only removes the spools.
A worker on another host without a shared disk has no spool; its rows travel as before.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List

from .folder import ResultsFolder
from .rows import Record
from .results import ResultsWriter, load_rows, numbered_rows


def writer(folder: ResultsFolder, worker: str) -> ResultsWriter:
    """The spool of ``worker`` in ``folder`` (an unfinished last line of a killed write is dropped)."""
    return ResultsWriter(folder.root, worker, path=folder.spool(worker))


def spooled(directory: os.PathLike | str) -> List[Record]:
    """The rows of every spool in ``directory`` (an unfinished last line dropped): done, though
    not yet adopted (``--stitch-resume`` tells the workers before it adopts them)."""
    return [row for _, path in ResultsFolder(directory).spool_files() for row in _rows(path)]


def _rows(path: Path) -> List[Record]:
    return [row for _, row in numbered_rows(path, tolerate_unfinished_tail=True)]


def adopt(directory: os.PathLike | str) -> Dict[str, int]:
    """Move the rows of every spool in ``directory`` that the results lack into the results;
    returns how many per worker (only workers with any). Safe to repeat: a row already adopted is
    not adopted twice, so an interruption between the append and the removal loses nothing."""
    folder = ResultsFolder(directory)
    spools = folder.spool_files()
    if not spools:
        return {}
    have = {row.key for row in load_rows(folder.root)}
    adopted: Dict[str, int] = {}
    for worker, path in spools:
        missing = [row for row in _rows(path) if row.key not in have]
        if missing:
            out = ResultsWriter(folder.root, worker)
            for row in missing:
                out.append(row)  # keeps the worker and time the row was computed with
                have.add(row.key)
            adopted[worker] = len(missing)
        path.unlink()
    return adopted
