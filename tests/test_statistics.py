"""The inference behind verdicts (stitchtest.audit.statistics), on constructed data."""
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst

from stitchtest.audit import statistics as st


def _decide(d, family=1, testability=None, seed=0):
    """The whole chain on per-pair differences in the claim's direction: the claim's two one-sided
    p-values adjusted (Holm) with those of ``family - 1`` other claims that show nothing (p = 0.5)."""
    test = st.sign_flip_test(d)
    effect, lo, hi = st.effect_interval(d, seed=seed)
    p_for = st.adjust([test.p_greater] + [0.5] * (family - 1))[0]
    p_against = st.adjust([test.p_less] + [0.5] * (family - 1))[0]
    return st.decide(effect, (lo, hi), p_for, p_against, test.n, family=family, testability=testability)


# --------------------------------------------------------------------------- the exact test


def test_sign_flip_p_is_the_share_of_all_flips_at_least_as_large():
    d = np.array([0.3, 0.1, -0.05, 0.2, 0.02])
    flips = [np.mean(d * np.array(s)) for s in itertools.product((1, -1), repeat=d.size)]
    observed = d.mean()
    test = st.sign_flip_test(d)
    assert test.exact and test.n == 5
    assert test.p_greater == pytest.approx(np.mean([f >= observed - 1e-12 for f in flips]))
    assert test.p_less == pytest.approx(np.mean([f <= observed + 1e-12 for f in flips]))
    # by hand (sum 0.57): the observed signs, -0.05 made positive (0.67), and that with 0.02 made
    # negative (0.63) reach it; every other flip falls below
    assert test.p_greater == pytest.approx(3 / 32)


def test_three_agreeing_pairs_cannot_reach_five_percent():
    """"3/3 seed pairs agree" is p = 0.125 at best, whatever the sizes."""
    assert st.sign_flip_test([0.5, 0.4, 0.6]).p_greater == pytest.approx(0.125)
    assert st.smallest_p(3) == 0.125
    for n in range(1, 12):
        p = st.sign_flip_test(np.linspace(0.1, 0.2, n)).p_greater
        assert p == pytest.approx(st.smallest_p(n))
        assert (p < 0.05) == (n >= st.pairs_needed(0.05))
    assert st.pairs_needed(0.05) == 5
    assert st.pairs_needed(0.05, family=36) == 10 and 2.0 ** -10 < 0.05 / 36 < 2.0 ** -9
    assert st.pairs_needed(0.05, family=72) == 11


def test_sign_flip_drops_nan_and_samples_beyond_sixteen_pairs():
    assert st.sign_flip_test([0.1, math.nan, 0.2]).n == 2
    assert math.isnan(st.sign_flip_test([math.nan]).p_greater)
    one = st.sign_flip_test([0.3])  # flips: 0.3 and -0.3
    assert (one.p_greater, one.p_less) == (0.5, 1.0)
    big = st.sign_flip_test(np.full(20, 0.1))
    assert not big.exact and 0 < big.p_greater < 1e-3  # sampled: never 0


# --------------------------------------------------------------------------- verdicts


def test_clear_effect_over_enough_pairs_is_reproduced():
    d = 0.05 + np.random.default_rng(1).normal(0, 0.01, 8)
    v = _decide(d)
    assert v.verdict == "reproduced"
    assert v.p_adjusted == pytest.approx(2.0 ** -8)
    assert 0 < v.interval[0] < v.effect < v.interval[1]
    assert "8 independent seed pairs" in v.reason


def test_clear_opposite_effect_is_refuted():
    d = -0.05 + np.random.default_rng(2).normal(0, 0.01, 8)
    v = _decide(d)
    assert v.verdict == "refuted"
    assert v.interval[1] < 0 and v.p_adjusted == pytest.approx(2.0 ** -8)


def test_noise_is_undecided():
    d = np.random.default_rng(3).normal(0, 0.02, 10)
    v = _decide(d)
    assert v.verdict == "undecided"
    assert "adjusted p" in v.reason


def test_too_few_pairs_is_undecided_and_says_how_many_would_decide():
    v = _decide([0.05, 0.06, 0.04])  # a clear effect, but 3 pairs
    assert v.verdict == "undecided"
    assert v.pairs_needed == 5
    assert "0.125" in v.reason and "5 independent pairs could decide it" in v.reason
    # the same effect in a family of 36 claims needs 10 pairs; 8 do not do it
    v = _decide(0.05 + np.zeros(8), family=36)
    assert v.verdict == "undecided" and v.pairs_needed == 10


