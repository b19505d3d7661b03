"""The keys of result rows as typed values whose string form is the one results files hold.

Why: a cell row's key is ``testbed|method id|cell id|stitch id`` and a check's ``testbed|check|method``;
joined by hand and split again in several places, the split went wrong where a user's method id holds
a ``|`` (a function named ``a|b``). Here they are joined once (``str``) and read back once (``parse``),
and ``str`` gives byte for byte the key earlier versions wrote (tests/golden/cell_keys.txt), so old
results and baselines resume and compare.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

__all__ = ["CellKey", "CheckKey"]

SEP = "|"


@dataclass(frozen=True)
class CellKey:
    """What a cell row is: one method on one cell with one stitch budget, in one testbed."""

    testbed: str
    method_id: str
    cell_id: str
    stitch_id: str

    def __str__(self) -> str:
        return SEP.join((self.testbed, self.method_id, self.cell_id, self.stitch_id))

    @property
    def work(self) -> str:
        """The key without its testbed: the same computation, whichever testbed asked for it."""
        return SEP.join((self.method_id, self.cell_id, self.stitch_id))

    @staticmethod
    def work_of(text: str) -> str:
        """:attr:`work` of the key ``text``, whose testbed (a test module's name) holds no ``|``."""
        return text.partition(SEP)[2]

    @classmethod
    def parse(cls, text: str, testbed: Optional[str] = None, method_id: Optional[str] = None,
              cell_id: Optional[str] = None) -> "CellKey":
        """The key ``text`` as its parts. The testbed (a test module's name) is read off the front and
        the stitch id (which stitchtest writes) off the end; between them the method id and the cell
        id, each of which may hold a ``|``, so the split there is the one the known parts given
        (``testbed``, ``method_id``, ``cell_id``: a row's own fields) allow, and with neither known
        it must be the only ``|`` left. ``ValueError`` when ``text`` does not fit."""
        rest, sep, stitch_id = text.rpartition(SEP)
        if not sep:
            raise ValueError(f"cell key {text!r} has no {SEP!r}")
        if testbed is None:
            testbed = rest.partition(SEP)[0]
        if not rest.startswith(testbed + SEP):
            raise ValueError(f"cell key {text!r} does not start with testbed {testbed!r}")
        rest = rest[len(testbed) + 1:]
        if method_id is not None and cell_id is not None:
            if rest != method_id + SEP + cell_id:
                raise ValueError(f"cell key {text!r} is not of method {method_id!r} and cell {cell_id!r}")
        elif method_id is not None:
            if not rest.startswith(method_id + SEP):
                raise ValueError(f"cell key {text!r} is not of method {method_id!r}")
            cell_id = rest[len(method_id) + 1:]
        elif cell_id is not None:
            if not rest.endswith(SEP + cell_id):
                raise ValueError(f"cell key {text!r} is not of cell {cell_id!r}")
            method_id = rest[:-len(cell_id) - 1]
        else:
            if rest.count(SEP) != 1:
                raise ValueError(f"cell key {text!r}: method id and cell id cannot be told apart")
            method_id, cell_id = rest.split(SEP)
        return cls(testbed, method_id, cell_id, stitch_id)


@dataclass(frozen=True)
class CheckKey:
    """What a check row is: one check of one testbed on one method (by its name)."""

    testbed: str
    check: str
    method: str

    def __str__(self) -> str:
        return SEP.join((self.testbed, self.check, self.method))

    @classmethod
    def parse(cls, text: str) -> "CheckKey":
        """Testbed and check (stitchtest's names, without ``|``) are read off the front; the method
        name, which may hold a ``|``, is the rest. ``ValueError`` when ``text`` has fewer parts."""
        parts = text.split(SEP, 2)
        if len(parts) != 3:
            raise ValueError(f"check key {text!r} is not testbed|check|method")
        return cls(*parts)
