"""Deterministic stratified selection: which images a split or a subset keeps.

Written here rather than borrowed from scikit-learn so that a split, and every cached result
keyed on it, cannot change with a library upgrade.
"""
from __future__ import annotations

import numpy as np


def stratified_order(y: np.ndarray, seed: int, stream: int) -> np.ndarray:
    """A seeded permutation whose every prefix holds each class in its overall proportion
    (to within one image).

    Each class is shuffled and its members spread evenly over [0, 1); sorting by that position
    interleaves the classes.
    """
    rng = np.random.default_rng([seed, stream])
    position = np.empty(len(y), dtype=np.float64)
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        position[members] = (np.arange(len(members)) + 0.5) / len(members)
    return np.argsort(position, kind="stable")


def stratified_subset(y: np.ndarray, n: int, seed: int, stream: int) -> np.ndarray:
    """Indices (in original order) of at most ``n`` images, stratified by class."""
    return np.sort(stratified_order(y, seed, stream)[:n])


def carve(x: np.ndarray, y: np.ndarray, n_test: int, seed: int):
    """Split one labelled pool into disjoint, stratified train and test parts."""
    order = stratified_order(y, seed, stream=0)
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    return (x[train], y[train]), (x[test], y[test])
