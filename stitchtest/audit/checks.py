"""The expected orderings, as pure functions of numbers.

A conformance test in stitchtest measures some cells (network A at cut i stitched into
network B at cut j, or a representational score between them) and then asks one question of
the resulting numbers: *is the ordering the ground truth predicts there?*  This module holds
those questions.  They know nothing about torch, models or stitches; they take floats and
return an :class:`Outcome` -- a verdict, the one figure the verdict is decided on, a line of
text for the report, and the numbers behind it.

Conventions shared by every check:

* **Higher means more similar.**  Callers negate lower-is-better readouts (penalty, latent
  error, KL) before calling, so one set of checks serves every method.
* **NaN means "not measured" and is dropped**, never propagated: a cell that could not be
  computed must not silently turn a whole check into NaN (and so into a pass or a crash).
  Drops are counted in ``detail`` where it matters.
* **No data fails.**  A check with nothing left to compare returns ``passed=False`` with the
  figure ``"no data: <why>"`` (e.g. "0 of 12 values finite"): a conformance check that checked
  nothing must not pass, and a report reader must see why it had nothing.
* **A minority fails.**  A check whose finite values are fewer than half of the values it was
  given fails, whatever they show, with a figure saying so ("3 of 12 finite, 9 not: fewer than
  half, fails"): three surviving cells of twelve are not the ordering the test asked about.
  Any non-finite value is named in the figure, not only counted in ``detail``.
* **Matrices** are ``matrix[r, c]`` = similarity of sender cut ``r`` stitched into receiver
  cut ``c``, rows and columns ordered by depth.  Depths are *proportional* depths in a common
  unit, typically ``cut_index / (n_cuts - 1)`` in ``[0, 1]``, so networks of different depth
  (``R1111`` vs ``R2222``) can be compared cut for cut.
* ``detail`` is JSON-serialisable (plain ``int``/``float``/``str``/``list``/``None``;
  non-finite floats are stored as ``None``), so it can go straight into a report file.

The orderings come from:

* Bansal, Nakkiran & Barak (2021), *Revisiting model stitching to compare neural
  representations*: stitching a trained sender into a trained receiver should nearly
  recover the receiver's accuracy (self-stitching ~ receiver, :func:`close`), beat random
  controls by a clear margin (:func:`margin`), and a random network's features should stay
  near chance (:func:`at_most`).
* Hernandez, Dangovski, Lu & Soljacic (2023), *Model stitching: looking for functional
  similarity between representations*: task-loss stitching succeeds from *deeper* sender
  cuts into *shallower* receiver cuts -- the stitching matrix is high on and below the
  depth diagonal, "the triangle" (:func:`triangle_score`, :func:`triangle`) -- which a
  representational-similarity method would not expect.
* Groger, Wen & Brbic (ICML 2026), *An Aristotelian view*: a raw score means little until it is
  set against what unrelated inputs score; with a permutation null per cell, a similarity is
  significant or not (:func:`significance`).
* Ding, Denain & Steinhardt (NeurIPS 2021), *Grounding representation similarity with
  statistical testing*: a similarity should be specific -- a change that moves function little
  (another training seed) should move it no more than an edit that moves function as much
  (:func:`curve_similarity`, :func:`at_least_agreeing`).
* Klabunde, Wald, Schumacher, Strohmaier & Lemmerich (2024), *ReSi: a comprehensive
  benchmark for representational similarity measures*: group separation scored by AUPRC
  with in-group pairs as positives (:func:`auprc`, :func:`separation`), and layer
  monotonicity scored by the Spearman correlation between similarity and (negated) layer
  distance (:func:`spearman`, :func:`layer_monotonicity`).  Diagonal dominance
  (:func:`diagonal_dominance`) is the per-cell form of the same "corresponding layers are
  most similar" expectation.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Sequence, Tuple, Union

import numpy as np

__all__ = [
    "Outcome",
    "margin",
    "close",
    "at_most",
    "at_least",
    "auprc",
    "separation",
    "spearman",
    "layer_monotonicity",
    "diagonal_dominance",
    "triangle_score",
    "triangle",
    "seeds_agreeing",
    "significance",
    "margin_every_cut",
    "curve_similarity",
    "at_least_agreeing",
    "NOISE_SE",
    "threshold_of",
    "spread_se",
    "within_noise",
]

#: Slack for comparing depths, so that ``|0.75 - 0.25| >= 0.5`` holds despite float rounding.
_DEPTH_EPS = 1e-9


@dataclass(frozen=True)
class Outcome:
    """The verdict of one check.

    ``passed``: whether the expected ordering holds.  ``value``: the single figure the verdict
    is decided on (mean difference, max deviation, AUPRC, Spearman rho, ...; NaN when there
    was no data).  ``figure``: one human line for reports.  ``detail``: the numbers behind it,
    JSON-serialisable.
    """

    passed: bool
    value: float
    figure: str
    detail: Dict[str, Any] = field(default_factory=dict)
    #: which way ``value`` is better for the method (``"higher"`` or ``"lower"``)
    better: str = "higher"
    #: non-empty when ``value`` is within noise of the threshold (:func:`within_noise`): the reason
    undecided: str = ""


# --------------------------------------------------------------------------- helpers


def _jsonable(x: Any) -> Any:
    """Plain-Python, strict-JSON version of ``x`` (numpy scalars unwrapped, NaN/inf -> None)."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return x if math.isfinite(x) else None
    return x


