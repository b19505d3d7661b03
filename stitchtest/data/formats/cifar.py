"""``cifar10``: the standard CIFAR-10 python batches, directly or in torchvision's
``cifar-10-batches-py/``; and the safe reader of a CIFAR pickle that CIFAR-100 shares."""
from __future__ import annotations

import importlib
import pickle
from pathlib import Path
from typing import List, Tuple

import numpy as np

from ..checks import check_dir, check_labels, listing
from ..errors import DataError
from .base import FORMATS, DataFormat

_CIFAR_SUBDIR = "cifar-10-batches-py"
_CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR_TEST = "test_batch"
_CIFAR_EXPECTED = f"data_batch_1..5 and {_CIFAR_TEST}, directly or in a {_CIFAR_SUBDIR}/ subfolder"


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and plain Python values, nothing else.

    A CIFAR batch is a pickle, and unpickling can run arbitrary code; a data directory given
    on a command line should be able to hand us arrays, not execute programs.
    """

    _ALLOWED = {
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("multiarray", "_reconstruct"), ("multiarray", "scalar"), ("numeric", "_frombuffer"),
        ("_codecs", "encode"),  # how Python 3 writes bytes at pickle protocols 0-2
    }

    def find_class(self, module: str, name: str):
        short = module.rsplit(".", 1)[-1] if module.startswith("numpy.") else module
        if (short, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")
        if module in ("numpy", "_codecs"):
            return getattr(importlib.import_module(module), name)
        # numpy 2 moved numpy.core to numpy._core; accept pickles written by either.
        for candidate in (f"numpy._core.{short}", f"numpy.core.{short}"):
            try:
                return getattr(importlib.import_module(candidate), name)
            except (ImportError, AttributeError):
                continue
        raise pickle.UnpicklingError(f"cannot find {module}.{name} in this numpy")


def read_cifar_batch(path: Path, labels_key: bytes = b"labels", classes: int = 10,
                     what: str = "CIFAR-10 batch") -> Tuple[np.ndarray, np.ndarray]:
    """One CIFAR pickle's images ``(N, 3, 32, 32)`` uint8 and labels, each vetted."""
    try:
        with open(path, "rb") as f:
            batch = _ArrayUnpickler(f, encoding="bytes").load()
    except Exception as err:  # garbage bytes can make the unpickler raise almost anything
        raise DataError(
            f"{path}: cannot unpickle it ({err}); expected a pickled {what} dict"
        ) from err
    if not isinstance(batch, dict):
        raise DataError(f"{path} holds a {type(batch).__name__}; expected a {what} dict")
    batch = {k.encode() if isinstance(k, str) else k: v for k, v in batch.items()}
    if b"data" not in batch or labels_key not in batch:
        raise DataError(
            f"{path} has keys {sorted(map(repr, batch))}; expected keys b'data' and {labels_key!r}"
        )
    data, labels = batch[b"data"], np.asarray(batch[labels_key])
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != 3 * 32 * 32:
        shape = getattr(data, "shape", None)
        raise DataError(
            f"{path} has b'data' of type {type(data).__name__}, shape {shape}, dtype "
            f"{getattr(data, 'dtype', None)}; expected a uint8 array of shape (N, 3072)"
        )
    if labels.ndim != 1 or len(labels) != len(data) or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(
            f"{path} holds {len(data)} images but {labels.size} labels; expected one "
            f"integer label per image"
        )
    labels = labels.astype(np.int64)
    check_labels(labels, path, classes)
    return data.reshape(-1, 3, 32, 32), labels


def _cifar_batches(root: Path) -> List[Path]:
    return [root / n for n in (*_CIFAR_TRAIN, _CIFAR_TEST) if (root / n).is_file()]


def _batches_root(root: Path) -> Path:
    """``root``, or its ``cifar-10-batches-py/`` when the batches are there."""
    if not _cifar_batches(root) and (root / _CIFAR_SUBDIR).is_dir():
        return root / _CIFAR_SUBDIR
    return root


@FORMATS.register
class Cifar10(DataFormat):
    name = "cifar10"
    classes = 10
    by_name = True
    priority = 20
    expected = _CIFAR_EXPECTED
    described = "CIFAR-10 python batches"

    def detect(self, root: Path) -> bool:
        return bool(_cifar_batches(root) or _cifar_batches(root / _CIFAR_SUBDIR))

    def files(self, root: Path) -> List[Path]:
        return _cifar_batches(_batches_root(root))

    def read(self, spec):
        """Whatever training batches exist (at least one) plus ``test_batch``."""
        root = _batches_root(check_dir(spec, self.expected))
        train_paths = [root / n for n in _CIFAR_TRAIN if (root / n).is_file()]
        test_path = root / _CIFAR_TEST
        if not train_paths or not test_path.is_file():
            missing = "training batches data_batch_1..5" if not train_paths else str(test_path)
            raise DataError(
                f"CIFAR-10 directory {root} lacks {missing}; expected {_CIFAR_EXPECTED}; "
                f"found {listing(root)}"
            )
        parts = [read_cifar_batch(p) for p in train_paths]
        train = (np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts]))
        return train, read_cifar_batch(test_path), 255.0, self.classes
