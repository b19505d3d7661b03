"""The planted shortcut (:func:`stamp_cue`, :func:`with_cue`): a class-revealing patch, the ground
truth for tests that check whether a method notices that two models solve a task differently; and
cue-conflict test images (:func:`conflict_classes`), whose cue names another class than the label,
to read which of the two a network follows."""
from __future__ import annotations

import math
from typing import List, Tuple, Union

import torch

from .dataset import Dataset


def _cue_positions(num_classes: int, height: int, width: int, patch: int) -> List[Tuple[int, int]]:
    """Top-left corner per class, no two patches overlapping.

    Up to what two borders hold: half the classes spread along the top border, the rest along
    the bottom (the layout every cached shortcut model was trained with). More classes (CIFAR-100
    has 100) take a grid of patch-sized cells, the outermost ring first, then the next ring in,
    so the cue stays as far from the image's centre as the class count allows.
    """
    per_row = math.ceil(num_classes / 2)
    rows_needed = 2 * patch if num_classes > per_row else patch
    if per_row * patch <= width and rows_needed <= height:
        step = (width - patch) / max(per_row - 1, 1)
        cols = [math.floor(i * step) for i in range(per_row)]
        return [(0 if c < per_row else height - patch, cols[c % per_row]) for c in range(num_classes)]
    rows, cols = height // patch, width // patch
    if rows * cols < num_classes:
        raise ValueError(
            f"a {height}x{width} image cannot hold {num_classes} non-overlapping {patch}x{patch} cue positions "
            f"(at most {rows * cols} fit), and the position cue needs one per class: use larger images "
            f"(DataSpec size), fewer classes, or the intensity cue"
        )
    cells = sorted(((r, c) for r in range(rows) for c in range(cols)),
                   key=lambda rc: (min(rc[0], rc[1], rows - 1 - rc[0], cols - 1 - rc[1]), rc))
    return [(r * patch, c * patch) for r, c in cells[:num_classes]]


def stamp_cue(
    x: torch.Tensor,
    y: torch.Tensor,
    p: float,
    *,
    num_classes: int,
    kind: str = "position",
    seed: int = 0,
    white: Union[float, torch.Tensor] = 1.0,
    patch: int = 2,
) -> torch.Tensor:
    """Return a copy of ``x`` in which exactly ``round(p * N)`` images carry a class cue.

    The cue is a ``patch x patch`` square on all channels. With ``kind="position"`` its place
    encodes the class and its value is ``white``; with ``kind="intensity"`` it sits at the top
    left and its value, ``white * (c + 1) / num_classes``, encodes the class. ``white`` may be
    a per-channel tensor, e.g. the normalised value of a white pixel. Which images are stamped
    is drawn from a seeded generator on the CPU, so it is the same on every device.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must lie in [0, 1], got {p}")
    if kind not in ("position", "intensity"):
        raise ValueError(f"kind must be 'position' or 'intensity', got {kind!r}")
    out = x.clone()
    n_stamp = round(p * len(x))
    if n_stamp == 0:
        return out
    y = torch.as_tensor(y, device=x.device)
    if len(y) != len(x):
        raise ValueError(f"{len(x)} images but {len(y)} labels")
    if y.min() < 0 or y.max() >= num_classes:
        raise ValueError(f"labels must lie in 0..{num_classes - 1}")
    height, width = x.shape[-2:]
    if kind == "position":
        corners = _cue_positions(num_classes, height, width, patch)
    else:
        if patch > min(height, width):
            raise ValueError(f"a {height}x{width} image cannot hold a {patch}x{patch} cue")
        corners = [(0, 0)] * num_classes
    white = torch.as_tensor(white, dtype=x.dtype, device=x.device)
    if white.ndim == 1:
        white = white[:, None, None]  # (C,) -> broadcast over the patch
    generator = torch.Generator().manual_seed(seed)
    chosen = torch.randperm(len(x), generator=generator)[:n_stamp].to(x.device)
    for c, (top, left) in enumerate(corners):
        idx = chosen[y[chosen] == c]
        value = white if kind == "position" else white * (c + 1) / num_classes
        out[idx, :, top:top + patch, left:left + patch] = value
    return out


def conflict_classes(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """The class a cue-conflict image's cue names: ``(y + 1) mod num_classes``, never the label
    (for two classes or more), and fixed, so the conflict images are the same in every run."""
    return (torch.as_tensor(y) + 1) % num_classes


def with_cue(
    ds: Dataset, p_train: float, p_test: float, *, kind: str = "position", seed: int = 0, conflict: bool = False
) -> Dataset:
    """``ds`` with a shortcut cue on a fraction ``p_train`` of training and ``p_test`` of test
    images. Train and test draw from different seeds so their stamped subsets are unrelated;
    the cue is pure white (in normalised units) so it is as conspicuous as the data allows.
    ``conflict``: the test images' cue names :func:`conflict_classes` of their labels instead (the
    training images' still names the label), so a network that follows the cue and one that
    follows the image disagree on every stamped test image."""
    if conflict and ds.num_classes < 2:
        raise ValueError("cue-conflict images need two classes or more")
    white = (1.0 - ds.mean) / ds.std
    kw = dict(num_classes=ds.num_classes, kind=kind, white=white)
    extra = (f",{kind}" if kind != "position" else "") + (f",seed={seed}" if seed else "") + (
        ",conflict" if conflict else "")
    test_cue = conflict_classes(ds.y_test, ds.num_classes) if conflict else ds.y_test
    return ds.replace(
        name=f"{ds.name}+cue({p_train},{p_test}{extra})",
        x_train=stamp_cue(ds.x_train, ds.y_train, p_train, seed=2 * seed, **kw),
        x_test=stamp_cue(ds.x_test, test_cue, p_test, seed=2 * seed + 1, **kw),
    )
