"""What to load (:class:`DataSpec`), read from a name, a directory or ``module:function``, and
its id: every model key, cell key and baseline carries it, so it must never change by accident."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..runtime import ids
from . import formats
from .errors import DataError


@dataclass(frozen=True)
class DataSpec:
    """What to load. Frozen and hashable so it can key caches and parametrise tests.

    ``size`` of ``None`` is replaced by the data set's default on construction, so
    ``DataSpec("digits")`` and ``DataSpec("digits", size=16)`` are equal and share one id.
    ``root`` is the data directory, or for ``torch`` the ``module:function`` that makes the data.
    ``name`` is a data format's (:mod:`stitchtest.data.formats`).
    """

    name: str = "digits"
    root: Optional[str] = None
    size: Optional[int] = None
    n_train: Optional[int] = None
    n_test: Optional[int] = None
    split_seed: int = 0

    def __post_init__(self) -> None:
        fmt = formats.get(self.name)
        if self.root is not None and not isinstance(self.root, str):
            object.__setattr__(self, "root", str(self.root))  # accept a Path, keep it hashable
        if self.size is None:
            object.__setattr__(self, "size", fmt.size)
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
        detected, or ``module:function`` (a ``torch`` data set, see :func:`~stitchtest.data.adapter.arrays`).

        A known name wins over a directory of the same name; write ``./mnist`` to mean the
        directory.
        """
        key = str(text).strip()
        known = formats.ordered()
        named = [f.name for f in known if f.by_name]
        if key.lower() in named:
            return cls(name=key.lower())
        source = next((f.name for f in known if f.source(key)), None)
        if source is not None:
            return cls(name=source, root=key)
        path = Path(key).expanduser()
        if not path.is_dir():
            raise DataError(
                f"{key!r} is neither a known data set ({', '.join(named)}), "
                f"an existing directory nor module:function"
            )
        name = formats.detect(path)
        if name is None:
            raise DataError(f"cannot tell which data set {path} holds: expected {formats.detectable()}")
        return cls(name=name, root=str(path.resolve()))


def fingerprint(spec: DataSpec) -> Optional[str]:
    """12 hex digits of the SHA-256 of ``spec``'s data (:mod:`~stitchtest.data.fingerprints`), or
    None (digits, or no files): which files, or what content, is its format's to say."""
    return formats.get(spec.name).fingerprint(spec)
