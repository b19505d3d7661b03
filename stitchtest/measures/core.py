"""Representational similarity measures: small, configured, comparable objects.

Every measure answers one question -- "how similar are two representations of the same
``n`` inputs?" -- with a float where **higher means more similar** (1.0 = identical up to
the measure's invariances, 0.0 = nothing shared or nothing to compare). A single sign
convention lets the harness rank, threshold and plot all measures with the same code.

A measure is configured by its constructor arguments only (frozen dataclasses), so
``m.string_id()`` is a stable cache key / test id and two equal configurations are equal
objects. Each measure *claims* the transforms it is invariant to in ``invariances`` (a
subset of :data:`INVARIANCES`); the test-suite holds the measure to exactly that claim:
a claimed invariance must hold to numerical precision, an unclaimed one must be breakable.

Numerics: inputs are converted to float64 (on their own device) before anything else,
because similarity scores are small differences of large sums and float32 loses the
digits that invariance checks and cross-checks look at. Each representation is centred and
scaled to unit Frobenius norm first; all measures here are invariant to that anyway, and it
keeps squared quantities away from overflow/underflow for very large or tiny activations.

Degenerate inputs (a representation whose samples are all identical, so it has no variance
to compare) score 0.0, never NaN: "no shared signal" is the honest answer and NaN would
poison averages downstream.

Feature maps. How a map becomes vectors changes what is compared, so it is a choice of the
measure (``vectors``, part of its id when it is not the default): ``"flatten"`` (the default,
one long vector per sample, as every result so far), ``"mean"`` (the spatial or token mean:
one feature vector per sample) or ``"positions"`` (every spatial position or token is a sample
of its own, so both sides need the same number of positions). A ``(N, C, H, W)`` map has its
features on axis 1, a token map ``(N, T, D)`` on the last axis.

A plain function ``f(x, y) -> float`` (higher = more similar) is a measure too
(:class:`FunctionMeasure`): it claims no invariances, and ``stitchtest check-measure`` says which
of them it has (:mod:`~stitchtest.measures.invariance`).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable, FrozenSet, List, Sequence, Tuple

import torch

from ..runtime.ids import string_id as _string_id
from ..runtime.registry import Registry

__all__ = [
    "INVARIANCES",
    "MEASURES",
    "Measure",
    "LinearCKA",
    "Procrustes",
    "SVCCA",
    "MutualKNN",
    "FunctionMeasure",
    "VECTORS",
]

MEASURES: Registry["Measure"] = Registry("measure", "stitchtest.measures")

#: Transforms of one representation (applied to its features, the same for every sample)
#: that a measure may claim not to notice.  ``permutation`` permutes feature units (neurons),
#: not samples; ``invertible_linear`` is any full-rank ``y -> y @ A``.
INVARIANCES: Tuple[str, ...] = (
    "orthogonal",
    "isotropic_scaling",
    "translation",
    "permutation",
    "invertible_linear",
)

#: How a measure turns a feature map into one vector per sample (see the module docstring).
VECTORS: Tuple[str, ...] = ("flatten", "mean", "positions")

_SHAPE_INVARIANCES = frozenset({"orthogonal", "isotropic_scaling", "translation", "permutation"})


class Measure:
    """Base class: a configured similarity measure.

    Subclasses are frozen dataclasses whose fields are the configuration, set ``name`` (the
    registry key) and ``invariances``, and implement :meth:`_score` on prepared matrices.
    """

    name: str = ""
    #: Subset of :data:`INVARIANCES` this (configured) measure is invariant to.
    invariances: FrozenSet[str] = frozenset()
    #: ``score(x, y) == score(y, x)``; every built-in measure is symmetric.
    symmetric: bool = True

    def __post_init__(self) -> None:
        if getattr(self, "vectors", "flatten") not in VECTORS:
            raise ValueError(f"{type(self).__name__}: vectors must be one of {', '.join(VECTORS)}, "
                             f"got {self.vectors!r}")

    def score(self, x: Any, y: Any) -> float:
        """Similarity of ``x`` (n, p) and ``y`` (n, q); higher = more similar.

        Tensors (or array-likes) with more than two dimensions become vectors as ``vectors``
        says (by default flattened per sample to ``(n, -1)``); a 1-D input is one feature.  Rows
        of ``x`` and ``y`` must correspond to the same inputs.  Non-finite inputs raise
        ``ValueError`` rather than silently producing a meaningless score.
        """
        how = getattr(self, "vectors", "flatten")
        xm, ym = _as_matrix(as_vectors(x, how), "x"), _as_matrix(as_vectors(y, how), "y")
        if xm.shape[0] != ym.shape[0]:
            raise ValueError(
                f"{self.string_id()}: x and y must have the same number of samples, "
                f"got {xm.shape[0]} and {ym.shape[0]}"
                + (" (vectors='positions' makes every position a sample)" if how == "positions" else "")
            )
        if xm.shape[0] < 2:
            raise ValueError(f"{self.string_id()}: need at least 2 samples, got {xm.shape[0]}")
        ym = ym.to(xm.device)
        # A NaN or infinity from ``_score`` is returned as it is: the audit fails such a cell with
        # its reason, where a 0.0 would read as "nothing shared" and could pass a check.
        return float(self._score(xm, ym))

    def _score(self, x: torch.Tensor, y: torch.Tensor) -> float:  # pragma: no cover
        raise NotImplementedError

    def permuted_scores(self, x: Any, y: Any, orders: Sequence[Any]) -> List[float]:
        """``score(x, y[order])`` for each row order (a permutation of the samples): the scores of a
        permutation null (:mod:`~stitchtest.instruments.nulls`). The built-in measures override
        :meth:`_permuted` to prepare each side once (centring, Gram matrices, reductions and
        neighbour lists are permutation-equivariant), so a null of 50 costs about one score;
        any other measure is simply scored once per order."""
        how = getattr(self, "vectors", "flatten")
        if how == "positions":
            raise ValueError(f"{self.string_id()}: a permutation null shuffles images, and with "
                             "vectors='positions' rows are positions")
        xm, ym = _as_matrix(as_vectors(x, how), "x"), _as_matrix(as_vectors(y, how), "y")
        if xm.shape[0] != ym.shape[0]:
            raise ValueError(f"{self.string_id()}: x and y must have the same number of samples, "
                             f"got {xm.shape[0]} and {ym.shape[0]}")
        ym = ym.to(xm.device)
        perms = [torch.as_tensor(o, dtype=torch.long, device=xm.device) for o in orders]
        for o in perms:
            if o.shape != (xm.shape[0],) or not bool((o.sort().values == torch.arange(xm.shape[0], device=o.device)).all()):
                raise ValueError(f"{self.string_id()}: an order must be a permutation of the {xm.shape[0]} samples")
        return [float(v) for v in self._permuted(xm, ym, perms)]

    def _permuted(self, x: torch.Tensor, y: torch.Tensor, orders: List[torch.Tensor]) -> List[float]:
        return [self.score(x, y[o]) for o in orders]

    def string_id(self) -> str:
        """Stable id from constructor arguments, e.g. ``linear_cka(debiased=False)``; ``vectors``
        appears only when it is not ``"flatten"``, so ids from before it existed still hold."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.repr} \
            if dataclasses.is_dataclass(self) else {}
        if getattr(self, "vectors", "flatten") != "flatten":
            fields["vectors"] = self.vectors
        return _string_id(self, **fields)

    def __call__(self, x: Any, y: Any) -> float:
        return self.score(x, y)


