"""Vetting what a format read, before anything trains on it: a directory that is not there,
labels out of range, an empty split, blank images, labels of one class. Each stops with a
:class:`~stitchtest.data.errors.DataError` naming the path and what was expected; labels that
use only some of the classes warn."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Union

import numpy as np

from .errors import DataError


def check_dir(spec, expected: str) -> Path:
    """``spec.root`` as an existing directory; ``expected`` says what it should hold."""
    if spec.root is None:
        raise DataError(
            f"{spec.name} needs a data directory (DataSpec(root=...)) holding {expected}"
        )
    root = Path(spec.root).expanduser()
    if not root.is_dir():
        problem = "is not a directory" if root.exists() else "does not exist"
        raise DataError(
            f"{spec.name} data directory {root} {problem}; expected one holding {expected}"
        )
    return root


def check_labels(labels: np.ndarray, path: Union[Path, str], classes: int) -> None:
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise DataError(
            f"{path} has labels in [{labels.min()}, {labels.max()}]; expected 0..{classes - 1}"
        )


def listing(root: Path, limit: int = 10) -> str:
    """What ``root`` holds, for an error message."""
    names = sorted(p.name for p in root.iterdir())
    more = f", ... ({len(names)} in all)" if len(names) > limit else ""
    shown = ", ".join(names[:limit]) + more
    return shown or "nothing"


def check_degenerate(spec, x_train: np.ndarray, x_test: np.ndarray, labels: np.ndarray,
                     classes: int) -> None:
    """Refuse an empty split (nothing to train on or to test), blank images (every check on them is
    meaningless) and labels of one class (every accuracy is 1.0, every chance bound passes
    trivially); warn on labels that use only some of the classes (the task is still audited as
    ``classes``-class, so chance is not 1/k)."""
    where = spec.root or spec.name
    if not len(x_train) or not len(x_test):
        raise DataError(f"{where}: {len(x_train)} training and {len(x_test)} test images; expected at least one of each")
    for split, x in (("training", x_train), ("test", x_test)):
        if x.size and x.min() == x.max():
            raise DataError(f"{where}: every {split} image has the same value everywhere ({x.flat[0]}): "
                            f"blank images leave nothing to learn or compare; check the image files")
    used = np.unique(labels)
    if len(used) < 2:
        raise DataError(f"{where}: the labels use only {len(used)} class ({', '.join(map(str, used))}); expected at "
                        f"least 2, since a one-class task leaves nothing to tell apart")
    if len(used) < classes:
        shown = ", ".join(map(str, used[:20])) + (", ..." if len(used) > 20 else "")
        warnings.warn(f"{where}: the labels use only {len(used)} of {classes} classes "
                      f"({shown}); the task is audited as {classes}-class, so chance "
                      f"accuracy and the random controls' bounds do not fit it; check the label files",
                      stacklevel=3)
