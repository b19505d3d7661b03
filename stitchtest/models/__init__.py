"""Networks as named stages (:class:`~stitchtest.models.core.CutModel`), the built-in and registered
families, their training recipe and adversarial attacks, and the zoo that trains each spec once and
caches it. The old ``stitchtest.models`` names come from the package, on first use."""
import importlib

#: the modules of this package, never looked up in :mod:`.core`
_SUBMODULES = ('attacks', 'core', 'training', 'zoo')


def __getattr__(name):
    """What the old ``stitchtest.models`` module held, from :mod:`.core`, imported on first use so that
    importing the package stays cheap."""
    if name.startswith("__") or name in _SUBMODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.core"), name)
