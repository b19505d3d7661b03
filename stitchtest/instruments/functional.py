"""How far apart two networks are in *function*, beside how alike a method rates them.

Ding, Denain & Steinhardt (NeurIPS 2021, "Grounding representation similarity with statistical
testing") ground a similarity in a functional distance: for two representations, the absolute
difference of a functional behaviour, ``|accuracy(A) - accuracy(B)|`` (their code, js-d/sim_metric,
takes ``np.abs(acc1 - acc2)`` of probing accuracies). :class:`WithFunctionalChange` runs any method
and records that distance between a cell's sender and receiver networks, each on its own full
forward pass over the test images, as ``functional_change`` (the name the PC-deletion edits use,
:class:`~stitchtest.instruments.synthetic.PCDeleted`), and, for the reader, ``disagreement``: the share of test
images the two networks label differently (two networks of equal accuracy can still disagree).
"""
from __future__ import annotations

from typing import Any, Dict, List, Sequence

import torch

from ..engine.cells import Cell
from ..engine.methods import Method


def functional_distance(sender_logits: torch.Tensor, receiver_logits: torch.Tensor,
                        labels: torch.Tensor) -> Dict[str, float]:
    """Both networks' accuracies, ``|difference|`` (Ding et al.'s functional distance) and disagreement."""
    if not (len(sender_logits) == len(receiver_logits) == len(labels)):
        raise ValueError(f"logits and labels differ in length: {len(sender_logits)}, {len(receiver_logits)}, "
                         f"{len(labels)}")
    if len(labels) == 0:
        raise ValueError("no test images")
    labels = labels.to(sender_logits.device)
    ps, pr = sender_logits.argmax(1), receiver_logits.to(sender_logits.device).argmax(1)
    acc_s = (ps == labels).double().mean().item()
    acc_r = (pr == labels).double().mean().item()
    return {"sender_accuracy": acc_s, "receiver_accuracy": acc_r, "functional_change": abs(acc_s - acc_r),
            "disagreement": (ps != pr).double().mean().item()}


class WithFunctionalChange(Method):
    """``method``'s readouts plus the functional distance of the cell's two networks; named as the
    method (checks, expectations and rankings treat it as that method), with an id of its own."""

    def __init__(self, method: Method):
        self.method = method
        self.name, self.kind, self.primary = method.name, method.kind, method.primary

    def string_id(self) -> str:
        return f"with_functional_change(method={self.method.string_id()})"

    def evaluate_many(self, ctx: Any, cells: Sequence[Cell]) -> List[Dict[str, Any]]:
        # no no_grad around the method: a stitching objective trains its stitch in there (under
        # no_grad its backward failed, which only `small` reached: SGD objectives start there)
        out = self.method.evaluate_many(ctx, cells)
        with torch.no_grad():
            for cell, r in zip(cells, out):
                if "failure" not in r:
                    sender = ctx.trace(cell.sender, cell, "test")["logits"]
                    receiver = ctx.trace(cell.receiver, cell, "test")["logits"]
                    r.update(functional_distance(sender.float(), receiver.float(), ctx.data(cell).y_test))
        return out
