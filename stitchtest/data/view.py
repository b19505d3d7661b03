"""What a cell's images are (:class:`DataView`): a data set, the task its labels are read as, and
the shortcut cue planted in it. Before this noun, reaching a cell's data meant building a model
spec of the "standard" regime only to load its data; a view says it directly and keys the caches
of everything computed on it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import torch

from ..runtime import ids
from . import tasks
from .cue import with_cue
from .dataset import Dataset, load
from .spec import DataSpec


@dataclass(frozen=True)
class DataView:
    """``data`` relabelled by ``task``, then with the cue (``cue_kind``, drawn by ``cue_seed``) on a
    fraction ``cue_p`` of training and of test images, so the cue marks the *task's* class. (A
    shortcut model's own training data is stamped before relabelling, by the data set's classes:
    :func:`~stitchtest.models.zoo.training_data` keeps that order, which its cached models were
    trained with.) ``cue_conflict``: the stamped *test* images carry the cue of another class than
    their label (:func:`~stitchtest.data.cue.conflict_classes`); training images are as without it."""

    data: DataSpec = DataSpec()
    task: str = "class"
    cue_p: float = 0.0
    cue_kind: str = "position"
    cue_seed: int = 0
    cue_conflict: bool = False

    def __post_init__(self):
        if self.cue_conflict and not self.cue_p:
            raise ValueError("cue_conflict needs a cue (cue_p > 0) to put on the test images")

    def key(self) -> tuple:
        """What the images are made of, for in-memory caches: two views with equal keys see the
        same images (the cue's kind and seed count only where there is a cue, the conflict only where set)."""
        cue = (self.cue_p, self.cue_kind, self.cue_seed) if self.cue_p else (0.0,)
        return (self.data.string_id(), self.task, *cue) + (("conflict",) if self.cue_conflict else ())

    def string_id(self) -> str:
        """``DataView(data=...,task=...)``, with the cue's fields where there is a cue."""
        cue = dict(cue_p=self.cue_p, cue_kind=self.cue_kind, cue_seed=self.cue_seed) if self.cue_p else {}
        if self.cue_conflict:
            cue["cue_conflict"] = True
        return ids.string_id(self, data=self.data.string_id(), task=self.task, **cue)

    def load(self, device: Union[str, torch.device] = "cpu") -> Dataset:
        """The view's train and test images and labels on ``device``."""
        ds = load(self.data, device)
        y_train, k = tasks.relabel(ds.y_train, self.task, ds.num_classes)
        y_test, _ = tasks.relabel(ds.y_test, self.task, ds.num_classes)
        ds = ds.replace(y_train=y_train, y_test=y_test, num_classes=k)
        if self.cue_p:
            ds = with_cue(ds, self.cue_p, self.cue_p, kind=self.cue_kind, seed=self.cue_seed, conflict=self.cue_conflict)
        return ds
