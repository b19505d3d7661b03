"""Property tests for ``stitchtest.measures``, driven by one table of configured measures.

In the style of wrongu/repsim: every property below is checked for every entry of
``MEASURE_TABLE`` and is phrased in terms of what the measure *claims* (``m.invariances``),
so adding a measure (or a configuration) to the table is all it takes to audit it.

Random inputs come from hypothesis-drawn seeds and shapes (n in 40..120 samples, p, q in
3..12 features, so n > p, q and every measure is well defined).  Checks that must not flake
-- "this unclaimed transform really changes the score" -- use a fixed seeded sample and a
fixed, clearly non-degenerate transform instead.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.neighbors import NearestNeighbors

from stitchtest.measures.invariance import TRANSFORMS, _orthogonal, make_pair, random_orthogonal  # the shared checks
from stitchtest.measures import INVARIANCES, MEASURES, SVCCA, LinearCKA, Measure, MutualKNN, Procrustes
from stitchtest.runtime.registry import RegistryError

# The one table.  SVCCA(keep=1.0) drops no directions, so it is the configuration that
# (truly) claims invertible-linear invariance; SVCCA() with keep=0.99 does not claim it.
MEASURE_TABLE = [
    LinearCKA(),
    LinearCKA(debiased=True),
    Procrustes(),
    SVCCA(keep=1.0, max_share=1.0),
    SVCCA(),
    MutualKNN(),
    MutualKNN(metric="l2"),
]

INVARIANCE_TOL = dict(rel_tol=1e-6, abs_tol=1e-9)
REFERENCE_TOL = 1e-8
CHANGE_MIN = 0.1  # an unclaimed transform must move the score by more than this

PROPERTY_SETTINGS = settings(max_examples=15, deadline=None)


def measure_params():
    return [pytest.param(m, id=m.string_id()) for m in MEASURE_TABLE]


def claimed_params(claimed: bool):
    return [
        pytest.param(m, prop, id=f"{m.string_id()}-{prop}")
        for m in MEASURE_TABLE
        for prop in INVARIANCES
        if (prop in m.invariances) == claimed
    ]


# --------------------------------------------------------------------------- data


# random_orthogonal, make_pair and one random member of each transform family (TRANSFORMS) live
# in stitchtest.measures.invariance, so that `stitchtest check-measure` runs exactly these checks.


def t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


seeds = st.integers(0, 2**32 - 1)
ns = st.integers(40, 120)
widths = st.integers(3, 12)


# --------------------------------------------------------------------------- table sanity


def test_transform_table_covers_every_invariance():
    assert set(TRANSFORMS) == set(INVARIANCES)


@pytest.mark.parametrize("m", measure_params())
def test_claims_are_known_invariances(m: Measure):
    unknown = set(m.invariances) - set(INVARIANCES)
    assert not unknown, f"{m.string_id()} claims unknown invariances {sorted(unknown)}"


# --------------------------------------------------------------------------- invariances


@pytest.mark.parametrize("m, prop", claimed_params(True))
@PROPERTY_SETTINGS
@given(seed=seeds, n=ns, p=widths, q=widths)
def test_claimed_invariance_holds(m: Measure, prop: str, seed: int, n: int, p: int, q: int):
    x, y, rng = make_pair(seed, n, p, q)
    base = m.score(t(x), t(y))
    transform = TRANSFORMS[prop]
    moved_y = m.score(t(x), t(transform(rng, y)))
    moved_x = m.score(t(transform(rng, x)), t(y))
    for side, value in (("y", moved_y), ("x", moved_x)):
        assert math.isclose(value, base, **INVARIANCE_TOL), (
            f"{m.string_id()} should be invariant to {prop} (applied to {side}): "
            f"{base!r} -> {value!r}"
        )


def _breaking_case():
    """Fixed sample + fixed transform for the 'unclaimed invariances really break' test.

    x has axis-aligned variances decaying 1 -> 0.1 and y is x plus a little noise, so every
    measure scores y close to 1.  The transforms are fixed, full-rank and far from the
    claimed families: an ill-conditioned (cond 1000) axis rescaling that reverses which
    directions carry the variance -- the kind of stretch CKA, Procrustes and variance-cut
    SVCCA are designed to notice.
    """
    rng = np.random.default_rng(2024)
    n, p = 100, 8
    x = rng.standard_normal((n, p)) * np.geomspace(1.0, 0.1, p)
    y = x + 0.05 * rng.standard_normal((n, p))
    breaking = {"invertible_linear": lambda a: a @ np.diag(np.geomspace(1e-3, 1.0, a.shape[1])),
                # an offset the size of the data along one axis: every angle from the origin moves
                # (uncentred cosine mkNN, as Huh et al. compute it, does not claim translation)
                "translation": lambda a: a + np.r_[1.0, np.zeros(a.shape[1] - 1)]}
    return x, y, breaking


@pytest.mark.parametrize("m, prop", claimed_params(False))
def test_unclaimed_invariance_breaks(m: Measure, prop: str):
    x, y, breaking = _breaking_case()
    if prop not in breaking:  # pragma: no cover - every unclaimed family needs a witness
        pytest.fail(f"no breaking transform for unclaimed property {prop}; add one")
    transform = breaking[prop]
    base = m.score(t(x), t(y))
    for side, value in (
        ("y", m.score(t(x), t(transform(y)))),
        ("x", m.score(t(transform(x)), t(y))),
    ):
        assert abs(value - base) > CHANGE_MIN, (
            f"{m.string_id()} does not claim {prop}, but a fixed ill-conditioned map on {side} "
            f"barely moves it: {base!r} -> {value!r}; claim it or fix the measure"
        )


# --------------------------------------------------------------------------- basic properties


@pytest.mark.parametrize("m", measure_params())
@PROPERTY_SETTINGS
@given(seed=seeds, n=ns, p=widths, q=widths)
def test_self_similarity_is_one(m: Measure, seed: int, n: int, p: int, q: int):
    x, _, _ = make_pair(seed, n, p, q)
    value = m.score(t(x), t(x))
    assert math.isclose(value, 1.0, rel_tol=0, abs_tol=1e-6), (
        f"{m.string_id()} should score a representation against itself as 1, got {value!r}"
    )


@pytest.mark.parametrize("m", [p for p in measure_params() if p.values[0].symmetric])
@PROPERTY_SETTINGS
@given(seed=seeds, n=ns, p=widths, q=widths)
def test_symmetry(m: Measure, seed: int, n: int, p: int, q: int):
    x, y, _ = make_pair(seed, n, p, q)
    forward, backward = m.score(t(x), t(y)), m.score(t(y), t(x))
    assert math.isclose(forward, backward, **INVARIANCE_TOL), (
        f"{m.string_id()} should be symmetric: {forward!r} vs {backward!r}"
    )


@pytest.mark.parametrize("m", measure_params())
@PROPERTY_SETTINGS
@given(seed=seeds, n=ns, p=widths, q=widths)
def test_range_and_independent_below_rotated(m: Measure, seed: int, n: int, p: int, q: int):
    x, y, rng = make_pair(seed, n, p, q)
    independent = rng.standard_normal((n, q))
    related = m.score(t(x), t(y))
    unrelated = m.score(t(x), t(independent))
    rotated = m.score(t(x), t(_orthogonal(rng, x)))
    for label, value in (("related", related), ("independent", unrelated), ("rotated", rotated)):
        assert 0.0 <= value <= 1.0, f"{m.string_id()} should score in [0, 1]; {label} gave {value!r}"
    assert unrelated < rotated - 0.2, (
        f"{m.string_id()} should score independent data clearly below a rotated copy: "
        f"independent {unrelated!r} vs rotated {rotated!r}"
    )


# --------------------------------------------------------------------------- textbook cross-checks
# Written from the formulas in the papers, in numpy, sharing no code with the implementation.


def _center(a):
    return a - a.mean(axis=0)


def ref_hsic_biased(k, l):
    """HSIC = tr(K H L H) / (n-1)^2 (Gretton et al. 2005; Kornblith et al. 2019)."""
    n = k.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    return np.trace(k @ h @ l @ h) / (n - 1) ** 2


def ref_hsic_unbiased(k, l):
    """Song et al. (2012), eq. (5), with zero-diagonal Gram matrices."""
    n = k.shape[0]
    k, l = k.copy(), l.copy()
    np.fill_diagonal(k, 0.0)
    np.fill_diagonal(l, 0.0)
    one = np.ones(n)
    return (
        np.trace(k @ l)
        + (one @ k @ one) * (one @ l @ one) / ((n - 1) * (n - 2))
        - 2.0 / (n - 2) * (one @ k @ l @ one)
    ) / (n * (n - 3))


def ref_linear_cka(x, y, debiased):
    hsic = ref_hsic_unbiased if debiased else ref_hsic_biased
    k, l = x @ x.T, y @ y.T  # Gram matrices of the raw inputs: the estimators centre themselves
    value = hsic(k, l) / math.sqrt(hsic(k, k) * hsic(l, l))
    return max(0.0, value)  # library convention: debiased estimate clamped at 0


def ref_procrustes(x, y):
    """1 - d^2/2 with d the Procrustes distance, via the explicit optimal rotation."""
    x, y = _center(x), _center(y)
    x, y = x / np.linalg.norm(x), y / np.linalg.norm(y)
    width = max(x.shape[1], y.shape[1])  # zero-pad the narrower one
    x = np.pad(x, ((0, 0), (0, width - x.shape[1])))
    y = np.pad(y, ((0, 0), (0, width - y.shape[1])))
    u, _, vt = np.linalg.svd(x.T @ y)
    rotation = u @ vt  # argmin_R ||x R - y||_F over orthogonal R (Schoenemann 1966)
    d2 = np.linalg.norm(x @ rotation - y) ** 2
    return 1.0 - d2 / 2.0


def ref_svcca(x, y, keep, max_share=1.0):
    """Raghu et al. (2017): SVD-reduce to `keep` of the variance (at most max_share * n
    directions), then mean CCA correlation."""

    def reduce(a):
        a = _center(a)
        _, s, vt = np.linalg.svd(a, full_matrices=False)
        explained = np.cumsum(s**2) / np.sum(s**2)
        k = int(np.searchsorted(explained, keep - 1e-12)) + 1
        k = min(k, np.linalg.matrix_rank(a), len(a) if max_share >= 1.0 else int(max_share * len(a)))
        return a @ vt[:k].T  # projection onto the top-k singular directions

    qx, _ = np.linalg.qr(reduce(x))
    qy, _ = np.linalg.qr(reduce(y))
    correlations = np.linalg.svd(qx.T @ qy, compute_uv=False)  # cosines of principal angles
    return float(np.clip(correlations, 0.0, 1.0).mean())


def ref_mknn(x, y, k, metric):
    """Huh et al. (2024): mean share of the k nearest neighbours two representations have in
    common, with scikit-learn's neighbour search (cosine: 1 - angle cosine; l2: Euclidean)."""
    def neighbours(a):
        search = NearestNeighbors(n_neighbors=k, metric="cosine" if metric == "cosine" else "euclidean")
        return search.fit(a).kneighbors(return_distance=False)  # the query points themselves excluded
    return float(np.mean([len(set(a) & set(b)) for a, b in zip(neighbours(x), neighbours(y))]) / k)


