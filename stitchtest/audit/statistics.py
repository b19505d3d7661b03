"""Inference for claims: an exact paired test, an interval, multiplicity, and a verdict that can fail.

A claim of the claims table contrasts two quantities over seed pairs (FuLA's triangle against
TLM's on the same networks, ...). This module turns the per-pair differences into a verdict:

* :func:`sign_flip_test` -- the paired one-sided exact test over independent seed pairs;
  :func:`smallest_p` and :func:`pairs_needed` say what a number of pairs can decide at all
  (3 pairs: p >= 0.125, never below 0.05).
* :func:`effect_interval` -- a 95% bootstrap interval of the effect, over seed pairs and, when
  per-image outcomes are given, over test images too.
* :func:`holm_tarone` (the claims table's default: Holm over Tarone's family,
  :func:`tarone_eligible`), :func:`holm` and :func:`benjamini_hochberg` -- adjustment over all
  claims of a run; :func:`tarone_pairs_needed` -- the pairs that would put a claim in the family.
* :func:`testable` -- whether the contrasted cells have room above chance and below the ceiling.
* :func:`decide` -- reproduced / refuted / undecided / not testable, with the reason.
* :func:`auprc_chance` -- the exact chance level of an AUPRC (average precision) for P positives
  and N negatives: 0.681 for 2 + 2, not the 0.5 that P / (P + N) suggests.

Pure functions of numbers (numpy/scipy); scipy computes whatever it can compute the same way.
Nothing here knows about stitches, cells or reports.
"""
from __future__ import annotations

import inspect
import itertools
import math
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence, Tuple, Union

import numpy as np
from scipy import stats

__all__ = [
    "PairedTest",
    "sign_flip_test",
    "smallest_p",
    "pairs_needed",
    "effect_interval",
    "holm",
    "tarone_k",
    "tarone_eligible",
    "holm_tarone",
    "tarone_pairs_needed",
    "benjamini_hochberg",
    "adjust",
    "binomial_se",
    "Testability",
    "testable",
    "Verdict",
    "decide",
    "auprc_chance",
    "auprc_chance_enumerated",
]

#: Largest number of pairs for which the sign-flip test enumerates all 2^n flips.
EXACT_PAIRS = 16
ALPHA = 0.05
VERDICTS = ("reproduced", "refuted", "undecided", "not testable")


