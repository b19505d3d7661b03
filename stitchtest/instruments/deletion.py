"""Principal-component deletion in either direction (Ding, Denain & Steinhardt, NeurIPS 2021).

Ding et al.'s code (js-d/sim_metric, experiments/pca_deletion/compute_dists.py) keeps the top
``dims_kept`` principal components of a representation, i.e. deletes the *lowest*-variance ones,
and compares the result with other seeds' representations: their point is that CKA barely moves
when low-variance directions that the network's function uses are gone. The interventions testbed's
sensitivity check runs their design (:class:`stitchtest.instruments.synthetic.PCKept`, tested equal to
``which="lowest"`` here); its specificity yardstick still deletes the *top* ``k``
(:class:`~stitchtest.instruments.synthetic.PCDeleted`, equal to ``which="highest"``), an edit every measure
sees. :func:`delete_components` is the numpy reference of both (docs/lab/ding-deletion.md).
"""
from __future__ import annotations

import numpy as np

__all__ = ["delete_components"]


def delete_components(x: np.ndarray, k: int, which: str = "lowest", basis: np.ndarray | None = None) -> np.ndarray:
    """``x`` (samples x features) with ``k`` of its principal components deleted, in feature space.

    The principal directions and the mean ``mu`` come from ``basis`` (default ``x`` itself; e.g.
    the training images' activations, applied to the test images'): the ``r = min(samples,
    features)`` right singular vectors of ``basis - mu``, by decreasing variance.

    * ``which="lowest"`` (Ding et al.'s direction): keep the top ``r - k`` directions,
      ``mu + ((x - mu) V_keep) V_keep^T`` -- their code's ``u[:, :dims_kept].T @ rep``, here in the
      original coordinates and without their rescaling by ``768 / dims_kept`` (a stitch is not
      scale-invariant, the measures they score are);
    * ``which="highest"`` (the specificity yardstick's edit): ``x - ((x - mu) V_k) V_k^T``, exactly
      :meth:`stitchtest.instruments.synthetic.PCDeleted.edit`.

    ``k = 0`` returns ``x`` unchanged (as float64).
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"delete_components needs samples x features, got shape {x.shape}")
    if which not in ("lowest", "highest"):
        raise ValueError(f"which must be 'lowest' or 'highest', got {which!r}")
    b = x if basis is None else np.asarray(basis, dtype=float)
    if b.ndim != 2 or b.shape[1] != x.shape[1]:
        raise ValueError(f"basis must be samples x {x.shape[1]} features, got shape {b.shape}")
    r = min(b.shape)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k <= r:
        raise ValueError(f"k must be a whole number in [0, {r}], got {k!r}")
    if k == 0:
        return x.copy()
    mu = b.mean(axis=0)
    _, _, vt = np.linalg.svd(b - mu, full_matrices=False)  # rows: directions, largest variance first
    if which == "highest":
        v = vt[:k].T
        return x - ((x - mu) @ v) @ v.T
    v = vt[: r - k].T
    return mu + ((x - mu) @ v) @ v.T
