"""The names of a results folder's files, in one place.

A results folder (``--stitch-resume`` continues one, ``stitchtest report`` reads one) holds one
``results-<worker>.jsonl`` of rows and one ``progress-<worker>.log`` per worker, an xdist
worker's ``spool-<worker>.jsonl`` while its rows are on their way (:mod:`stitchtest.records.spool`), the
session's lock, its session file, the record of the files its run writes, and ``previous/`` with
earlier runs set aside (:mod:`stitchtest.records.rundir`).
Everything that builds or looks for such a path asks a :class:`ResultsFolder`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import List, Tuple

_RESULTS, _PROGRESS, _SPOOL = ("results-", ".jsonl"), ("progress-", ".log"), ("spool-", ".jsonl")


@dataclass(frozen=True)
class ResultsFolder:
    root: Path

    def __init__(self, root: os.PathLike | str):
        object.__setattr__(self, "root", Path(root))

    def results(self, worker: str) -> Path:
        """The rows of ``worker`` (``main`` without xdist, ``gw0``..., ``controller`` for the run row)."""
        return self.root / f"{_RESULTS[0]}{worker}{_RESULTS[1]}"

    def results_files(self) -> List[Path]:
        """Every worker's rows, in name order (the order rows are merged in)."""
        return sorted(self.root.glob("*".join(_RESULTS)))

    def spool(self, worker: str) -> Path:
        """The rows an xdist worker computed, written the moment it computes them, until they arrive."""
        return self.root / f"{_SPOOL[0]}{worker}{_SPOOL[1]}"

    def spool_files(self) -> List[Tuple[str, Path]]:
        """(worker, its spool), in name order."""
        return [(p.name[len(_SPOOL[0]):-len(_SPOOL[1])], p) for p in sorted(self.root.glob("*".join(_SPOOL)))]

    def progress(self, worker: str) -> Path:
        """What ``worker`` did, one time-stamped line per event (:mod:`stitchtest.plugin.progress` follows them)."""
        return self.root / f"{_PROGRESS[0]}{worker}{_PROGRESS[1]}"

    def progress_files(self) -> List[Path]:
        return sorted(self.root.glob("*".join(_PROGRESS)))

    def progress_logs(self) -> List[Tuple[str, Path]]:
        """(worker, its progress log), in name order."""
        return [(p.name[len(_PROGRESS[0]):-len(_PROGRESS[1])], p) for p in self.progress_files()]

    @property
    def lock(self) -> Path:
        """Held by the session that owns the folder (:func:`stitchtest.records.rundir.claim`)."""
        return self.root / ".stitchtest.lock"

    @property
    def session(self) -> Path:
        """The owning session's token: a worker that reads it back sees the controller's folder."""
        return self.root / ".stitchtest-session"

    @property
    def record(self) -> Path:
        """The names of the files this folder's run writes, one a line (:mod:`stitchtest.records.rundir`):
        what a new run may move aside."""
        return self.root / ".stitchtest-files"

    @property
    def previous(self) -> Path:
        """Where earlier runs' files are moved (``previous/<time>/``)."""
        return self.root / "previous"
