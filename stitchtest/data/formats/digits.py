"""``digits``: scikit-learn's bundled 8x8 digits. Needs no files, so the suite always runs."""
from __future__ import annotations

import numpy as np

from ..sampling import carve
from .base import FORMATS, DataFormat


@FORMATS.register
class Digits(DataFormat):
    name = "digits"
    size = 16  # upsampled 8 -> 16 so that a network's cut points halve cleanly
    classes = 10
    by_name = True
    priority = 0

    def read(self, spec):
        """scikit-learn's 1,797 digits (values 0..16), split 1,400 train / 397 test."""
        from sklearn.datasets import load_digits

        bunch = load_digits()
        x = bunch.images.astype(np.uint8)[:, None]  # (1797, 1, 8, 8), integer values 0..16
        y = bunch.target.astype(np.int64)
        return (*carve(x, y, n_test=397, seed=spec.split_seed), 16.0, self.classes)
