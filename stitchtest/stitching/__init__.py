"""The stitch (an affine map between two cuts), the objectives it is trained with, the recipe that fits
many at once (:mod:`.fit`), the readouts of a stitched network, and any nn.Module cut at named
layers (:mod:`.layers`). ``from stitchtest.stitching import StitchConfig`` still works."""
import importlib

#: the modules of this package, never looked up in :mod:`.fit`
_SUBMODULES = ('fit', 'layers', 'objectives', 'readouts', 'stitch')


def __getattr__(name):
    """What the old ``stitchtest.stitching`` module held, from :mod:`.fit`, imported on first use so that
    importing the package stays cheap."""
    if name.startswith("__") or name in _SUBMODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.fit"), name)
