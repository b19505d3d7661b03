"""Small image data sets for the similarity audits, loaded the same way every time.

A similarity audit is only as trustworthy as its data: two runs that disagree must disagree
because of the method, never because a split, a crop or a normalisation drifted. So every
loader here is deterministic (seeded, stratified, independent of library versions), every
image ends up as float32 ``(N, C, H, W)`` standardised with the *training* set's statistics,
and every malformed input stops with a :class:`DataError` that names the file and says what
was expected, instead of a numpy/gzip/pickle traceback.

Sources:

* ``digits`` -- scikit-learn's bundled 8x8 digits: needs no files, so the suite always runs.
* ``mnist`` -- a directory of the standard IDX files (gzipped or not), plain or in torchvision's
  layout (``root/MNIST/raw/``; Fashion-MNIST and KMNIST use the same files).
* ``cifar10`` / ``cifar100`` -- the standard CIFAR python pickles, directly or in torchvision's
  ``cifar-10-batches-py/`` / ``cifar-100-python/`` (CIFAR-100's 100 fine labels).
* ``imagefolder`` -- image files in one folder per class (torchvision's ``ImageFolder`` layout),
  with ``train/`` and ``test/`` (or ``val/``) trees or one tree that is split 80/20.
* ``torch`` -- ``module:function`` returning a ``torch.utils.data.Dataset`` of ``(image, label)``
  (a PIL image or a tensor, an int), or a ``(train, test)`` pair of them: any torchvision data
  set, ``ImageFolder`` included (:func:`arrays`).

The class count comes from the data: the format's own (10, or CIFAR-100's 100), the number of
class folders, or a data set's ``classes`` (else its largest label + 1).

:func:`stamp_cue` and :func:`with_cue` plant a class-revealing shortcut, the ground truth for
tests that check whether a method notices that two models solve a task differently.
"""
from __future__ import annotations

import dataclasses
import functools
import gzip
import importlib
import math
import pickle
import hashlib
import re
import json
import os
import struct
import tempfile
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

from ..runtime import ids

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")  # torchvision's

__all__ = [
    "DataError", "DataSpec", "Dataset", "arrays", "load", "num_classes", "read_idx", "stamp_cue", "with_cue",
]


class DataError(ValueError):
    """Data that cannot be loaded as asked; the message names the path and what was expected."""


# Default output side per data set. MNIST is zero-padded 28 -> 32 so that the cut points of a
# network (32/16/8/4) halve cleanly; digits are upsampled 8 -> 16 for the same reason.
DEFAULT_SIZES = {"digits": 16, "mnist": 32, "cifar10": 32, "cifar100": 32, "imagefolder": 32, "torch": 32}
#: Class counts the format fixes; ``imagefolder`` and ``torch`` count their own (:func:`num_classes`).
FORMAT_CLASSES = {"digits": 10, "mnist": 10, "cifar10": 10, "cifar100": 100}

_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_IMAGES, _IDX_LABELS = 0x00000803, 0x00000801
_CIFAR_SUBDIR = "cifar-10-batches-py"
_CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR_TEST = "test_batch"

#: where torchvision's MNIST-format data sets keep their IDX files, below the root it was given
_MNIST_SUBDIRS = ("raw", "MNIST/raw", "FashionMNIST/raw", "KMNIST/raw")
_CIFAR100_SUBDIR = "cifar-100-python"
_CIFAR100_FILES = ("train", "test")
_TEST_DIRS = ("test", "val")  # an ImageFolder's held-out tree, beside train/

_MNIST_EXPECTED = (", ".join(f"{n}[.gz]" for pair in _MNIST_FILES.values() for n in pair)
                   + f", directly or in {' or '.join(d + '/' for d in _MNIST_SUBDIRS)}")
_CIFAR_EXPECTED = f"data_batch_1..5 and {_CIFAR_TEST}, directly or in a {_CIFAR_SUBDIR}/ subfolder"
_CIFAR100_EXPECTED = f"the pickles train and test, directly or in a {_CIFAR100_SUBDIR}/ subfolder"
_FOLDER_EXPECTED = (f"one folder of images per class ({', '.join(IMG_EXTENSIONS)}), directly or in train/ "
                    f"beside {' or '.join(d + '/' for d in _TEST_DIRS)}")


