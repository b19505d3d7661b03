"""stitchtest: audit functional-similarity methods against known ground truth."""

import sys

__version__ = "0.1.0"


class _FlatLayout:
    """Old flat module names (``stitchtest.objectives``), for one release. Last on ``sys.meta_path``,
    so it is asked only for a name no other finder has (an old one has no file), and only then
    is :mod:`stitchtest._moved` (the map, the warning) imported: ``import stitchtest`` stays cheap."""

    @staticmethod
    def find_spec(fullname, path=None, target=None):
        if fullname.startswith(__name__ + ".") and fullname.count(".") == 1:
            from ._moved import find_spec

            return find_spec(fullname)
        return None


if _FlatLayout not in sys.meta_path:
    sys.meta_path.append(_FlatLayout)

__all__ = ["compare", "Comparison"]


def __getattr__(name):
    """``stitchtest.compare`` and ``Comparison`` (:mod:`stitchtest.api`), imported on first use so
    that ``import stitchtest`` (the pytest plug-in, the command line) stays cheap."""
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'stitchtest' has no attribute {name!r}")