# --------------------------------------------------------------------------- helpers


def as_vectors(a: Any, how: str = "flatten") -> Any:
    """One row per sample (``"flatten"``, ``"mean"``) or per position (``"positions"``) of a feature
    map: ``(N, C, H, W)`` (features on axis 1) or tokens ``(N, T, D)`` (features last); flat
    inputs and ``"flatten"`` pass through unchanged (flattened later, by :meth:`Measure.score`)."""
    if how == "flatten":
        return a
    t = torch.as_tensor(a)
    if t.ndim <= 2:
        return t
    if t.ndim == 3:  # tokens (N, T, D)
        return t.mean(dim=1) if how == "mean" else t.reshape(-1, t.shape[-1])
    if t.ndim == 4:  # (N, C, H, W)
        return t.mean(dim=(2, 3)) if how == "mean" else t.permute(0, 2, 3, 1).reshape(-1, t.shape[1])
    raise ValueError(f"vectors={how!r} needs (N, T, D) tokens or (N, C, H, W) maps, got shape {tuple(t.shape)}")


def _as_matrix(a: Any, label: str) -> torch.Tensor:
    """float64 ``(n, features)`` copy of ``a``, detached from any autograd graph."""
    t = torch.as_tensor(a).detach()
    if t.ndim == 0:
        raise ValueError(f"{label} must have a sample dimension, got a scalar")
    t = t.to(torch.float64).reshape(t.shape[0], -1)
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{label} contains NaN or infinite values")
    return t


