"""The typed rows a run writes (cells, checks, exhibits, the run's settings) with their one JSON form,
their typed keys, what each readout means (direction, range, chance line), and the files they live in: per-worker results, the results folder, its lock, the controller's
spool, baselines and CSV export. It imports nothing else of stitchtest."""
import importlib

#: the modules of this package, never looked up in :mod:`.rows`
_SUBMODULES = ('baseline', 'export', 'folder', 'keys', 'readout_spec', 'results', 'rows', 'rundir', 'spool')


def __getattr__(name):
    """What the old ``stitchtest.records`` module held, from :mod:`.rows`, imported on first use so that
    importing the package stays cheap."""
    if name.startswith("__") or name in _SUBMODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.rows"), name)
