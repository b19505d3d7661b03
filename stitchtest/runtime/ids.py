"""Stable, readable identifiers for configured objects.

One ``string_id`` serves as cache key, pytest test id and report row, so it must depend only
on constructor arguments, never on memory addresses or dict order.
"""
from __future__ import annotations

import dataclasses
import hashlib
from typing import Any


def _fmt(value: Any) -> str:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return string_id(value)
    if isinstance(value, float):
        return repr(round(value, 10))
    if isinstance(value, (tuple, list)):
        return "(" + ",".join(_fmt(v) for v in value) + ")"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}={_fmt(value[k])}" for k in sorted(value)) + "}"
    return str(value)


def string_id(obj: Any, **fields: Any) -> str:
    """``Name(a=1,b=x)`` from a dataclass's fields, or from ``fields`` given explicitly."""
    if not fields and dataclasses.is_dataclass(obj):
        fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if f.repr}
    name = getattr(obj, "name", None) if not isinstance(obj, type) else obj.__name__
    if not isinstance(name, str) or not name:
        name = type(obj).__name__
    body = ",".join(f"{k}={_fmt(v)}" for k, v in fields.items())
    return f"{name}({body})"


def short_hash(text: str, n: int = 12) -> str:
    """A short, filesystem-safe digest of an id (for file names)."""
    return hashlib.sha256(text.encode()).hexdigest()[:n]
