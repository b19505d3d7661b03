"""The package's layout is its architecture: sub-packages in layers, imports pointing down only,
no import cycle, each sub-package saying what it owns, and the old flat module paths still working
for one release (with a DeprecationWarning) as the very same module objects."""
import ast
import importlib
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import stitchtest
from stitchtest import _moved

PACKAGE = Path(stitchtest.__file__).resolve().parent
#: bottom first: a module may import from its own layer and the ones before it, never after. The
#: top-level modules (``api``, ``cli``) sit above them all; the root package itself (``stitchtest``:
#: ``__version__`` and the lazy public face) may be imported from anywhere.
LAYERS = ["runtime", "records", "data", "models", "stitching", "measures", "engine", "instruments", "audit", "plugin"]
#: old module names that are now packages: each hands out its old module's names (lazily)
KEPT = {"data": "core", "models": "core", "stitching": "fit", "measures": "core", "audit": "core", "records": "rows"}


def modules():
    """Every module of the package by dotted name, with its file."""
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


MODULES = dict(modules())


def imports(name, path):
    """The modules of stitchtest that ``name`` imports, anywhere in its file (lazy imports too)."""
    is_package = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "stitchtest"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] != "stitchtest":
                continue
            for a in node.names:  # ``from pkg import module`` imports the module
                out.add(f"{module}.{a.name}" if f"{module}.{a.name}" in MODULES else module)
    return out


def rank(module):
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in LAYERS:
        return LAYERS.index(parts[1])
    return len(LAYERS)  # api, cli, _moved: the top


def test_no_module_imports_from_a_higher_layer():
    upward = sorted(f"{name} -> {target}" for name, path in MODULES.items() for target in imports(name, path)
                    if target != "stitchtest" and rank(target) > rank(name))
    assert not upward


def test_no_import_cycle():
    graph = {name: {t for t in imports(name, path) if t in MODULES and t != name and t != "stitchtest"}
             for name, path in MODULES.items()}
    done, path = set(), []

    def visit(node):
        if node in path:
            return path[path.index(node):] + [node]
        if node in done:
            return None
        path.append(node)
        for nxt in sorted(graph[node]):
            cycle = visit(nxt)
            if cycle:
                return cycle
        path.pop()
        done.add(node)
        return None

    for node in sorted(graph):
        cycle = visit(node)
        assert cycle is None, " -> ".join(cycle)


def test_the_layer_list_names_every_sub_package():
    subpackages = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py") if p.parent.name != "testbeds")
    assert subpackages == sorted(LAYERS)


@pytest.mark.parametrize("package", LAYERS)
def test_each_sub_package_says_what_it_owns_in_one_paragraph(package):
    doc = ast.get_docstring(ast.parse((PACKAGE / package / "__init__.py").read_text()))
    assert doc and len(doc.split()) >= 15 and "\n\n" not in doc.strip(), doc


def test_importing_the_package_and_the_plugin_imports_no_torch():
    code = ("import sys, stitchtest, stitchtest.plugin.hooks\n"
            f"for p in {LAYERS!r}: __import__('stitchtest.' + p)\n"
            "print(sorted(m for m in ('torch', 'numpy', 'matplotlib', 'stitchtest._moved') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"  # the old paths' map too is read only when an old name is imported


def test_the_example_plugins_old_import_works_warns_once_and_is_the_same_class():
    code = ("import sys, warnings\n"
            "with warnings.catch_warnings(record=True) as caught:\n"
            "    warnings.simplefilter('always')\n"
            "    from stitchtest.objectives import Objective\n"  # as examples/stitchtest-cosine wrote it
            "    import stitchtest.objectives as again\n"
            "from stitchtest.stitching.objectives import Objective as new\n"
            "assert Objective is new and again is sys.modules['stitchtest.stitching.objectives']\n"
            "assert again.__spec__.name == 'stitchtest.stitching.objectives', again.__spec__\n"
            "print(len(caught), caught[0].category.__name__, caught[0].filename, caught[0].message)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    count, category, filename, message = out.split(" ", 3)
    assert (count, category, filename) == ("1", "DeprecationWarning", "<string>")  # once, at the importer
    assert message.startswith("stitchtest.objectives moved to stitchtest.stitching.objectives")


@pytest.mark.parametrize("old, new", sorted(_moved.MOVED.items()))
def test_every_old_path_is_the_new_module(old, new):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert importlib.import_module(old) is importlib.import_module(new)
    assert new in MODULES


@pytest.mark.parametrize("package", sorted(KEPT))
def test_an_old_module_that_is_now_a_package_hands_out_its_names(package):
    """``from stitchtest.stitching import StitchConfig`` and ``from stitchtest.data import load`` (the
    torchvision example) read the same objects as before; no submodule shadows one of them."""
    pkg = importlib.import_module(f"stitchtest.{package}")
    core = importlib.import_module(f"stitchtest.{package}.{KEPT[package]}")
    names = [n for n in vars(core) if not n.startswith("_")]
    assert names and all(getattr(pkg, n) is getattr(core, n) for n in names)
    with pytest.raises(AttributeError):
        pkg.no_such_name


def test_no_lab_notebook_words_in_code_comments_or_expectation_reasons():
    """Facts are cited by anchor (docs/lab/facts.md#fN), never by "session N" or by a file outside
    the repository (SCIENCE.md); the testbeds' expect.py (expectation reasons) included."""
    import re

    pattern = re.compile(r"\bsessions? \d|\bSCIENCE\.md", re.IGNORECASE)
    files = sorted(PACKAGE.rglob("*.py")) + sorted((PACKAGE.parent / "testbeds").rglob("*.py"))
    hits = [f"{p}:{n}" for p in files for n, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert len(files) > 50 and not hits
