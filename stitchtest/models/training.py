"""How the zoo's networks are trained: one short recipe, readable top to bottom.

SGD with Nesterov momentum, a linear warm-up then linear decay (the shape airbench uses), no
augmentation: the data sets here are small and the goal is a well-trained network in seconds,
not a record. Regimes change only what each step sees:

- ``standard``: clean images.
- ``adversarial``: PGD examples (random start), loss ``(1 - alpha) * clean + alpha * adversarial``.
- ``shortcut``: images carrying a label cue (the caller passes cue-stamped data).
- ``random``: no optimisation at all; BatchNorm statistics are re-estimated on the training
  images so a random network's activations have a data-matched scale, as a trained one's do.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .attacks import pgd
from .core import eval_mode


@dataclass(frozen=True)
class Recipe:
    """Optimiser settings shared by every regime (part of a model's cache key)."""

    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 64
    warmup: float = 0.1  # fraction of steps spent warming up


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    with eval_mode(model):
        correct = sum((model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum().item()
                      for i in range(0, len(x), batch_size))
    return correct / max(1, len(x))


@torch.no_grad()
def calibrate_batchnorm(model: nn.Module, x: torch.Tensor, batch_size: int = 500) -> None:
    """Replace BatchNorm running statistics by their exact average over ``x`` (no weight changes)."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average
    model.train()
    for i in range(0, len(x), batch_size):
        model(x[i:i + batch_size])
    for bn in bns:
        bn.momentum = 0.1
    model.eval()


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int, seed: int,
          recipe: Recipe = Recipe(), adversarial: Optional[dict] = None,
          log: Callable[[str], None] = lambda s: None) -> float:
    """Train ``model`` in place on ``(x, y)``; returns seconds spent.

    ``adversarial = dict(eps=..., steps=..., alpha=...)`` switches on PGD training. Batches are
    drawn by a generator seeded with ``seed``, so the same call on the same device gives the same
    weights.
    """
    start = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                          nesterov=True, weight_decay=recipe.weight_decay)
    steps_per_epoch = -(-len(x) // recipe.batch_size)
    total = max(1, epochs * steps_per_epoch)
    warm = max(1, int(recipe.warmup * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else max(0.0, (total - s) / max(1, total - warm)))
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=gen).to(x.device)
        running = 0.0
        for i in range(0, len(x), recipe.batch_size):
            idx = order[i:i + recipe.batch_size]
            xb, yb = x[idx], y[idx]
            if adversarial:
                model.eval()  # craft the attack on frozen BatchNorm statistics
                xa = pgd(model, xb, yb, adversarial["eps"], adversarial["steps"], generator=gen)
                model.train()
                a = adversarial.get("alpha", 1.0)
                loss = a * F.cross_entropy(model(xa), yb)
                if a < 1:
                    loss = loss + (1 - a) * F.cross_entropy(model(xb), yb)
            else:
                loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            running += loss.item() * len(idx)
        log(f"epoch {epoch + 1}/{epochs} loss {running / len(x):.4f}")
    model.eval()
    return time.perf_counter() - start