def reference(m: Measure, x: np.ndarray, y: np.ndarray) -> float:
    if isinstance(m, MutualKNN):
        return ref_mknn(x, y, m.k, m.metric)
    if isinstance(m, LinearCKA):
        return ref_linear_cka(x, y, m.debiased)
    if isinstance(m, Procrustes):
        return ref_procrustes(x, y)
    if isinstance(m, SVCCA):
        return ref_svcca(x, y, m.keep, m.max_share)
    raise AssertionError(f"no textbook reference for {m.string_id()}; add one")  # pragma: no cover


@pytest.mark.parametrize("m", measure_params())
@PROPERTY_SETTINGS
@given(seed=seeds, n=ns, p=widths, q=widths, related=st.booleans())
def test_matches_textbook_reference(m: Measure, seed: int, n: int, p: int, q: int, related: bool):
    x, y, rng = make_pair(seed, n, p, q)
    if not related:
        y = rng.standard_normal((n, q))
    expected = reference(m, x, y)
    value = m.score(t(x), t(y))
    assert abs(value - expected) <= REFERENCE_TOL, (
        f"{m.string_id()} should match its textbook definition: {value!r} vs {expected!r}"
    )


# --------------------------------------------------------------------------- inputs and edge cases


def _degenerate_cases():
    rng = np.random.default_rng(7)
    n = 50
    y = rng.standard_normal((n, 4))
    constant = np.tile(rng.standard_normal(5), (n, 1))  # every row identical
    return {
        "x_constant": (constant, y, 0.0),
        "both_constant": (constant, np.full((n, 3), 2.5), 0.0),
        "x_zero": (np.zeros((n, 5)), y, 0.0),
        "rotated_constant": (constant @ random_orthogonal(rng, 5), y, 0.0),
        "some_constant_columns": (np.c_[y[:, :2] + rng.standard_normal((n, 2)), np.full((n, 2), 1e6)], y, None),
        "rank_one": (np.outer(rng.standard_normal(n), np.ones(4)), y, None),
        # n = 4 with an additive linear kernel: unbiased self-HSIC is exactly zero
        "additive_kernel_n4": (np.array([[1.0], [1.0], [1.0], [-3.0]]), rng.standard_normal((4, 2)), None),
    }


