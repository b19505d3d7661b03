"""Data sets by spec (``DataSpec`` -> ``Dataset``), read by one module per data format in a registry
(``formats/``: embedded digits, MNIST, CIFAR, image folders, torch data sets, and a third party's
through entry points), their content fingerprints, the planted shortcut cue, degenerate-data
checks and the task relabelling (class, parity). The old module's names are importable from the
package itself (``from stitchtest.data import load``), imported on first use."""
import importlib

#: the modules of this package, never looked up in :mod:`.core`
_SUBMODULES = ('adapter', 'checks', 'core', 'cue', 'dataset', 'errors', 'fingerprints', 'formats', 'images',
               'sampling', 'spec', 'tasks', 'view')


def __getattr__(name):
    """What the old ``stitchtest.data`` module held, from :mod:`.core`, imported on first use so that
    importing the package stays cheap."""
    if name.startswith("__") or name in _SUBMODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.core"), name)