def test_adjustment_over_the_run_can_undo_a_decision():
    d = 0.05 + np.random.default_rng(4).normal(0, 0.01, 6)  # p = 1/64 alone
    test = st.sign_flip_test(d)
    assert _decide(d).verdict == "reproduced"
    p_for = st.adjust([test.p_greater] + [0.5] * 9)[0]  # 10 claims: Holm multiplies the best by 10
    effect, lo, hi = st.effect_interval(d)
    assert st.decide(effect, (lo, hi), p_for, 1.0, test.n, family=10).verdict == "undecided"


def test_saturated_or_chance_cells_are_not_testable():
    at_ceiling = st.testable({"diagonal": 0.99, "above diagonal": 0.995}, n=397, chance=0.1)
    assert not at_ceiling.ok and "above diagonal 0.995" in at_ceiling.reason and "ceiling" in at_ceiling.reason
    at_chance = st.testable({"in-group": 0.12}, n=397, chance=0.1)
    assert not at_chance.ok and "chance" in at_chance.reason
    assert st.testable({"diagonal": 0.8, "above diagonal": 0.3}, n=397, chance=0.1).ok
    # the receiver's own accuracy as the ceiling: 0.966 is within 2 SE (0.018) of 0.98, not of 0.99
    assert not st.testable({"above diagonal": 0.966}, n=397, chance=0.1, ceiling=0.98).ok
    assert st.testable({"above diagonal": 0.966}, n=397, chance=0.1, ceiling=0.99).ok
    assert not st.testable({"x": math.nan}, n=397, chance=0.1).ok
    # a clear effect on untestable cells is still not decided
    v = _decide(0.05 + np.zeros(8), testability=at_ceiling)
    assert v.verdict == "not testable" and v.reason.startswith("not testable at this scale: ")


def test_binomial_se_formula():
    assert st.binomial_se(0.97, 397) == pytest.approx(math.sqrt(0.97 * 0.03 / 397))
    assert st.binomial_se(0.97, 397) == pytest.approx(0.0086, abs=5e-5)
    assert st.binomial_se(1.0, 397) == 0.0


# --------------------------------------------------------------------------- the interval


def test_interval_over_pairs_is_deterministic_and_covers_the_mean():
    d = np.array([0.1, 0.2, 0.3, 0.05, 0.12])
    a, b = st.effect_interval(d, seed=7), st.effect_interval(d, seed=7)
    assert a == b
    effect, lo, hi = a
    assert effect == pytest.approx(d.mean()) and d.min() <= lo < effect < hi <= d.max()
    assert st.effect_interval(d, seed=8) != a
    assert math.isnan(st.effect_interval([0.1])[1])
    assert st.effect_interval([0.1, 0.1, 0.1]) == (pytest.approx(0.1),) * 3


def test_interval_over_images_counts_the_shared_test_set():
    """Every pair is read on the same images: an image effect common to all pairs is invisible to
    a bootstrap over pairs alone, and the crossed bootstrap counts it."""
    rng = np.random.default_rng(5)
    per_image = rng.choice([-1.0, 0.0, 1.0], size=400, p=[0.1, 0.75, 0.15])  # mean +0.05, shared
    outcomes = per_image[None, :] + rng.normal(0, 0.01, (6, 400))
    effect, lo, hi = st.effect_interval(outcomes, seed=0)
    _, lo1, hi1 = st.effect_interval(outcomes.mean(axis=1), seed=0)
    assert effect == pytest.approx(outcomes.mean())
    assert hi1 - lo1 < 0.02  # pairs alone: nearly no spread
    se_images = per_image.std() / math.sqrt(400)
    assert hi - lo > 3 * se_images  # ~ +-1.96 SE of the image mean
    assert lo < effect < hi
    assert st.effect_interval(outcomes, seed=0) == (effect, lo, hi)


# --------------------------------------------------------------------------- multiplicity