@pytest.mark.parametrize("case", list(_degenerate_cases()))
@pytest.mark.parametrize("m", measure_params())
def test_degenerate_inputs_give_finite_scores(m: Measure, case: str):
    x, y, expected = _degenerate_cases()[case]
    if isinstance(m, MutualKNN) and len(x) <= m.k:  # every other sample a neighbour: 1 by construction
        with pytest.raises(ValueError, match="more than k"):
            m.score(t(x), t(y))
        return
    for a, b in ((x, y), (y, x)):
        value = m.score(t(a), t(b))
        assert math.isfinite(value) and 0.0 <= value <= 1.0, (
            f"{m.string_id()} should give a finite score in [0, 1] for {case}, got {value!r}"
        )
        if expected is not None:
            assert value == expected, f"{m.string_id()} should score {case} as {expected}, got {value!r}"


def test_additive_kernel_has_no_debiased_signal():
    x, y, _ = _degenerate_cases()["additive_kernel_n4"]
    assert LinearCKA(debiased=True).score(t(x), t(y)) == 0.0


@pytest.mark.parametrize("m", [p for p in measure_params() if "translation" in p.values[0].invariances])
def test_constant_columns_are_ignored(m: Measure):
    """Constant features are zero features translated: a measure that claims translation ignores them."""
    x, y, _ = make_pair(11, 60, 5, 4)
    padded = np.c_[x, np.full((60, 3), 7.0)]
    assert math.isclose(m.score(t(padded), t(y)), m.score(t(x), t(y)), **INVARIANCE_TOL), (
        f"{m.string_id()} should ignore constant features"
    )


