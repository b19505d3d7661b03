"""Synthetic senders: representations made from the labels alone, or edited from a real one.

Smith, Mannering & Marcu (ICML 2025, "Functional alignment can mislead") show that a sender
that shares nothing functional with the receiver but carries the label -- even clustered random
noise -- stitches successfully. :class:`ClusteredNoise` is that sender: a fixed random code per
class plus independent noise per image, shaped like the activations of a real cut so that the
same stitch (a 1x1 convolution between equal shapes) connects it. It needs no training.

:class:`OnSyntheticSender` runs any method with the sender's activations replaced by the synthetic
ones (the receiver's trace, data and labels stay as they are). :class:`PCDeleted` and :class:`PCKept` are the
other kind: the sender's own activations with their top (resp. all but their top) principal components
deleted, graded interventions. It keeps the method's name, kind and
primary readout, so checks, expectations and rankings treat it as that method; its id names the
synthetic sender, so its cells never mix with real ones.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch

from ..engine.cells import Cell
from ..runtime.ids import string_id
from ..engine.methods import Method


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

    def make(self, ctx: Any, cell: Cell, split: str, a: torch.Tensor) -> torch.Tensor:
        """The noise in place of the cell's sender activations ``a`` on ``split`` (same shape and device)."""
        ds = ctx.data(cell)
        made = self.activations(ds.y_train if split == "train" else ds.y_test, a.shape[1:], ds.num_classes, split)
        return made.to(device=a.device, memory_format=torch.channels_last) if made.dim() == 4 else made.to(a.device)

    def readouts(self, ctx: Any, cell: Cell, made_test: torch.Tensor) -> Dict[str, float]:
        return {}

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


def _projected(a: torch.Tensor, mu: torch.Tensor, v: torch.Tensor, keep: bool) -> torch.Tensor:
    """``a`` with its centred part projected onto the columns of ``v`` (``keep``) or off them, in ``a``'s
    shape, dtype and memory format: the one edit both principal-component interventions make."""
    x = a.reshape(len(a), -1).double()
    inside = ((x - mu) @ v) @ v.T
    edited = mu + inside if keep else x - inside
    return edited.reshape(a.shape).to(a.dtype).contiguous(memory_format=torch.channels_last) \
        if a.dim() == 4 else edited.reshape(a.shape).to(a.dtype)


def _edit_with_train_basis(self, ctx: Any, cell: Cell, split: str, a: torch.Tensor) -> torch.Tensor:
    """The edit of ``a`` with the basis of the sender's training activations at the cell's cut (keyed,
    so it is computed once per model, cut and data)."""
    key = (cell.sender.key, cell.sender_cut, ctx.data_key(cell))
    return self.edit(a, ctx.pair(cell, "train")[0], key)


@dataclass(frozen=True)
class PCDeleted:
    """The cell's own sender activations with their top ``k`` principal components deleted (Ding,
    Denain & Steinhardt, NeurIPS 2021): ``h - ((h - mu) V_k) V_k^T``, with the mean ``mu`` and the
    directions ``V_k`` of the training images' activations, so the edit is one fixed projection on
    both splits and ``k = 0`` is no edit at all. A graded intervention: the larger ``k``, the more
    of what the receiver reads is gone.

    Beside the method's readouts, each cell records what the edit does to the receiver itself:
    ``edited_accuracy`` (the receiver run from its cut on the edited activations of the test images)
    ``functional_change`` (its own accuracy minus that) and ``disagreement`` (the share of test
    images whose label the edit changes)."""

    k: int = 1

    name = "pc_deleted"

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 0:
            raise ValueError(f"pc_deleted needs a whole number k >= 0, got {self.k!r}")

    def string_id(self) -> str:
        return string_id(self)

    def edit(self, a: torch.Tensor, train: torch.Tensor, key: tuple = ()) -> torch.Tensor:
        """``a`` with the top ``k`` principal directions of ``train`` (same per-sample shape) removed;
        ``key`` names ``train`` (model, cut, data) so its basis is computed once."""
        if self.k == 0:
            return a
        mu, vt = _principal(train, key)
        available = min(len(train), train[0].numel())
        if self.k > available:
            raise ValueError(f"pc_deleted(k={self.k}): only {available} directions at this cut")
        if self.k > vt.shape[0]:
            raise ValueError(f"pc_deleted(k={self.k}): at most {_KEPT} directions are deleted")
        return _projected(a, mu, vt[: self.k].T, keep=False)

    make = _edit_with_train_basis

    @torch.no_grad()
    def readouts(self, ctx: Any, cell: Cell, edited_test: torch.Tensor) -> Dict[str, float]:
        """What the edit does to the receiver's own function (receiver cut = the edited cut)."""
        receiver, ds = ctx.model(cell.receiver), ctx.data(cell)
        _, trace = ctx.pair(cell, "test")
        own_pred = trace["logits"].argmax(1)
        own = (own_pred == ds.y_test).double().mean().item()
        pred = receiver.trace(edited_test.float(), cell.receiver_cut)["logits"].argmax(1)
        edited = (pred == ds.y_test).double().mean().item()
        return {"edited_accuracy": edited, "functional_change": own - edited,
                "disagreement": (pred != own_pred.to(pred.device)).double().mean().item()}


