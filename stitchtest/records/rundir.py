"""A results directory's life: one session at a time, and nothing but our own files moved.

``--stitch-results-dir`` may name any directory, the working directory included, so a session never
deletes there, and what is ours is decided by what we wrote, not by what a file looks like: before
it writes anything, a session records in ``.stitchtest-files`` the name of every file its run may
write (``results-<worker>.jsonl``, ``progress-<worker>.log``, ``spool-<worker>.jsonl`` of the
process that runs the tests, or of each xdist worker, known before it starts). A new run moves the
recorded files that exist into ``previous/<time>/`` and leaves everything else alone, user files
named like ours included; a non-empty ``results-*.jsonl`` or ``spool-*.jsonl`` that no record names
is an error (it would be read as results). ``--stitch-resume`` adds to the record, with the
non-empty results and spools it reads as its own.

A folder written before the record existed (a session file, no record) is recognised as before,
by name and content, once: the next run moves those files aside and starts a record. A folder
with neither holds nothing of ours.

A session holds a lock file in the directory from start to finish, so a second session on it stops
at once instead of mixing its rows with the first's; the lock is the kernel's (``filelock``), so a
killed session leaves no stale lock behind.
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Iterable, List, Optional, Set, Tuple

from filelock import FileLock, Timeout

from ..runtime.files import atomic_write
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


def _looks_ours(path: Path) -> bool:
    """Whether ``path`` resembles a results or progress file of stitchtest (an interrupted write
    may leave one unfinished last line): only for a folder written before the record existed."""
    data = path.read_bytes()
    lines = data.split(b"\n")
    if not data.endswith(b"\n"):
        lines = lines[:-1]  # an unfinished last line (JSON has no other unterminated form)
    lines = [line for line in lines if line.strip()]
    if path.suffix == ".jsonl":
        return all(_is_row(line) for line in lines)
    return all(_PROGRESS_LINE.match(line) for line in lines)


def run_files(workers: Iterable[str]) -> List[str]:
    """The names of the files a run whose rows come from ``workers`` may write."""
    folder = ResultsFolder(".")
    return [p.name for w in workers for p in (folder.results(w), folder.progress(w), folder.spool(w))]


def recorded(directory: Path) -> Optional[Set[str]]:
    """The file names the folder's record holds, or None without a record (a folder of an older stitchtest, or none)."""
    try:
        return set(filter(None, ResultsFolder(directory).record.read_text(encoding="utf-8").splitlines()))
    except FileNotFoundError:
        return None


def record(directory: Path, names: Iterable[str], keep: bool = True) -> None:
    """Add ``names`` to the folder's record (to an empty one unless ``keep``), replacing it atomically."""
    names = set(names) | ((recorded(directory) or set()) if keep else set())
    text = "".join(f"{name}\n" for name in sorted(names))
    atomic_write(ResultsFolder(directory).record, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _split(directory: Path) -> Tuple[List[Path], List[Path]]:
    """(ours, not ours) among the files named like a run's in ``directory``: ours are those the
    record names (:func:`record`), or in a folder of an older stitchtest, those that look ours."""
    folder = ResultsFolder(directory)
    names = recorded(directory)
    legacy = names is None and folder.session.exists()
    ours: List[Path] = []
    others: List[Path] = []
    for path in folder.results_files() + folder.progress_files() + [p for _, p in folder.spool_files()]:
        if path.is_file() and not path.is_symlink():
            mine = path.name in names if names is not None else legacy and _looks_ours(path)
            (ours if mine else others).append(path)
    return ours, others


def _read_as_results(path: Path) -> bool:
    return path.suffix == ".jsonl" and path.stat().st_size > 0


def previous_files(directory: Path) -> List[Path]:
    """Files of an earlier run in ``directory``; a non-empty ``results-*.jsonl`` or ``spool-*.jsonl``
    that is not ours is an error (it would be read as results), anything else is left alone."""
    ours, others = _split(directory)
    foreign = [p for p in others if _read_as_results(p)]
    if foreign:
        raise RunDirError(f"{foreign[0]} is not a stitchtest results file (no run in {directory} recorded writing it), "
                          f"yet it would be read as results; move it away or give another --stitch-results-dir")
    return ours


def resumed_files(directory: Path) -> List[str]:
    """The names ``--stitch-resume`` takes over: the earlier run's files, every non-empty results
    file and spool, whose rows it reads as its own, and the results a spool is adopted into."""
    ours, others = _split(directory)
    adopted = run_files(w for w, _ in ResultsFolder(directory).spool_files())
    return sorted({p.name for p in ours + [p for p in others if _read_as_results(p)]} | set(adopted))


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
