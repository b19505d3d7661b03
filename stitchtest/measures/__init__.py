"""Similarity measures on activations (CKA, Procrustes, ...) registered by name, and the invariance
checks a measure must pass (:mod:`.invariance`). The old module's names come from the package."""
import importlib

#: the modules of this package, never looked up in :mod:`.core`
_SUBMODULES = ('core', 'invariance')


def __getattr__(name):
    """What the old ``stitchtest.measures`` module held, from :mod:`.core`, imported on first use so that
    importing the package stays cheap."""
    if name.startswith("__") or name in _SUBMODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.core"), name)
