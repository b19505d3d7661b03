"""Synthetic senders: representations made from the labels alone, with no image content.

Smith, Mannering & Marcu (ICML 2025, "Functional alignment can mislead") show that a sender
that shares nothing functional with the receiver but carries the label -- even clustered random
noise -- stitches successfully. :class:`ClusteredNoise` is that sender: a fixed random code per
class plus independent noise per image, shaped like the activations of a real cut so that the
same stitch (a 1x1 convolution between equal shapes) connects it. It needs no training.

:class:`OnSyntheticSender` runs any method with the sender's activations replaced by the synthetic
ones (the receiver's trace, data and labels stay as they are). It keeps the method's name, kind and
primary readout, so checks, expectations and rankings treat it as that method; its id names the
synthetic sender, so its cells never mix with real ones.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Sequence

import torch

from .cells import Cell
from .ids import string_id
from .methods import Method


@dataclass(frozen=True)
class ClusteredNoise:
    """Code ``c_y`` (standard normal, one per class, drawn from ``seed``) plus ``noise`` times
    standard normal noise per image: the class is linearly decodable, the image is not there."""

    noise: float = 1.0
    seed: int = 0

    name = "clustered_noise"

    def __post_init__(self) -> None:
        if not self.noise >= 0.0:
            raise ValueError(f"clustered_noise needs noise >= 0, got {self.noise!r}")

    def string_id(self) -> str:
        return string_id(self)

    def activations(self, labels: torch.Tensor, shape: Sequence[int], classes: int, split: str) -> torch.Tensor:
        """``(len(labels), *shape)`` float32 activations; the codes are shared by both splits, the noise
        is drawn afresh for each split (test images are new images)."""
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        g = torch.Generator().manual_seed(self.seed)
        codes = torch.randn(classes, *shape, generator=g)
        g.manual_seed(self.seed * 2 + 1 + (split == "test"))
        labels = labels.detach().cpu().long()
        return codes[labels] + self.noise * torch.randn(len(labels), *shape, generator=g)


class _SenderSwap:
    """A context whose sender activations come from a synthetic sender; everything else delegates."""

    def __init__(self, ctx: Any, sender: ClusteredNoise):
        self._ctx, self._sender = ctx, sender
        self._made: Dict[tuple, torch.Tensor] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)

    def pair(self, cell: Cell, split: str):
        a, trace = self._ctx.pair(cell, split)
        key = (self._ctx.data_key(cell), split, tuple(a.shape[1:]))
        if key not in self._made:
            ds = self._ctx.data(cell)
            labels = ds.y_train if split == "train" else ds.y_test
            made = self._sender.activations(labels, a.shape[1:], ds.num_classes, split)
            self._made[key] = made.to(device=a.device, memory_format=torch.channels_last) if made.dim() == 4 \
                else made.to(a.device)
        return self._made[key], trace


class OnSyntheticSender(Method):
    """``method`` with every cell's sender replaced by ``sender`` (at the shape of the cell's sender cut)."""

    def __init__(self, method: Method, sender: ClusteredNoise = ClusteredNoise()):
        self.method, self.sender = method, sender
        self.name, self.kind, self.primary = method.name, method.kind, method.primary

    def string_id(self) -> str:
        return f"synthetic_sender(sender={self.sender.string_id()},method={self.method.string_id()})"

    def evaluate_many(self, ctx: Any, cells: Sequence[Cell]) -> List[Dict[str, Any]]:
        return self.method.evaluate_many(_SenderSwap(ctx, self.sender), cells)