@pytest.mark.parametrize("m", measure_params())
def test_zero_padding_is_invisible(m: Measure):
    """Procrustes compares p != q by zero-padding; padding must not change any score."""
    x, y, _ = make_pair(12, 60, 5, 3)
    padded_y = np.c_[y, np.zeros((60, 2))]
    assert math.isclose(m.score(t(x), t(padded_y)), m.score(t(x), t(y)), **INVARIANCE_TOL), (
        f"{m.string_id()} should be unchanged by zero-padding features"
    )


@pytest.mark.parametrize("m", measure_params())
@pytest.mark.parametrize("scale", [1e-200, 1e200])
def test_extreme_scales(m: Measure, scale: float):
    x, y, _ = make_pair(13, 60, 5, 4)
    assert math.isclose(m.score(t(x * scale), t(y)), m.score(t(x), t(y)), **INVARIANCE_TOL), (
        f"{m.string_id()} should be invariant to isotropic_scaling even at scale {scale:g}"
    )


@pytest.mark.parametrize("m", measure_params())
def test_input_types_and_shapes(m: Measure):
    x, y, _ = make_pair(14, 48, 12, 6)
    expected = m.score(t(x), t(y))
    images = t(x).reshape(48, 3, 2, 2)  # (n, C, H, W) is flattened per sample
    assert math.isclose(m.score(images, t(y)), expected, **INVARIANCE_TOL)
    assert math.isclose(m.score(x, y), expected, **INVARIANCE_TOL)  # numpy arrays accepted
    as_float32 = m.score(t(x).float(), t(y).float())
    assert math.isclose(as_float32, expected, rel_tol=1e-4, abs_tol=1e-5)
    assert isinstance(expected, float)


@pytest.mark.parametrize("m", measure_params())
def test_bad_inputs_raise(m: Measure):
    x, y, _ = make_pair(15, 40, 4, 4)
    with pytest.raises(ValueError, match="same number of samples"):
        m.score(t(x), t(y[:-1]))
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        m.score(t(bad), t(y))