def _outcome(passed: bool, value: float, figure: str, detail: Dict[str, Any], better: str = "higher",
             measured: Tuple[int, int] = (0, 0)) -> Outcome:
    """``measured`` = (finite, given) values: any not finite is said in the figure, and a check
    resting on fewer than half of what it was given fails (see "A minority fails" above)."""
    kept, total = measured
    if kept < total:
        detail = {**detail, "finite": kept, "given": total}
        figure += f"; {kept} of {total} finite, {total - kept} not"
        if 2 * kept < total:
            passed = False
            figure += ": fewer than half, fails"
    return Outcome(bool(passed), float(value), figure, _jsonable(detail), better)


def _worst(*pairs: Tuple[int, int]) -> Tuple[int, int]:
    """Of several (finite, given) counts, the one with the smallest finite share (an empty one aside)."""
    return min((p for p in pairs if p[1]), key=lambda p: p[0] / p[1], default=(0, 0))


def _vector(xs: Union[Sequence[float], float], name: str) -> np.ndarray:
    arr = np.asarray(xs, dtype=float)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of numbers, got shape {arr.shape}")
    return arr


def _mean_std(xs: np.ndarray) -> Tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0.0 for a single value); NaN if empty."""
    if xs.size == 0:
        return math.nan, math.nan
    std = float(np.std(xs, ddof=1)) if xs.size > 1 else 0.0
    return float(np.mean(xs)), std


def _fmt(x: float, digits: int = 3, sign: bool = False) -> str:
    if not math.isfinite(x):
        return "nan"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def _no_data(detail: Dict[str, Any], why: str) -> Outcome:
    """Failed, with a figure that says why there was nothing to decide on."""
    return _outcome(False, math.nan, f"no data: {why}", detail)


def _none_finite(kept: int, total: int, what: str = "values") -> str:
    return f"{kept} of {total} {what} finite" if total else f"no {what} given"


def _grid(matrix: Any, sender_depths: Sequence[float], receiver_depths: Sequence[float]):
    m = np.asarray(matrix, dtype=float)
    ds = _vector(sender_depths, "sender_depths")
    dr = _vector(receiver_depths, "receiver_depths")
    if m.shape != (ds.size, dr.size):
        raise ValueError(
            f"matrix has shape {m.shape} but there are {ds.size} sender and {dr.size} receiver depths"
        )
    return m, ds, dr


def _nearest(ds: np.ndarray, dr: np.ndarray) -> np.ndarray:
    """For each sender depth, the index of the receiver cut nearest in depth (ties: the shallower)."""
    return np.argmin(np.abs(ds[:, None] - dr[None, :]), axis=1)


# --------------------------------------------------------------------------- scalar checks


def margin(
    higher: Sequence[float], lower: Sequence[float], margin: float, *, paired: bool = True
) -> Outcome:
    """``higher`` beats ``lower`` by at least ``margin`` on the mean.

    Why: Bansal et al. (2021) -- a trained sender stitched into a trained receiver must beat a
    random-network control (and robust vs. standard, shortcut vs. clean, ... in the other
    suites) by a clear gap, not just by noise.  Seeds are the unit of replication, so:

    * ``paired=True`` (same length, entry ``k`` of both comes from seed pair ``k``): the
      difference is taken per pair, ``value = mean(higher - lower)``; the spread reported is
      the std of those per-pair differences, and ``agree`` counts pairs with a positive
      difference.  A pair with a NaN on either side is dropped (``detail["dropped"]`` counts
      dropped *pairs*).
    * ``paired=False``: ``value = mean(higher) - mean(lower)``; ``agree`` counts the
      ``(h, l)`` combinations with ``h > l`` out of all ``len(higher) * len(lower)``.  NaNs are
      dropped from each side independently (``detail["dropped"]`` counts dropped *values*).

    ``passed = value >= margin``; stds are sample stds (ddof=1).  Ties do not count as agreeing.
    """
    h = _vector(higher, "higher")
    lo = _vector(lower, "lower")
    if paired:
        if h.size != lo.size:
            raise ValueError(f"paired margin needs equal lengths, got {h.size} and {lo.size}")
        keep = ~(np.isnan(h) | np.isnan(lo))
        dropped = int(h.size - keep.sum())
        measured = (int(keep.sum()), int(h.size))
        why = _none_finite(*measured, "seed pairs")
        h, lo = h[keep], lo[keep]
    else:
        dropped = int(np.isnan(h).sum() + np.isnan(lo).sum())
        sides = [(int((~np.isnan(x)).sum()), int(x.size)) for x in (h, lo)]
        measured = _worst(*sides)
        why = f"higher: {_none_finite(*sides[0])}, lower: {_none_finite(*sides[1])}"
        h, lo = h[~np.isnan(h)], lo[~np.isnan(lo)]
    mh, sh = _mean_std(h)
    ml, sl = _mean_std(lo)
    detail: Dict[str, Any] = dict(
        paired=paired, margin=margin, mean_higher=mh, std_higher=sh, mean_lower=ml, std_lower=sl,
        n=0, agree=0, dropped=dropped,
    )
    if h.size == 0 or lo.size == 0:
        return _no_data(detail, why)
    if paired:
        diffs = h - lo
        value, sd = _mean_std(diffs)
        n, agree = int(diffs.size), int((diffs > 0).sum())
        detail.update(std_diff=sd)
        figure = (
            f"diff {_fmt(value, sign=True)} ± {_fmt(sd)} ({agree}/{n} seed pairs agree), "
            f"margin {_fmt(margin)}"
        )
    else:
        value = mh - ml
        n, agree = int(h.size * lo.size), int((h[:, None] > lo[None, :]).sum())
        figure = (
            f"diff {_fmt(value, sign=True)} (higher {_fmt(mh)} ± {_fmt(sh)} vs lower {_fmt(ml)} ± "
            f"{_fmt(sl)}; {agree}/{n} combinations agree), margin {_fmt(margin)}"
        )
    detail.update(n=n, agree=agree, mean_diff=value)
    return _outcome(value >= margin, value, figure, detail, measured=measured)


def margin_every_cut(higher: Dict[str, Sequence[float]], lower: Dict[str, Sequence[float]], margin: float) -> Outcome:
    """:func:`margin` (paired) at every cut: passes only where each cut's mean difference reaches ``margin``.

    Why: a method that tells two groups apart at one depth and not at another has not told them
    apart (a stitch into the last block can succeed from any label-carrying input, one into an
    earlier block need not); a mean over cuts would let the good cut hide the bad one. ``value``
    = the smallest per-cut mean difference, ``detail["per_cut"]`` every cut's.
    """
    cuts = [c for c in higher if c in lower]
    per_cut = {c: _paired_margin(higher[c], lower[c], margin) for c in cuts}
    finite = {c: o for c, o in per_cut.items() if math.isfinite(o.value)}
    detail: Dict[str, Any] = dict(margin=margin, per_cut={c: o.value for c, o in per_cut.items()},
                                  agree={c: o.detail.get("agree") for c, o in per_cut.items()},
                                  n={c: o.detail.get("n") for c, o in per_cut.items()})
    if not finite or len(finite) < len(per_cut):
        empty = [c for c in per_cut if c not in finite]
        return _no_data(detail, f"no finite seed pair at cut {', '.join(empty)}" if empty else "no cuts given")
    measured = (sum(o.detail["n"] for o in per_cut.values()),
                sum(o.detail["n"] + o.detail["dropped"] for o in per_cut.values()))
    worst = min(finite, key=lambda c: finite[c].value)
    text = ", ".join(f"{c} {_fmt(o.value, sign=True)} ({o.detail['agree']}/{o.detail['n']})" for c, o in finite.items())
    figure = f"diff per cut: {text}; worst {worst}, margin {_fmt(margin)} at every cut"
    return _outcome(all(o.passed for o in finite.values()), finite[worst].value, figure, detail, measured=measured)


def close(
    values: Sequence[float], targets: Union[Sequence[float], float], tol: float
) -> Outcome:
    """``values ~ targets``: every ``|v - t| <= tol``.

    Why: Bansal et al. (2021) -- stitching a network into (a copy of) itself, or a trained
    sender into a trained receiver of the same task, should recover the receiver's own
    accuracy; the stitch adds no capacity of its own to hide a gap behind.  The check is on the
    *worst* pair, not the mean, so one bad seed cannot hide behind good ones.

    ``value`` = max absolute deviation; ``targets`` may be a scalar (broadcast).  Pairs with a
    NaN on either side are dropped (``detail["dropped"]``).
    """
    v = _vector(values, "values")
    t = _vector(targets, "targets")
    if t.size == 1 and v.size != 1:
        t = np.full_like(v, t[0])
    if v.size != t.size:
        raise ValueError(f"values and targets differ in length: {v.size} vs {t.size}")
    keep = ~(np.isnan(v) | np.isnan(t))
    dev = np.abs(v[keep] - t[keep])
    detail: Dict[str, Any] = dict(tol=tol, n=int(dev.size), dropped=int(v.size - keep.sum()))
    measured = (int(dev.size), int(v.size))
    if dev.size == 0:
        return _no_data(detail, _none_finite(*measured, "pairs"))
    value = float(dev.max())
    detail.update(max_abs_dev=value, mean_abs_dev=float(dev.mean()),
                  mean_values=float(v[keep].mean()), mean_targets=float(t[keep].mean()))
    figure = (
        f"max |Δ| {_fmt(value)} (mean {_fmt(float(dev.mean()))}, n={dev.size}), tol {_fmt(tol)}"
    )
    return _outcome(value <= tol, value, figure, detail, better="lower", measured=measured)


def _bound(values: Sequence[float], bound: float, upper: bool) -> Outcome:
    v = _vector(values, "values")
    keep = ~np.isnan(v)
    v = v[keep]
    mean, sd = _mean_std(v)
    detail: Dict[str, Any] = dict(bound=bound, mean=mean, std=sd, n=int(v.size),
                                  dropped=int(keep.size - v.size))
    measured = (int(v.size), int(keep.size))
    if v.size == 0:
        return _no_data(detail, _none_finite(*measured))
    op = "≤" if upper else "≥"
    passed = mean <= bound if upper else mean >= bound
    figure = f"mean {_fmt(mean)} ± {_fmt(sd)} (n={v.size}), bound {op} {_fmt(bound)}"
    return _outcome(passed, mean, figure, detail, better="lower" if upper else "higher", measured=measured)


def at_most(values: Sequence[float], bound: float) -> Outcome:
    """``mean(values) <= bound``, e.g. "a random network's features stay at chance".

    Why: Bansal et al. (2021) -- stitching from an untrained network is the control that shows
    the stitch itself cannot carry the task; if it can, every other stitching number is moot.
    NaNs are dropped; ``value`` is the mean.
    """
    return _bound(values, bound, upper=True)


def at_least(values: Sequence[float], bound: float) -> Outcome:
    """``mean(values) >= bound``, e.g. "the stitched network is well above chance".

    The mirror of :func:`at_most`; NaNs are dropped; ``value`` is the mean.
    """
    return _bound(values, bound, upper=False)


def significance(p_values: Sequence[float], alpha: float = 0.05, expect: bool = True,
                 allowed: float = 0.0) -> Outcome:
    """Permutation p-values say the scores are (``expect=True``) or are not above chance.

    Why: Groger, Wen & Brbic (2026) -- a similarity is evidence of shared structure only where it
    beats a null of shuffled images (:mod:`stitchtest.instruments.nulls`). ``value`` = the share of cells with
    ``p <= alpha``. ``expect=True`` passes when at most ``allowed`` of the cells are *not*
    significant (``value >= 1 - allowed``); ``expect=False`` passes when at most ``allowed`` of them
    are (``value <= allowed``): under a true null each cell is significant with probability
    ``alpha``, so a few of many may be by chance. NaNs are dropped.
    """
    p = _vector(p_values, "p_values")
    keep = ~np.isnan(p)
    p = p[keep]
    detail: Dict[str, Any] = dict(alpha=alpha, expect=expect, allowed=allowed, n=int(p.size),
                                  dropped=int(keep.size - keep.sum()))
    measured = (int(p.size), int(keep.size))
    if p.size == 0:
        return _no_data(detail, _none_finite(*measured, "p-values"))
    share = float((p <= alpha).mean())
    passed = share >= 1.0 - allowed if expect else share <= allowed
    detail.update(significant=int((p <= alpha).sum()), median_p=float(np.median(p)), max_p=float(p.max()),
                  min_p=float(p.min()))
    bound = f"≥ {_fmt(1.0 - allowed, 2)}" if expect else f"≤ {_fmt(allowed, 2)}"
    figure = (f"{int((p <= alpha).sum())}/{p.size} cells significant at p ≤ {alpha:g} (median p {_fmt(float(np.median(p)))}, "
              f"max {_fmt(float(p.max()))}); expected {'significant' if expect else 'not significant'}: share {bound}")
    return _outcome(passed, share, figure, detail, better="higher" if expect else "lower", measured=measured)


# --------------------------------------------------------------------------- group separation


def auprc(in_group: Sequence[float], cross_group: Sequence[float]) -> float:
    """Average precision of ranking in-group pairs above cross-group pairs.

    Why: ReSi (Klabunde et al., 2024) scores whether a similarity measure separates groups
    (models trained the same way vs. differently) by AUPRC, with in-group pairs as the
    positives and the similarity as the score.  1.0 = every in-group pair scores above every
    cross-group pair; a score that carries no information gets the fraction of positives
    ``len(in_group) / (len(in_group) + len(cross_group))``.

    ``sklearn.metrics.average_precision_score`` (step-wise, no interpolation; tied scores form
    one threshold); the grouping into positives and negatives is this project's.
    NaNs are dropped; NaN if either group is empty (separation is undefined).
    """
    from sklearn.metrics import average_precision_score  # imported on use: the plugin loads this module

    pos = _vector(in_group, "in_group")
    neg = _vector(cross_group, "cross_group")
    pos, neg = pos[~np.isnan(pos)], neg[~np.isnan(neg)]
    if pos.size == 0 or neg.size == 0:
        return math.nan
    labels = np.r_[np.ones(pos.size), np.zeros(neg.size)]
    return float(average_precision_score(labels, np.r_[pos, neg]))


def separation(
    in_group: Sequence[float], cross_group: Sequence[float], threshold: float
) -> Outcome:
    """ReSi group separation: ``auprc(in_group, cross_group) >= threshold``.

    See :func:`auprc`.  The figure puts the AUPRC next to its chance level (the fraction of
    positives), since 0.6 means little when half the pairs are in-group and a lot when a tenth
    are.
    """
    pos = _vector(in_group, "in_group")
    neg = _vector(cross_group, "cross_group")
    sides = [(int((~np.isnan(x)).sum()), int(x.size)) for x in (pos, neg)]
    pos, neg = pos[~np.isnan(pos)], neg[~np.isnan(neg)]
    mp, sp = _mean_std(pos)
    mn, sn = _mean_std(neg)
    value = auprc(pos, neg)
    n_total = pos.size + neg.size
    chance = pos.size / n_total if n_total else math.nan
    detail: Dict[str, Any] = dict(
        threshold=threshold, auprc=value, chance=chance, n_in=int(pos.size),
        n_cross=int(neg.size), mean_in=mp, std_in=sp, mean_cross=mn, std_cross=sn,
    )
    if not math.isfinite(value):
        return _no_data(detail, f"in-group: {_none_finite(*sides[0])}, cross-group: {_none_finite(*sides[1])}")
    figure = (
        f"AUPRC {_fmt(value, 2)} (chance {_fmt(chance, 2)}), in-group {_fmt(mp, 2)} ± "
        f"{_fmt(sp, 2)} vs cross-group {_fmt(mn, 2)} ± {_fmt(sn, 2)}, threshold {_fmt(threshold, 2)}"
    )
    return _outcome(value >= threshold, value, figure, detail, measured=_worst(*sides))


def separation_by_cut(in_group: Dict[str, Sequence[float]], cross_group: Dict[str, Sequence[float]],
                      threshold: float) -> Outcome:
    """Group separation within each cut, averaged: ``mean_c auprc(in[c], cross[c]) >= threshold``.

    Why: similarities at different depths live on different scales (stitched accuracy is lower at
    a narrow early cut, CKA falls with depth), so pooling cuts lets depth, not group, decide the
    ranking. ReSi scores each layer separately; this does the same and reports every cut.
    """
    cuts = sorted(set(in_group) & set(cross_group))
    per_cut = {c: auprc(in_group[c], cross_group[c]) for c in cuts}
    finite = [v for v in per_cut.values() if math.isfinite(v)]
    n_in = sum(len(in_group[c]) for c in cuts)
    chance = n_in / max(1, n_in + sum(len(cross_group[c]) for c in cuts))
    detail: Dict[str, Any] = dict(threshold=threshold, chance=chance, per_cut=per_cut)
    given = [x for c in cuts for x in list(in_group[c]) + list(cross_group[c])]
    measured = (int(np.isfinite(np.asarray(given, dtype=float)).sum()), len(given))
    if not finite:
        return _no_data(detail, f"no cut has a finite value in both groups ({_none_finite(*measured)})")
    value = float(np.mean(finite))
    cuts_text = ", ".join(f"{c} {_fmt(v, 2)}" for c, v in per_cut.items())
    figure = (f"mean AUPRC {_fmt(value, 2)} over {len(finite)} cuts (chance {_fmt(chance, 2)}): {cuts_text}; "
              f"threshold {_fmt(threshold, 2)}")
    return _outcome(value >= threshold, value, figure, _jsonable(detail), measured=measured)


# --------------------------------------------------------------------------- layer structure


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation: Pearson correlation of average ranks (ties share a rank).

    ``scipy.stats.spearmanr``; the NaN and constant-side rules are this project's.
    Pairs with a NaN on either side are dropped.  NaN if fewer than 3 pairs remain or either
    side is constant (the correlation is undefined, and NaN fails every threshold).
    """
    from scipy.stats import spearmanr  # imported on use: the plugin loads this module

    a = _vector(x, "x")
    b = _vector(y, "y")
    if a.size != b.size:
        raise ValueError(f"x and y differ in length: {a.size} vs {b.size}")
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    if a.size < 3 or np.all(a == a[0]) or np.all(b == b[0]):
        return math.nan
    return float(np.clip(spearmanr(a, b)[0], -1.0, 1.0))


