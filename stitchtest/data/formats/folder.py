"""``imagefolder``: image files in one folder per class (torchvision's ``ImageFolder`` layout),
with ``train/`` and ``test/`` (or ``val/``) trees or one tree that is split 80/20. The class count
is the number of class folders (``train/``'s, sorted)."""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import torch

from ..adapter import arrays
from ..checks import check_dir, listing
from ..errors import DataError
from ..fingerprints import of_files
from ..sampling import carve
from .base import FORMATS, DataFormat

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")  # torchvision's
_TEST_DIRS = ("test", "val")  # an ImageFolder's held-out tree, beside train/
_FOLDER_EXPECTED = (f"one folder of images per class ({', '.join(IMG_EXTENSIONS)}), directly or in train/ "
                    f"beside {' or '.join(d + '/' for d in _TEST_DIRS)}")


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


@functools.lru_cache(maxsize=16)
def _folder_listing(root: str) -> Tuple[Path, ...]:
    """Listed once per process, since every model and cell id asks for the data id and a tree
    can hold thousands of files: files added during a run are seen by the next run."""
    return tuple(f for tree in _folder_splits(Path(root)).values() for files in tree.values() for f in files)


@functools.lru_cache(maxsize=16)
def _folder_fingerprint(root: str, names: Tuple[str, ...]) -> str:
    """An ImageFolder's fingerprint, once per process: its files' names below the root (class and
    file) and bytes, through the same remembered store as the other formats."""
    base = Path(root).expanduser()
    return of_files([base / n for n in names], names)


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


@FORMATS.register
class ImageFolder(DataFormat):
    name = "imagefolder"
    priority = 90  # the catch-all: any directory of class folders with images
    expected = _FOLDER_EXPECTED
    described = "an ImageFolder"

    def detect(self, root: Path) -> bool:
        return bool(_folder_splits(root))

    def files(self, root: Path) -> List[Path]:
        """Every image file (listed once per process: :func:`_folder_listing`)."""
        return list(_folder_listing(str(root.resolve())))

    def fingerprint(self, spec) -> Optional[str]:
        """Hashes each file under its path below the root: the class folder is the label, so an
        image moved to another class is other data."""
        if spec.root is None:
            return None
        root = Path(spec.root).expanduser()
        files = self.files(root)
        return _folder_fingerprint(spec.root, tuple(f.relative_to(root).as_posix() for f in files)) if files else None

    def read(self, spec):
        """One folder per class: train/ and test/ (or val/) trees, else one tree split 80/20."""
        root = check_dir(spec, self.expected)
        splits = _folder_splits(root)
        if not splits:
            raise DataError(f"ImageFolder directory {root} holds no image files in class folders; expected "
                            f"{_FOLDER_EXPECTED}; found {listing(root)}")
        classes = sorted(splits.get("train", splits.get("all")))
        extra = sorted(set(splits.get("test", {})) - set(classes))
        if extra:
            raise DataError(f"ImageFolder directory {root}: the test classes {', '.join(extra[:5])} have no training "
                            f"folder; expected the test tree's classes among train/'s ({', '.join(classes[:5])}, ...)")
        converted = {k: arrays(_Files(tree, classes), spec.size, f"{root / ('' if k == 'all' else k)}")
                     for k, tree in splits.items()}
        if "all" in converted:
            x, y = converted["all"]
            return (*carve(x, y, n_test=round(len(y) / 5), seed=spec.split_seed), 1.0, len(classes))
        return converted["train"], converted["test"], 1.0, len(classes)