def test_debiased_cka_needs_four_samples():
    with pytest.raises(ValueError, match="at least 4"):
        LinearCKA(debiased=True).score(torch.randn(3, 2), torch.randn(3, 2))


@pytest.mark.parametrize("keep", [0.0, -0.5, 1.5])
def test_svcca_rejects_bad_keep(keep: float):
    with pytest.raises(ValueError, match="keep"):
        SVCCA(keep=keep)


def test_svcca_claims_invertible_linear_only_without_truncation():
    assert "invertible_linear" in SVCCA(keep=1.0, max_share=1.0).invariances
    assert "invertible_linear" not in SVCCA(keep=0.99).invariances
    assert "invertible_linear" not in SVCCA(keep=1.0).invariances  # the cap may drop directions
    with pytest.raises(ValueError, match="max_share"):
        SVCCA(max_share=0.0)


def test_svcca_caps_directions_so_unrelated_subspaces_do_not_correlate():
    """With as many directions as images, any two inputs correlate perfectly; the cap (a quarter
    of the images per side) keeps unrelated inputs apart and related ones close."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 40, generator=g, dtype=torch.float64)
    unrelated = torch.randn(40, 40, generator=g, dtype=torch.float64)
    uncapped = SVCCA(keep=1.0, max_share=1.0)
    assert uncapped.score(x, unrelated) == pytest.approx(1.0)  # k_x + k_y > n: trivially 1
    capped = SVCCA(keep=1.0)
    assert capped._reduce(x - x.mean(0)).shape[1] == 10
    assert capped.score(x, unrelated) < 0.7 < capped.score(x, x @ torch.randn(40, 40, generator=g, dtype=torch.float64))


# --------------------------------------------------------------------------- ids and registry


def test_string_ids():
    assert LinearCKA().string_id() == "linear_cka(debiased=False)"
    assert LinearCKA(debiased=True).string_id() == "linear_cka(debiased=True)"
    assert Procrustes().string_id() == "procrustes()"
    assert SVCCA().string_id() == "svcca(keep=0.99,max_share=0.25)"
    assert MutualKNN().string_id() == "mknn(k=10,metric=cosine)"
    ids = [m.string_id() for m in MEASURE_TABLE]
    assert len(set(ids)) == len(ids), f"table ids must be unique: {ids}"


def test_registry_lookup_and_create():
    assert MEASURES.get("mknn") is MutualKNN
    assert MEASURES.get("linear_cka") is LinearCKA
    assert MEASURES.get("procrustes") is Procrustes
    made = MEASURES.create("svcca", keep=0.9)
    assert made == SVCCA(keep=0.9) and made.keep == 0.9
    assert {"linear_cka", "procrustes", "svcca"} <= set(MEASURES.names())
    assert MEASURES.group == "stitchtest.measures"


def test_registry_unknown_name_lists_known():
    with pytest.raises(RegistryError) as info:
        MEASURES.get("no_such_measure")
    message = str(info.value)
    for known in ("linear_cka", "procrustes", "svcca"):
        assert known in message, f"error should list {known!r}: {message}"


@pytest.mark.parametrize("m", MEASURE_TABLE, ids=lambda m: m.string_id())
def test_wide_features_match_the_direct_computation(m):
    """Feature maps flattened to more features than samples (the usual case at a cut)."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(30, 80, generator=g, dtype=torch.float64)
    y = x[:, :50] @ torch.randn(50, 70, generator=g, dtype=torch.float64) + 0.1 * torch.randn(30, 70, generator=g, dtype=torch.float64)
    if isinstance(m, Procrustes):
        xc, yc = ((v - v.mean(0)) / (v - v.mean(0)).norm() for v in (x, y))
        assert m.score(x, y) == pytest.approx(torch.linalg.svdvals(xc.T @ yc).sum().item(), rel=1e-9)
    s, unrelated = m.score(x, y), m.score(x, torch.randn(30, 70, generator=g, dtype=torch.float64))
    if isinstance(m, SVCCA) and m.keep == 1.0:
        # known: with every direction kept and features >= samples, CCA finds perfect
        # correlations between any two inputs; SVCCA's variance cut (keep < 1) is what helps
        assert s == pytest.approx(1.0) and unrelated == pytest.approx(1.0)
    else:
        assert 0.0 <= s <= 1.0 and s > unrelated, f"{m.string_id()} should rank related above unrelated"