# --------------------------------------------------------------------------------------------
# Specification
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DataSpec:
    """What to load. Frozen and hashable so it can key caches and parametrise tests.

    ``size`` of ``None`` is replaced by the data set's default on construction, so
    ``DataSpec("digits")`` and ``DataSpec("digits", size=16)`` are equal and share one id.
    ``root`` is the data directory, or for ``torch`` the ``module:function`` that makes the data.
    """

    name: str = "digits"
    root: Optional[str] = None
    size: Optional[int] = None
    n_train: Optional[int] = None
    n_test: Optional[int] = None
    split_seed: int = 0

    def __post_init__(self) -> None:
        if self.name not in DEFAULT_SIZES:
            raise DataError(
                f"unknown data set {self.name!r}; expected one of {', '.join(DEFAULT_SIZES)}"
            )
        if self.root is not None and not isinstance(self.root, str):
            object.__setattr__(self, "root", str(self.root))  # accept a Path, keep it hashable
        if self.size is None:
            object.__setattr__(self, "size", DEFAULT_SIZES[self.name])
        for field in ("size", "n_train", "n_test"):
            value = getattr(self, field)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise DataError(f"DataSpec.{field} must be a positive int or None, got {value!r}")
        if not isinstance(self.split_seed, int) or self.split_seed < 0:
            raise DataError(f"DataSpec.split_seed must be an int >= 0, got {self.split_seed!r}")

    def string_id(self) -> str:
        """Stable id for caches and reports. ``root`` is left out on purpose: moving the data
        directory must not invalidate results computed from the same images. What the files
        hold is in (:func:`fingerprint`): another directory with other images or labels is
        other data, and must get its own models, cells and baselines."""
        fields = dict(size=self.size, n_train=self.n_train, n_test=self.n_test, split_seed=self.split_seed)
        files = fingerprint(self)
        return ids.string_id(self, **fields, **({"files": files} if files else {}))

    @classmethod
    def parse(cls, text: str) -> "DataSpec":
        """``"digits"``, ``"mnist"``, ``"cifar10"``, ``"cifar100"``, a directory whose format is
        detected, or ``module:function`` (a ``torch`` data set, see :func:`arrays`).

        A known name wins over a directory of the same name; write ``./mnist`` to mean the
        directory.
        """
        key = str(text).strip()
        if key.lower() in FORMAT_CLASSES:
            return cls(name=key.lower())
        path = Path(key).expanduser()
        if re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*", key) and not path.exists():
            return cls(name="torch", root=key)
        if not path.is_dir():
            raise DataError(
                f"{key!r} is neither a known data set ({', '.join(FORMAT_CLASSES)}), "
                f"an existing directory nor module:function"
            )
        name = _detect(path)
        if name is None:
            raise DataError(
                f"cannot tell which data set {path} holds: expected MNIST IDX files "
                f"({_MNIST_EXPECTED}), CIFAR-10 python batches ({_CIFAR_EXPECTED}), CIFAR-100 "
                f"({_CIFAR100_EXPECTED}) or an ImageFolder ({_FOLDER_EXPECTED})"
            )
        return cls(name=name, root=str(path.resolve()))


def _detect(path: Path) -> Optional[str]:
    """The format of directory ``path``, or None."""
    if any(_find_idx(_mnist_root(path), base) for pair in _MNIST_FILES.values() for base in pair):
        return "mnist"
    if _cifar_batches(path) or _cifar_batches(path / _CIFAR_SUBDIR):
        return "cifar10"
    if _cifar100_root(path) is not None:
        return "cifar100"
    if _folder_splits(path):
        return "imagefolder"
    return None


