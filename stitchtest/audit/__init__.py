"""The testbeds' collaborator (:class:`~stitchtest.audit.core.Audit`), the pure checks, the claims
engine, the expectations lookup, the testbed registry (each testbed folder's known failures and
claims), the scales, and the markdown and figure reports. ``from
stitchtest.audit import Audit`` still works."""
import importlib

#: the modules of this package, never looked up in :mod:`.core`
_SUBMODULES = ('checks', 'claims', 'core', 'expectations', 'report', 'scales', 'statistics', 'testbeds', 'triangle')


def __getattr__(name):
    """What the old ``stitchtest.audit`` module held, from :mod:`.core`, imported on first use so that
    importing the package stays cheap."""
    if name.startswith("__") or name in _SUBMODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.core"), name)