@pytest.mark.parametrize("n, p, q", [(40, 300, 200), (300, 20, 30), (50, 50, 50)])
def test_biased_hsics_in_sample_space_equal_feature_space(n, p, q):
    """Linear CKA picks Gram matrices when features outnumber samples; both routes must agree."""
    from stitchtest.measures import _biased_hsics, _hsic_biased

    gen = torch.Generator().manual_seed(n + p + q)
    x = torch.randn(n, p, generator=gen, dtype=torch.float64)
    y = x[:, :min(p, q)] @ torch.randn(min(p, q), q, generator=gen, dtype=torch.float64) + torch.randn(n, q, generator=gen, dtype=torch.float64)
    x, y = x - x.mean(0), y - y.mean(0)
    expected = (_hsic_biased(x, y), _hsic_biased(x, x), _hsic_biased(y, y))
    for got, want in zip(_biased_hsics(x, y), expected):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=0)


@pytest.mark.parametrize("measure", [Procrustes(), SVCCA(), SVCCA(keep=1.0)], ids=lambda m: m.string_id())
def test_wide_inputs_score_as_with_a_full_svd(measure, monkeypatch):
    """With more features than samples, Procrustes and SVCCA take the spectrum from the Gram
    matrix; the score must be what the plain SVD gives, rank-deficient input included."""
    import stitchtest.measures.core as measures

    gen = torch.Generator().manual_seed(7)
    base = torch.randn(60, 12, generator=gen, dtype=torch.float64)  # rank 12 in 200 features
    x = base @ torch.randn(12, 200, generator=gen, dtype=torch.float64)
    y = x[:, :150] @ torch.randn(150, 150, generator=gen, dtype=torch.float64) + 0.1 * torch.randn(60, 150, generator=gen, dtype=torch.float64)
    fast = measure.score(x, y)

    def svd_route(a):
        u, s, _ = torch.linalg.svd(a, full_matrices=False)
        return u, s, max(a.shape) * torch.finfo(a.dtype).eps

    monkeypatch.setattr(measures, "_left_singular", svd_route)
    assert fast == pytest.approx(measure.score(x, y), abs=1e-9), f"{measure.string_id()}: Gram route differs from SVD"


# --------------------------------------------------------------------------- feature maps, functions, check-measure


def test_vectors_choice_is_part_of_the_id_only_when_not_the_default():
    assert LinearCKA(vectors="flatten") == LinearCKA() and LinearCKA().string_id() == "linear_cka(debiased=False)"
    assert LinearCKA(vectors="mean").string_id() == "linear_cka(debiased=False,vectors=mean)"
    assert Procrustes(vectors="positions").string_id() == "procrustes(vectors=positions)"
    assert SVCCA(vectors="mean").string_id() == "svcca(keep=0.99,max_share=0.25,vectors=mean)"
    with pytest.raises(ValueError, match="vectors must be one of"):
        LinearCKA(vectors="pool")


@pytest.mark.parametrize("shape, features_axis", [((30, 5, 4, 4), 1), ((30, 6, 5), -1)], ids=["conv", "tokens"])
def test_vectors_turn_maps_into_the_chosen_vectors(shape, features_axis):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(*shape, generator=g), torch.randn(*shape, generator=g)
    m = LinearCKA()
    assert m.score(x, y) == m.score(x.reshape(30, -1), y.reshape(30, -1))  # the default: unchanged
    pooled = (lambda a: a.mean(dim=(2, 3))) if len(shape) == 4 else (lambda a: a.mean(dim=1))
    assert math.isclose(LinearCKA(vectors="mean").score(x, y), m.score(pooled(x), pooled(y)), rel_tol=1e-12)
    rows = (lambda a: a.movedim(1, -1).reshape(-1, shape[1])) if len(shape) == 4 else (lambda a: a.reshape(-1, shape[-1]))
    assert math.isclose(LinearCKA(vectors="positions").score(x, y), m.score(rows(x), rows(y)), rel_tol=1e-12)
    fewer_positions = y[:, :2] if len(shape) == 3 else y[..., :2]
    with pytest.raises(ValueError, match="positions"):
        LinearCKA(vectors="positions").score(x, fewer_positions)