def layer_monotonicity(
    matrix: Any,
    sender_depths: Sequence[float],
    receiver_depths: Sequence[float],
    threshold: float,
    cell_se: Any = None,
    k: float = None,
    draws: int = 400,
    seed: int = 0,
) -> Outcome:
    """Similarity falls as depth distance grows (ReSi layer monotonicity).

    Why: Klabunde et al. (2024) -- a sensible similarity should rate corresponding layers as
    more similar than distant ones; they score it by the Spearman correlation between
    similarity and (negated) layer distance.  Here:
    ``value = spearman(matrix[r, c], -|sender_depths[r] - receiver_depths[c]|)`` over all
    finite cells; ``passed = value >= threshold``.  A rank correlation asks only for the
    ordering, not for any particular fall-off curve.

    ``cell_se`` (a matrix like ``matrix``: each cell's standard error) makes the verdict allow
    noise, as :func:`diagonal_dominance` does: rho's standard error is taken from a seeded
    parametric bootstrap (each finite cell moved by normal noise of its SE, ``draws`` times, the
    Spearman recomputed; a NaN SE counts as 0), and a rho closer to the threshold than ``k``
    (default :data:`NOISE_SE`) such errors is *undecided* (+0.48 and +0.50 against +0.50 came from
    two runs of one plan). The fixed ``seed`` keeps the verdict a function of the numbers alone.
    """
    k = NOISE_SE if k is None else k
    m, ds, dr = _grid(matrix, sender_depths, receiver_depths)
    dist = np.abs(ds[:, None] - dr[None, :])
    finite = np.isfinite(m)
    rho = spearman(m[finite], -dist[finite])
    detail: Dict[str, Any] = dict(threshold=threshold, rho=rho, n_cells=int(finite.sum()),
                                  dropped=int(m.size - finite.sum()))
    measured = (int(finite.sum()), int(m.size))
    if not math.isfinite(rho):
        return _no_data(detail, f"{_none_finite(*measured, 'cells')}, fewer than 3 or constant")
    figure = (
        f"Spearman rho {_fmt(rho, 2, sign=True)} between similarity and -|depth distance| "
        f"over {int(finite.sum())} cells, threshold {_fmt(threshold, 2, sign=True)}"
    )
    if cell_se is None:
        return _outcome(rho >= threshold, rho, figure, detail, measured=measured)
    se = np.nan_to_num(np.asarray(cell_se, dtype=float).reshape(m.shape)[finite])
    se_rho = _spearman_se(m[finite], se, -dist[finite], draws, seed)
    detail.update(se=se_rho, noise_se=k, draws=draws, bootstrap_seed=seed)
    figure += f"; SE of rho {_fmt(se_rho, 3)} ({draws} seeded draws of the cells' noise)"
    out = _outcome(rho >= threshold, rho, figure, detail, measured=measured)
    if 2 * measured[0] < measured[1] or not abs(rho - threshold) < k * se_rho:
        return out  # a minority of finite cells fails whatever the noise
    reason = f"undecided: {rho:+.3f} vs {threshold:+.2f} ± {k * se_rho:.3f} ({k:g} SE of rho)"
    return Outcome(out.passed, rho, f"{out.figure}; {reason}", {**out.detail, "undecided": reason}, "higher", reason)