# --------------------------------------------------------------------------------------------
# Loaded data
# --------------------------------------------------------------------------------------------
@dataclass(eq=False)  # tensors have no single truth value, so no generated __eq__
class Dataset:
    """Train and test tensors, already normalised with the training set's statistics.

    ``mean``/``std`` are kept so that callers can express raw pixel values (e.g. white,
    ``(1 - mean) / std``) in the normalised space. Objects returned by :func:`load` are
    shared through its cache: derive new ones with :meth:`replace`, never edit in place.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    mean: torch.Tensor
    std: torch.Tensor

    @property
    def in_channels(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.x_train.shape[2])

    def to(self, device: Union[str, torch.device]) -> "Dataset":
        tensors = ("x_train", "y_train", "x_test", "y_test", "mean", "std")
        return self.replace(**{k: getattr(self, k).to(device) for k in tensors})

    def replace(self, **changes) -> "Dataset":
        return dataclasses.replace(self, **changes)


def load(spec: Union[DataSpec, str], device: Union[str, torch.device] = "cpu") -> Dataset:
    """Load ``spec`` onto ``device``, once per process: the data sets fit in memory and many
    tests share them, so re-reading and re-normalising would only cost time."""
    if isinstance(spec, str):
        spec = DataSpec.parse(spec)
    return _load_cached(spec, str(torch.device(device)))


@functools.lru_cache(maxsize=16)
def _load_cached(spec: DataSpec, device: str) -> Dataset:
    if device != "cpu":
        return _load_cached(spec, "cpu").to(device)  # reuse the CPU copy
    (x_train, y_train), (x_test, y_test), peak, classes = _read(spec)
    if spec.n_train is not None:
        keep = _stratified_subset(y_train, spec.n_train, spec.split_seed, stream=1)
        x_train, y_train = x_train[keep], y_train[keep]
    if spec.n_test is not None:
        keep = _stratified_subset(y_test, spec.n_test, spec.split_seed, stream=2)
        x_test, y_test = x_test[keep], y_test[keep]
    x_train = _resize(torch.from_numpy(x_train).float() / peak, spec.size)
    x_test = _resize(torch.from_numpy(x_test).float() / peak, spec.size)
    # Statistics of the training images only: the test set must not leak into preprocessing.
    mean = x_train.double().mean(dim=(0, 2, 3))
    std = x_train.double().std(dim=(0, 2, 3), unbiased=False).clamp_min(1e-6)

    def scale(x: torch.Tensor) -> torch.Tensor:
        return ((x.double() - mean[:, None, None]) / std[:, None, None]).float()

    return Dataset(
        name=spec.name,
        x_train=scale(x_train).contiguous(),
        y_train=torch.from_numpy(y_train).long(),
        x_test=scale(x_test).contiguous(),
        y_test=torch.from_numpy(y_test).long(),
        num_classes=classes,
        mean=mean.float(),
        std=std.float(),
    )


def check(spec: DataSpec) -> int:
    """Read and vet ``spec``'s files without keeping them: a :class:`DataError` (or a warning
    on degenerate data) before a run starts, not in every test. Returns the class count."""
    return _read(spec)[3]


def num_classes(spec: Union[DataSpec, str]) -> int:
    """How many classes ``spec``'s task has: the format's own, else counted in the data (read once)."""
    spec = DataSpec.parse(spec) if isinstance(spec, str) else spec
    return FORMAT_CLASSES.get(spec.name) or load(spec).num_classes


def _read(spec: DataSpec):
    reader = {"digits": _read_digits, "mnist": _read_mnist, "cifar10": _read_cifar10, "cifar100": _read_cifar100,
              "imagefolder": _read_folder, "torch": _read_torch}[spec.name]
    (x_train, y_train), (x_test, y_test), peak, classes = reader(spec)
    _check_degenerate(spec, x_train, x_test, np.concatenate([y_train, y_test]), classes)
    return (x_train, y_train), (x_test, y_test), peak, classes


def _check_degenerate(spec: DataSpec, x_train: np.ndarray, x_test: np.ndarray, labels: np.ndarray,
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


# --------------------------------------------------------------------------------------------
# Content fingerprint
# --------------------------------------------------------------------------------------------
FINGERPRINTS = "data-fingerprints.json"


def _data_files(spec: DataSpec) -> List[Tuple[str, Path]]:
    """The files the reader of ``spec`` reads, each with the name its fingerprint hashes: the file
    name, or for an ImageFolder the path below the root (the class folder is the label)."""
    if spec.root is None or spec.name == "torch":
        return []
    root = Path(spec.root).expanduser()
    if spec.name == "mnist":
        root = _mnist_root(root)
        files = [p for pair in _MNIST_FILES.values() for base in pair if (p := _find_idx(root, base))]
    elif spec.name == "cifar100":
        root = _cifar100_root(root) or root
        files = [root / n for n in _CIFAR100_FILES if (root / n).is_file()]
    elif spec.name == "imagefolder":
        return [(f.relative_to(root).as_posix(), f) for f in _folder_files(root)]
    else:
        if not _cifar_batches(root) and (root / _CIFAR_SUBDIR).is_dir():
            root = root / _CIFAR_SUBDIR
        files = _cifar_batches(root)
    return [(p.name, p) for p in files]


def _folder_files(root: Path) -> Tuple[Path, ...]:
    """An ImageFolder's image files; listed once per process (:func:`_folder_listing`)."""
    return _folder_listing(str(root.resolve()))