@dataclass(frozen=True)
class PCKept:
    """The cell's sender activations with all but their top ``kept`` principal components deleted:
    Ding, Denain & Steinhardt's direction (js-d/sim_metric, experiments/pca_deletion/compute_dists.py
    keeps ``u[:, :dims_kept]``, so the *lowest*-variance components go; docs/lab/ding-deletion.md).
    ``mu + ((h - mu) V_m) V_m^T`` with the mean and top ``m = kept`` directions of the training
    images' activations (:func:`stitchtest.instruments.deletion.delete_components` with
    ``which="lowest"``, in torch); ``kept=None`` is no edit.

    Compared, as in their code, with *another* seed's unedited representation (the cell's receiver),
    so the functional change is the sender's own: ``edited_accuracy`` (the sender run from its cut on
    the edited test activations), ``functional_change`` (its accuracy minus that) and
    ``disagreement`` (the share of test images whose label the edit changes)."""

    kept: Optional[int] = None

    name = "pc_kept"

    def __post_init__(self) -> None:
        if self.kept is not None and (isinstance(self.kept, bool) or not isinstance(self.kept, int) or self.kept < 1):
            raise ValueError(f"pc_kept needs a whole number kept >= 1 (or None), got {self.kept!r}")

    def string_id(self) -> str:
        return string_id(self)

    def edit(self, a: torch.Tensor, train: torch.Tensor, key: tuple = ()) -> torch.Tensor:
        if self.kept is None:
            return a
        mu, vt = _principal(train, key)
        if self.kept > vt.shape[0]:
            raise ValueError(f"pc_kept(kept={self.kept}): at most {vt.shape[0]} directions at this cut")
        return _projected(a, mu, vt[: self.kept].T, keep=True)

    make = _edit_with_train_basis

    @torch.no_grad()
    def readouts(self, ctx: Any, cell: Cell, edited_test: torch.Tensor) -> Dict[str, float]:
        """What the edit does to the sender's own function."""
        sender, ds = ctx.model(cell.sender), ctx.data(cell)
        a, _ = ctx.pair(cell, "test")
        own_pred = sender.trace(a.float(), cell.sender_cut)["logits"].argmax(1)
        pred = sender.trace(edited_test.float(), cell.sender_cut)["logits"].argmax(1)
        own = (own_pred == ds.y_test.to(own_pred.device)).double().mean().item()
        edited = (pred == ds.y_test.to(pred.device)).double().mean().item()
        return {"edited_accuracy": edited, "functional_change": own - edited,
                "disagreement": (pred != own_pred).double().mean().item()}


_PRINCIPAL: "OrderedDict[tuple, Tuple[torch.Tensor, torch.Tensor]]" = OrderedDict()
_KEPT = 256  # directions kept per basis: deletions up to k = 256
#: bytes of bases kept (least recently used out first). A grid point visits every (seed, cut) of the
#: testbed in turn, so a bound below their number evicts each basis just before it is asked for again:
#: with 9 seed pairs (36 bases) a bound of 16 bases recomputed an SVD in every cell, 5x the time of the
#: interventions testbed (reports/performance.md). A basis is 2 MiB at smoke (256 x 1,024 doubles)
PRINCIPAL_BYTES = 512 * 2**20


def _nbytes(basis: Tuple[torch.Tensor, torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in basis)


def _principal(train: torch.Tensor, key: tuple = ()) -> Tuple[torch.Tensor, torch.Tensor]:
    """Mean and principal directions (rows, largest first) of ``train``'s activations; with a ``key``
    (which model, cut and data they are), kept within :data:`PRINCIPAL_BYTES`: every grid point of a
    cell edits with the same basis."""
    if not key:
        key = ("uncached", id(train))
        _PRINCIPAL.pop(key, None)
    if key not in _PRINCIPAL:
        flat = train.reshape(len(train), -1).double()
        mu = flat.mean(dim=0)
        _, _, vt = torch.linalg.svd(flat - mu, full_matrices=False)
        _PRINCIPAL[key] = (mu, vt[:_KEPT].clone())  # not a view: the full vt would stay alive
        held = sum(_nbytes(b) for b in _PRINCIPAL.values())
        while held > PRINCIPAL_BYTES and len(_PRINCIPAL) > 1:
            held -= _nbytes(_PRINCIPAL.popitem(last=False)[1])
    _PRINCIPAL.move_to_end(key)
    return _PRINCIPAL[key]


class _SenderSwap:
    """A context whose sender activations come from a synthetic sender; everything else delegates."""

    def __init__(self, ctx: Any, sender: ClusteredNoise):
        self._ctx, self._sender = ctx, sender
        self._made: Dict[tuple, torch.Tensor] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)

    def pair(self, cell: Cell, split: str):
        a, trace = self._ctx.pair(cell, split)
        # an edit of the sender's own activations differs per sender model and cut
        key = (cell.sender.key, cell.sender_cut, self._ctx.data_key(cell), split, tuple(a.shape[1:]))
        if key not in self._made:
            self._made[key] = self._sender.make(self._ctx, cell, split, a)
        return self._made[key], trace


class OnSyntheticSender(Method):
    """``method`` with every cell's sender replaced by ``sender`` (at the shape of the cell's sender cut)."""

    def __init__(self, method: Method, sender: Union[ClusteredNoise, PCDeleted, PCKept] = ClusteredNoise()):
        self.method, self.sender = method, sender
        self.name, self.kind, self.primary = method.name, method.kind, method.primary

    def string_id(self) -> str:
        return f"synthetic_sender(sender={self.sender.string_id()},method={self.method.string_id()})"

    def evaluate_many(self, ctx: Any, cells: Sequence[Cell]) -> List[Dict[str, Any]]:
        swap = _SenderSwap(ctx, self.sender)
        out = self.method.evaluate_many(swap, cells)
        for cell, r in zip(cells, out):
            if "failure" not in r:
                r.update(self.sender.readouts(ctx, cell, swap.pair(cell, "test")[0]))
        return out
