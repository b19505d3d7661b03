"""Files written so that a full disk or a path too long never leaves half of one, or a traceback.

A report, a figure or a cached model is written to a temporary file beside its target and
renamed over it (:func:`atomic_write`): a reader, or a disk that fills up half-way, sees the old
file or the new one, never a truncated one. Paths the user gives are checked once, up front
(:func:`path_problem`), so a name too long for the file system is one usage error, not an
``OSError`` from deep inside a run.
"""
from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from typing import Callable, Optional


def atomic_write(path: os.PathLike | str, write: Callable[[Path], None]) -> None:
    """``write`` the file at a temporary path beside ``path`` (``<name><random>.tmp``), then rename
    it over ``path``; on any error the temporary file goes and ``path`` is as it was. An OSError
    names ``path``, not the temporary file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        os.chmod(tmp, 0o644)  # mkstemp's file is private; what replaces a report is read by others
        write(Path(tmp))
        os.replace(tmp, path)
    except OSError as e:
        if e.errno is None:
            raise
        raise OSError(e.errno, e.strerror, str(path)) from e  # the same subclass (ENOSPC: OSError)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def path_problem(path: os.PathLike | str) -> Optional[str]:
    """Why ``path`` can never be created or opened here, or None: a name longer than its file
    system allows would otherwise surface as ``OSError: File name too long`` from deep inside."""
    path = Path(path)
    existing = path
    while not os.path.exists(existing) and existing != existing.parent:  # os.path.exists raises nothing
        existing = existing.parent
    try:
        limit = os.pathconf(existing, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    for part in path.parts:
        size = len(os.fsencode(part))
        if size > limit:
            return (f"a name in {path} is {size} bytes long ({part[:24]}...), over the {limit} bytes a name "
                    f"may have there")
    try:
        os.stat(path)
    except OSError as e:
        if e.errno == errno.ENAMETOOLONG:  # the whole path is over PATH_MAX
            return f"{path} is longer than this file system allows ({e.strerror})"
    return None
