"""A researcher's own two models as a :class:`~stitchtest.engine.context.CellContext`.

Why: :func:`stitchtest.compare` and the testbeds compute cells with the very same methods
(:meth:`~stitchtest.engine.methods.Method.evaluate_many`, grouped by
:func:`~stitchtest.engine.methods.each_group`), so grouping, threads, fitting, readouts and the
handling of NaN and errors are written once. A method asks its context for data, models and
activations; the testbeds' :class:`~stitchtest.engine.context.Context` answers from the zoo, and
:class:`OwnContext` answers from two user modules wrapped as
:class:`~stitchtest.stitching.layers.LayerModel` objects, on the user's own train and test samples.

A cell's sender and receiver are :class:`OwnModel` handles (model ``A`` or ``B``), so
:class:`~stitchtest.engine.cells.Cell` is used unchanged: ``Cell(A, "layer1", B, "layer2")``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from .cells import Cell
from ..stitching.fit import StitchConfig
from ..stitching.layers import Inputs, LayerModel, capture
from ..stitching.stitch import IncompatibleCuts

TRAIN, TEST = "train", "test"


@dataclass(frozen=True)
class OwnData:
    """The researcher's samples, which both models see (what a cell's data check compares)."""

    def string_id(self) -> str:
        return "own_data"


@dataclass(frozen=True)
class OwnModel:
    """Model ``A`` (the sender) or ``B`` (the receiver) of one comparison, as a cell names it."""

    role: str
    data: OwnData = OwnData()

    def string_id(self) -> str:
        return self.role  # stitch names read ``A@layer`` -> ``B@layer`` in messages

    @property
    def key(self) -> str:
        return self.role


A, B = OwnModel("A"), OwnModel("B")


@dataclass(frozen=True)
class OwnDataset:
    """Train and test samples as a method reads them (a :class:`~stitchtest.data.Dataset`'s fields)."""

    x_train: Inputs
    y_train: torch.Tensor
    x_test: Inputs
    y_test: torch.Tensor


class OwnContext:
    """Models ``a`` and ``b`` on ``train`` and ``test`` ``(x, y)``: each model's activations at every
    named layer computed once per split (``batch_size`` at a time), the sender's moved to the
    receiver's device, where the labels are too.

    ``stitches``: stitches will be fitted into ``b``, so every rest of ``b``'s network is built now,
    in the caller's thread (fx tracing patches torch globally; a replayed rest puts hooks on the
    shared model, and then groups run one at a time: :attr:`thread_safe`). A layer that does not cut
    ``b`` is remembered by ``b`` and fails its cells with the reason when a method asks for it.
    """

    robust_eps: Optional[float] = None
    robust_steps = 0

    def __init__(self, a: LayerModel, b: LayerModel, train: Tuple[Inputs, torch.Tensor],
                 test: Tuple[Inputs, torch.Tensor], stitch: StitchConfig = StitchConfig(), batch_size: int = 256,
                 stitches: bool = True):
        self.models = {A: a, B: b}
        self.stitch = stitch
        p = next(b.parameters(), None)
        self.device = p.device if p is not None else torch.device("cpu")
        self._traces: Dict[Tuple[OwnModel, str], Dict[str, torch.Tensor]] = {}
        for split, (x, _) in ((TRAIN, train), (TEST, test)):
            trace_a, trace_b = capture([a, b], x, batch_size)
            self._traces[A, split] = {k: v.to(self.device) for k, v in trace_a.items()}
            self._traces[B, split] = trace_b
        self._data = OwnDataset(train[0], train[1].to(self.device), test[0], test[1].to(self.device))
        if stitches:
            for cut in b.spatial_cuts:
                try:
                    b.rest(cut)
                except IncompatibleCuts:
                    pass  # b remembers why; the cells into this layer fail with it

    @property
    def thread_safe(self) -> bool:
        return self.models[B].thread_safe

    def cells(self, layers_a: Sequence[str], layers_b: Sequence[str]) -> List[Cell]:
        """Every (layer of A, layer of B) cell, receiver layer by receiver layer (the groups' order)."""
        return [Cell(A, i, B, j) for j in layers_b for i in layers_a]

    def data(self, where=None) -> OwnDataset:
        return self._data

    def data_key(self, cell: Cell) -> tuple:
        return ("own_data",)

    def model(self, spec: OwnModel) -> LayerModel:
        return self.models[spec]

    def trace(self, spec: OwnModel, split: str) -> Dict[str, torch.Tensor]:
        """``spec``'s activations at its named layers and ``logits`` on ``split``."""
        return self._traces[spec, split]

    def pair(self, cell: Cell, split: str) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        return self.trace(cell.sender, split)[cell.sender_cut], self.trace(cell.receiver, split)

    def robust_accuracy(self, spec: OwnModel, cell: Cell, eps: float) -> float:
        raise NotImplementedError("compare computes no robust accuracy: its cells are never robust")