def _spearman_se(values: np.ndarray, se: np.ndarray, other: np.ndarray, draws: int, seed: int) -> float:
    """Standard deviation of ``spearman(values + noise, other)`` over ``draws`` seeded draws of
    normal noise with per-value SD ``se`` (0 when every ``se`` is 0)."""
    from scipy.stats import rankdata  # imported on use: the plugin loads this module

    if draws < 2 or not np.any(se > 0):
        return 0.0
    noisy = values[None, :] + np.random.default_rng(seed).normal(size=(draws, values.size)) * se[None, :]
    a = rankdata(noisy, axis=1)
    b = rankdata(other)
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean()
    den = np.sqrt((a * a).sum(axis=1) * (b * b).sum())
    rhos = np.where(den > 0, (a @ b) / np.where(den > 0, den, 1.0), np.nan)
    rhos = rhos[np.isfinite(rhos)]
    return float(np.std(rhos, ddof=1)) if rhos.size > 1 else 0.0


def diagonal_dominance(
    matrix: Any,
    sender_depths: Sequence[float],
    receiver_depths: Sequence[float],
    far: float = 0.5,
    by: str = "sender",
    cell_se: Any = None,
    k: float = None,
) -> Outcome:
    """Each sender cut is at least as similar to its corresponding receiver cut as to far ones.

    ``by="receiver"`` asks it the other way round: each receiver cut is matched at least as well
    by the depth-matched sender as by far senders. That form holds the receiver fixed, so a
    receiver cut that is easy or hard to stitch into (docs/lab/facts.md#f16) cannot decide it.

    Why: the per-cell form of ReSi's layer expectation (Klabunde et al., 2024): whatever the
    overall trend, no sender cut should match a *distant* receiver cut better than the one at
    its own depth.  For sender cut ``i`` the diagonal cell is ``i* = argmin_j |dr_j - ds_i|``
    (nearest proportional depth, ties to the shallower cut), so networks of different depth
    work.  A receiver cut ``j`` is far when ``|dr_j - dr_{i*}| >= far``.  Each ``(i, far j)``
    comparison holds when ``sim(i, i*) >= sim(i, j)`` (ties hold).

    ``value`` = fraction of comparisons that hold; ``passed = value == 1.0`` -- one violation
    fails, because a single far cell beating the diagonal is exactly the thing this looks for.
    Comparisons with a NaN cell (diagonal or far) are skipped; no comparisons -> "no data".

    ``cell_se`` (a matrix like ``matrix``: each cell's standard error) makes it two-sided about
    noise: a far cell above its diagonal by at most ``k`` (default :data:`NOISE_SE`) standard errors
    of the difference, ``sqrt(se_diag^2 + se_cell^2)``, is *within noise*. Violations beyond noise
    fail; only within-noise ones make the outcome undecided (0.986 against a diagonal of 0.985 on
    397 test images is a coin toss, and such a check passed on one CPU and failed on another).
    """
    if by not in ("sender", "receiver"):
        raise ValueError(f"by must be 'sender' or 'receiver', got {by!r}")
    k = NOISE_SE if k is None else k
    m, ds, dr = _grid(matrix, sender_depths, receiver_depths)
    se = np.zeros_like(m) if cell_se is None else np.asarray(cell_se, dtype=float).reshape(m.shape)
    if by == "receiver":  # rows become receivers; names are swapped back when reporting
        m, ds, dr, se = m.T, dr, ds, se.T
    diag = _nearest(ds, dr)
    held, total = 0, 0
    violations: List[Dict[str, Any]] = []
    for i, istar in enumerate(diag):
        d = m[i, istar]
        if not np.isfinite(d):
            continue
        for j in range(dr.size):
            if abs(dr[j] - dr[istar]) + _DEPTH_EPS < far or not np.isfinite(m[i, j]):
                continue
            total += 1
            if d >= m[i, j]:
                held += 1
            else:
                s_, r_ = (i, j) if by == "sender" else (j, i)
                margin = k * math.hypot(np.nan_to_num(se[i, istar]), np.nan_to_num(se[i, j]))
                violations.append(dict(sender=s_, receiver=r_, diagonal=d, cell=m[i, j],
                                       within_noise=bool(m[i, j] - d <= margin), margin=float(margin)))
    clear = [v for v in violations if not v["within_noise"]]
    detail: Dict[str, Any] = dict(far=far, by=by, diagonal=[int(k) for k in diag], held=held,
                                  n=total, violations=violations[:10],
                                  n_violations=len(violations), n_clear_violations=len(clear))
    measured = (int(np.isfinite(m).sum()), int(m.size))
    if total == 0:
        return _no_data(detail, f"no finite diagonal cell with a finite far cell ({_none_finite(*measured, 'cells')})")
    value = held / total
    figure = (f"{held}/{total} far cells below their diagonal, per {by} cut "
              f"(far = depth distance ≥ {far:g})")
    if violations:
        worst = max(violations, key=lambda v: v["cell"] - v["diagonal"])
        figure += (
            f"; worst: sender {worst['sender']} -> receiver {worst['receiver']} "
            f"{_fmt(worst['cell'])} > diagonal {_fmt(worst['diagonal'])}"
        )
    if violations and not clear:
        reason = (f"undecided: {len(violations)} far cell(s) above the diagonal, each by less than {k:g} SE of "
                  f"the difference (worst by {worst['cell'] - worst['diagonal']:.4f}, {k:g} SE {worst['margin']:.4f})")
        return Outcome(False, value, f"{figure}; {reason}", {**detail, "undecided": reason}, "higher", reason)
    return _outcome(value == 1.0, value, figure, detail, measured=measured)