def _finite_1d(values: Sequence[float], name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of numbers, got shape {arr.shape}")
    return arr[np.isfinite(arr)]


def _rng_kwarg(func: Callable, seed: int) -> Dict[str, object]:
    """scipy >= 1.15 takes ``rng``, older releases ``random_state``; both give the same draws."""
    name = "rng" if "rng" in inspect.signature(func).parameters else "random_state"
    return {name: np.random.default_rng(seed)}


# --------------------------------------------------------------------------- the paired test


@dataclass(frozen=True)
class PairedTest:
    """One-sided exact p-values of the mean paired difference, in both directions.

    ``p_greater`` tests "the mean difference is > 0" (the claim's direction, when the differences
    are taken in it); ``p_less`` the opposite. ``exact`` is False when there were more than
    :data:`EXACT_PAIRS` pairs and the flips were sampled (p then counts the observed flip, so it
    is never 0)."""

    p_greater: float
    p_less: float
    n: int
    mean: float
    exact: bool


def sign_flip_test(differences: Sequence[float], seed: int = 0) -> PairedTest:
    """Exact sign-flip permutation test of paired differences ``d_k`` (one per independent seed pair).

    Why: under "no effect", each pair's difference is as likely to have come out with the opposite
    sign, so the mean of ``d`` is compared with the means of all ``2^n`` sign-flipped copies of
    ``d``; ``p_greater`` is the share of flips whose mean is >= the observed one (the observed
    assignment included, so ``p >= 2^-n``). It uses the sizes of the differences, unlike the
    sign test behind "3/3 seed pairs agree", and assumes nothing about their distribution. Pairs
    must be independent: two seed pairs that share a network are not (a ring k -> k+1 is not).

    ``scipy.stats.permutation_test`` with ``permutation_type="samples"`` on one sample is exactly
    this test; for ``n <= 16`` it enumerates every flip, above that it samples ``2^16`` flips from
    ``seed``. NaNs are dropped; with no pair left both p-values are NaN.
    """
    d = _finite_1d(differences, "differences")
    if d.size == 0:
        return PairedTest(math.nan, math.nan, 0, math.nan, True)
    if d.size == 1:  # two flips, d and -d (scipy wants two observations)
        return PairedTest(0.5 if d[0] > 0 else 1.0, 0.5 if d[0] < 0 else 1.0, 1, float(d[0]), True)
    exact = d.size <= EXACT_PAIRS
    ps = {}
    for alternative in ("greater", "less"):
        res = stats.permutation_test((d,), lambda x, axis: np.mean(x, axis=axis), permutation_type="samples",
                                     alternative=alternative, n_resamples=2 ** EXACT_PAIRS, vectorized=True,
                                     **_rng_kwarg(stats.permutation_test, seed))
        ps[alternative] = float(res.pvalue)
    return PairedTest(ps["greater"], ps["less"], int(d.size), float(d.mean()), exact)


def smallest_p(n: int) -> float:
    """The smallest one-sided p the exact sign-flip test can give with ``n`` pairs: ``2^-n``
    (every pair positive; reached only then). 3 pairs: 0.125; 5: 0.031."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return 2.0 ** -n


def pairs_needed(alpha: float = ALPHA, family: int = 1) -> int:
    """Independent seed pairs needed before the exact test *can* give an adjusted p below ``alpha``
    in a family of ``family`` hypotheses: the smallest ``n`` with ``2^-n < alpha / family``
    (Holm's first, strictest step; with this many pairs all agreeing, every claim of the family
    can be decided). ``alpha = 0.05``: 5 pairs alone, 10 in a family of 36, 11 in one of 72 (both
    directions of 36 claims). The project's own arithmetic, not a power analysis: a noisy effect
    needs more."""
    if not 0 < alpha < 1 or family < 1:
        raise ValueError(f"need 0 < alpha < 1 and family >= 1, got alpha={alpha}, family={family}")
    return int(math.floor(math.log2(family / alpha))) + 1


# --------------------------------------------------------------------------- the interval


def effect_interval(outcomes: Union[Sequence[float], Sequence[Sequence[float]], np.ndarray],
                    confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0) -> Tuple[float, float, float]:
    """``(effect, low, high)``: the mean effect and a percentile bootstrap interval of it.

    ``outcomes`` is either

    * 1-D, one difference per independent seed pair: the pairs are resampled
      (``scipy.stats.bootstrap``, percentile method); or
    * 2-D, ``outcomes[k, i]`` = the difference on test image ``i`` for seed pair ``k`` (e.g.
      ``correct_first - correct_second``, or the per-image value of a readout): the effect is the
      grand mean, and seed pairs *and* test images are resampled, independently of each other
      (the "pigeonhole" bootstrap of a crossed design, Owen 2007: every pair is read on the same
      test images, so images are a second source of sampling error that a bootstrap over pairs
      alone ignores). scipy has no crossed bootstrap; this one is the project's own code.

    Deterministic given ``seed``. Pairs with a NaN are dropped. Fewer than two pairs: the interval
    is ``(nan, nan)``. With few pairs the interval is too narrow (3 pairs have 10 distinct
    resamples); the verdict leans on the exact test and uses the interval only to agree with it.
    """
    x = np.asarray(outcomes, dtype=float)
    if x.ndim not in (1, 2):
        raise ValueError(f"outcomes must be 1-D (per pair) or 2-D (pairs x images), got shape {x.shape}")
    if not 0 < confidence < 1 or n_resamples < 1:
        raise ValueError(f"need 0 < confidence < 1 and n_resamples >= 1, got {confidence}, {n_resamples}")
    x = x[np.isfinite(x).all(axis=1)] if x.ndim == 2 else x[np.isfinite(x)]
    if x.shape[0] == 0 or (x.ndim == 2 and x.shape[1] == 0):
        return math.nan, math.nan, math.nan
    effect = float(x.mean())
    if x.shape[0] < 2:
        return effect, math.nan, math.nan
    tail = (1 - confidence) / 2
    if x.ndim == 1:
        if np.all(x == x[0]):
            return effect, effect, effect
        res = stats.bootstrap((x,), np.mean, confidence_level=confidence, n_resamples=n_resamples,
                              method="percentile", vectorized=True, **_rng_kwarg(stats.bootstrap, seed))
        return effect, float(res.confidence_interval.low), float(res.confidence_interval.high)
    rng = np.random.default_rng(seed)
    n, m = x.shape
    # the mean of x[rows][:, cols] is (row counts) @ x @ (column counts) / (n m): no copies
    rows = rng.multinomial(n, np.full(n, 1.0 / n), size=n_resamples)  # how often each pair is drawn
    cols = rng.multinomial(m, np.full(m, 1.0 / m), size=n_resamples)  # ... and each image
    means = np.einsum("bk,ki,bi->b", rows, x, cols) / (n * m)
    low, high = np.quantile(means, [tail, 1 - tail])
    return effect, float(low), float(high)


# --------------------------------------------------------------------------- multiplicity


def _p_vector(p_values: Sequence[float]) -> np.ndarray:
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1:
        raise ValueError(f"p_values must be 1-D, got shape {p.shape}")
    finite = p[np.isfinite(p)]
    if np.any((finite < 0) | (finite > 1)):
        raise ValueError("p_values must lie in [0, 1]")
    return p


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error rate; Holm 1979).

    With the ``m`` finite p-values sorted, ``p_(1) <= ... <= p_(m)``: ``adj_(i) = max_{j <= i}
    min(1, (m - j + 1) p_(j))``. Rejecting every claim with ``adj < alpha`` keeps the chance of
    *any* wrong decision at most ``alpha``, whatever the dependence between the claims. NaN (an
    untested claim) stays NaN and is not counted in ``m``. (Written out here: scipy has no Holm.)
    """
    p = _p_vector(p_values)
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(np.isfinite(p))
    m = idx.size
    if m == 0:
        return out
    order = idx[np.argsort(p[idx], kind="mergesort")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def benjamini_hochberg(p_values: Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (false discovery rate), by
    ``scipy.stats.false_discovery_control(method="bh")``; NaN stays NaN and is not counted."""
    p = _p_vector(p_values)
    out = np.full(p.shape, np.nan)
    keep = np.isfinite(p)
    if keep.any():
        out[keep] = stats.false_discovery_control(p[keep], method="bh")
    return out


def tarone_k(smallest: Sequence[float], alpha: float = ALPHA) -> int:
    """Tarone's ``K``: the smallest ``K >= 1`` with ``m(K) <= K``, where ``m(K)`` counts the
    hypotheses whose smallest achievable p (``smallest``; NaN = untested, never counted) is
    ``<= alpha / K`` (Tarone 1990). It exists: ``m(K)`` falls as ``K`` grows."""
    s = np.asarray(smallest, dtype=float)
    s = s[np.isfinite(s)]
    k = 1
    while np.count_nonzero(s <= alpha / k) > k:
        k += 1
    return k


def tarone_eligible(smallest: Sequence[float], alpha: float = ALPHA) -> np.ndarray:
    """Which hypotheses form Tarone's family: those whose smallest achievable p is ``<= alpha / K``
    (:func:`tarone_k`); NaN (untested) never.

    Why (Tarone 1990, "A modified Bonferroni method for discrete data", Biometrics 46:515-522): an
    exact test with few pairs cannot reach significance (3 pairs: p >= 0.125), yet it counts in
    Holm's family and raises every other claim's bar. The set depends only on the design (each
    claim's number of independent pairs), never on the observed differences, so it is a family
    fixed in advance: Holm over it keeps the chance of any wrong rejection among *all* hypotheses
    at ``alpha``, since the others are never rejected."""
    s = np.asarray(smallest, dtype=float)
    if s.ndim != 1:
        raise ValueError(f"smallest must be 1-D, got shape {s.shape}")
    return np.isfinite(s) & (s <= alpha / tarone_k(s, alpha))


def holm_tarone(p_values: Sequence[float], smallest: Sequence[float], alpha: float = ALPHA) -> np.ndarray:
    """Holm's adjusted p-values over Tarone's family (:func:`tarone_eligible` at ``alpha``), NaN
    for every other hypothesis: it is never rejected, and NaN (not 1.0) says "not in the family",
    so ``adjusted < alpha`` is False for it and the family's size is the count of finite values,
    as for :func:`holm`. Valid for rejecting at this ``alpha`` only (the family depends on it)."""
    p = _p_vector(p_values)
    s = np.asarray(smallest, dtype=float)
    if s.shape != p.shape:
        raise ValueError(f"smallest must match p_values, got {s.shape} and {p.shape}")
    keep = tarone_eligible(np.where(np.isfinite(p), s, np.nan), alpha)
    return holm(np.where(keep, p, np.nan))


def tarone_pairs_needed(smallest: Sequence[float], which: Sequence[int], alpha: float = ALPHA) -> int:
    """The fewest independent pairs with which the hypotheses ``which`` (one claim's two
    directions), the rest of the design as it is, would be in Tarone's family *and* decidable
    (``2^-n < alpha / family``, Holm's strictest step, all pairs agreeing): what a scale must buy
    for this claim. Eligibility only grows with ``n``, and with ``pairs_needed(alpha,
    len(smallest))`` pairs the hypotheses qualify whatever the rest, so the search ends there."""
    s = np.asarray(smallest, dtype=float).copy()
    which = list(which)
    top = pairs_needed(alpha, max(1, s.size))
    for n in range(top + 1):
        s[which] = smallest_p(n)
        keep = tarone_eligible(s, alpha)
        if keep[which].all() and smallest_p(n) < alpha / keep.sum():
            return n
    return top


def adjust(p_values: Sequence[float], method: str = "holm", smallest: Optional[Sequence[float]] = None,
           alpha: float = ALPHA) -> np.ndarray:
    """Adjust all claims' p-values of one run together: ``"holm"`` (this function's default),
    ``"tarone"`` (Holm over Tarone's family, :func:`holm_tarone`; needs ``smallest``, each
    hypothesis's smallest achievable p; the claims table's default) or ``"bh"``.

    Why Holm: a claims table is read row by row, and each "reproduced" or "refuted" is a finding
    someone may act on alone; Holm bounds the chance that *any* of them is wrong by ``alpha``,
    and does so under any dependence -- the claims share networks, cells and test images, so
    their dependence is unknown. Tarone's refinement keeps that bound and drops from the family
    the hypotheses whose pairs could never reach it. Benjamini-Hochberg (``"bh"``) bounds only
    the expected share of wrong decisions and needs independence or positive dependence; it
    decides more claims and is offered for exploration, not for the table.
    """
    if method == "holm":
        return holm(p_values)
    if method == "tarone":
        if smallest is None:
            raise ValueError("method 'tarone' needs smallest (each hypothesis's smallest achievable p)")
        return holm_tarone(p_values, smallest, alpha)
    if method == "bh":
        return benjamini_hochberg(p_values)
    raise ValueError(f"method must be 'holm', 'tarone' or 'bh', got {method!r}")


# --------------------------------------------------------------------------- testability


def binomial_se(accuracy: float, n: int) -> float:
    """Standard error of an accuracy measured on ``n`` test images: ``sqrt(a (1 - a) / n)``
    (each image a Bernoulli trial). 0.97 on 397 images: 0.0086."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not 0.0 <= accuracy <= 1.0:
        raise ValueError(f"accuracy must lie in [0, 1], got {accuracy}")
    return math.sqrt(accuracy * (1.0 - accuracy) / n)


@dataclass(frozen=True)
class Testability:
    """Whether a claim can be decided on this run's cells; ``reason`` says why not."""

    ok: bool
    reason: str = ""


def testable(cells: Dict[str, float], n: int, chance: float, ceiling: float = 1.0, k: float = 2.0) -> Testability:
    """Room above chance and below the ceiling for every contrasted cell, by more than ``k`` SEs.

    ``cells`` maps a name (e.g. ``"above diagonal"``) to an accuracy-like value in [0, 1] (a cell,
    or the mean of a group of cells read on the same ``n`` test images); ``chance`` is the chance
    level (1 / classes), ``ceiling`` the highest value the cell could reach (1, or the receiver's
    own accuracy). With ``se = binomial_se(a, n)``, a cell has room when
    ``a - chance > k se`` and ``ceiling - a > k se``. A group mean is given the SE of one cell:
    its cells share the test images, so averaging them adds no independent images (conservative).

    Why: a contrast between cells at ceiling (or at chance) is decided by which cell happened to
    get one image more right, and the claim that reads it cannot fail for a reason of substance.
    A NaN cell is not testable ("no data").
    """
    if not cells:
        raise ValueError("testable needs at least one cell")
    problems = []
    for name, a in cells.items():
        if a is None or not math.isfinite(a):
            problems.append(f"{name} has no data")
            continue
        se = binomial_se(min(max(a, 0.0), 1.0), n)
        if a - chance <= k * se:
            problems.append(f"{name} {a:.3f} is within {k:g} SE ({se:.3f}) of chance {chance:.3f}")
        if ceiling - a <= k * se:
            problems.append(f"{name} {a:.3f} is within {k:g} SE ({se:.3f}) of the ceiling {ceiling:.3f}")
    return Testability(not problems, "; ".join(problems))


# --------------------------------------------------------------------------- the verdict


@dataclass(frozen=True)
class Verdict:
    """The decision on one claim, with everything a reader needs to check it."""

    verdict: str  # one of VERDICTS
    reason: str
    effect: float
    interval: Tuple[float, float]
    p_adjusted: float
    n_pairs: int
    pairs_needed: int


def decide(effect: float, interval: Tuple[float, float], p_for: float, p_against: float, n_pairs: int,
           alpha: float = ALPHA, family: int = 1, testability: Optional[Testability] = None,
           needed: Optional[int] = None, tarone: Optional[int] = None) -> Verdict:
    """reproduced / refuted / undecided / not testable, and why.

    ``effect`` and ``interval`` are in the claim's direction (positive = as claimed), e.g. from
    :func:`effect_interval`; ``p_for`` and ``p_against`` are the *adjusted* one-sided p-values for
    the claim's direction and the opposite one (:func:`sign_flip_test`'s ``p_greater`` and
    ``p_less``, adjusted with :func:`adjust` over all claims of the run; putting both directions
    of every claim in the family, ``2m`` hypotheses, keeps the chance of any wrong "reproduced" or
    "refuted" at ``alpha``). ``family`` is the number of hypotheses adjusted together, used only
    to say how many pairs could decide the claim (``needed`` overrides that count, e.g. with
    :func:`tarone_pairs_needed`). ``tarone``: Tarone's ``K`` when the family is Tarone's
    (:func:`holm_tarone`); a claim whose pairs cannot reach ``alpha / K`` was left out of it, and
    the reason says so in figures.

    * not testable: ``testability`` failed (or no finite effect);
    * reproduced: ``p_for < alpha`` and the interval lies above 0;
    * refuted: ``p_against < alpha`` and the interval lies below 0;
    * undecided otherwise, saying whether more pairs could decide it: with ``n`` pairs the exact
      test cannot go below ``2^-n`` (:func:`pairs_needed`).

    The decision rule is the project's own: a significant test whose bootstrap interval still
    covers 0 stays undecided rather than decided on the test alone.
    """
    need = pairs_needed(alpha, max(1, family)) if needed is None else needed
    lo, hi = interval

    def verdict(v: str, reason: str, p: float) -> Verdict:
        return Verdict(v, reason, effect, (lo, hi), p, n_pairs, need)

    if testability is not None and not testability.ok:
        return verdict("not testable", f"not testable at this scale: {testability.reason}", math.nan)
    if n_pairs < 1 or effect is None or not math.isfinite(effect):
        return verdict("not testable", "not testable at this scale: no seed pair has a finite effect", math.nan)
    figures = f"effect {effect:+.3f} [{lo:.3f}, {hi:.3f}], {n_pairs} independent seed pairs"
    if p_for < alpha and lo > 0:
        return verdict("reproduced", f"{figures}, adjusted p = {p_for:.3g}", p_for)
    if p_against < alpha and hi < 0:
        return verdict("refuted", f"{figures}, adjusted p = {p_against:.3g} against the claim", p_against)
    p = min(p_for, p_against)
    if tarone is not None and smallest_p(n_pairs) > alpha / tarone:
        why = (f"{n_pairs} pairs cannot reach p <= {alpha:g}/{tarone} = {alpha / tarone:.3g} (Tarone's family of "
               f"{family} hypotheses: the claims whose pairs can decide them; smallest p with {n_pairs}: "
               f"{smallest_p(n_pairs):.3g}); {need} independent pairs could decide it")
    elif n_pairs < need:
        why = (f"{n_pairs} pairs cannot reach an adjusted p < {alpha:g} in a family of {family} "
               f"(smallest p with {n_pairs}: {smallest_p(n_pairs):.3g}); {need} independent pairs could decide it")
    elif p < alpha:
        why = f"the test (adjusted p = {p:.3g}) and the interval disagree"
    else:
        why = f"adjusted p = {p:.3g} >= {alpha:g}"
    return verdict("undecided", f"undecided: {figures}; {why}", p)


# --------------------------------------------------------------------------- AUPRC chance level


def auprc_chance(n_pos: int, n_neg: int) -> float:
    """Exact expected average precision (``sklearn.metrics.average_precision_score``) of a random
    ranking of ``n_pos`` positives and ``n_neg`` negatives (no ties).

    Not ``n_pos / (n_pos + n_neg)``: with ``n = P + N``, a positive at rank ``k`` (probability
    ``P / n``) has precision ``(1 + H) / k``, where ``H`` counts the positives among the ``k - 1``
    ranks above it (hypergeometric, mean ``(k - 1)(P - 1)/(n - 1)``); so
    ``E[AP] = (1 / P) sum_k (P / n)(1 + (k - 1)(P - 1)/(n - 1)) / k``
    ``= (H_n + (P - 1)/(n - 1) (n - H_n)) / n`` with ``H_n = sum_{k <= n} 1 / k``.
    (The derivation is the project's own; :func:`auprc_chance_enumerated` checks it.)
    2 + 2: 0.681; 6 + 6: 0.596; it tends to P / n only as n grows.
    """
    if n_pos < 1 or n_neg < 0:
        raise ValueError(f"need n_pos >= 1 and n_neg >= 0, got {n_pos}, {n_neg}")
    n = n_pos + n_neg
    if n == 1:
        return 1.0
    h = math.fsum(1.0 / k for k in range(1, n + 1))
    return (h + (n_pos - 1) / (n - 1) * (n - h)) / n


def auprc_chance_enumerated(n_pos: int, n_neg: int, limit: int = 20) -> float:
    """The same expectation by enumeration: the mean AP over every placement of the positives among
    ``n_pos + n_neg`` ranks (all equally likely under a random ranking). AP for positives at ranks
    ``r_1 < ... < r_P`` is ``(1/P) sum_i i / r_i``. Only for small groups (``n <= limit``)."""
    n = n_pos + n_neg
    if n_pos < 1 or n_neg < 0 or n > limit:
        raise ValueError(f"enumeration needs n_pos >= 1, n_neg >= 0, n_pos + n_neg <= {limit}")
    i = np.arange(1, n_pos + 1)
    total, count = 0.0, 0
    for ranks in itertools.combinations(range(1, n + 1), n_pos):
        total += float(np.sum(i / np.asarray(ranks))) / n_pos
        count += 1
    return total / count
