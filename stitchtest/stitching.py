"""Training one stitch with one objective, on frozen, precomputed activations.

The sender is frozen, so its activations at the cut are computed once (by the caller) and each
step costs only stitch + receiver suffix. The stitch starts from the least-squares solution
(SCIENCE.md, fact 1: random initialisation with a small budget leaves stitches under-trained and
the matrices noise), then Adam with a cosine schedule runs ``steps`` steps on the objective.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import torch

from .ids import string_id
from .models import CutModel
from .objectives import Batch, Objective
from .stitch import Stitch


@dataclass(frozen=True)
class StitchConfig:
    """How every stitch is trained (part of each result's id). Defaults from the convergence study."""

    steps: int = 200
    batch_size: int = 128
    lr: float = 1e-3
    init: str = "least_squares"  # or "random" (the naive baseline)
    bn: bool = False
    seed: int = 0

    def string_id(self) -> str:
        return string_id(self).replace("StitchConfig", "stitch", 1)


@dataclass
class FitResult:
    stitch: Stitch
    losses: List[float] = field(default_factory=list)
    failure: Optional[str] = None  # why training stopped early (non-finite loss), else None


def stitched_batch(objective: Objective, receiver: CutModel, cut: str, h: torch.Tensor, y: torch.Tensor,
                   targets: Dict[str, torch.Tensor], idx: Optional[torch.Tensor] = None) -> Batch:
    """The :class:`Batch` an objective scores for stitch output ``h`` fed into ``receiver`` at ``cut``.

    ``y`` and ``targets`` (the receiver's own trace) are indexed by ``idx`` when given.
    """
    pick = (lambda t: t[idx]) if idx is not None else (lambda t: t)
    hints = objective.hint_cuts(receiver, cut)
    acts = {cut: h, **receiver.trace(h, cut)}
    return Batch(
        labels=pick(y),
        stitched_logits=acts["logits"],
        stitched_acts={c: acts[c] for c in hints},
        receiver_logits=pick(targets["logits"]) if objective.needs_receiver_logits else None,
        receiver_acts={c: pick(targets[c]) for c in hints},
    )


def fit_stitch(objective: Objective, receiver: CutModel, receiver_cut: str, a: torch.Tensor, y: torch.Tensor,
               targets: Dict[str, torch.Tensor], config: StitchConfig = StitchConfig(),
               names=("sender", "receiver")) -> FitResult:
    """Fit a stitch from sender activations ``a`` into ``receiver`` at ``receiver_cut``.

    ``targets`` holds the receiver's own activations on the same images at every cut it has
    (``receiver.trace(x)``), including ``"logits"``; ``y`` are the labels.
    """
    torch.manual_seed(config.seed)
    stitch = Stitch(a.shape[1:], targets[receiver_cut].shape[1:], bn_before=config.bn, bn_after=config.bn,
                    names=names).to(a.device)
    if config.init == "least_squares":
        stitch.fit_least_squares(a, targets[receiver_cut])
    elif config.init != "random":
        raise ValueError(f"unknown stitch init {config.init!r}; expected 'least_squares' or 'random'")
    result = FitResult(stitch)
    if objective.closed_form:
        return result
    opt = torch.optim.Adam(stitch.parameters(), lr=config.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, config.steps))
    gen = torch.Generator().manual_seed(config.seed)
    stitch.train()
    for step in range(config.steps):
        idx = torch.randint(0, len(a), (min(config.batch_size, len(a)),), generator=gen).to(a.device)
        loss = objective.loss(stitched_batch(objective, receiver, receiver_cut, stitch(a[idx]), y, targets, idx))
        if not math.isfinite(loss.item()):
            result.failure = f"non-finite loss ({loss.item()}) at step {step}"
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        result.losses.append(loss.item())
    stitch.eval()
    return result
