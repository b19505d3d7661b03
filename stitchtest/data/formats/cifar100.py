"""``cifar100``: the CIFAR-100 python pickles ``train`` and ``test`` with their 100 fine labels,
directly or in torchvision's ``cifar-100-python/``."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

from ..checks import check_dir, listing
from ..errors import DataError
from .base import FORMATS, DataFormat
from .cifar import read_cifar_batch

_CIFAR100_SUBDIR = "cifar-100-python"
_CIFAR100_FILES = ("train", "test")
_CIFAR100_EXPECTED = f"the pickles train and test, directly or in a {_CIFAR100_SUBDIR}/ subfolder"


def _cifar100_root(root: Path) -> Optional[Path]:
    """``root`` or its ``cifar-100-python/`` if that holds a CIFAR-100 pickle, else None."""
    for candidate in (root, root / _CIFAR100_SUBDIR):
        if any((candidate / n).is_file() for n in _CIFAR100_FILES):
            return candidate
    return None


@FORMATS.register
class Cifar100(DataFormat):
    name = "cifar100"
    classes = 100
    by_name = True
    priority = 30
    expected = _CIFAR100_EXPECTED
    described = "CIFAR-100"

    def detect(self, root: Path) -> bool:
        return _cifar100_root(root) is not None

    def files(self, root: Path) -> List[Path]:
        root = _cifar100_root(root) or root
        return [root / n for n in _CIFAR100_FILES if (root / n).is_file()]

    def read(self, spec):
        """``train`` and ``test`` with their 100 fine labels (the coarse 20 are another task)."""
        given = check_dir(spec, self.expected)
        root = _cifar100_root(given) or given
        missing = [n for n in _CIFAR100_FILES if not (root / n).is_file()]
        if missing:
            raise DataError(f"CIFAR-100 directory {root} lacks {' and '.join(missing)}; expected "
                            f"{_CIFAR100_EXPECTED}; found {listing(root)}")
        train, test = (read_cifar_batch(root / n, b"fine_labels", self.classes, "CIFAR-100 pickle")
                       for n in _CIFAR100_FILES)
        return train, test, 255.0, self.classes
