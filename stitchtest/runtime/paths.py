"""Where stitchtest keeps what it caches: trained models (the zoo), data fingerprints and the
precision verdict all live under :func:`default_root`. Its own module, below data and models,
because both need it (it lived in zoo.py, and data.py imported zoo.py for it while zoo.py imported
data.py)."""
from __future__ import annotations

import os
from pathlib import Path

from .files import path_problem


def default_root() -> Path:
    """``$STITCHTEST_CACHE``, else ``$XDG_CACHE_HOME/stitchtest``, else ``~/.cache/stitchtest``."""
    if env := os.environ.get("STITCHTEST_CACHE"):
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "stitchtest"


class CacheError(RuntimeError):
    """A model cache that cannot be used as it is; the message names it and says what to do."""


def check_root(root: Path) -> None:
    """Say at once, not in every test, when the cache cannot be a directory."""
    problem = path_problem(root)
    if problem:
        raise CacheError(f"model cache: {problem}; set STITCHTEST_CACHE to a shorter path")
    existing = root
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise CacheError(f"model cache {root}: {existing} is a file, not a directory; set STITCHTEST_CACHE "
                         f"(or --cache) to a directory")
