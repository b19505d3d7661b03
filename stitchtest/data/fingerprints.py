"""Content fingerprints: what a data id carries instead of the data's path.

A file is hashed (name and bytes) once per version (path, size, mtime) and remembered in
``$STITCHTEST_CACHE/data-fingerprints.json``, so each later use costs a few ``stat`` calls.
So a file rewritten in place with the same size *and* the same mtime (``touch -r``, a copy
that keeps times) keeps its old id: give such data a new directory, or delete that file.
Names are hashed as the OS gives them (:func:`os.fsencode`), so any file name works. Which
files a data set's fingerprint covers is its format's to say (``DataFormat.files``).
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Optional, Sequence, Tuple

from ..runtime import ids

FINGERPRINTS = "data-fingerprints.json"


def versions(paths: Sequence[Path]) -> Tuple[Tuple[str, int, int], ...]:
    """Each file's version: its resolved path, size and mtime."""
    return tuple((str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in paths)


def of_files(paths: Sequence[Path], names: Optional[Tuple[str, ...]] = None) -> str:
    """12 hex digits of the SHA-256 of ``paths``' names and bytes (remembered per file version);
    each file is hashed under its own name, or under ``names`` (e.g. its path below the data's root,
    where the folder is part of what the data says)."""
    return _fingerprint(versions(paths), names)


@functools.lru_cache(maxsize=64)
def _fingerprint(versions: Tuple[Tuple[str, int, int], ...], names: Optional[Tuple[str, ...]] = None) -> str:
    """:func:`of_files` for files already stat-ed, memoised in the process and remembered on disk."""
    from ..runtime.paths import default_root  # the model cache's directory

    store = default_root() / FINGERPRINTS
    key = ids.short_hash(repr(versions) if names is None else repr((versions, names)), 32)
    try:
        known = json.loads(store.read_text())
        known = known if isinstance(known, dict) else {}
    except (OSError, ValueError):
        known = {}
    if isinstance(known.get(key), str):
        return known[key]
    h = hashlib.sha256()
    for i, (path, _, _) in enumerate(versions):
        h.update(os.fsencode(Path(path).name if names is None else names[i]) + b"\0")  # any name the OS gives
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        h.update(b"\0")
    digest = h.hexdigest()[:12]
    try:  # a read-only (or missing) cache only costs hashing again next time
        fd, tmp = tempfile.mkstemp(dir=store.parent, prefix=FINGERPRINTS, suffix=".tmp")
    except OSError:
        return digest
    try:
        with os.fdopen(fd, "w") as f:
            json.dump({**known, key: digest}, f, indent=0, sort_keys=True)
        os.replace(tmp, store)
    except OSError:
        os.unlink(tmp)
    return digest