def _triangle_parts(m: np.ndarray, ds: np.ndarray, dr: np.ndarray) -> Dict[str, Any]:
    diag = _nearest(ds, dr)
    is_diag = np.zeros(m.shape, dtype=bool)
    is_diag[np.arange(ds.size), diag] = True
    below = (ds[:, None] - dr[None, :] > _DEPTH_EPS) & ~is_diag
    above = (dr[None, :] - ds[:, None] > _DEPTH_EPS) & ~is_diag
    finite = np.isfinite(m)

    def mean_of(mask: np.ndarray) -> Tuple[float, int]:
        vals = m[mask & finite]
        return (float(vals.mean()) if vals.size else math.nan), int(vals.size)

    mean_diag, n_diag = mean_of(is_diag)
    mean_below, n_below = mean_of(below)
    mean_above, n_above = mean_of(above)
    score = math.nan
    if n_diag and n_below and mean_diag > 0:
        score = mean_below / mean_diag
    return dict(score=score, mean_below=mean_below, n_below=n_below, mean_diagonal=mean_diag,
                n_diagonal=n_diag, mean_above=mean_above, n_above=n_above,
                diagonal=[int(k) for k in diag])


def triangle_score(
    matrix: Any, sender_depths: Sequence[float], receiver_depths: Sequence[float]
) -> float:
    """Hernandez et al.'s triangle: how well deep senders stitch into shallower receivers.

    Why: Hernandez et al. (2023) find that task-loss stitching from a *deeper* sender cut into
    a *shallower* receiver cut works about as well as stitching matching cuts -- the stitching
    matrix is high on and below the depth diagonal, a triangle -- while shallow-into-deep does
    not.  They read it as a flaw of task-loss stitching, not as functional similarity: a deep
    cut carries the label, and a stitch trained on labels can feed it into any shallower
    receiver. A faithful similarity method (FuLA, by its paper's claim; DM, by Balogh & Jelasity
    2025) should *not* show it, which is why the testbed asserts it absent
    (:func:`triangle` with ``expect_present=False``) and records TLM's triangle as a known failure.

    Exact formula, with ``i*`` the receiver cut nearest in depth to sender cut ``i`` (ties to
    the shallower)::

        diagonal = {(i, i*)}
        below    = {(i, j) : sender_depth[i] > receiver_depth[j]} minus diagonal
        score    = mean(matrix[below]) / mean(matrix[diagonal])

    over finite cells.  (With equal depths "below" is exactly the strict lower triangle; the
    diagonal is removed explicitly so that, with unequal depths, a nearest-depth cell that
    happens to lie slightly below the depth diagonal is not counted on both sides.)

    ~1: every shallower receiver takes a deep sender as well as the matching cut (triangle
    present); well below 1, e.g. the off-diagonal level over the diagonal level: it is not.
    The ratio assumes a ratio-scale similarity with 0 = nothing transfers (accuracy, relative
    accuracy, CKA); NaN if the diagonal mean is not positive, or there are no finite diagonal
    or below-diagonal cells.
    """
    m, ds, dr = _grid(matrix, sender_depths, receiver_depths)
    return _triangle_parts(m, ds, dr)["score"]