def _center_unit(x: torch.Tensor) -> torch.Tensor | None:
    """Centre columns and scale to unit Frobenius norm; ``None`` if nothing varies.

    Columns that are exactly constant (max == min) are set to exactly zero instead of to the
    rounding residue of ``x - mean`` -- that residue is a constant offset of order
    ``eps * |value|`` which, after rescaling, could masquerade as a real direction.  This
    test needs no tolerance, and "all rows identical" (the degenerate case for every measure
    here) is exactly "every column constant", whatever rotation or offset was applied.

    Dividing by the largest magnitude before centring and again before the norm is free
    (every measure is invariant to isotropic scaling) and keeps sums and squares in range
    for activations around 1e-200 or 1e200.
    """
    constant = x.amax(dim=0) == x.amin(dim=0)
    xc = x / _peak(x)
    xc = xc - xc.mean(dim=0, keepdim=True)
    xc[:, constant] = 0.0
    peak = _peak(xc)
    if not bool(torch.isfinite(peak)):
        return None
    xc = xc / peak
    return xc / torch.linalg.matrix_norm(xc)  # Frobenius


def _peak(x: torch.Tensor) -> torch.Tensor:
    """Largest magnitude, or NaN for an all-zero matrix (so callers need one finite check)."""
    peak = x.abs().max()
    return peak if bool(peak > 0) else torch.full_like(peak, float("nan"))


# --------------------------------------------------------------------------- measures


