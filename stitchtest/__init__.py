"""stitchtest: audit functional-similarity methods against known ground truth."""

__version__ = "0.1.0"

from . import _moved

_moved.install()  # old module paths, for one release (stitchtest/_moved.py)

__all__ = ["compare", "Comparison"]


def __getattr__(name):
    """``stitchtest.compare`` and ``Comparison`` (:mod:`stitchtest.api`), imported on first use so
    that ``import stitchtest`` (the pytest plug-in, the command line) stays cheap."""
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'stitchtest' has no attribute {name!r}")
