"""Stitch training with the frozen networks' BatchNorm on batch statistics (``fula_bn``).

The FuLA authors' real-data runs (athaioan/invariance-aware-stitching at
:data:`~stitchtest.stitching.objectives.FULA_AUTHORS_COMMIT`; configs under ``cifar/`` and
``imagenet/`` set ``bn_running_stats: True``, the IRIs configs ``False``) train the stitch with the
frozen networks in train mode. What that means in their code:

* Both networks. ``training/stitching/trainer_pc.py::train_one_epoch`` (the trainer
  ``train_stithching.py`` imports) calls ``model.train()`` on the whole ``FrankModel`` when
  ``args.bn_running_stats``: the frozen sender (``front_model``) and receiver (``end_model``)
  normalise every batch by its own statistics (``nn.SyncBatchNorm`` after
  ``convert_sync_batchnorm`` in ``train_stithching.py``: over the global batch, 128 per GPU).
* The targets ``g_k`` too. ``models/model_utils.py::FrankModel.get_end_hooked_activations(image,
  train_mode=args.bn_running_stats)`` runs the receiver alone in train mode, after
  ``utils/misc.py::freeze_bn_running_stats`` set its BatchNorms' momentum to 0: batch statistics,
  running statistics left as they were. ``unfreeze_bn_running_stats`` then sets momentum 0.1.
* The stitched pass updates running statistics. ``logit = model(image)`` runs sender and receiver
  in train mode at momentum 0.1, so the FrankModel's own copies of both (loaded afresh for each
  stitch: ``models/models.py::make_frank_model``) move their running statistics: the sender's
  towards its own activations on the training images, the receiver's layers after the cut towards
  the *stitched* activations.
* Evaluation reads those. ``evaluation/stitching/evaluator.py::eval`` puts the stitched model and
  ``model_reference`` in eval mode: the stitched network with the running statistics its training
  left, the reference (a fresh ``make_model`` of the receiver, ``train_stithching.py``) with the
  original ones.
* The least-squares start is fitted in eval mode (``FrankModel.prepare_models`` sets ``eval()``
  before its ``K_init`` loop).

So here: the start comes from the usual eval-mode activations; each step runs every stitch's own
copy of its sender in train mode, the receiver's targets on batch statistics (a copy at momentum
0), and the stitched receiver with :class:`ChunkedBatchNorm`, so that stitches trained together
(stacked along the batch) each normalise by their own batch and keep their own running
statistics; afterwards :meth:`TrainModeFeed.trained` hands each stitch its sender and receiver in
eval mode with the statistics it left. The zoo's networks are copied, never touched.
"""
from __future__ import annotations

import copy
from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

#: utils/misc.py::unfreeze_bn_running_stats(model, momentum=0.1): the stitched passes' momentum
MOMENTUM = 0.1


class ChunkedBatchNorm(nn.Module):
    """A frozen BatchNorm for ``k`` stitches stacked along the batch: each stitch's chunk is
    normalised by its own statistics and updates its own running statistics (row ``s``), so stacked
    stitches never see each other. ``active`` says which stitches the chunks are, in order."""

    def __init__(self, bn: _BatchNorm, k: int):
        super().__init__()
        self.eps, self.momentum = bn.eps, MOMENTUM
        self.register_buffer("weight", None if bn.weight is None else bn.weight.detach().clone())
        self.register_buffer("bias", None if bn.bias is None else bn.bias.detach().clone())
        self.register_buffer("running_mean", bn.running_mean.detach().repeat(k, 1))
        self.register_buffer("running_var", bn.running_var.detach().repeat(k, 1))
        self.active: List[int] = list(range(k))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # row s of a contiguous (k, C) buffer is a contiguous view: F.batch_norm updates it in place
        return torch.cat([F.batch_norm(part, self.running_mean[s], self.running_var[s], self.weight, self.bias,
                                       self.training, self.momentum, self.eps)
                          for s, part in zip(self.active, x.chunk(len(self.active)))])


def _batchnorms(model: nn.Module) -> List[Tuple[nn.Module, str, nn.Module]]:
    """``(parent, attribute, module)`` of every BatchNorm in ``model``."""
    return [(parent, name, child) for parent in model.modules() for name, child in parent.named_children()
            if isinstance(child, (_BatchNorm, ChunkedBatchNorm))]


def train_copy(model: nn.Module, momentum: float = MOMENTUM) -> nn.Module:
    """A frozen copy of ``model`` in train mode: its BatchNorms on batch statistics, updating the
    copy's running statistics at ``momentum`` (0: never)."""
    model = copy.deepcopy(model).train()
    for p in model.parameters():
        p.requires_grad_(False)
    for _, _, bn in _batchnorms(model):
        bn.momentum = momentum
    return model


def chunked(model: nn.Module, k: int) -> nn.Module:
    """A train-mode frozen copy of ``model`` with every BatchNorm a :class:`ChunkedBatchNorm` of ``k``."""
    model = train_copy(model)
    for parent, name, bn in _batchnorms(model):
        setattr(parent, name, ChunkedBatchNorm(bn, k))
    return model


class TrainModeFeed:
    """What each training step of ``fula_bn`` sees (a :data:`~stitchtest.stitching.fit.Feed`):
    the senders' activations and the receiver's targets computed on the step's images with
    BatchNorm in train mode, and the stitched receiver normalising each stitch's chunk alone.

    ``senders`` are ``(network, cut)`` and ``receiver`` the unfolded networks (the zoo's own: they
    are copied here, never changed); ``x`` the training images; ``needed`` the receiver cuts the
    loss reads (hints, and ``logits`` if it reads them).
    """

    def __init__(self, senders: Sequence[Tuple[nn.Module, str]], receiver: nn.Module, x: torch.Tensor,
                 needed: Sequence[str]):
        self.senders = [(train_copy(net), cut) for net, cut in senders]  # each stitch its own running stats
        self.reference = train_copy(receiver, momentum=0.0)  # freeze_bn_running_stats: batch stats, no update
        self.stitched = chunked(receiver, len(senders))
        self.receiver, self.x, self.needed = receiver, x, tuple(needed)

    def __call__(self, idx: torch.Tensor, active: List[int]):
        x = self.x[idx]
        with torch.no_grad():
            inputs = [self.senders[k][0].prefix(x, self.senders[k][1]) for k in active]
            ref = self.reference.trace(x)
        for _, _, bn in _batchnorms(self.stitched):
            bn.active = list(active)
        return inputs, {c: ref[c] for c in self.needed}, self.stitched.trace

    def trained(self, s: int) -> Tuple[nn.Module, nn.Module]:
        """Stitch ``s``'s sender and receiver as evaluation sees them: eval mode, with the running
        statistics its training left (evaluation/stitching/evaluator.py::eval)."""
        sender = copy.deepcopy(self.senders[s][0]).eval()
        receiver = train_copy(self.receiver).eval()
        for (_, _, bn), (_, _, mine) in zip(_batchnorms(receiver), _batchnorms(self.stitched)):
            bn.running_mean.copy_(mine.running_mean[s])
            bn.running_var.copy_(mine.running_var[s])
        return sender, receiver


@torch.no_grad()
def activations(sender: nn.Module, cut: str, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """``sender``'s activations at ``cut`` on ``x``, in batches (its test activations in eval mode)."""
    return torch.cat([sender.prefix(x[i:i + batch_size], cut) for i in range(0, len(x), batch_size)])