@MEASURES.register
@dataclass(frozen=True)
class LinearCKA(Measure):
    """Linear centred kernel alignment (Kornblith et al., 2019).

    ``CKA = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))`` with linear Gram matrices
    ``K = x x^T`` and ``L = y y^T``.  Comparing Gram matrices (sample-by-sample similarity)
    rather than features is what makes CKA indifferent to rotations and to p != q, while
    still sensitive to how a *non*-orthogonal map stretches the geometry -- so it is **not**
    invariant to invertible linear maps (Kornblith et al. argue that is a feature: an
    invariance to all invertible maps makes any two wide-enough representations look equal).

    For linear kernels everything is computed in feature space (``||y^T x||_F^2`` etc.), which
    is ``O(n p q)`` instead of ``O(n^2)`` memory and avoids forming ``n x n`` matrices.

    ``debiased=False``: the biased HSIC estimator ``tr(K H L H) / (n-1)^2`` of the paper.
    It is upward-biased for finite ``n`` (two independent representations get a clearly
    positive score when ``p, q`` are not << ``n``).

    ``debiased=True``: the unbiased HSIC estimator of Song et al. (2012), as used for CKA by
    Nguyen et al. (2021), which removes that bias.  Needs ``n >= 4``.  Because unbiased HSIC
    is an inner product of U-centred Gram matrices, Cauchy-Schwarz still bounds the ratio by
    1, but it **can be slightly negative** (two unrelated representations estimate 0 with
    noise on both sides).  We clamp at 0 so "higher = more similar" and the ``[0, 1]`` range
    hold for every measure; the cost is that negative noise and exact independence both
    read as 0.0.  A representation whose unbiased self-HSIC is (numerically) zero -- all
    samples identical, or rare tiny-``n`` configurations where the linear kernel is additive
    -- has nothing to align and scores 0.0.

    Score in ``[0, 1]``; 1 iff the centred representations are equal up to rotation and
    scale (biased version).
    """

    name = "linear_cka"
    invariances = _SHAPE_INVARIANCES
    debiased: bool = False
    vectors: str = field(default="flatten", repr=False)  # see VECTORS

    def _score(self, x: torch.Tensor, y: torch.Tensor) -> float:
        n = x.shape[0]
        if self.debiased and n < 4:
            raise ValueError(f"{self.string_id()} needs at least 4 samples, got {n}")
        xc, yc = _center_unit(x), _center_unit(y)
        if xc is None or yc is None:
            return 0.0
        biased = _biased_hsics(xc, yc)
        if self.debiased:
            hxy, hxx, hyy = _hsic_unbiased(xc, yc), _hsic_unbiased(xc, xc), _hsic_unbiased(yc, yc)
        else:
            hxy, hxx, hyy = biased
        # Self-HSIC that vanishes relative to its biased counterpart (>= 1/p for unit-norm
        # input) means no alignable signal; dividing by it would only amplify rounding.
        floor_x, floor_y = 1e-12 * biased[1], 1e-12 * biased[2]
        if not (hxx > floor_x and hyy > floor_y):
            return 0.0
        value = hxy / torch.sqrt(hxx * hyy)
        if not bool(torch.isfinite(value)):
            return 0.0
        return float(value.clamp(0.0, 1.0))

    def _permuted(self, x: torch.Tensor, y: torch.Tensor, orders: List[torch.Tensor]) -> List[float]:
        """Biased CKA: ``<K, L[o, o]>`` with the Gram matrices formed once (self-HSICs do not move)."""
        if self.debiased or x.shape[0] < 2:
            return super()._permuted(x, y, orders)
        xc, yc = _center_unit(x), _center_unit(y)
        if xc is None or yc is None:
            return [0.0] * len(orders)
        k, l = xc @ xc.T, yc @ yc.T
        hxx, hyy = k.square().sum(), l.square().sum()
        if not (hxx > 0 and hyy > 0):
            return [0.0] * len(orders)
        out = []
        for o in orders:
            value = (k * l[o][:, o]).sum() / torch.sqrt(hxx * hyy)
            out.append(float(value.clamp(0.0, 1.0)) if bool(torch.isfinite(value)) else 0.0)
        return out


