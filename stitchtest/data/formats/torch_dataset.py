"""``torch``: ``module:function`` returning a ``torch.utils.data.Dataset`` of ``(image, label)``
(a PIL image or a tensor, an int), or a ``(train, test)`` pair of them: any torchvision data set,
``ImageFolder`` included (:func:`~stitchtest.data.adapter.arrays`). The class count is the data
set's ``classes``, else its largest label + 1. There are no files to name, so the fingerprint
hashes the images and labels."""
from __future__ import annotations

import functools
import hashlib
import importlib
import re
from pathlib import Path
from typing import Optional

import numpy as np

from ..adapter import arrays, class_count
from ..checks import check_labels
from ..errors import DataError
from ..sampling import carve
from .base import FORMATS, DataFormat


@functools.lru_cache(maxsize=2)
def _torch_arrays(source: str, size: int):
    """The converted splits of ``module:function`` (memoised: its id hashes their content)."""
    module_name, _, attr = source.partition(":")
    try:
        target = importlib.import_module(module_name)
        for part in attr.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as err:
        raise DataError(f"data {source!r}: cannot import it ({type(err).__name__}: {err}); expected module:function "
                        f"with the module on the Python path") from None
    made = target() if callable(target) else target
    pair = isinstance(made, (tuple, list)) and len(made) == 2
    parts = made if pair else (made,)
    converted = [arrays(d, size, f"data {source!r} ({name})") for d, name in zip(parts, ("train", "test"))]
    classes = max(class_count(d, y) for d, (_, y) in zip(parts, converted))
    for (_, y), name in zip(converted, ("train", "test")):
        check_labels(y, f"data {source!r} ({name})", classes)
    return converted, pair, classes


@functools.lru_cache(maxsize=4)
def _content_hash(source: str, size: int) -> str:
    (converted, pair, classes) = _torch_arrays(source, size)
    h = hashlib.sha256(repr((pair, classes)).encode())
    for x, y in converted:
        h.update(repr(x.shape).encode() + np.ascontiguousarray(x).tobytes() + np.ascontiguousarray(y).tobytes())
    return h.hexdigest()[:12]


@FORMATS.register
class TorchDataset(DataFormat):
    name = "torch"
    priority = 100

    def source(self, text: str) -> bool:
        return bool(re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*", text)) and not Path(text).expanduser().exists()

    def fingerprint(self, spec) -> Optional[str]:
        return _content_hash(spec.root, spec.size) if spec.root is not None else None

    def read(self, spec):
        """``module:function`` -> its ``(train, test)`` data sets, or one data set split 80/20."""
        converted, pair, classes = _torch_arrays(spec.root, spec.size)
        if pair:
            return converted[0], converted[1], 1.0, classes
        (x, y), = converted
        return (*carve(x, y, n_test=round(len(y) / 5), seed=spec.split_seed), 1.0, classes)
