"""Which testbeds exist, and what each one knows: its known failures and the papers' claims.

A testbed is a folder: ``test_<name>.py`` (the pytest module), ``expect.py`` (plain data:
``EXPECTATIONS``, ``CLAIMS``, and ``ORDER``, where its claims stand in the summary's table) and
``README.md``. Under xdist the controller imports no test module, yet it judges the claims at the
end of the run, and ``stitchtest report`` renders reports offline; so each ``expect.py`` is loaded
here by its path, once, without the test module beside it.

The folders are the built-in ones (:func:`testbeds_dir`), those an installed package names under
the ``stitchtest.testbeds`` entry-point group (a package whose folder is a testbed folder or holds
testbed folders), and those :func:`register` adds in-process (a ``conftest.py``). Adding a testbed
is one folder; nothing in the package changes.
"""
from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import List, NamedTuple, Tuple

from ..runtime.registry import entry_points

GROUP = "stitchtest.testbeds"
_REGISTERED: List[Path] = []


class Testbed(NamedTuple):
    name: str
    folder: Path
    expectations: tuple
    claims: tuple
    order: float


def testbeds_dir() -> Path:
    """The built-in testbeds: inside the installed package (a wheel ships them as
    ``stitchtest/testbeds``), else beside it (a checkout, where they are ``testbeds/``)."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "testbeds", package.parent / "testbeds"):
        if candidate.is_dir() and any(candidate.glob("*/expect.py")):
            return candidate
    archive = next((p for p in package.parents if p.is_file()), None)
    if archive is not None:  # a wheel (a zip) on PYTHONPATH: Python imports from it, pytest cannot collect in it
        raise FileNotFoundError(f"stitchtest is imported from inside {archive}, and pytest cannot run testbeds "
                                f"from inside an archive; install it (pip install {archive}) or unzip it")
    raise FileNotFoundError(f"no testbeds in {package} or beside it; reinstall stitchtest")


def _folders_in(root: Path) -> List[Path]:
    """``root`` itself if it is a testbed folder, else the testbed folders in it, by name."""
    root = Path(root).resolve()
    return [root] if (root / "expect.py").is_file() else sorted(p.parent for p in root.glob("*/expect.py"))


def plugin_roots() -> List[Path]:
    """The folders of the packages that installed distributions name under :data:`GROUP`."""
    roots = []
    for ep in entry_points(GROUP):
        spec = importlib.util.find_spec(ep.module)
        if spec is None or not spec.submodule_search_locations:
            raise ImportError(f"entry point {ep.name} = {ep.value} ({GROUP}) names no package")
        roots.append(Path(list(spec.submodule_search_locations)[0]))
    return roots


def roots() -> List[Path]:
    """Where testbed folders are found: the built-in ones (if any ship), the plug-ins', the registered."""
    try:
        builtin = [testbeds_dir()]
    except FileNotFoundError:
        builtin = []
    return builtin + plugin_roots() + list(_REGISTERED)


@lru_cache(maxsize=None)
def _expect_module(folder: Path):
    spec = importlib.util.spec_from_file_location(f"stitchtest_testbed_{folder.name}_expect", folder / "expect.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def expect_of(path) -> ModuleType:
    """The ``expect.py`` of the testbed folder holding ``path`` (a test module passes its
    ``__file__``), the one module object :func:`load` reads, so a constant such as a threshold is
    defined once, there, and the test module reads it from it."""
    path = Path(path).resolve()
    return _expect_module(path if path.is_dir() else path.parent)


def load(folder: Path) -> Testbed:
    """One folder's ``expect.py``, executed by path (it imports no test module)."""
    folder = Path(folder).resolve()
    module = _expect_module(folder)
    expectations, claims = tuple(getattr(module, "EXPECTATIONS", ())), tuple(getattr(module, "CLAIMS", ()))
    strays = sorted({e.testbed for e in (*expectations, *claims)} - {folder.name})
    if strays:
        raise ValueError(f"{folder / 'expect.py'}: entries for testbed {', '.join(strays)}; a folder holds its "
                         f"own testbed's ({folder.name!r}) only")
    return Testbed(folder.name, folder, expectations, claims, float(getattr(module, "ORDER", float("inf"))))


@lru_cache(maxsize=None)
def testbeds() -> Tuple[Testbed, ...]:
    """Every testbed found, once per process; claims table order (``ORDER``, then name)."""
    found = {}
    for root in roots():
        for folder in _folders_in(root):
            if folder.name in found and found[folder.name].folder != folder:
                raise ValueError(f"two testbeds named {folder.name!r}: {found[folder.name].folder} and {folder}")
            found[folder.name] = load(folder)
    return tuple(sorted(found.values(), key=lambda t: (t.order, t.name)))


def register(folder) -> None:
    """Add a testbed folder (or a folder of them) in-process, e.g. from a ``conftest.py``."""
    _REGISTERED.append(Path(folder))
    testbeds.cache_clear()


def expectations() -> tuple:
    """Every testbed's known failures and reported checks."""
    return tuple(e for t in testbeds() for e in t.expectations)


def claims() -> tuple:
    """Every testbed's claims, in the order of the summary's claims table."""
    return tuple(c for t in testbeds() for c in t.claims)
