"""Which labels a network learns from the same images.

Cross-task stitching (a sender trained on one task, a receiver on another, same images) needs
tasks that share inputs but not labels. A task maps the data set's class labels to its own.
"""
from __future__ import annotations

from typing import Callable, Dict, Tuple

import torch

_TASKS: Dict[str, Tuple[Callable[[torch.Tensor, int], torch.Tensor], Callable[[int], int]]] = {
    # the data set's own classes
    "class": (lambda y, k: y, lambda k: k),
    # two classes: even vs odd class index
    "parity": (lambda y, k: y % 2, lambda k: 2),
    # the classes in a fixed shuffled order: same task, relabelled outputs
    "shuffled": (lambda y, k: torch.randperm(k, generator=torch.Generator().manual_seed(0)).to(y.device)[y],
                 lambda k: k),
}

NAMES = tuple(_TASKS)


def relabel(y: torch.Tensor, task: str, num_classes: int) -> Tuple[torch.Tensor, int]:
    """Labels and class count of ``task`` for data labelled ``y`` with ``num_classes`` classes."""
    if task not in _TASKS:
        raise ValueError(f"unknown task {task!r}; known: {', '.join(NAMES)}")
    fn, count = _TASKS[task]
    return fn(y, num_classes), count(num_classes)