def triangle(
    matrix: Any,
    sender_depths: Sequence[float],
    receiver_depths: Sequence[float],
    threshold: float,
    expect_present: bool,
) -> Outcome:
    """The triangle is there (``score >= threshold``) or, with ``expect_present=False``, not
    (``score < threshold``).  See :func:`triangle_score`; NaN score -> "no data", failed."""
    m, ds, dr = _grid(matrix, sender_depths, receiver_depths)
    parts = _triangle_parts(m, ds, dr)
    score = parts["score"]
    detail: Dict[str, Any] = dict(threshold=threshold, expect_present=expect_present, **parts)
    measured = (int(np.isfinite(m).sum()), int(m.size))
    if not math.isfinite(score):
        why = "diagonal mean not positive" if parts["n_diagonal"] and parts["n_below"] else "no finite diagonal or below-diagonal cell"
        return _no_data(detail, f"{why} ({_none_finite(*measured, 'cells')})")
    passed = score >= threshold if expect_present else score < threshold
    op = "≥" if expect_present else "<"
    better = "higher" if expect_present else "lower"
    figure = (
        f"triangle {_fmt(score, 2)} = below-diagonal mean {_fmt(parts['mean_below'])} "
        f"(n={parts['n_below']}) / diagonal mean {_fmt(parts['mean_diagonal'])} "
        f"(n={parts['n_diagonal']}); above-diagonal mean {_fmt(parts['mean_above'])}; "
        f"expected {'present' if expect_present else 'absent'}: {op} {_fmt(threshold, 2)}"
    )
    return _outcome(passed, score, figure, detail, better, measured=measured)


