"""What the old ``stitchtest.data`` module held, by its old names, from the modules that own them
now: :mod:`.spec` (``DataSpec``), :mod:`.dataset` (``Dataset``, ``load``), :mod:`.formats` (one
module per format), :mod:`.fingerprints`, :mod:`.cue`, :mod:`.checks`, :mod:`.adapter`.
``__all__`` is the public part; the other names are the old module's internals, kept importable
for one release and not to be relied on."""
from __future__ import annotations

from .adapter import arrays
from .cue import stamp_cue, with_cue
from .dataset import Dataset, check, load, num_classes
from .errors import DataError
from .fingerprints import FINGERPRINTS
from .formats import BUILTIN as _BUILTIN
from .formats import get as _format
from .formats.folder import IMG_EXTENSIONS
from .formats.idx import read_idx
from .spec import DataSpec, fingerprint

#: the built-in formats' default image side and fixed class counts, by name
DEFAULT_SIZES = {name: _format(name).size for name in _BUILTIN}
FORMAT_CLASSES = {name: _format(name).classes for name in _BUILTIN if _format(name).classes}

__all__ = [
    "DataError", "DataSpec", "Dataset", "arrays", "load", "num_classes", "read_idx", "stamp_cue", "with_cue",
]
