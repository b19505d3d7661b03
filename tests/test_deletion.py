"""Principal-component deletion direction (stitchtest.instruments.deletion), against Ding et al.'s code and the testbed's edit."""
import numpy as np
import pytest
import torch

from stitchtest.instruments.deletion import delete_components
from stitchtest.instruments.synthetic import PCDeleted, PCKept

VARIANCES = np.array([100.0, 25.0, 4.0, 1.0, 0.25, 0.04])


def data(n=2000, seed=0):
    """Samples whose principal variances are VARIANCES, in a random orthogonal basis, plus a mean."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    return rng.normal(size=(n, 6)) * np.sqrt(VARIANCES) @ q.T + 3.0


def total_variance(x):
    return np.var(x, axis=0, ddof=0).sum()


def test_lowest_deletion_keeps_the_variance_and_highest_removes_it():
    x = data()
    v = total_variance(x)
    low = delete_components(x, 2, "lowest")
    high = delete_components(x, 2, "highest")
    # the two lowest directions hold 0.29 of 130.3: almost everything stays
    assert total_variance(low) / v == pytest.approx(VARIANCES[:4].sum() / VARIANCES.sum(), abs=0.01)
    assert total_variance(low) / v > 0.99
    # the two highest hold 125: almost everything goes
    assert total_variance(high) / v == pytest.approx(VARIANCES[2:].sum() / VARIANCES.sum(), abs=0.01)
    assert total_variance(high) / v < 0.05
    np.testing.assert_allclose(low.mean(axis=0), x.mean(axis=0))  # the mean is kept either way
    np.testing.assert_allclose(high.mean(axis=0), x.mean(axis=0))
    assert delete_components(x, 0) == pytest.approx(x)


def test_the_two_directions_split_the_representation():
    """Deleting the lowest r - k keeps exactly what deleting the highest k removes."""
    x = data(300, seed=1)
    for k in range(7):
        kept_top = delete_components(x, 6 - k, "lowest")
        without_top = delete_components(x, k, "highest")
        np.testing.assert_allclose(kept_top + without_top, x + x.mean(axis=0), atol=1e-9)


def test_lowest_is_ding_et_al_s_deletion():
    """js-d/sim_metric (commit 42953fbbf58e70e63c488efbae87cff5df317b6a),
    experiments/pca_deletion/compute_dists.py: features x samples, centred per feature, then
    ``u[:, :dims_kept].T @ rep2``. Same samples' geometry (Gram matrix) up to their rescaling."""
    x = data(200, seed=2)
    dims_kept = 3
    rep2 = x.T
    rep2 = rep2 - rep2.mean(axis=1, keepdims=True)
    u, s, vh = np.linalg.svd(rep2, full_matrices=False)
    deleted_rep = u[:, :dims_kept].T @ rep2
    ours = delete_components(x, 6 - dims_kept, "lowest")
    centred = ours - ours.mean(axis=0)
    np.testing.assert_allclose(centred @ centred.T, deleted_rep.T @ deleted_rep, atol=1e-8)


def test_highest_is_the_specificity_yardsticks_edit():
    """PCDeleted (the specificity check's yardstick) deletes the top components: the direction Ding et al. did not test."""
    x = data(400, seed=3)
    for k in (1, 2, 4):
        edited = PCDeleted(k).edit(torch.tensor(x), torch.tensor(x)).numpy()
        np.testing.assert_allclose(edited, delete_components(x, k, "highest"), atol=1e-9)
        assert not np.allclose(edited, delete_components(x, k, "lowest"))


def test_a_basis_from_other_samples_and_bad_arguments():
    both = data(600, seed=4)  # one distribution: the first 500 samples give the basis
    train, test = both[:500], both[500:]
    edited = delete_components(test, 2, "lowest", basis=train)
    assert edited.shape == test.shape
    assert total_variance(edited) / total_variance(test) > 0.99
    with pytest.raises(ValueError, match="lowest"):
        delete_components(test, 1, "top")
    with pytest.raises(ValueError, match="k must be"):
        delete_components(test, 7)
    with pytest.raises(ValueError, match="basis"):
        delete_components(test, 1, basis=train[:, :3])


def test_the_testbeds_ding_edit_deletes_the_lowest_components():
    """PCKept(kept=m), the interventions testbed's sensitivity edit since issue #29, is
    delete_components(which="lowest") of all but the top m directions of the training activations."""
    train, test = data(seed=1), data(n=300, seed=2)
    for kept in (1, 3, 5):
        edited = PCKept(kept).edit(torch.tensor(test), torch.tensor(train)).numpy()
        np.testing.assert_allclose(edited, delete_components(test, 6 - kept, "lowest", basis=train), atol=1e-9)
    # what it keeps is nearly all the variance: the lowest directions hold little of it
    t = torch.tensor(train)
    assert total_variance(PCKept(4).edit(t, t).numpy()) / total_variance(train) > 0.99
    np.testing.assert_array_equal(PCKept(None).edit(torch.tensor(test), torch.tensor(train)).numpy(), test)
    with pytest.raises(ValueError):
        PCKept(0)


def test_bases_survive_a_grid_point_over_nine_seed_pairs(monkeypatch):
    """Each grid point of the interventions testbed visits every (seed, cut) basis in turn: with 9 seed
    pairs, 2 cuts and 2 senders that is 36 bases, and a cache smaller than that recomputes an SVD in
    every cell (it did: 5x the testbed's time). The second sweep must compute none."""
    from stitchtest.instruments import synthetic

    calls = []
    svd = torch.linalg.svd
    monkeypatch.setattr(synthetic.torch.linalg, "svd", lambda *a, **k: calls.append(1) or svd(*a, **k))
    monkeypatch.setattr(synthetic, "_PRINCIPAL", synthetic.OrderedDict())
    g = torch.Generator().manual_seed(0)
    trains = [torch.randn(300, 8, 4, 4, generator=g) for _ in range(36)]
    for sweep in range(2):
        for i, train in enumerate(trains):
            PCKept(4).edit(train[:10], train, key=("model", i))
        assert len(calls) == 36, f"sweep {sweep}: {len(calls)} SVDs for 36 bases"
    monkeypatch.setattr(synthetic, "PRINCIPAL_BYTES", 1)  # a budget that holds one basis: recomputed
    for i in (0, 1, 0):
        PCKept(4).edit(trains[i][:10], trains[i], key=("other", i))
    assert len(calls) == 39