# --------------------------------------------------------------------------- two methods


def seeds_agreeing(n: int) -> int:
    """Seed pairs that must agree for a comparison to be decided: five of six, and in general
    ``ceil(5n / 6)`` (all of three). Fewer agreeing pairs leave it inconclusive."""
    return math.ceil(5 * n / 6) if n else 1


def curve_similarity(change: float, changes: Sequence[float], similarities: Sequence[float]) -> float:
    """The similarity a graded intervention gives at functional change ``change``, read off its curve.

    Why: Ding et al. (2021) ask whether a change that leaves function nearly alone (a new training
    seed) moves similarity less than an edit that changes function as much would; the edits
    (``changes[i]``, ``similarities[i]``, in order of growing edit, e.g. more principal components
    deleted) are that yardstick. Only the edits that change function more than every smaller edit
    are kept (a larger edit that happens to change accuracy less is noise on a curve that rises),
    and the similarity is linearly interpolated between them at ``change``; beyond the largest kept
    change it is that edit's similarity (``np.interp``'s clamping). NaN pairs are dropped; NaN if
    ``change`` is NaN or no edit is left.
    """
    f, s = _vector(changes, "changes"), _vector(similarities, "similarities")
    if f.size != s.size:
        raise ValueError(f"changes and similarities differ in length: {f.size} vs {s.size}")
    keep = ~(np.isnan(f) | np.isnan(s))
    f, s = f[keep], s[keep]
    if f.size == 0 or not math.isfinite(change):
        return math.nan
    rising = [0]
    for i in range(1, f.size):
        if f[i] > f[rising[-1]]:
            rising.append(i)
    return float(np.interp(change, f[rising], s[rising]))


