"""``mnist``: a directory of the standard IDX files (gzipped or not), plain or in torchvision's
layout (``root/MNIST/raw/``; Fashion-MNIST and KMNIST use the same files)."""
from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import numpy as np

from ..checks import check_dir, check_labels, listing
from ..errors import DataError
from ..sampling import carve
from .base import FORMATS, DataFormat

_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_IMAGES, _IDX_LABELS = 0x00000803, 0x00000801
#: where torchvision's MNIST-format data sets keep their IDX files, below the root it was given
_MNIST_SUBDIRS = ("raw", "MNIST/raw", "FashionMNIST/raw", "KMNIST/raw")
_MNIST_EXPECTED = (", ".join(f"{n}[.gz]" for pair in _MNIST_FILES.values() for n in pair)
                   + f", directly or in {' or '.join(d + '/' for d in _MNIST_SUBDIRS)}")
_IDX_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Union[str, Path], *, magic: Optional[int] = None) -> np.ndarray:
    """Read one IDX file, gzipped or not, into a native-endian array.

    Compression is recognised by the gzip magic bytes (1f 8b), not by the suffix, because
    downloaded files are often decompressed without being renamed. If ``magic`` is given the
    file's magic number must equal it (0x803 for images, 0x801 for labels). The header's
    dimensions must account for every byte, so truncated or padded files are refused.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        if len(raw) < 4:
            raise DataError(f"{path} is too short ({len(raw)} bytes) to be an IDX file")
        (found,) = struct.unpack(">I", raw[:4])
        if magic is not None and found != magic:
            raise DataError(
                f"{path} has IDX magic number 0x{found:08X}, expected 0x{magic:08X}"
            )
        code, ndim = (found >> 8) & 0xFF, found & 0xFF
        if found >> 16 != 0 or code not in _IDX_DTYPES or ndim == 0:
            raise DataError(f"{path} is not an IDX file (magic number 0x{found:08X})")
        header = 4 + 4 * ndim
        if len(raw) < header:
            raise DataError(f"{path} is truncated: its IDX header needs {header} bytes")
        dims = struct.unpack(f">{ndim}I", raw[4:header])
        dtype = np.dtype(_IDX_DTYPES[code])
        expected, have = math.prod(dims) * dtype.itemsize, len(raw) - header
        if have != expected:
            what = "truncated" if have < expected else "longer than its header says"
            raise DataError(
                f"{path} is {what}: header promises shape {dims} ({expected} bytes of data), "
                f"found {have} bytes"
            )
        array = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
        return array.astype(dtype.newbyteorder("="))  # a writable, native-endian copy
    except DataError:
        raise
    except (gzip.BadGzipFile, EOFError, OSError, struct.error, ValueError, zlib.error) as err:
        raise DataError(f"cannot read IDX file {path}: {err}") from err


def _find_idx(root: Path, base: str) -> Optional[Path]:
    for candidate in (root / base, root / f"{base}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _mnist_root(root: Path) -> Path:
    """``root``, or the torchvision subfolder of it (``MNIST/raw``, ...) that holds the IDX files."""
    for candidate in (root, *(root / sub for sub in _MNIST_SUBDIRS)):
        if any(_find_idx(candidate, base) for pair in _MNIST_FILES.values() for base in pair):
            return candidate
    return root


def _read_mnist_split(images_path: Path, labels_path: Path, classes: int) -> Tuple[np.ndarray, np.ndarray]:
    images = read_idx(images_path, magic=_IDX_IMAGES)  # (N, rows, cols) uint8
    labels = read_idx(labels_path, magic=_IDX_LABELS).astype(np.int64)
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} holds {len(images)} images but {labels_path} holds "
            f"{len(labels)} labels; expected one label per image"
        )
    check_labels(labels, labels_path, classes)
    # Zero-pad 28 -> 32 (the LeNet convention): black border, so no digit is distorted.
    return np.pad(images, ((0, 0), (2, 2), (2, 2)))[:, None], labels


@FORMATS.register
class Mnist(DataFormat):
    name = "mnist"
    size = 32  # zero-padded 28 -> 32 so that a network's cut points (32/16/8/4) halve cleanly
    classes = 10
    by_name = True
    priority = 10
    expected = _MNIST_EXPECTED
    described = "MNIST IDX files"

    def detect(self, root: Path) -> bool:
        return any(_find_idx(_mnist_root(root), base) for pair in _MNIST_FILES.values() for base in pair)

    def files(self, root: Path) -> List[Path]:
        root = _mnist_root(root)
        return [p for pair in _MNIST_FILES.values() for base in pair if (p := _find_idx(root, base))]

    def read(self, spec):
        """Both IDX splits if present; otherwise carve one split 80/20 (10,000 -> 8,000/2,000)."""
        root = _mnist_root(check_dir(spec, self.expected))
        splits: Dict[str, Tuple[np.ndarray, np.ndarray]] = {}
        for split, (images, labels) in _MNIST_FILES.items():
            paths = [_find_idx(root, images), _find_idx(root, labels)]
            if all(p is None for p in paths):
                continue
            for base, found in zip((images, labels), paths):
                if found is None:  # half a split is a broken copy, not an absent split
                    raise DataError(f"{root / base}[.gz] is missing; expected it next to its pair")
            splits[split] = _read_mnist_split(*paths, self.classes)
        if not splits:
            raise DataError(
                f"MNIST directory {root} holds none of the expected IDX files: {_MNIST_EXPECTED} "
                f"(at least one train or t10k pair); found {listing(root)}"
            )
        if len(splits) == 2:
            return splits["train"], splits["test"], 255.0, self.classes
        x, y = next(iter(splits.values()))
        return (*carve(x, y, n_test=round(len(y) / 5), seed=spec.split_seed), 255.0, self.classes)
