"""Old module paths, importable for one release: ``import stitchtest.objectives`` warns once
(DeprecationWarning) and hands back :mod:`stitchtest.stitching.objectives` itself, the same module
object, so ``isinstance`` checks and monkeypatching keep working. A third-party plug-in written
against the flat layout (``from stitchtest.objectives import Objective``) runs unchanged.

``stitchtest._FlatLayout``, last on ``sys.meta_path``, hands every old name below to
:func:`find_spec`; old names that are now packages
(``stitchtest.data``, ``stitchtest.models``, ``stitchtest.stitching``, ...) need none, as each
package hands out its old module's names itself.
"""
import importlib
import warnings

#: old module -> the module it became
MOVED = {
    'stitchtest.attacks': 'stitchtest.models.attacks',
    'stitchtest.baseline': 'stitchtest.records.baseline',
    'stitchtest.cells': 'stitchtest.engine.cells',
    'stitchtest.checks': 'stitchtest.audit.checks',
    'stitchtest.claims': 'stitchtest.audit.claims',
    'stitchtest.concurrency': 'stitchtest.runtime.concurrency',
    'stitchtest.context': 'stitchtest.engine.context',
    'stitchtest.devices': 'stitchtest.runtime.devices',
    'stitchtest.expectations': 'stitchtest.audit.expectations',
    'stitchtest.export': 'stitchtest.records.export',
    'stitchtest.finish': 'stitchtest.plugin.finish',
    'stitchtest.folder': 'stitchtest.records.folder',
    'stitchtest.functional': 'stitchtest.instruments.functional',
    'stitchtest.ids': 'stitchtest.runtime.ids',
    'stitchtest.invariance': 'stitchtest.measures.invariance',
    'stitchtest.layers': 'stitchtest.stitching.layers',
    'stitchtest.loadgroup': 'stitchtest.plugin.loadgroup',
    'stitchtest.methods': 'stitchtest.engine.methods',
    'stitchtest.nulls': 'stitchtest.instruments.nulls',
    'stitchtest.objectives': 'stitchtest.stitching.objectives',
    'stitchtest.options': 'stitchtest.plugin.options',
    'stitchtest.precision': 'stitchtest.runtime.precision',
    'stitchtest.progress': 'stitchtest.plugin.progress',
    'stitchtest.pytest_plugin': 'stitchtest.plugin.hooks',
    'stitchtest.readouts': 'stitchtest.stitching.readouts',
    'stitchtest.registry': 'stitchtest.runtime.registry',
    'stitchtest.relay': 'stitchtest.plugin.relay',
    'stitchtest.report': 'stitchtest.audit.report',
    'stitchtest.results': 'stitchtest.records.results',
    'stitchtest.rundir': 'stitchtest.records.rundir',
    'stitchtest.sanity': 'stitchtest.instruments.sanity',
    'stitchtest.scales': 'stitchtest.audit.scales',
    'stitchtest.session': 'stitchtest.plugin.session',
    'stitchtest.spool': 'stitchtest.records.spool',
    'stitchtest.stitch': 'stitchtest.stitching.stitch',
    'stitchtest.synthetic': 'stitchtest.instruments.synthetic',
    'stitchtest.tasks': 'stitchtest.data.tasks',
    'stitchtest.training': 'stitchtest.models.training',
    'stitchtest.zoo': 'stitchtest.models.zoo',
}


class _Alias:
    """Loads an old name as the module it became."""

    def __init__(self, new: str):
        self.new = new
        self.spec = None

    def create_module(self, spec):
        module = importlib.import_module(self.new)
        self.spec = module.__spec__
        warnings.warn(f"{spec.name} moved to {self.new}; import it from there (the old path goes in the next "
                      f"release)", DeprecationWarning, stacklevel=2)
        return module

    def exec_module(self, module):
        module.__spec__ = self.spec  # loading set the old name's spec on it: give the module its own back


def find_spec(fullname: str):
    """The spec that loads an old name as the module it became; None for a name that never was."""
    new = MOVED.get(fullname)
    if new is None:
        return None
    from importlib.machinery import ModuleSpec

    return ModuleSpec(fullname, _Alias(new))