def at_least_agreeing(values: Sequence[float], bound: float) -> Outcome:
    """``mean(values) >= bound``, and so is each of at least :func:`seeds_agreeing` of the values.

    Why: one value per seed pair (e.g. a seed-changed pair's similarity minus what an edit of the
    same functional change gives, :func:`curve_similarity`); a mean that one seed pair carries is
    not a finding, so the seed pairs must agree, as the claims ask. NaNs are dropped.
    """
    v = _vector(values, "values")
    keep = ~np.isnan(v)
    v = v[keep]
    mean, sd = _mean_std(v)
    need = seeds_agreeing(int(v.size))
    agree = int((v >= bound).sum())
    detail: Dict[str, Any] = dict(bound=bound, mean=mean, std=sd, n=int(v.size), agree=agree, need=need,
                                  dropped=int(keep.size - v.size), values=v.tolist())
    measured = (int(v.size), int(keep.size))
    if v.size == 0:
        return _no_data(detail, _none_finite(*measured))
    figure = (f"mean {_fmt(mean, sign=True)} ± {_fmt(sd)} (n={v.size}), bound ≥ {_fmt(bound, sign=True)}; "
              f"{agree}/{v.size} seed pairs at or above it ({need} needed)")
    return _outcome(mean >= bound and agree >= need, mean, figure, detail, measured=measured)


_paired_margin = margin  # :func:`margin_every_cut` has a parameter of that name


# --------------------------------------------------------------------------- the noise band

#: standard errors either side of a threshold within which a check is undecided
NOISE_SE = 2.0
#: where each check keeps the number its value is compared with
_THRESHOLD_KEYS = ("threshold", "bound", "margin", "tol")


def threshold_of(outcome: Outcome) -> float:
    """The number the check's value was compared with (its ``threshold``, ``bound``, ``margin`` or
    ``tol``); NaN for a check with none (diagonal dominance asks for every comparison, a
    significance check for a share of cuts)."""
    for key in _THRESHOLD_KEYS:
        v = outcome.detail.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            return float(v)
    return math.nan


def spread_se(per_seed_values: Sequence[float]) -> float:
    """Standard error of a mean over seed pairs: sample std / sqrt(n) of the finite values; NaN
    for fewer than two."""
    v = _vector(per_seed_values, "per_seed_values")
    v = v[np.isfinite(v)]
    return float(np.std(v, ddof=1) / math.sqrt(v.size)) if v.size > 1 else math.nan


def within_noise(outcome: Outcome, se: float, k: float = NOISE_SE) -> Outcome:
    """``outcome``, marked undecided when its value lies within ``k`` standard errors of its threshold.

    Why: a value of 0.745 against a threshold of 0.75 with a standard error of 0.011 is a coin
    toss, not a result: the same check passed on an Intel Xeon and failed on an AMD EPYC
    (SVCCA, ``shortcut/separation_cue_data``). A verdict must not depend on the CPU, so such a
    check is neither a pass nor a failure but *undecided*, and says by how much. ``se`` is the
    standard error of the value: across seed pairs (:func:`spread_se`) where there are several,
    or from the test-set size for an accuracy or agreement
    (:func:`stitchtest.audit.statistics.binomial_se`), whichever the caller has (the larger of the
    two where it has both). A check without a threshold (:func:`threshold_of`), a non-finite value
    or a non-positive or NaN ``se`` is returned unchanged; so is a "no data" failure. The figure
    gains ``"undecided: 0.745 vs 0.75 ± 0.021 (2 SE)"``, and ``detail`` the ``se`` (and the reason,
    as ``detail["undecided"]``).
    """
    threshold = threshold_of(outcome)
    if not (math.isfinite(outcome.value) and math.isfinite(threshold) and math.isfinite(se) and se > 0):
        return outcome
    detail = {**outcome.detail, "se": float(se), "noise_se": k}
    if abs(outcome.value - threshold) > k * se:
        return Outcome(outcome.passed, outcome.value, outcome.figure, detail, outcome.better)
    reason = f"undecided: {outcome.value:.3f} vs {threshold:.3g} ± {k * se:.3f} ({k:g} SE)"
    return Outcome(outcome.passed, outcome.value, f"{outcome.figure}; {reason}", {**detail, "undecided": reason},
                   outcome.better, reason)
