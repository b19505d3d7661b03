"""Data formats, one module each: a :class:`~.base.DataFormat` that says how a directory of it is
recognised, how it is read and which files its fingerprint covers. Every module in this folder is
imported here and registers its format in :data:`FORMATS`; a third party's format comes through
the entry-point group ``stitchtest.data_formats``. Adding a format is one new module.

Built in: ``digits`` (scikit-learn's 8x8 digits, no files), ``mnist`` (IDX files, plain or in
torchvision's layout), ``cifar10`` / ``cifar100`` (the python pickles), ``imagefolder`` (one folder
per class) and ``torch`` (``module:function`` returning a ``torch.utils.data.Dataset``).
"""
from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import List, Optional

from ..errors import DataError
from .base import FORMATS, DataFormat

for _module in pkgutil.iter_modules(__path__):  # each built-in format registers itself on import
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

_discovered = False  # entry points are read once per process (a lookup sits on every data id)


def _ordered(classes) -> List[DataFormat]:
    return sorted((cls() for cls in classes), key=lambda f: f.priority)


def ordered() -> List[DataFormat]:
    """Every format, in detection order (``priority``, then registration)."""
    global _discovered
    if not _discovered:
        FORMATS.names()
        _discovered = True
    return _ordered(FORMATS.registered().values())


#: the built-in formats' names, in detection order
BUILTIN = tuple(f.name for f in _ordered(FORMATS.registered().values()))


def get(name: str) -> DataFormat:
    """The format called ``name``; a :class:`DataError` listing the known ones if none is."""
    cls = FORMATS.registered().get(name)
    if cls is None:
        known = ordered()
        cls = next((type(f) for f in known if f.name == name), None)
        if cls is None:
            raise DataError(f"unknown data set {name!r}; expected one of {', '.join(f.name for f in known)}")
    return cls()


def detect(root: Path) -> Optional[str]:
    """The name of the first format (in detection order) that recognises directory ``root``, or None."""
    return next((f.name for f in ordered() if f.detect(root)), None)


def detectable() -> str:
    """What a directory of some format holds, for "cannot tell which data set" messages."""
    parts = [f"{f.described or f.name} ({f.expected})" for f in ordered()
             if type(f).detect is not DataFormat.detect]
    return ", ".join(parts[:-1]) + f" or {parts[-1]}" if len(parts) > 1 else "".join(parts)
