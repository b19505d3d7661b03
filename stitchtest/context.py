"""What methods share while a process computes cells: models, data views and frozen activations.

The expensive things happen once: a trained model (the zoo), and a model's activations at every
cut on a data view (one forward pass, kept in a small in-memory LRU). A method asks the context
for them; it never trains a model or recomputes a frozen prefix itself.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Dict, Optional, Tuple

import torch

from .attacks import robust_accuracy
from .cells import Cell
from .data import Dataset, with_cue
from .models import concat_batches
from .stitching import StitchConfig
from .zoo import ModelSpec, Zoo, training_data


class Context:
    def __init__(self, zoo: Zoo, stitch: StitchConfig = StitchConfig(), robust_eps: Optional[float] = None,
                 robust_steps: int = 10, max_traces: int = 8):
        self.zoo = zoo
        self.stitch = stitch
        self.robust_eps = robust_eps  # None: the receiver spec's eps
        self.robust_steps = robust_steps
        self.max_traces = max_traces
        self._traces: "OrderedDict[tuple, Dict[str, torch.Tensor]]" = OrderedDict()
        self._data: Dict[tuple, Dataset] = {}
        self._robust: Dict[tuple, float] = {}

    @property
    def device(self) -> torch.device:
        return self.zoo.device

    def data(self, cell: Cell) -> Dataset:
        """The receiver's data and task, with the cue at ``cell.cue_p`` on train and test images."""
        key = self._data_key(cell)
        if key not in self._data:
            base = training_data(cell.receiver.replace(regime="standard"), self.device)
            if cell.cue_p:
                kind = cell.receiver.cue_kind if cell.receiver.regime == "shortcut" else cell.sender.cue_kind
                base = with_cue(base, cell.cue_p, cell.cue_p, kind=kind, seed=1000)
            self._data[key] = base
        return self._data[key]

    @staticmethod
    def _data_key(cell: Cell) -> tuple:
        return cell.receiver.data.string_id(), cell.receiver.task, cell.cue_p

    def trace(self, spec: ModelSpec, cell: Cell, split: str, batch_size: int = 500) -> Dict[str, torch.Tensor]:
        """``spec``'s activations at every cut on the cell's data view (``split`` = train or test)."""
        key = (spec.key, self._data_key(cell), split)
        if key in self._traces:
            self._traces.move_to_end(key)
            return self._traces[key]
        ds = self.data(cell)
        x = ds.x_train if split == "train" else ds.x_test
        model = self.zoo.model(spec)
        with torch.no_grad():
            trace = concat_batches(model.trace, x, batch_size)
        self._traces[key] = trace
        while len(self._traces) > self.max_traces:
            self._traces.popitem(last=False)
        return trace

    def robust_accuracy(self, spec: ModelSpec, cell: Cell, eps: float) -> float:
        """``spec``'s own robust accuracy on the cell's test images (the baseline for ``robust_gap``)."""
        key = (spec.key, self._data_key(cell), eps, self.robust_steps)
        if key not in self._robust:
            ds = self.data(cell)
            self._robust[key] = robust_accuracy(self.zoo.model(spec), ds.x_test, ds.y_test, eps=eps,
                                                steps=self.robust_steps)
        return self._robust[key]

    def pair(self, cell: Cell, split: str) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """Sender activations at its cut, and the receiver's full trace, on ``split``."""
        return self.trace(cell.sender, cell, split)[cell.sender_cut], self.trace(cell.receiver, cell, split)

