"""Result rows as one flat table: every id parsed into columns, one line per cell and readout.

A cell row's architecture, width, data set, seed and regime exist only inside its ids (its
``cell`` field and its key, a ``testbed|method id|cell id|stitch id`` string of nested
``name(field=value,...)`` ids, :mod:`~stitchtest.runtime.ids`; :func:`key_parts` reads the parts from the
row's own fields rather than splitting the key at ``|``, which a method's name may hold). :func:`parse_id` reads that format back, so :func:`table` can give
pandas, a spreadsheet or R a column per field (``sender_arch``, ``receiver_seed``, ``data_size``,
``stitch_steps``, ...) with nothing left to parse by hand.
"""
from __future__ import annotations

import csv
import os
import re
from typing import Any, Dict, Iterable, List, Tuple, Union

from .keys import CellKey
from .rows import CellRow, Record, ResultsError, of_kind

#: The columns every export starts with, in this order; any further parsed fields follow, sorted.
COLUMNS = ("testbed", "method", "method_id", "pair", "seed",
           "sender_arch", "sender_width", "sender_seed", "sender_regime", "sender_cut", "sender_depth",
           "receiver_arch", "receiver_width", "receiver_seed", "receiver_regime", "receiver_cut", "receiver_depth",
           "data", "cue_p", "robust", "readout", "value")
_ID = re.compile(r"^(\w+)\((.*)\)$", re.S)


def _split(body: str) -> List[str]:
    """``body`` split at the commas outside parentheses."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(body):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(body[start:i])
            start = i + 1
    if body[start:]:
        parts.append(body[start:])
    return parts


def parse_id(text: str) -> Tuple[str, Dict[str, Any]]:
    """``"model(arch=R1111,data=digits(size=16))"`` -> ``("model", {"arch": "R1111", "data": ("digits", {...})})``.

    A value that is itself an id is parsed too; every other value stays the string it was written as.
    """
    m = _ID.match(text)
    if not m:
        raise ValueError(f"not an id of the form name(field=value,...): {text!r}")
    fields: Dict[str, Any] = {}
    for part in _split(m.group(2)):
        key, eq, value = part.partition("=")
        if not eq:
            raise ValueError(f"field {part!r} of {text!r} has no '='")
        fields[key] = _value(value)
    return m.group(1), fields


def _value(text: str) -> Any:
    """A nested id parsed; ``None`` (a field left unset) as ``None``, which CSV writes as an empty
    field and pandas reads as missing; anything else (``8``, ``(0.5,0.5)``) as written."""
    if text == "None":
        return None
    if _ID.match(text):
        try:
            return parse_id(text)
        except ValueError:
            pass
    return text


def _flat(fields: Dict[str, Any], prefix: str) -> Dict[str, str]:
    """Nested ids as ``prefix_field`` columns; a nested id's name is the column of its field itself."""
    out: Dict[str, str] = {}
    for key, value in fields.items():
        column = f"{prefix}_{key}" if prefix else key
        if isinstance(value, tuple):
            out[column] = value[0]
            out.update(_flat(value[1], column))
        else:
            out[column] = value
    return out


def key_parts(row: CellRow) -> Tuple[str, str, str, str]:
    """A cell row's testbed, method id, cell id and stitch id, taken from its own fields where it has
    them: its key is ``testbed|method id|cell id|stitch id``, and a method's id holds the name a user
    gave it (a function called ``a|b``), so the key cannot be split at every ``|``. Only the stitch id,
    which stitchtest writes, is read off the key's end; what the fields leave unknown (an old row's
    method id, a baseline row's cell id) is the key's rest, which must then hold it unambiguously."""
    bad = ResultsError(f"cell key {row.key!r} is not testbed|method|cell|stitch of its row's fields "
                       f"(testbed {row.testbed!r}, method id {row.method_id!r}, cell {row.cell!r})")
    try:
        key = CellKey.parse(row.key, row.testbed, row.method_id, row.cell)
    except ValueError:
        raise bad from None
    return key.testbed, key.method_id, key.cell_id, key.stitch_id


def cell_columns(row: CellRow) -> Dict[str, Any]:
    """A cell row's parsed id columns (everything but the readouts)."""
    testbed, method_id, cell_id, stitch_id = key_parts(row)
    try:
        _, cell = parse_id(cell_id)
        _, stitch = parse_id(stitch_id)
    except ValueError as err:
        raise ResultsError(f"cell key {row.key!r}: {err}") from None
    sender, receiver = cell.pop("sender"), cell.pop("receiver")
    out: Dict[str, Any] = {"testbed": testbed, "method": row.method, "method_id": method_id, "pair": row.pair,
                           "seed": row.seed}
    depths = {"sender": row.sender_depth, "receiver": row.receiver_depth}
    for side, (_, spec) in (("sender", sender), ("receiver", receiver)):
        data = spec.pop("data")
        out.update(_flat(spec, side))
        out[f"{side}_depth"] = "" if depths[side] is None else depths[side]
    out.update(_flat({"data": data}, ""))  # one data set per cell: the receiver's, which the sender's equals
    out.update(_flat(cell, ""))
    out.setdefault("cue_p", 0.0)
    out.setdefault("robust", False)
    out.update(_flat(stitch, "stitch"))
    try:
        out.update(_flat(parse_id(method_id)[1], "method"))  # e.g. method_debiased, method_sgd
    except ValueError:
        pass  # a third-party method whose id is not of the name(field=value) form stays whole
    return out


def table(rows: Iterable[Record]) -> List[Dict[str, Any]]:
    """One dict per (cell row, readout) with :data:`COLUMNS` first; failures have readout ``failure``."""
    out = []
    for row in of_kind(list(rows), CellRow):
        columns = cell_columns(row)
        for readout, value in sorted(row.readouts.items()):
            out.append({**columns, "readout": readout, "value": value, "key": row.key})
    return out


def write_csv(rows: Iterable[Record], path: Union[str, os.PathLike]) -> int:
    """:func:`table` as CSV (``key`` last: the row it came from); returns the number of lines written."""
    lines = table(rows)
    extra = sorted({k for line in lines for k in line} - set(COLUMNS) - {"key"})
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[*COLUMNS, *extra, "key"], restval="")
        writer.writeheader()
        writer.writerows(lines)
    return len(lines)
