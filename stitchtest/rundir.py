"""A results directory's life: one session at a time, and nothing but our own files moved.

``--stitch-results-dir`` may name any directory, the working directory included, so a session never
deletes there: a new run moves the previous run's files (``results-*.jsonl``, ``progress-*.log``
and workers' ``spool-*.jsonl``, recognised by name *and* content) into ``previous/<time>/`` and leaves
everything else alone. A session holds a lock file in the directory from start to finish, so a
second session on it stops at once instead of mixing its rows with the first's; the lock is
the kernel's (``filelock``), so a killed session leaves no stale lock behind.
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import List, Optional

from filelock import FileLock, Timeout

from .folder import ResultsFolder

_PROGRESS_LINE = re.compile(rb"^\d\d:\d\d:\d\d ")


class RunDirError(ValueError):
    """A results directory that cannot be used as asked; the message says what to do."""


def _is_row(line: bytes) -> bool:
    try:
        row = json.loads(line)
    except ValueError:
        return False
    return isinstance(row, dict) and isinstance(row.get("kind"), str) and isinstance(row.get("key"), str)


def _ours(path: Path) -> bool:
    """Whether ``path`` is a results or progress file that stitchtest wrote (an interrupted write
    may leave one unfinished last line)."""
    if not path.is_file() or path.is_symlink():
        return False
    data = path.read_bytes()
    lines = data.split(b"\n")
    if not data.endswith(b"\n"):
        lines = lines[:-1]  # an unfinished last line (JSON has no other unterminated form)
    lines = [line for line in lines if line.strip()]
    if path.suffix == ".jsonl":
        return all(_is_row(line) for line in lines)
    return all(_PROGRESS_LINE.match(line) for line in lines)


def previous_files(directory: Path) -> List[Path]:
    """Files of an earlier run in ``directory``; a ``results-*.jsonl`` or ``spool-*.jsonl`` that
    stitchtest did not write is an error (it would be read as results), anything else is not ours
    and ignored."""
    found = []
    folder = ResultsFolder(directory)
    for path in folder.results_files() + folder.progress_files() + [p for _, p in folder.spool_files()]:
        if _ours(path):
            found.append(path)
        elif path.suffix == ".jsonl":
            raise RunDirError(f"{path} is not a stitchtest results file (not one JSON result row per line); "
                              f"move it away or give another --stitch-results-dir")
    return found


def claim(directory: Path) -> FileLock:
    """Lock ``directory`` for this session (creating it), or say who holds it."""
    if directory.exists() and not directory.is_dir():
        raise RunDirError(f"{directory} is a file, not a directory; give --stitch-results-dir a directory")
    directory.mkdir(parents=True, exist_ok=True)
    path = ResultsFolder(directory).lock
    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise RunDirError(f"{directory} is in use by another stitchtest session (it holds {path}); "
                          f"wait for it to finish, or give this run another --stitch-results-dir") from None
    return lock


def set_aside(directory: Path) -> Optional[Path]:
    """Move the previous run's files into ``directory/previous/<time>/``; returns where, or None."""
    files = previous_files(directory)
    if not files:
        return None
    stamp, previous = time.strftime("%Y%m%d-%H%M%S"), ResultsFolder(directory).previous
    target, n = previous / stamp, 1
    while target.exists():
        n += 1
        target = previous / f"{stamp}-{n}"
    target.mkdir(parents=True)
    for path in files:
        os.replace(path, target / path.name)
    return target
