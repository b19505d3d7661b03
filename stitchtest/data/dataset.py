"""A data set in memory (:class:`Dataset`) and :func:`load`, the one way to get one.

A similarity audit is only as trustworthy as its data: two runs that disagree must disagree
because of the method, never because a split, a crop or a normalisation drifted. So whatever
the format, every image ends up as float32 ``(N, C, H, W)`` at the spec's side, standardised with
the *training* set's statistics, with seeded stratified subsets, and read data is vetted
(:mod:`~stitchtest.data.checks`) before anything trains on it.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Tuple, Union

import numpy as np
import torch

from . import formats
from .checks import check_degenerate
from .images import resize
from .sampling import stratified_subset
from .spec import DataSpec


@dataclass(eq=False)  # tensors have no single truth value, so no generated __eq__
class Dataset:
    """Train and test tensors, already normalised with the training set's statistics.

    ``mean``/``std`` are kept so that callers can express raw pixel values (e.g. white,
    ``(1 - mean) / std``) in the normalised space. Objects returned by :func:`load` are
    shared through its cache: derive new ones with :meth:`replace`, never edit in place.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    mean: torch.Tensor
    std: torch.Tensor

    @property
    def in_channels(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.x_train.shape[2])

    def to(self, device: Union[str, torch.device]) -> "Dataset":
        tensors = ("x_train", "y_train", "x_test", "y_test", "mean", "std")
        return self.replace(**{k: getattr(self, k).to(device) for k in tensors})

    def replace(self, **changes) -> "Dataset":
        return dataclasses.replace(self, **changes)


def load(spec: Union[DataSpec, str], device: Union[str, torch.device] = "cpu") -> Dataset:
    """Load ``spec`` onto ``device``, once per process: the data sets fit in memory and many
    tests share them, so re-reading and re-normalising would only cost time."""
    if isinstance(spec, str):
        spec = DataSpec.parse(spec)
    return _load_cached(spec, str(torch.device(device)))


@functools.lru_cache(maxsize=16)
def _load_cached(spec: DataSpec, device: str) -> Dataset:
    if device != "cpu":
        return _load_cached(spec, "cpu").to(device)  # reuse the CPU copy
    (x_train, y_train), (x_test, y_test), peak, classes = read(spec)
    if spec.n_train is not None:
        keep = stratified_subset(y_train, spec.n_train, spec.split_seed, stream=1)
        x_train, y_train = x_train[keep], y_train[keep]
    if spec.n_test is not None:
        keep = stratified_subset(y_test, spec.n_test, spec.split_seed, stream=2)
        x_test, y_test = x_test[keep], y_test[keep]
    x_train = resize(torch.from_numpy(x_train).float() / peak, spec.size)
    x_test = resize(torch.from_numpy(x_test).float() / peak, spec.size)
    # Statistics of the training images only: the test set must not leak into preprocessing.
    mean = x_train.double().mean(dim=(0, 2, 3))
    std = x_train.double().std(dim=(0, 2, 3), unbiased=False).clamp_min(1e-6)

    def scale(x: torch.Tensor) -> torch.Tensor:
        return ((x.double() - mean[:, None, None]) / std[:, None, None]).float()

    return Dataset(
        name=spec.name,
        x_train=scale(x_train).contiguous(),
        y_train=torch.from_numpy(y_train).long(),
        x_test=scale(x_test).contiguous(),
        y_test=torch.from_numpy(y_test).long(),
        num_classes=classes,
        mean=mean.float(),
        std=std.float(),
    )


def read(spec: DataSpec):
    """``spec``'s raw splits, peak and class count, as its format reads them, vetted."""
    (x_train, y_train), (x_test, y_test), peak, classes = formats.get(spec.name).read(spec)
    check_degenerate(spec, x_train, x_test, np.concatenate([y_train, y_test]), classes)
    return (x_train, y_train), (x_test, y_test), peak, classes


def check(spec: DataSpec) -> Tuple[int, Tuple[int, int, int]]:
    """Read and vet ``spec``'s files without keeping them: a :class:`DataError` (or a warning
    on degenerate data) before a run starts, not in every test. Returns the class count and one
    image's shape ``(C, H, W)`` as the models see it (after ``size``), to check a model family on."""
    (x_train, _), _, _, classes = read(spec)
    channels, height, width = x_train.shape[1:]
    return classes, (channels, spec.size or height, spec.size or width)


def num_classes(spec: Union[DataSpec, str]) -> int:
    """How many classes ``spec``'s task has: the format's own, else counted in the data (read once)."""
    spec = DataSpec.parse(spec) if isinstance(spec, str) else spec
    return formats.get(spec.name).classes or load(spec).num_classes