def _hsic_biased(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``tr(K H L H)`` for already centred ``x``, ``y`` (the ``1/(n-1)^2`` cancels in CKA)."""
    return (y.T @ x).square().sum()


def _biased_hsics(x: torch.Tensor, y: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``HSIC(x, y), HSIC(x, x), HSIC(y, y)`` (biased, centred input) from whichever products are
    cheaper: feature space (``x^T y`` etc., ``n (pq + p^2 + q^2)`` multiply-adds) or sample space
    (the Gram matrices ``K = x x^T``, ``L = y y^T``, ``n^2 (p + q)``; ``||x^T y||_F^2 = <K, L>_F``).
    A flattened feature map has thousands of features, more than the images compared: on MNIST at
    ``small`` (2,000 test images, 8,192 features at the stem) sample space is 6x fewer operations."""
    n, p, q = x.shape[0], x.shape[1], y.shape[1]
    if n * (p + q) < p * q + p * p + q * q:
        k, l = x @ x.T, y @ y.T
        return (k * l).sum(), k.square().sum(), l.square().sum()
    return _hsic_biased(x, y), _hsic_biased(x, x), _hsic_biased(y, y)


def _hsic_unbiased(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Song et al. (2012) unbiased HSIC for linear kernels, without forming Gram matrices.

    With ``K~ = K - diag(K)`` (zero diagonal), ``k = diag(K)``, and likewise for ``L``::

        HSIC_u = [ tr(K~ L~) + (1'K~1)(1'L~1) / ((n-1)(n-2)) - 2/(n-2) 1'K~L~1 ] / (n(n-3))

    and for ``K = x x^T``: ``tr(K~ L~) = ||x^T y||_F^2 - k.l``,
    ``1'K~1 = ||x^T 1||^2 - sum(k)``, ``K~1 = x (x^T 1) - k``.
    """
    n = x.shape[0]
    ones = torch.ones(n, 1, dtype=x.dtype, device=x.device)
    k = x.square().sum(dim=1)
    l = y.square().sum(dim=1)
    xs, ys = x.T @ ones, y.T @ ones  # column sums (zero for centred input, kept for generality)
    trace_kl = (y.T @ x).square().sum() - (k * l).sum()
    sum_k = xs.square().sum() - k.sum()
    sum_l = ys.square().sum() - l.sum()
    k_row = (x @ xs).squeeze(1) - k
    l_row = (y @ ys).squeeze(1) - l
    cross = (k_row * l_row).sum()
    return (trace_kl + sum_k * sum_l / ((n - 1) * (n - 2)) - 2.0 * cross / (n - 2)) / (n * (n - 3))


@MEASURES.register
@dataclass(frozen=True)
class Procrustes(Measure):
    """Orthogonal Procrustes similarity (as in Williams et al., 2021 / netrep, angular form).

    Centre both representations and scale each to unit Frobenius norm; then

        score = max_R <x, y R>_F over orthogonal R = ||x^T y||_*   (nuclear norm)
              = 1 - d^2 / 2,   d = min_R ||x R - y||_F  (the Procrustes distance)

    so the score is in ``[0, 1]`` and higher = closer.  It asks whether one representation is
    a *rigid* rotation/reflection of the other -- stricter than CKA about which directions
    carry the variance, and not invariant to invertible (stretching) linear maps.

    If ``p != q`` the narrower representation is treated as zero-padded to the wider width
    (the netrep convention), so ``R`` is a square orthogonal matrix in the padded space.
    Zero columns do not change ``x^T y``'s singular values, so this is computed directly as
    the nuclear norm of the rectangular ``p x q`` cross-product; padding is never
    materialised.
    """

    name = "procrustes"
    invariances = _SHAPE_INVARIANCES
    vectors: str = field(default="flatten", repr=False)  # see VECTORS

    def _score(self, x: torch.Tensor, y: torch.Tensor) -> float:
        xc, yc = _center_unit(x), _center_unit(y)
        if xc is None or yc is None:
            return 0.0
        nuclear = torch.linalg.svdvals(_sample_space(xc).T @ _sample_space(yc)).sum()
        return float(nuclear.clamp(0.0, 1.0))

    def _permuted(self, x: torch.Tensor, y: torch.Tensor, orders: List[torch.Tensor]) -> List[float]:
        """Each side's ``U S`` once: ``y[o]``'s is ``ys[o]`` up to a rotation, which keeps singular values."""
        xc, yc = _center_unit(x), _center_unit(y)
        if xc is None or yc is None:
            return [0.0] * len(orders)
        xs, ys = _sample_space(xc), _sample_space(yc)
        return [float(torch.linalg.svdvals(xs.T @ ys[o]).sum().clamp(0.0, 1.0)) for o in orders]


def _sample_space(x: torch.Tensor) -> torch.Tensor:
    """``U S`` of ``x = U S V^T`` when features outnumber samples: same Gram matrix, and
    ``x^T y`` keeps its singular values (V has orthonormal columns), so a flattened feature map
    with thousands of features costs an n x n problem instead of a p x q one."""
    if x.shape[1] <= x.shape[0]:
        return x
    u, s, _ = _left_singular(x)
    return u * s


def _left_singular(x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, float]:
    """``(U, S, floor)``: left singular vectors and values of ``x`` (n, p), largest first, and the
    size relative to ``S[0]`` below which a singular value is rounding noise.

    When features outnumber samples they come from the eigendecomposition of the n x n Gram
    matrix ``x x^T`` instead of an SVD of ``x``: for a 2,000-image MNIST stem map (p = 8,192,
    float64) 6 s instead of 27 s on one core. Squaring ``x`` resolves singular values only down
    to ``sqrt(eps)`` of the largest, so that route's floor is ``sqrt(max(n, p) eps)`` where the
    SVD's is ``max(n, p) eps`` (numpy's ``matrix_rank`` tolerance); directions between the two
    carry a negligible share of the variance, far below what a measure keeps.
    """
    n, p = x.shape
    eps = torch.finfo(x.dtype).eps
    if p <= n:
        u, s, _ = torch.linalg.svd(x, full_matrices=False)
        return u, s, max(n, p) * eps
    lam, u = torch.linalg.eigh(x @ x.T)
    return u.flip(1), lam.flip(0).clamp(min=0.0).sqrt(), math.sqrt(max(n, p) * eps)


@MEASURES.register
@dataclass(frozen=True)
class SVCCA(Measure):
    """Singular vector CCA (Raghu et al., 2017).

    1. Centre each representation.
    2. SVD-reduce it to its top ``k`` singular directions, with ``k`` the smallest number that
       explains at least ``keep`` of the variance (never more than the numerical rank, so
       ``keep=1.0`` keeps exactly the non-null directions).  This drops low-variance
       "noise" directions that plain CCA would happily align.
    3. Score = mean of the ``min(k_x, k_y)`` canonical correlations between the reduced
       representations.

    Canonical correlations between two sets of variables are the cosines of the principal
    angles between their column spaces, so they are computed as the singular values of
    ``U_x^T U_y`` for the orthonormal left singular vectors from step 2: no covariance
    inversion, hence numerically stable even for ill-conditioned inputs.

    Invariances: rotations, permutations, isotropic scaling and translation leave singular
    values and column spaces alone, so those always hold.  CCA itself is invariant to any
    invertible linear map, but the SVD step is not (a stretch changes which directions
    explain ``keep`` of the variance).  Hence ``invertible_linear`` is claimed **only when
    ``keep >= 1.0``** (nothing is dropped); ``invariances`` is set per instance accordingly.
    Few images, many directions. With ``k_x + k_y > n`` the two subspaces of R^n must
    intersect and some correlations are 1 by construction, and well before that unrelated
    subspaces correlate highly. On the 397 digits test images ``keep=0.99`` keeps 92-261
    directions, and more for a random network than a trained one, so uncapped SVCCA rated a
    random sender *above* a trained one (-0.087, 0/6 seed pairs); with each side capped at a
    quarter of the images (``max_share=0.25``: together at most half of R^n) the trained sender
    wins in 6/6 pairs (+0.082). ``max_share=1.0`` keeps the paper's uncapped variant.
    """

    name = "svcca"
    #: class-level claim = what holds for *every* ``keep``; instances may add more.
    invariances = _SHAPE_INVARIANCES
    keep: float = 0.99
    #: at most ``max_share * n`` directions per side (n = images)
    max_share: float = 0.25
    vectors: str = field(default="flatten", repr=False)  # see VECTORS

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 < self.keep <= 1.0:
            raise ValueError(f"svcca keep must be in (0, 1], got {self.keep!r}")
        if not 0.0 < self.max_share <= 1.0:
            raise ValueError(f"svcca max_share must be in (0, 1], got {self.max_share!r}")
        nothing_dropped = self.keep >= 1.0 and self.max_share >= 1.0
        claims = _SHAPE_INVARIANCES | ({"invertible_linear"} if nothing_dropped else set())
        object.__setattr__(self, "invariances", frozenset(claims))  # not a field: id unchanged

    def _score(self, x: torch.Tensor, y: torch.Tensor) -> float:
        xc, yc = _center_unit(x), _center_unit(y)
        if xc is None or yc is None:
            return 0.0
        ux, uy = self._reduce(xc), self._reduce(yc)
        correlations = torch.linalg.svdvals(ux.T @ uy).clamp(0.0, 1.0)
        return float(correlations.mean())

    def _permuted(self, x: torch.Tensor, y: torch.Tensor, orders: List[torch.Tensor]) -> List[float]:
        """The reduced bases once: the basis of ``y[o]`` spans the rows of ``uy[o]``."""
        xc, yc = _center_unit(x), _center_unit(y)
        if xc is None or yc is None:
            return [0.0] * len(orders)
        ux, uy = self._reduce(xc), self._reduce(yc)
        return [float(torch.linalg.svdvals(ux.T @ uy[o]).clamp(0.0, 1.0).mean()) for o in orders]

    def _reduce(self, x: torch.Tensor) -> torch.Tensor:
        """Orthonormal basis (n, k) of the top directions explaining ``keep`` of the variance."""
        u, s, floor = _left_singular(x)
        # numerical rank (for an SVD as numpy.linalg.matrix_rank): ignore directions at rounding level
        rank = int((s > s[0] * floor).sum())
        explained = torch.cumsum(s.square(), 0) / s.square().sum()
        # smallest k with explained[k-1] >= keep; slack so keep=1.0 is not foiled by rounding
        k = int((explained < self.keep - 1e-12).sum()) + 1
        cap = len(x) if self.max_share >= 1.0 else int(self.max_share * len(x))
        return u[:, : max(1, min(k, rank, cap))]


@MEASURES.register
@dataclass(frozen=True)
class MutualKNN(Measure):
    """Mutual k-nearest neighbours (Huh, Cheung, Wang & Isola, ICML 2024, "The Platonic
    Representation Hypothesis").

    For each sample, take its ``k`` nearest neighbours (itself excluded) in each representation;
    the score is the mean, over samples, of the share of the ``k`` that the two sets have in
    common. 1: every sample has the same neighbours on both sides; two unrelated representations
    share about ``k / (n - 1)`` by chance (Groger, Wen & Brbic 2026 find it is the measure whose
    trends survive calibration against a permutation null; :mod:`~stitchtest.instruments.nulls`).

    ``metric="cosine"`` (the paper's: rows scaled to unit length, neighbours by inner product, no
    centring) or ``"l2"`` (Euclidean distance). Only the *ranking* of neighbours counts, so the
    score ignores anything that keeps it: rotations and reflections (``orthogonal``, and feature
    ``permutation`` with them), ``isotropic_scaling``, and, for ``l2`` only, ``translation``
    (uncentred cosine is not translation invariant: a shift moves every angle). A stretch
    (``invertible_linear``) changes distances unevenly and so changes the neighbours.

    ``k = 10`` as in the paper; it needs more than ``k`` samples (``n > k``), since with ``n - 1 <=
    k`` every sample's neighbours are all the others and the score is 1 by construction. Ties
    between equal distances go to the lower sample index, so a score is deterministic. A
    representation with no variance (every sample identical) scores 0.0, as for every measure.
    """

    name = "mknn"
    invariances = frozenset({"orthogonal", "isotropic_scaling", "permutation"})
    k: int = 10
    metric: str = "cosine"
    vectors: str = field(default="flatten", repr=False)  # see VECTORS

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise ValueError(f"mknn k must be a positive integer, got {self.k!r}")
        if self.metric not in ("cosine", "l2"):
            raise ValueError(f"mknn metric must be 'cosine' or 'l2', got {self.metric!r}")
        claims = self.invariances | ({"translation"} if self.metric == "l2" else set())
        object.__setattr__(self, "invariances", frozenset(claims))  # not a field: id unchanged

    def _score(self, x: torch.Tensor, y: torch.Tensor) -> float:
        n = x.shape[0]
        if n <= self.k:
            raise ValueError(f"{self.string_id()} needs more than k={self.k} samples, got {n}")
        if not (_varies(x) and _varies(y)):
            return 0.0
        return self._overlap(self._neighbours(x), self._neighbours(y))

    def _overlap(self, nx: torch.Tensor, ny: torch.Tensor) -> float:
        """Mean share of row i's two neighbour sets in common: a one-hot (n, n) mask of one, gathered at the other."""
        n = nx.shape[0]
        mask = torch.zeros(n, n, dtype=torch.bool, device=nx.device)
        mask.scatter_(1, nx, True)
        return float(mask.gather(1, ny).double().sum(dim=1).mean() / self.k)

    def _permuted(self, x: torch.Tensor, y: torch.Tensor, orders: List[torch.Tensor]) -> List[float]:
        """Neighbour lists once: row i of ``y[o]`` is sample ``o[i]``, whose neighbours ``ny[o[i]]`` are
        rows ``o^-1(ny[o[i]])`` of ``y[o]`` (ties aside, which real activations do not have)."""
        if x.shape[0] <= self.k:
            raise ValueError(f"{self.string_id()} needs more than k={self.k} samples, got {x.shape[0]}")
        if not (_varies(x) and _varies(y)):
            return [0.0] * len(orders)
        nx, ny = self._neighbours(x), self._neighbours(y)
        return [self._overlap(nx, torch.argsort(o)[ny[o]]) for o in orders]

    def _neighbours(self, x: torch.Tensor) -> torch.Tensor:
        """(n, k) indices of each row's nearest other rows, ties to the lower index."""
        x = x / _peak(x)  # free (isotropic scaling) and keeps squares in range
        if self.metric == "cosine":
            x = x / torch.linalg.vector_norm(x, dim=1, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)
            closeness = x @ x.T
        else:  # centred first: the same distances, without the cancellation of a large offset
            x = x - x.mean(dim=0, keepdim=True)
            sq = x.square().sum(dim=1)
            closeness = -(sq[:, None] + sq[None, :] - 2.0 * (x @ x.T))  # minus squared distance
        closeness.fill_diagonal_(-math.inf)
        return torch.argsort(closeness, dim=1, descending=True, stable=True)[:, : self.k]


def _varies(x: torch.Tensor) -> bool:
    """Whether any feature of ``x`` differs between samples (else there is nothing to rank)."""
    return bool((x.amax(dim=0) != x.amin(dim=0)).any())


@dataclass(frozen=True)
class FunctionMeasure(Measure):
    """A plain function ``fn(x, y) -> float`` (higher = more similar) as a measure named after it.

    ``fn`` gets float64 ``(n, features)`` torch tensors (numpy functions accept them too). It
    claims no invariances and no symmetry: nothing is known about it until
    ``stitchtest check-measure`` has looked (:mod:`~stitchtest.measures.invariance`).
    """

    fn: Callable[[Any, Any], float] = field(repr=False)
    vectors: str = field(default="flatten", repr=False)
    symmetric = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if not callable(self.fn):
            raise TypeError(f"FunctionMeasure needs a function f(x, y) -> float, got {self.fn!r}")
        object.__setattr__(self, "name", getattr(self.fn, "__name__", type(self.fn).__name__))  # not a field

    def _score(self, x: torch.Tensor, y: torch.Tensor) -> float:
        return float(self.fn(x, y))
