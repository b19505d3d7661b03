"""The source papers' claims, as comparisons of methods on the same cells.

A check asks one method one question ("is TLM's triangle there?"); a claim asks what a paper
says *about methods*: "FuLA shows less of the triangle than TLM", "TLM repairs a random
receiver, DM does not". Each claim reads per-seed statistics that the testbeds record with their
checks (``per_seed`` in a check row: seed pair ``k`` of every method comes from the same
networks, cuts and data) and compares them pair by pair (:func:`stitchtest.audit.checks.compare`):
one method against another, or one method against a threshold. The verdict is *reproduced*,
*not reproduced* (decided the other way) or *inconclusive* (too few seed pairs agree).

Claims are judged where every method's rows meet, on the controller at the end of a run (and by
``stitchtest report``), and lead ``summary.md`` as the claims table. Each testbed's claims live in
its folder (``testbeds/<name>/expect.py``, gathered by :mod:`stitchtest.audit.testbeds`). A claim that does not
reproduce at some scale is a known failure there, with figures and an explanation (``known``);
it is never dropped or loosened. An expected claim that does not reproduce, or a known failure
that does, fails the run, as a strict xfail would.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from . import testbeds
from .checks import compare
from .expectations import ALL
from ..records.rows import CheckRow

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"


@dataclass(frozen=True)
class Claim:
    """``method``'s per-seed ``stat`` of ``testbed/check`` is ``expect`` (higher or lower) than
    ``versus``'s, or, with no ``versus``, than ``threshold``, by ``margin`` on the mean."""

    id: str
    statement: str
    source: str
    testbed: str
    check: str
    method: str
    versus: Optional[str] = None
    expect: str = "higher"
    stat: str = "value"
    margin: float = 0.0
    threshold: float = 0.0
    scales: Tuple[str, ...] = ALL
    #: known failures: ((scales...), reason with the measured figures)
    known: Tuple[Tuple[Tuple[str, ...], str], ...] = ()

    def known_failure(self, scale: str) -> Optional[str]:
        return next((reason for scales, reason in self.known if scale in scales), None)

    def methods(self) -> Tuple[str, ...]:
        return (self.method,) + ((self.versus,) if self.versus else ())


@dataclass(frozen=True)
class Verdict:
    """A claim judged at a scale: its ``verdict`` (reproduced, not reproduced, inconclusive, not
    audited), the figure, and its ``status`` against the table (ok, FAIL, known, UNEXPECTED, not audited)."""

    key: str
    claim: str
    source: str
    testbed: str
    check: str
    stat: str
    methods: Tuple[str, ...]
    scale: str
    verdict: str
    figure: str
    status: str
    reason: str = ""
    value: Optional[float] = None
    agree: Optional[int] = None
    n: Optional[int] = None
    detail: Dict[str, Any] = field(default_factory=dict)


def _per_seed(rows: Sequence[CheckRow], testbed: str, check: str, method: str, stat: str) -> Optional[List[float]]:
    for r in rows:
        if isinstance(r, CheckRow) and (r.testbed, r.check, r.method) == (testbed, check, method):
            values = r.per_seed.get(stat)
            return None if values is None else [float("nan") if v is None else float(v) for v in values]
    return None


def judge(claim: Claim, check_rows: Sequence[CheckRow], scale: str) -> Verdict:
    """The claim, its verdict at ``scale``, the figure, and whether that was expected."""
    row = dict(key=claim.id, claim=claim.statement, source=claim.source, testbed=claim.testbed, check=claim.check,
               stat=claim.stat, methods=claim.methods(), scale=scale)
    first = _per_seed(check_rows, claim.testbed, claim.check, claim.method, claim.stat)
    second = (_per_seed(check_rows, claim.testbed, claim.check, claim.versus, claim.stat) if claim.versus
              else None if first is None else [claim.threshold] * len(first))
    known = claim.known_failure(scale)
    if first is None or second is None or len(first) != len(second):
        missing = [m for m in claim.methods() if _per_seed(check_rows, claim.testbed, claim.check, m, claim.stat) is None]
        return Verdict(**row, verdict="not audited", figure=f"no per-seed {claim.stat} of {claim.testbed}/"
                       f"{claim.check} for {', '.join(missing) or 'both methods on equal seeds'}",
                       status="not audited", reason=known or "")
    names = (claim.method, claim.versus or f"threshold {claim.threshold:g}")
    outcome = compare(first, second, claim.margin, claim.expect, names)
    verdict = outcome.detail["verdict"]
    if known:
        status = "UNEXPECTED" if verdict == REPRODUCED else "known"
    else:
        status = "ok" if verdict == REPRODUCED else "FAIL"
    return Verdict(**row, verdict=verdict, figure=outcome.figure, value=outcome.value,
                   agree=outcome.detail.get("agree"), n=outcome.detail.get("n"), status=status, reason=known or "",
                   detail=outcome.detail)


def judge_all(check_rows: Sequence[CheckRow], scale: str, claims: Optional[Sequence[Claim]] = None) -> List[Verdict]:
    """Every claim that applies at ``scale`` (default: every testbed's), in table order."""
    if claims is None:
        claims = testbeds.claims()
    return [judge(c, check_rows, scale) for c in claims if scale in c.scales]


def failures(claim_rows: Sequence[Verdict]) -> List[Verdict]:
    """Claims whose verdict is not what the table expects at this scale (they fail the run)."""
    return [r for r in claim_rows if r.status in ("FAIL", "UNEXPECTED")]