def rbf_like(x, y):
    """A user's plain function measure (here cosine similarity of the Gram matrices)."""
    k, l = x @ x.T, y @ y.T
    return float((k * l).sum() / (k.norm() * l.norm()))


def test_a_plain_function_is_a_measure_with_no_claims():
    from stitchtest.engine import methods
    from stitchtest.measures import FunctionMeasure

    method = methods.wrap(rbf_like)
    assert method.kind == "measure" and method.name == "rbf_like" and method.string_id() == "rbf_like()"
    assert method.measure.invariances == frozenset() and not method.measure.symmetric
    x = torch.randn(20, 4, dtype=torch.float64)
    assert method.measure.score(x, x) == pytest.approx(1.0)
    assert methods.get("test_measures:rbf_like").string_id() == "rbf_like()"  # --methods module:function
    assert FunctionMeasure(rbf_like, vectors="mean").string_id() == "rbf_like(vectors=mean)"
    MEASURES.register(rbf_like, name="rbf_like_registered")
    try:
        assert methods.get("rbf_like_registered").measure == FunctionMeasure(rbf_like)
    finally:
        MEASURES._classes.pop("rbf_like_registered")
        MEASURES._origins.pop("rbf_like_registered")


def test_check_agrees_with_the_claims_of_every_table_measure():
    from stitchtest.measures.invariance import check

    for m in MEASURE_TABLE:
        findings = {f.prop: f for f in check(m, trials=3)}
        for prop in INVARIANCES:
            if prop in m.invariances:
                assert findings[prop].holds, (m.string_id(), prop, findings[prop])
        assert findings["self_similarity_one"].holds and findings["symmetric"].holds


def test_check_measure_command_prints_which_claims_hold(capsys):
    from stitchtest.cli import main

    assert main(["check-measure", "test_measures:rbf_like", "--trials", "3"]) == 0
    out = capsys.readouterr().out
    assert "rbf_like()" in out and "holds (not claimed: could be)" in out and "invertible_linear" in out
    assert main(["check-measure", "test_measures:Liar", "--trials", "2"]) == 1
    assert "BREAKS (claimed!)" in capsys.readouterr().out
    assert main(["check-measure", "tlm"]) == 2


class Liar(LinearCKA):
    """Claims invertible-linear invariance, which linear CKA does not have."""

    invariances = frozenset(INVARIANCES)


@pytest.mark.parametrize("bad", [dict(k=0), dict(k=2.5), dict(k=True), dict(metric="manhattan")])
def test_mknn_rejects_bad_configuration(bad):
    with pytest.raises(ValueError, match="mknn"):
        MutualKNN(**bad)


def test_mknn_claims_translation_only_with_l2():
    assert "translation" not in MutualKNN().invariances
    assert "translation" in MutualKNN(metric="l2").invariances
    assert "invertible_linear" not in MutualKNN(metric="l2").invariances


def test_mknn_chance_level_is_k_over_n():
    """Two independent representations share about k / (n - 1) of each sample's neighbours."""
    g = torch.Generator().manual_seed(5)
    n = 400
    scores = [MutualKNN().score(torch.randn(n, 8, generator=g, dtype=torch.float64),
                                torch.randn(n, 8, generator=g, dtype=torch.float64)) for _ in range(5)]
    assert abs(np.mean(scores) - 10 / (n - 1)) < 0.01, scores


def test_mknn_ties_are_deterministic():
    """Duplicated samples tie exactly; ties go to the lower index, so equal inputs still score 1."""
    x = torch.arange(30, dtype=torch.float64).reshape(15, 2).repeat(2, 1)
    assert MutualKNN(k=1).score(x, x) == 1.0  # each sample's nearest is its duplicate
    assert MutualKNN(k=3).score(x, x) == 1.0


@pytest.mark.parametrize("m", measure_params())
def test_check_measure_confirms_exactly_the_claims(m: Measure):
    """``stitchtest check-measure`` (invariance.check) finds every claim holding and every family
    not claimed breaking, for each built-in configuration: both directions of the claims."""
    from stitchtest.measures import invariance

    wrong = [f"{f.prop}: {f.verdict} (worst change {f.worst:.3g})" for f in invariance.check(m, trials=4)
             if f.claimed is not None and f.holds != f.claimed]
    assert not wrong, f"{m.string_id()}: {wrong}"
