"""Projected gradient descent (Madry et al. 2018): adversarial training and robust accuracy.

The model is any callable from images to logits, so a stitched network (sender prefix -> stitch
-> receiver suffix) is attacked end to end exactly like a single network. ``eps`` is an L-inf
radius in the units of the (normalised) input.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .core import eval_mode


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int,
        step_size: float | None = None, random_start: bool = True,
        generator: torch.Generator | None = None) -> torch.Tensor:
    """Adversarial examples within the L-inf ball of radius ``eps`` around ``x``."""
    if eps <= 0 or steps <= 0:
        return x.detach()
    step_size = 2.5 * eps / steps if step_size is None else step_size
    x = x.detach()
    delta = torch.zeros_like(x)
    if random_start:
        delta = (torch.rand(x.shape, generator=generator, device="cpu").to(x.device) * 2 - 1) * eps
    for _ in range(steps):
        delta.requires_grad_(True)
        loss = F.cross_entropy(model(x + delta), y)
        (grad,) = torch.autograd.grad(loss, delta)
        delta = (delta.detach() + step_size * grad.sign()).clamp(-eps, eps)
    return (x + delta).detach()


def robust_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int = 10,
                    batch_size: int = 500, seed: int = 0) -> float:
    """Accuracy under PGD-``steps`` at radius ``eps`` (every submodule in eval mode, gradients only to x)."""
    gen = torch.Generator().manual_seed(seed)
    correct = 0
    with eval_mode(model):
        for i in range(0, len(x), batch_size):
            xb, yb = x[i:i + batch_size], y[i:i + batch_size]
            xa = pgd(model, xb, yb, eps, steps, generator=gen)
            with torch.no_grad():
                correct += (model(xa).argmax(1) == yb).sum().item()
    return correct / max(1, len(x))