@functools.lru_cache(maxsize=16)
def _folder_listing(root: str) -> Tuple[Path, ...]:
    """Listed once per process, since every model and cell id asks for the data id and a tree
    can hold thousands of files: files added during a run are seen by the next run."""
    return tuple(f for tree in _folder_splits(Path(root)).values() for files in tree.values() for f in files)


def fingerprint(spec: DataSpec) -> Optional[str]:
    """12 hex digits of the SHA-256 of ``spec``'s data files (name and bytes), or None (digits,
    or no files). Hashed once per file version (path, size, mtime) and remembered in
    ``$STITCHTEST_CACHE/data-fingerprints.json``, so each later use costs a few ``stat`` calls.
    So a file rewritten in place with the same size *and* the same mtime (``touch -r``, a copy
    that keeps times) keeps its old id: give such data a new directory, or delete that file.
    Names are hashed as the OS gives them (:func:`os.fsencode`), so any file name works.
    A ``torch`` data set (no files to name) is hashed by content: its images and labels."""
    if spec.name == "torch" and spec.root is not None:
        return _content_hash(spec.root, spec.size)
    files = _data_files(spec)
    if not files:
        return None
    if spec.name == "imagefolder":
        return _folder_fingerprint(spec.root, tuple(name for name, _ in files))
    versions = tuple((str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for _, p in files)
    return _fingerprint(versions)


@functools.lru_cache(maxsize=16)
def _folder_fingerprint(root: str, names: Tuple[str, ...]) -> str:
    """An ImageFolder's fingerprint, once per process: its files' names below the root (class and
    file) and bytes, through the same remembered store as the other formats."""
    base = Path(root).expanduser()
    versions = tuple((str((base / n).resolve()), (base / n).stat().st_size, (base / n).stat().st_mtime_ns)
                     for n in names)
    return _fingerprint(versions, names)


@functools.lru_cache(maxsize=4)
def _content_hash(source: str, size: int) -> str:
    (converted, pair, classes) = _torch_arrays(source, size)
    h = hashlib.sha256(repr((pair, classes)).encode())
    for x, y in converted:
        h.update(repr(x.shape).encode() + np.ascontiguousarray(x).tobytes() + np.ascontiguousarray(y).tobytes())
    return h.hexdigest()[:12]


@functools.lru_cache(maxsize=64)
def _fingerprint(versions: Tuple[Tuple[str, int, int], ...], names: Optional[Tuple[str, ...]] = None) -> str:
    from ..runtime.paths import default_root  # the model cache's directory

    store = default_root() / FINGERPRINTS
    key = ids.short_hash(repr(versions) if names is None else repr((versions, names)), 32)
    try:
        known = json.loads(store.read_text())
        known = known if isinstance(known, dict) else {}
    except (OSError, ValueError):
        known = {}
    if isinstance(known.get(key), str):
        return known[key]
    h = hashlib.sha256()
    for i, (path, _, _) in enumerate(versions):
        h.update(os.fsencode(Path(path).name if names is None else names[i]) + b"\0")  # any name the OS gives
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        h.update(b"\0")
    digest = h.hexdigest()[:12]
    try:  # a read-only (or missing) cache only costs hashing again next time
        fd, tmp = tempfile.mkstemp(dir=store.parent, prefix=FINGERPRINTS, suffix=".tmp")
    except OSError:
        return digest
    try:
        with os.fdopen(fd, "w") as f:
            json.dump({**known, key: digest}, f, indent=0, sort_keys=True)
        os.replace(tmp, store)
    except OSError:
        os.unlink(tmp)
    return digest


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resize; antialiased when shrinking so that downsampling does not alias."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                         antialias=size < x.shape[-1])


# --------------------------------------------------------------------------------------------
# Deterministic stratified selection
# --------------------------------------------------------------------------------------------
def _stratified_order(y: np.ndarray, seed: int, stream: int) -> np.ndarray:
    """A seeded permutation whose every prefix holds each class in its overall proportion
    (to within one image).

    Written here rather than borrowed from scikit-learn so that a split, and every cached
    result keyed on it, cannot change with a library upgrade. Each class is shuffled and its
    members spread evenly over [0, 1); sorting by that position interleaves the classes.
    """
    rng = np.random.default_rng([seed, stream])
    position = np.empty(len(y), dtype=np.float64)
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        position[members] = (np.arange(len(members)) + 0.5) / len(members)
    return np.argsort(position, kind="stable")


def _stratified_subset(y: np.ndarray, n: int, seed: int, stream: int) -> np.ndarray:
    """Indices (in original order) of at most ``n`` images, stratified by class."""
    return np.sort(_stratified_order(y, seed, stream)[:n])


def _carve(x: np.ndarray, y: np.ndarray, n_test: int, seed: int):
    """Split one labelled pool into disjoint, stratified train and test parts."""
    order = _stratified_order(y, seed, stream=0)
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    return (x[train], y[train]), (x[test], y[test])


# --------------------------------------------------------------------------------------------
# digits
# --------------------------------------------------------------------------------------------
def _read_digits(spec: DataSpec):
    """scikit-learn's 1,797 digits (values 0..16), split 1,400 train / 397 test."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = bunch.images.astype(np.uint8)[:, None]  # (1797, 1, 8, 8), integer values 0..16
    y = bunch.target.astype(np.int64)
    return (*_carve(x, y, n_test=397, seed=spec.split_seed), 16.0, FORMAT_CLASSES["digits"])


# --------------------------------------------------------------------------------------------
# MNIST (IDX files)
# --------------------------------------------------------------------------------------------
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


def _read_mnist_split(images_path: Path, labels_path: Path) -> Tuple[np.ndarray, np.ndarray]:
    images = read_idx(images_path, magic=_IDX_IMAGES)  # (N, rows, cols) uint8
    labels = read_idx(labels_path, magic=_IDX_LABELS).astype(np.int64)
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} holds {len(images)} images but {labels_path} holds "
            f"{len(labels)} labels; expected one label per image"
        )
    _check_labels(labels, labels_path, FORMAT_CLASSES["mnist"])
    # Zero-pad 28 -> 32 (the LeNet convention): black border, so no digit is distorted.
    return np.pad(images, ((0, 0), (2, 2), (2, 2)))[:, None], labels


def _read_mnist(spec: DataSpec):
    """Both IDX splits if present; otherwise carve one split 80/20 (10,000 -> 8,000/2,000)."""
    root = _mnist_root(_check_dir(spec))
    splits: Dict[str, Tuple[np.ndarray, np.ndarray]] = {}
    for split, (images, labels) in _MNIST_FILES.items():
        paths = [_find_idx(root, images), _find_idx(root, labels)]
        if all(p is None for p in paths):
            continue
        for base, found in zip((images, labels), paths):
            if found is None:  # half a split is a broken copy, not an absent split
                raise DataError(f"{root / base}[.gz] is missing; expected it next to its pair")
        splits[split] = _read_mnist_split(*paths)
    if not splits:
        raise DataError(
            f"MNIST directory {root} holds none of the expected IDX files: {_MNIST_EXPECTED} "
            f"(at least one train or t10k pair); found {_listing(root)}"
        )
    if len(splits) == 2:
        return splits["train"], splits["test"], 255.0, FORMAT_CLASSES["mnist"]
    x, y = next(iter(splits.values()))
    return (*_carve(x, y, n_test=round(len(y) / 5), seed=spec.split_seed), 255.0, FORMAT_CLASSES["mnist"])


def _mnist_root(root: Path) -> Path:
    """``root``, or the torchvision subfolder of it (``MNIST/raw``, ...) that holds the IDX files."""
    for candidate in (root, *(root / sub for sub in _MNIST_SUBDIRS)):
        if any(_find_idx(candidate, base) for pair in _MNIST_FILES.values() for base in pair):
            return candidate
    return root


# --------------------------------------------------------------------------------------------
# CIFAR-10 (python batches)
# --------------------------------------------------------------------------------------------
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


def _cifar_batches(root: Path) -> List[Path]:
    return [root / n for n in (*_CIFAR_TRAIN, _CIFAR_TEST) if (root / n).is_file()]


def _read_cifar_batch(path: Path, labels_key: bytes = b"labels", classes: int = 10,
                      what: str = "CIFAR-10 batch") -> Tuple[np.ndarray, np.ndarray]:
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
    _check_labels(labels, path, classes)
    return data.reshape(-1, 3, 32, 32), labels


def _read_cifar10(spec: DataSpec):
    """Whatever training batches exist (at least one) plus ``test_batch``."""
    root = _check_dir(spec)
    if not _cifar_batches(root) and (root / _CIFAR_SUBDIR).is_dir():
        root = root / _CIFAR_SUBDIR
    train_paths = [root / n for n in _CIFAR_TRAIN if (root / n).is_file()]
    test_path = root / _CIFAR_TEST
    if not train_paths or not test_path.is_file():
        missing = "training batches data_batch_1..5" if not train_paths else str(test_path)
        raise DataError(
            f"CIFAR-10 directory {root} lacks {missing}; expected {_CIFAR_EXPECTED}; "
            f"found {_listing(root)}"
        )
    parts = [_read_cifar_batch(p) for p in train_paths]
    train = (np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts]))
    return train, _read_cifar_batch(test_path), 255.0, FORMAT_CLASSES["cifar10"]


def _cifar100_root(root: Path) -> Optional[Path]:
    """``root`` or its ``cifar-100-python/`` if that holds a CIFAR-100 pickle, else None."""
    for candidate in (root, root / _CIFAR100_SUBDIR):
        if any((candidate / n).is_file() for n in _CIFAR100_FILES):
            return candidate
    return None


def _read_cifar100(spec: DataSpec):
    """``train`` and ``test`` with their 100 fine labels (the coarse 20 are another task)."""
    given = _check_dir(spec)
    root = _cifar100_root(given) or given
    missing = [n for n in _CIFAR100_FILES if not (root / n).is_file()]
    if missing:
        raise DataError(f"CIFAR-100 directory {root} lacks {' and '.join(missing)}; expected "
                        f"{_CIFAR100_EXPECTED}; found {_listing(root)}")
    train, test = (_read_cifar_batch(root / n, b"fine_labels", FORMAT_CLASSES["cifar100"], "CIFAR-100 pickle")
                   for n in _CIFAR100_FILES)
    return train, test, 255.0, FORMAT_CLASSES["cifar100"]


# --------------------------------------------------------------------------------------------
# Any image data set: torch Datasets and ImageFolder trees
# --------------------------------------------------------------------------------------------
def _image_array(image, where: str) -> np.ndarray:
    """One image as float32 ``(C, H, W)`` in [0, 1] (for 8-bit data) from a PIL image or a tensor."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - torchvision depends on Pillow
        Image = None
    if Image is not None and isinstance(image, Image.Image):
        if image.mode not in ("L", "RGB"):
            image = image.convert("L" if image.mode in ("1", "LA", "I;16", "I") else "RGB")
        a = np.asarray(image, dtype=np.float32) / 255.0
        return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
    if isinstance(image, torch.Tensor) and image.dim() in (2, 3) and (image.is_floating_point()
                                                                   or image.dtype == torch.uint8):
        t = image.detach().cpu()
        t = t.float() / 255.0 if t.dtype == torch.uint8 else t.float()
        return (t[None] if t.dim() == 2 else t).numpy()
    shape = f" of shape {tuple(image.shape)}" if hasattr(image, "shape") else ""
    raise DataError(f"{where} is a {type(image).__name__}{shape}; expected a PIL image or an image tensor "
                    f"(C, H, W) or (H, W), float (as ToTensor makes it) or uint8")


def _label(label, where: str) -> int:
    if isinstance(label, torch.Tensor) and label.numel() == 1 and not label.is_floating_point():
        return int(label.item())
    if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
        return int(label)
    raise DataError(f"{where} has label {label!r} ({type(label).__name__}); expected an int class index")


def _items(dataset):
    """``dataset``'s samples in order: by index for a map-style data set, else by iteration."""
    if hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__"):
        return (dataset[i] for i in range(len(dataset)))
    return iter(dataset)


def arrays(dataset, size: Optional[int] = None, where: str = "data set") -> Tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` from any ``torch.utils.data.Dataset`` of ``(image, label)``: images as float32
    ``(N, C, H, W)`` in [0, 1] for 8-bit data, labels as int64.

    An image is a PIL image (any mode: greyscale stays one channel, the rest become RGB) or a
    tensor; labels are ints. If some images are greyscale and some colour, all become colour; if
    sizes differ, every image is resized to ``size`` x ``size`` (an error without ``size``).
    ``torchvision.datasets.ImageFolder`` and the torchvision data sets without a transform fit.
    """
    xs, ys = [], []
    for i, item in enumerate(_items(dataset)):
        if not isinstance(item, (tuple, list)) or len(item) < 2:
            what = f"{type(item).__name__} of {len(item)}" if isinstance(item, (tuple, list)) else type(item).__name__
            raise DataError(f"{where}: sample {i} is a {what}; expected an (image, label) pair")
        xs.append(_image_array(item[0], f"{where}: sample {i}'s image"))
        ys.append(_label(item[1], f"{where}: sample {i}"))
    if not xs:
        raise DataError(f"{where} is empty; expected (image, label) samples")
    if len({x.shape[0] for x in xs}) > 1:
        xs = [np.repeat(x, 3, axis=0) if x.shape[0] == 1 else x for x in xs]
    if len({x.shape[0] for x in xs}) > 1:
        raise DataError(f"{where}: images have {sorted({x.shape[0] for x in xs})} channels; expected 1 or 3")
    shapes = sorted({x.shape[1:] for x in xs})
    if len(shapes) > 1:
        if size is None:
            raise DataError(f"{where}: images have {len(shapes)} sizes ({shapes[0]}, {shapes[-1]}, ...); "
                            f"give a size to resize them to")
        xs = [_resize(torch.from_numpy(x)[None], size)[0].numpy() for x in xs]
    return np.stack(xs).astype(np.float32, copy=False), np.asarray(ys, dtype=np.int64)


def _class_count(dataset, labels: np.ndarray) -> int:
    """``len(dataset.classes)`` where a data set names its classes (torchvision's do), else max + 1."""
    while not hasattr(dataset, "classes") and hasattr(dataset, "dataset"):  # Subset and the like
        dataset = dataset.dataset
    classes = getattr(dataset, "classes", None)
    return len(classes) if classes is not None and len(classes) else int(labels.max()) + 1


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
    classes = max(_class_count(d, y) for d, (_, y) in zip(parts, converted))
    for (_, y), name in zip(converted, ("train", "test")):
        _check_labels(y, f"data {source!r} ({name})", classes)
    return converted, pair, classes


def _read_torch(spec: DataSpec):
    """``module:function`` -> its ``(train, test)`` data sets, or one data set split 80/20."""
    converted, pair, classes = _torch_arrays(spec.root, spec.size)
    if pair:
        return converted[0], converted[1], 1.0, classes
    (x, y), = converted
    return (*_carve(x, y, n_test=round(len(y) / 5), seed=spec.split_seed), 1.0, classes)


def _class_tree(root: Path) -> Dict[str, List[Path]]:
    """Class folder name -> its image files (recursively, sorted), for folders that hold any."""
    if not root.is_dir():
        return {}
    tree = {}
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(f for f in d.rglob("*") if f.suffix.lower() in IMG_EXTENSIONS and f.is_file())
        if files:
            tree[d.name] = files
    return tree


def _folder_splits(root: Path) -> Dict[str, Dict[str, List[Path]]]:
    """``{"train": tree, "test": tree}`` for a train/ + test/ (or val/) layout, ``{"all": tree}``
    for one tree of class folders, or ``{}`` when ``root`` is no ImageFolder."""
    train = _class_tree(root / "train")
    if train:
        for name in _TEST_DIRS:
            if (test := _class_tree(root / name)):
                return {"train": train, "test": test}
        return {"all": train}
    tree = _class_tree(root)
    return {"all": tree} if tree else {}


class _Files(torch.utils.data.Dataset):
    """An ImageFolder's files as (PIL image, label) samples, labelled by ``classes``' order."""

    def __init__(self, tree: Dict[str, List[Path]], classes: List[str]):
        self.samples = [(f, classes.index(c)) for c in tree for f in tree[c]]
        self.classes = classes

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        from PIL import Image, UnidentifiedImageError

        path, label = self.samples[i]
        try:
            with Image.open(path) as image:
                image.load()
                return image, label
        except (OSError, UnidentifiedImageError, ValueError) as err:
            raise DataError(f"{path}: cannot read it as an image ({err})") from err


def _read_folder(spec: DataSpec):
    """One folder per class: train/ and test/ (or val/) trees, else one tree split 80/20."""
    root = _check_dir(spec)
    splits = _folder_splits(root)
    if not splits:
        raise DataError(f"ImageFolder directory {root} holds no image files in class folders; expected "
                        f"{_FOLDER_EXPECTED}; found {_listing(root)}")
    classes = sorted(splits.get("train", splits.get("all")))
    extra = sorted(set(splits.get("test", {})) - set(classes))
    if extra:
        raise DataError(f"ImageFolder directory {root}: the test classes {', '.join(extra[:5])} have no training "
                        f"folder; expected the test tree's classes among train/'s ({', '.join(classes[:5])}, ...)")
    converted = {k: arrays(_Files(tree, classes), spec.size, f"{root / ('' if k == 'all' else k)}")
                 for k, tree in splits.items()}
    if "all" in converted:
        x, y = converted["all"]
        return (*_carve(x, y, n_test=round(len(y) / 5), seed=spec.split_seed), 1.0, len(classes))
    return converted["train"], converted["test"], 1.0, len(classes)


# --------------------------------------------------------------------------------------------
# Shared checks
# --------------------------------------------------------------------------------------------
def _check_dir(spec: DataSpec) -> Path:
    expected = {"mnist": _MNIST_EXPECTED, "cifar10": _CIFAR_EXPECTED, "cifar100": _CIFAR100_EXPECTED,
                "imagefolder": _FOLDER_EXPECTED}[spec.name]
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


def _check_labels(labels: np.ndarray, path: Union[Path, str], classes: int) -> None:
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise DataError(
            f"{path} has labels in [{labels.min()}, {labels.max()}]; expected 0..{classes - 1}"
        )


def _listing(root: Path, limit: int = 10) -> str:
    names = sorted(p.name for p in root.iterdir())
    more = f", ... ({len(names)} in all)" if len(names) > limit else ""
    shown = ", ".join(names[:limit]) + more
    return shown or "nothing"


# --------------------------------------------------------------------------------------------
# Planted shortcut
# --------------------------------------------------------------------------------------------
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


def with_cue(
    ds: Dataset, p_train: float, p_test: float, *, kind: str = "position", seed: int = 0
) -> Dataset:
    """``ds`` with a shortcut cue on a fraction ``p_train`` of training and ``p_test`` of test
    images. Train and test draw from different seeds so their stamped subsets are unrelated;
    the cue is pure white (in normalised units) so it is as conspicuous as the data allows."""
    white = (1.0 - ds.mean) / ds.std
    kw = dict(num_classes=ds.num_classes, kind=kind, white=white)
    extra = (f",{kind}" if kind != "position" else "") + (f",seed={seed}" if seed else "")
    return ds.replace(
        name=f"{ds.name}+cue({p_train},{p_test}{extra})",
        x_train=stamp_cue(ds.x_train, ds.y_train, p_train, seed=2 * seed, **kw),
        x_test=stamp_cue(ds.x_test, ds.y_test, p_test, seed=2 * seed + 1, **kw),
    )
