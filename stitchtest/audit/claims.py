"""The source papers' claims, as comparisons of methods on the same cells, judged by inference.

A check asks one method one question ("is TLM's triangle there?"); a claim asks what a paper
says *about methods*: "FuLA shows less of the triangle than TLM", "TLM repairs a random
receiver, DM does not". Each claim reads per-seed statistics that the testbeds record with their
checks (``per_seed`` in a check row: seed pair ``k`` of every method comes from the same
networks, cuts and data) and takes the difference per seed pair in the claimed direction
(one method minus another, or minus a threshold). :func:`judge_all` then decides every claim of
a run together (:mod:`stitchtest.audit.statistics`):

* only **independent** seed pairs count: where a testbed pairs seeds in a ring (model ``k`` into
  model ``k + 1``, ``pairing="ring"``), neighbouring pairs share a network, so a maximal set of
  pairs sharing no model is kept (``n`` in a ring: ``n // 2``) and the table says how many;
* the paired one-sided exact **sign-flip test** over them, in both directions, and a 95%
  **bootstrap interval** of the mean difference;
* **Holm's adjustment** over Tarone's family: both directions of every tested claim whose
  independent pairs can reach significance at all (Tarone 1990; a claim with too few pairs is
  left out, stays undecided and says how many pairs would put it in), so the chance of any wrong
  "reproduced" or "refuted" in the table is at most 0.05;
* a **testability** condition measured on the run: the accuracy-like cells a claim contrasts
  have room above chance and below the ceiling (more than two standard errors), and a per-seed
  AUPRC stands clear of its exact chance level; else "not testable at this scale: <why>";
* the verdict: reproduced / refuted / undecided / not testable, with the adjusted p, the
  interval and, when undecided, the number of independent seed pairs that could decide it;
* a claim whose models, cells or readout a scale does not have (``needs``: models at several
  adversarial radii, a second architecture) is listed there as "not testable at this scale: <what
  it needs>" rather than left out, so the table shows what the run cannot decide.

Claims are judged where every method's rows meet, on the controller at the end of a run (and by
``stitchtest report``), and lead ``summary.md`` as the claims table. Each testbed's claims live in
its folder (``testbeds/<name>/expect.py``). A claim that does not reproduce at some scale is a
known failure there, with figures and an explanation (``known``); it is never dropped or
loosened. An expected claim that is refuted, or a known failure that reproduces, fails the run,
as a strict xfail would; an undecided or untestable claim fails nothing and says why.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import statistics as st
from . import testbeds
from .expectations import ALL
from ..records.rows import CheckRow

REPRODUCED, REFUTED, UNDECIDED, NOT_TESTABLE, NOT_AUDITED = (
    "reproduced", "refuted", "undecided", "not testable", "not audited")
#: the error rate controlled over all claims of a run, and how: "tarone" (Holm over Tarone's
#: family, the default), "holm" (plain, over every tested claim) or "bh"
ALPHA, ADJUSTMENT = st.ALPHA, "tarone"
#: standard errors of room a contrasted cell needs above chance and below the ceiling
ROOM_SE = 2.0

#: Per-seed statistics whose ingredients are accuracy-like cells (a mean accuracy or agreement on
#: the test set): a claim on the statistic is testable when each of these, for each of its
#: methods, has room above chance and below 1 (:func:`statistics.testable`). Only for checks
#: read on :data:`ACCURACY_READOUTS`.
ACCURACY_CELLS = {
    "asymmetry": ("mean_below", "mean_above", "mean_diagonal"),
    "value@triangle": ("mean_below", "mean_diagonal"),
    "mean_diagonal": ("mean_diagonal",),
    "mean_grid": ("mean_grid",),
    "gap": ("mean_in", "mean_cross"),
    "mean_cross": ("mean_in", "mean_cross"),
    "mean_in": ("mean_in", "mean_cross"),
}
ACCURACY_READOUTS = ("accuracy", "agreement")


@dataclass(frozen=True)
class Claim:
    """``method``'s per-seed ``stat`` of ``testbed/check`` is ``expect`` (higher or lower) than
    ``versus``'s or, with no ``versus``, than ``threshold``; with ``min_effect``, by at least that
    much (a size the claim itself asserts, e.g. "repairs" a random receiver: 10 points; never a
    guard against noise, which the test and the interval handle). ``pairing="ring"`` where the
    testbed's seed pair ``k`` stitches model ``k`` into model ``k + 1`` (neighbouring pairs share a model).
    ``needs``: ((scales...), what the run lacks there), for scales of ``scales`` where the claim's
    data do not exist (a check not built yet, models only a larger scale trains): it is listed as not
    testable there, with that reason, and enters no test."""

    id: str
    statement: str
    source: str
    testbed: str
    check: str
    method: str
    versus: Optional[str] = None
    expect: str = "higher"
    stat: str = "value"
    threshold: float = 0.0
    scales: Tuple[str, ...] = ALL
    #: known failures: ((scales...), reason with the measured figures)
    known: Tuple[Tuple[Tuple[str, ...], str], ...] = ()
    pairing: str = "disjoint"
    min_effect: float = 0.0
    needs: Tuple[Tuple[Tuple[str, ...], str], ...] = ()

    def __post_init__(self):
        if self.expect not in ("higher", "lower"):
            raise ValueError(f"claim {self.id}: expect must be 'higher' or 'lower', got {self.expect!r}")
        if self.pairing not in ("disjoint", "ring"):
            raise ValueError(f"claim {self.id}: pairing must be 'disjoint' or 'ring', got {self.pairing!r}")
        stray = sorted({s for scales, _ in self.needs for s in scales} - set(self.scales))
        if stray:
            raise ValueError(f"claim {self.id}: needs names scales {stray} outside its scales {self.scales}")

    def known_failure(self, scale: str) -> Optional[str]:
        return next((reason for scales, reason in self.known if scale in scales), None)

    def needed(self, scale: str) -> Optional[str]:
        """What the run lacks at ``scale`` to test the claim, or ``None``."""
        return next((reason for scales, reason in self.needs if scale in scales), None)

    def methods(self) -> Tuple[str, ...]:
        return (self.method,) + ((self.versus,) if self.versus else ())


@dataclass(frozen=True)
class Verdict:
    """A claim judged at a scale: its ``verdict`` (reproduced, refuted, undecided, not testable, not
    audited), the figures, and its ``status`` against the table (ok, FAIL, known, UNEXPECTED,
    undecided, not testable, not audited). ``effect``/``low``/``high``: the mean per-pair
    difference in the claimed direction and its 95% interval; ``p_adjusted``: Holm-adjusted (over
    Tarone's family by default; ``None`` for a claim left out of it) one-sided p of the decided
    direction (else the smaller of the two); ``pairs``: independent
    seed pairs used, of ``pairs_total``; ``pairs_needed``: how many could decide it."""

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
    testable: str = ""
    effect: Optional[float] = None
    low: Optional[float] = None
    high: Optional[float] = None
    p_adjusted: Optional[float] = None
    pairs: int = 0
    pairs_total: int = 0
    pairs_needed: Optional[int] = None
    detail: Dict[str, Any] = field(default_factory=dict)


def _row(rows: Sequence[CheckRow], testbed: str, check: str, method: str) -> Optional[CheckRow]:
    return next((r for r in rows if isinstance(r, CheckRow) and (r.testbed, r.check, r.method) == (testbed, check, method)),
                None)


def _floats(values: Optional[Sequence[Any]]) -> Optional[np.ndarray]:
    return None if values is None else np.array([math.nan if v is None else float(v) for v in values], dtype=float)


def independent(finite: Sequence[bool], pairing: str) -> List[int]:
    """Seed indices of a maximal set of finite seed pairs that share no network.

    ``disjoint``: every finite pair. ``ring`` (pair ``k`` = model ``k`` -> model ``k + 1 mod n``):
    pairs ``k`` and ``k + 1`` share model ``k + 1``, so pairs are taken in order, skipping any
    whose ring neighbour is already taken: ``n // 2`` of ``n`` when all are finite (1 of 3)."""
    n = len(finite)
    if pairing == "disjoint":
        return [k for k in range(n) if finite[k]]
    taken: List[int] = []
    for k in range(n):
        if finite[k] and not any(j in taken for j in ((k - 1) % n, (k + 1) % n) if j != k):
            taken.append(k)
    return taken


def test_set_size(data: Optional[str]) -> Optional[int]:
    """The test-set size of a run's data, for the standard error of an accuracy: ``data`` is what
    ``--stitch-data`` takes, or a run row's ``DataSpec`` id (``digits(size=16,n_train=None,...)``: a
    built-in data set is rebuilt from it). ``None`` where the data cannot be read here (another
    machine's directory): then only the spread over seeds counts."""
    if not data:
        return None
    import re

    from ..data.dataset import load
    from ..data.spec import DataSpec

    try:
        found = re.fullmatch(r"(\w+)\((.*)\)", data.strip())
        if found and "files=" not in found.group(2):
            fields = dict(kv.split("=", 1) for kv in found.group(2).split(",") if "=" in kv)
            spec = DataSpec(found.group(1), **{k: None if v == "None" else int(v) for k, v in fields.items()
                                               if k in ("size", "n_train", "n_test", "split_seed")})
        else:
            spec = DataSpec.parse(data)
        return int(len(load(spec).y_test))
    except Exception:  # noqa: BLE001 -- a report of another machine's run must still render
        return None


def _room(name: str, value: float, se: float, chance: float, ceiling: float, what: str = "chance") -> List[str]:
    """Why ``value`` has no room (more than :data:`ROOM_SE` standard errors) above ``chance`` and
    below ``ceiling``; empty when it has. A NaN value or SE has none."""
    if not (math.isfinite(value) and math.isfinite(se)):
        return [f"{name} has no finite value or standard error"]
    out = []
    if value - chance <= ROOM_SE * se:
        out.append(f"{name} {value:.3f} is within {ROOM_SE:g} SE ({se:.3f}) of {what} {chance:.3f}")
    if ceiling - value <= ROOM_SE * se:
        out.append(f"{name} {value:.3f} is within {ROOM_SE:g} SE ({se:.3f}) of the ceiling {ceiling:g}")
    return out


def _testability(claim: Claim, rows: Dict[str, CheckRow], chance: Optional[float],
                 n_test: Optional[int]) -> Tuple[Optional[st.Testability], str]:
    """The claim's testability on this run and a short description of the condition used."""
    problems, conditions = [], []
    first = rows[claim.method]
    stat_key = f"{claim.stat}@triangle" if claim.stat == "value" and claim.check.startswith("triangle") else claim.stat
    cells = ACCURACY_CELLS.get(stat_key, ())
    if cells and (first.readout or "") in ACCURACY_READOUTS and chance is not None:
        for method, row in rows.items():
            for name in cells:
                v = _floats(row.per_seed.get(name))
                v = v[np.isfinite(v)] if v is not None else np.array([])
                mean = float(v.mean()) if v.size else math.nan
                se = max(st.binomial_se(min(max(mean, 0.0), 1.0), n_test) if n_test and math.isfinite(mean) else 0.0,
                         float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else 0.0)
                problems += _room(f"{method} {name}", mean, se, chance, 1.0)
        conditions.append(f"{'/'.join(cells)} more than {ROOM_SE:g} SE above chance {chance:.2f} and below 1 (SE: "
                          + (f"{n_test} test images, or the spread over seeds if larger)" if n_test else
                             "the spread over seeds; test-set size unknown)"))
    if claim.stat == "value" and claim.check.startswith("separation"):  # a per-seed AUPRC
        for method, row in rows.items():
            v = _floats(row.per_seed.get("value"))
            c = _floats(row.per_seed.get("chance"))
            v = v[np.isfinite(v)] if v is not None else np.array([])
            if c is None or not np.isfinite(c).any():
                problems.append(f"{method}'s per-seed AUPRC has no recorded chance level (a random ranking of a "
                                "few pairs scores well above P/(P+N): 0.681 for 2 + 2)")
                continue
            level = float(np.nanmean(c))
            se = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else math.nan
            problems += _room(f"{method} AUPRC", float(v.mean()) if v.size else math.nan, se, level, 1.0,
                              "its exact chance level")
        conditions.append(f"per-seed AUPRC > {ROOM_SE:g} SE above its exact chance level")
    if not conditions:
        return None, "no cell condition for this statistic"
    return st.Testability(not problems, "; ".join(problems)), "; ".join(conditions)


def _prepare(claim: Claim, check_rows: Sequence[CheckRow], chance: Optional[float],
             n_test: Optional[int], scale: str) -> Dict[str, Any]:
    """Everything about one claim that does not depend on the other claims of the run."""
    need = claim.needed(scale)
    if need:  # listed where its methods ran on its testbed; else not audited, as any claim
        absent = [m for m in claim.methods() if not any(isinstance(r, CheckRow) and (r.testbed, r.method) ==
                                                        (claim.testbed, m) for r in check_rows)]
        return dict(missing=f"no check of {claim.testbed} for {', '.join(absent)}") if absent else dict(needs=need)
    rows = {m: _row(check_rows, claim.testbed, claim.check, m) for m in claim.methods()}
    first = _floats(rows[claim.method].per_seed.get(claim.stat)) if rows[claim.method] else None
    second = (_floats(rows[claim.versus].per_seed.get(claim.stat)) if claim.versus and rows[claim.versus]
              else None if claim.versus or first is None else np.full(first.shape, claim.threshold))
    if first is None or second is None or first.size != second.size:
        missing = [m for m in claim.methods() if rows[m] is None or rows[m].per_seed.get(claim.stat) is None]
        return dict(missing=f"no per-seed {claim.stat} of {claim.testbed}/{claim.check} for "
                            f"{', '.join(missing) or 'both methods on equal seeds'}")
    d = ((first - second) if claim.expect == "higher" else (second - first)) - claim.min_effect
    keep = independent(list(np.isfinite(d)), claim.pairing)
    test = st.sign_flip_test(d[keep])
    effect, low, high = st.effect_interval(d[keep])
    testability, condition = _testability(claim, rows, chance, n_test)
    op = ">" if claim.expect == "higher" else "<"
    other = claim.versus or f"threshold {claim.threshold:g}"
    figure = f"{claim.method} {np.nanmean(first):.3f} {op} {other} {np.nanmean(second):.3f}" + (
        f" by more than {claim.min_effect:g} (the effect is the excess over it)" if claim.min_effect else "")
    ratio = _floats(rows[claim.method].per_seed.get("value")) if claim.stat == "asymmetry" else None
    if ratio is not None and np.isfinite(ratio).any():
        figure += f"; ratio below/diagonal {np.nanmean(ratio):.3f} (secondary)"
    return dict(d=d, keep=keep, test=test, effect=effect, interval=(low, high), testability=testability,
                condition=condition, figure=figure)


def judge_all(check_rows: Sequence[CheckRow], scale: str, claims: Optional[Sequence[Claim]] = None,
              chance: Optional[float] = None, test_images: Optional[int] = None,
              adjustment: str = ADJUSTMENT) -> List[Verdict]:
    """Every claim that applies at ``scale`` (default: every testbed's), in table order, decided
    together: p-values adjusted over both directions of every tested claim (by default Holm over
    Tarone's family: each hypothesis's smallest achievable p is ``2^-n`` with ``n`` its claim's
    independent pairs, and those that cannot reach ``alpha / K`` are left out).

    ``chance`` is the accuracy by guessing (1 / classes, from the run's settings; ``None``, as in a run
    that did not record its class count: accuracy cells get no testability condition),
    ``test_images`` the test-set size behind each accuracy (``None``: the spread over seeds)."""
    if claims is None:
        claims = testbeds.claims()
    claims = [c for c in claims if scale in c.scales]
    prepared = [_prepare(c, check_rows, chance, test_images, scale) for c in claims]
    tested = [i for i, p in enumerate(prepared) if "missing" not in p and "needs" not in p and not (p["testability"] and not p["testability"].ok)
              and p["test"].n > 0]
    raw = [q for i in tested for q in (prepared[i]["test"].p_greater, prepared[i]["test"].p_less)]
    smallest = [st.smallest_p(prepared[i]["test"].n) for i in tested for _ in range(2)]
    adjusted = st.adjust(raw, adjustment, smallest, ALPHA) if raw else np.array([])
    tarone = st.tarone_k(smallest, ALPHA) if adjustment == "tarone" else None
    family = int(np.isfinite(adjusted).sum()) if tarone else max(1, int(np.isfinite(adjusted).sum()))
    p_adj = {i: (float(adjusted[2 * j]), float(adjusted[2 * j + 1])) for j, i in enumerate(tested)}
    needed = {i: st.tarone_pairs_needed(smallest, (2 * j, 2 * j + 1), ALPHA) if tarone else None
              for j, i in enumerate(tested)}
    family_of = dict(family=family, adjustment=adjustment, tarone_k=tarone, hypotheses=len(raw))
    return [_verdict(c, p, scale, p_adj.get(i), family_of, needed.get(i))
            for i, (c, p) in enumerate(zip(claims, prepared))]


def _verdict(claim: Claim, p: Dict[str, Any], scale: str, p_adj: Optional[Tuple[float, float]],
             family_of: Dict[str, Any], needed: Optional[int] = None) -> Verdict:
    row = dict(key=claim.id, claim=claim.statement, source=claim.source, testbed=claim.testbed, check=claim.check,
               stat=claim.stat, methods=claim.methods(), scale=scale)
    known = claim.known_failure(scale)
    if "missing" in p:
        return Verdict(**row, verdict=NOT_AUDITED, figure=p["missing"], status=NOT_AUDITED, reason=known or "")
    if "needs" in p:
        why = f"not testable at this scale: {p['needs']}"
        return Verdict(**row, verdict=NOT_TESTABLE, figure=why, status=NOT_TESTABLE, reason=known or "",
                       testable=f"no: {why}")
    for_, against = p_adj if p_adj is not None else (math.nan, math.nan)
    v = st.decide(p["effect"], p["interval"], for_, against, len(p["keep"]), ALPHA, family_of["family"],
                  p["testability"], needed=needed, tarone=family_of["tarone_k"])
    if known:
        status = "UNEXPECTED" if v.verdict == REPRODUCED else "known"
    else:
        status = {REPRODUCED: "ok", REFUTED: "FAIL"}.get(v.verdict, v.verdict)
    if p["testability"] is None:
        testable = "not assessed: no cell condition for this statistic"
    else:
        testable = "yes" if p["testability"].ok else f"no: {p['testability'].reason}"
    figure = f"{p['figure']}; {v.reason}" + (f"; testable if {p['condition']}" if p["testability"] else "")
    return Verdict(**row, verdict=v.verdict, figure=figure, status=status, reason=known or "", testable=testable,
                   effect=v.effect, low=v.interval[0], high=v.interval[1],
                   p_adjusted=v.p_adjusted if math.isfinite(v.p_adjusted) else None, pairs=len(p["keep"]),
                   pairs_total=int(p["d"].size), pairs_needed=v.pairs_needed,
                   detail=dict(differences=[None if not math.isfinite(x) else float(x) for x in p["d"]],
                               independent=list(p["keep"]), pairing=claim.pairing, condition=p["condition"],
                               p_greater=p["test"].p_greater, p_less=p["test"].p_less, **family_of))


def judge(claim: Claim, check_rows: Sequence[CheckRow], scale: str, **kwargs) -> Verdict:
    """One claim alone (a family of its own two directions): for tests and quick looks; a run's
    table judges all its claims together with :func:`judge_all`."""
    return judge_all(check_rows, scale, [claim], **kwargs)[0] if scale in claim.scales else \
        _verdict(claim, dict(missing=f"not judged at {scale}"), scale, None, dict(family=1, tarone_k=None))


def failures(claim_rows: Sequence[Verdict]) -> List[Verdict]:
    """Claims whose verdict goes against the table at this scale (they fail the run): an expected
    claim refuted, or a known failure reproduced. Undecided and untestable claims fail nothing."""
    return [r for r in claim_rows if r.status in ("FAIL", "UNEXPECTED")]