def test_holm_by_hand():
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> running max
    adj = st.holm([0.01, 0.04, 0.03, 0.005, math.nan])
    np.testing.assert_allclose(adj[:4], [0.03, 0.06, 0.06, 0.02])
    assert math.isnan(adj[4])
    np.testing.assert_allclose(st.holm([0.4, 0.3]), [0.6, 0.6])  # 2 x 0.3, then max(0.6, 0.4)
    np.testing.assert_allclose(st.holm([0.9, 0.8]), [1.0, 1.0])
    np.testing.assert_allclose(st.adjust([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])


def test_benjamini_hochberg_by_hand():
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4/1, x4/2, x4/3, x4/4 = 0.02, 0.02, 0.04, 0.04 -> running min from the top
    adj = st.benjamini_hochberg([0.01, 0.04, 0.03, 0.005, math.nan])
    np.testing.assert_allclose(adj[:4], [0.02, 0.04, 0.04, 0.02])
    assert math.isnan(adj[4])
    np.testing.assert_allclose(st.adjust([0.01, 0.04, 0.03, 0.005], "bh"), [0.02, 0.04, 0.04, 0.02])
    with pytest.raises(ValueError, match="holm"):
        st.adjust([0.1], "bonferroni")


# --------------------------------------------------------------------------- AUPRC chance level


@pytest.mark.parametrize("n_pos,n_neg", [(1, 1), (1, 4), (2, 2), (3, 5), (6, 6), (4, 9)])
def test_auprc_chance_closed_form_equals_enumeration(n_pos, n_neg):
    assert st.auprc_chance(n_pos, n_neg) == pytest.approx(st.auprc_chance_enumerated(n_pos, n_neg), rel=1e-12)


def test_auprc_chance_is_not_the_share_of_positives():
    """The reports print 0.5 as chance for 2 + 2 and 6 + 6 pairs; a random ranking gets 0.681 and 0.596."""
    assert round(st.auprc_chance(2, 2), 3) == 0.681
    assert round(st.auprc_chance(6, 6), 3) == 0.596
    assert st.auprc_chance(200, 200) == pytest.approx(0.5, abs=0.01)  # the share only for large groups


@pytest.mark.parametrize("n_pos,n_neg", [(2, 2), (6, 6)])
def test_auprc_chance_against_sklearn_by_simulation(n_pos, n_neg):
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(0)
    labels = np.r_[np.ones(n_pos), np.zeros(n_neg)]
    aps = [average_precision_score(labels, rng.random(labels.size)) for _ in range(3000)]
    se = np.std(aps) / math.sqrt(len(aps))
    assert abs(np.mean(aps) - st.auprc_chance(n_pos, n_neg)) < 4 * se
    assert np.mean(aps) - n_pos / (n_pos + n_neg) > 10 * se


# --------------------------------------------------------------------------- Tarone's family


def _design(*pairs):
    """Each hypothesis's smallest achievable p for claims with these numbers of independent pairs
    (two hypotheses per claim: both directions)."""
    return [st.smallest_p(n) for n in pairs for _ in range(2)]


def test_tarone_leaves_out_hypotheses_that_cannot_reach_the_bar():
    # two claims on 8 pairs, 38 on 3: K = 1..3 have m(K) = 4 > K (2^-8 = 0.0039 <= 0.05 / 3), K = 4 has
    # m = 4 <= 4; the 3-pair hypotheses (0.125) never reach 0.05 / K
    smallest = _design(8, 8, *[3] * 38)
    assert st.tarone_k(smallest) == 4
    assert st.tarone_eligible(smallest).tolist() == [True] * 4 + [False] * 76
    # the 8-pair claims agree on every pair; the 3-pair ones too, as clear as 3 pairs get
    p = [2.0 ** -8, 1.0] * 2 + [0.125, 1.0] * 38
    tarone = st.adjust(p, "tarone", smallest)
    np.testing.assert_allclose(tarone[[0, 2]], 4 * 2.0 ** -8)  # decided: 0.0156 < 0.05
    assert np.isnan(tarone[4:]).all()  # never rejected, whatever the data
    assert st.holm(p)[0] == pytest.approx(80 * 2.0 ** -8) and st.holm(p)[0] > 0.05  # plain Holm: undecided
    with pytest.raises(ValueError, match="smallest"):
        st.adjust(p, "tarone")


def test_tarone_on_the_default_run_design_keeps_nobody_and_says_seven_pairs():
    """The design of the default before #30: 8 claims on 6 independent pairs, 20 on 3, 2 on 2, 10 on 1 (rings). 16
    hypotheses reach 2^-6 = 0.0156 <= 0.05 / 3, more than K for K <= 3; none reaches 0.05 / 4: the
    family is empty. One claim on 7 pairs would be alone in it (K = 4, 2^-7 < 0.05 / 2)."""
    smallest = _design(*[6] * 8, *[3] * 20, *[2] * 2, *[1] * 10)
    assert st.tarone_k(smallest) == 4 and not st.tarone_eligible(smallest).any()
    assert st.tarone_pairs_needed(smallest, (0, 1)) == 7  # a 6-pair claim
    assert st.tarone_pairs_needed(smallest, (16, 17)) == 7  # a 3-pair claim
    assert st.tarone_pairs_needed(smallest, (78, 79)) == 7  # a ring's 1 independent pair
    v = st.decide(0.05, (0.04, 0.06), math.nan, math.nan, 3, family=0, needed=7, tarone=4)
    assert v.verdict == "undecided" and v.pairs_needed == 7
    assert v.reason.endswith("3 pairs cannot reach p <= 0.05/4 = 0.0125 (Tarone's family of 0 hypotheses: the "
                             "claims whose pairs can decide them; smallest p with 3: 0.125); 7 independent pairs "
                             "could decide it")


def test_untested_hypotheses_are_never_in_tarones_family():
    assert st.tarone_eligible([math.nan, st.smallest_p(8)]).tolist() == [False, True]
    assert st.tarone_k([math.nan, math.nan]) == 1
    adj = st.holm_tarone([math.nan, 0.01], [st.smallest_p(12), st.smallest_p(12)])
    assert math.isnan(adj[0]) and adj[1] == pytest.approx(0.01)  # a family of one


def _exact_p_greater(d):
    """Exact one-sided sign-flip p of every row of ``d`` (runs x pairs), by enumerating the flips
    (what sign_flip_test computes one claim at a time, checked above)."""
    n = d.shape[1]
    signs = np.array(list(itertools.product((1, -1), repeat=n)), dtype=float)
    observed = d.mean(axis=1, keepdims=True)
    return ((d @ signs.T) / n >= observed - 1e-12).mean(axis=1)


def test_holm_over_tarones_family_keeps_the_family_wise_error_rate_under_the_null():
    """2000 simulated runs of a mixed design with no effect anywhere: the share of runs with any
    rejection stays within 3 SE of alpha or below, while rejecting at p < alpha unadjusted in the
    same runs errs far more often (so the simulation can tell a procedure that does not hold)."""
    pairs = (9, 9, 8, 7, 6, 5, 3, 3, 2, 1)
    smallest = _design(*pairs)
    assert st.tarone_eligible(smallest).sum() == 6  # K = 7: the 9- and 8-pair claims
    rng = np.random.default_rng(30)
    runs = 2000
    p = np.empty((runs, 2 * len(pairs)))
    for c, n in enumerate(pairs):
        d = rng.normal(0.0, 1.0, (runs, n))
        p[:, 2 * c], p[:, 2 * c + 1] = _exact_p_greater(d), _exact_p_greater(-d)
    any_tarone = np.mean([np.nanmin(st.holm_tarone(row, smallest)) < 0.05 for row in p])
    any_raw = np.mean((p < 0.05).any(axis=1))
    se = math.sqrt(0.05 * 0.95 / runs)
    assert any_tarone <= 0.05 + 3 * se
    assert any_raw > 0.05 + 10 * se


@settings(max_examples=60, deadline=None)
@given(hst.lists(hst.integers(0, 14), min_size=1, max_size=30), hst.data())
def test_tarones_family_depends_on_the_design_not_on_the_data(pairs, data):
    """Any p-values the design allows (each at least 2^-n) give the same family: it is fixed before
    the data, which is why Holm over it keeps the error rate over all hypotheses."""
    smallest = _design(*pairs)
    p = [data.draw(hst.floats(s, 1.0)) for s in smallest]
    adjusted = st.holm_tarone(p, smallest)
    assert (np.isfinite(adjusted) == st.tarone_eligible(smallest)).all()
    assert (adjusted[np.isfinite(adjusted)] >= np.asarray(p)[np.isfinite(adjusted)]).all()
