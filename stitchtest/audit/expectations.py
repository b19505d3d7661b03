"""What each method is expected to do on each check: the engine that looks up known failures.

The entries live with their testbeds (``testbeds/<name>/expect.py``, gathered by
:mod:`stitchtest.audit.testbeds`). A check with no entry is expected to pass. ``known-fail`` entries run as
``xfail(strict=True)``: the failure is reported with its reason, and a change that makes the
method pass is flagged too (an unexpected pass fails the run until the entry is updated).
``reported`` entries are measured and shown but not asserted: the literature does not settle them.

An entry may be limited to some scales: an ordering that holds in the papers' setting but not
at CPU scale is a known failure *at that scale*, with the measured figures in its reason.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from . import testbeds

ALL = ("smoke", "small", "paper")
#: every measure, built-in or a user's: where the literature speaks of measures as a kind
MEASURES = ("kind:measure",)
#: an entry's ``check`` for every check of its testbed (a method no run has measured yet: ``reported``);
#: an entry naming the check wins
EVERY = "*"


@dataclass(frozen=True)
class Expectation:
    testbed: str
    check: str
    #: method names; ``"kind:measure"`` / ``"kind:objective"`` for every method of that kind, a
    #: user's included; ``"*"`` for every method. A method's own name wins over its kind, and
    #: its kind over ``"*"``.
    methods: Tuple[str, ...]
    status: str  # "pass" | "known-fail" | "reported"
    reason: str = ""
    scales: Tuple[str, ...] = ALL


def expectation(testbed: str, check: str, method: str, scale: str, kind: str = "") -> Expectation:
    """The expectation for one (testbed, check, method) at ``scale``; default: must pass.

    ``kind`` (``"measure"`` or ``"objective"``) lets a user's method get what the literature says
    of its kind: a user's CKA is only reported on a random receiver, as the built-in one is.
    A check run on another architecture pair carries it in brackets (``triangle_absent[R2222]``);
    an entry for that exact name wins, else the entry for the plain check applies, because what
    the literature says of a method (TLM shows the triangle) does not depend on the pair; then an
    entry for every check (:data:`EVERY`).
    """
    table = testbeds.expectations()
    base = check.split("[", 1)[0]
    for name in dict.fromkeys((check, base, EVERY)):
        for who in (method, f"kind:{kind}" if kind else None, "*"):
            found: Optional[Expectation] = None
            for e in table:
                if e.testbed == testbed and e.check == name and scale in e.scales and who in e.methods:
                    found = e
            if found:
                return found
    return Expectation(testbed, check, (method,), "pass")
