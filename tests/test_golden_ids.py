"""Ids that key results, caches and baselines must not change when code moves: every cell key the
default audit plans (smoke scale, digits, every registered method) and the :attr:`ModelSpec.key` of
every model those cells use, compared with ``tests/golden/cell_keys.txt``.

The testbeds are run against a planning audit that records each key and hands back failed rows
(nothing is trained or stitched), the way ``tests/test_testbed_plans.py`` plans without computing.
A testbed that stops early on the failed rows stops at the same place before and after a move.
Regenerate (only when an id is meant to change) with ``python tests/test_golden_ids.py``.
"""
import functools
import inspect
import itertools
import math
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from stitchtest.audit import Audit, label
from stitchtest.data import DataSpec
from stitchtest.engine.methods import names, get
from stitchtest.models import build
from stitchtest.records import CellRow
from stitchtest.audit.scales import SCALES

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_testbed_plans import TESTBEDS, load_testbed  # noqa: E402

GOLDEN = Path(__file__).resolve().parent / "golden" / "cell_keys.txt"


class Planner(Audit):
    """An audit that records what it is asked for and computes nothing."""

    def __init__(self):
        super().__init__(SCALES["smoke"], DataSpec("digits"), zoo=SimpleNamespace(model=_untrained), writer=None)
        self.keys, self.specs = [], {}

    def cells(self, testbed, method, planned):
        rows = []
        for p in planned:
            key = self.key(testbed, method, p.cell)
            self.keys.append(key)
            for spec in (p.cell.sender, p.cell.receiver):
                self.specs[spec.string_id()] = spec.key
            rows.append(CellRow(key=key, testbed=testbed, method=method.name, pair=p.pair, seed=p.seed,
                                sender_cut=p.cell.sender_cut, receiver_cut=p.cell.receiver_cut,
                                readouts={"failure": "planned"}, method_id=method.string_id(),
                                cell=p.cell.string_id(), sender=label(p.cell.sender), receiver=label(p.cell.receiver),
                                sender_depth=math.nan, receiver_depth=math.nan))
        return rows

    def check(self, *args, **kwargs):
        return None

    def expect(self, *args, **kwargs):
        return None

    def exhibit(self, *args, **kwargs):
        return None


@functools.lru_cache(maxsize=None)
def _untrained(spec):
    """A model's cuts need no training: the planner's zoo builds the untrained network."""
    return build(spec.arch, spec.width)


def _readout(param, method):
    """The cross-layer testbed's ``readout`` fixture."""
    if param == "primary":
        return method.primary
    if method.kind != "objective":
        pytest.skip("a latent readout exists only for stitches")
    return "fit_r2"


#: the testbeds' own fixtures and ``pytest_generate_tests`` parameters, as a default run gives them
FIXTURES = {"arch": SCALES["smoke"].cross_pairs, "readout": ("primary", "fit_r2")}
REQUEST = SimpleNamespace(config=SimpleNamespace(getoption=lambda name: None))


def _calls(function):
    """Every argument set pytest would call a testbed test with (its ``parametrize`` marks)."""
    params = [m for m in getattr(function, "pytestmark", []) if m.name == "parametrize"]
    grids = [[{name: v} for v in FIXTURES[name]] for name in inspect.signature(function).parameters
             if name in FIXTURES]
    for m in params:
        argnames, values = m.args[0], m.args[1]
        argnames = [a.strip() for a in argnames.split(",")] if isinstance(argnames, str) else list(argnames)
        grids.append([dict(zip(argnames, v if len(argnames) > 1 else (v,))) for v in values])
    for combo in itertools.product(*grids):
        yield {k: v for d in combo for k, v in d.items()}


def plan() -> str:
    """The golden text: one line per planned cell key (in plan order), then one per model key."""
    audit = Planner()
    for path in sorted(TESTBEDS.glob("*/test_*.py")):
        module = load_testbed(path.stem)
        for name, function in sorted(inspect.getmembers(module, inspect.isfunction)):
            if not name.startswith("test_") or function.__module__ != module.__name__:
                continue
            wanted = inspect.signature(function).parameters
            for method_name in (names() if "method" in wanted else [None]):
                for kwargs in _calls(function):
                    method = get(method_name) if method_name else None
                    args = {"audit": audit, "method": method, "request": REQUEST, **kwargs}
                    try:
                        if "readout" in args:
                            args["readout"] = _readout(args["readout"], method)
                        function(**{k: v for k, v in args.items() if k in wanted})
                    except BaseException as err:  # a skip, or a testbed that stops on failed rows
                        if isinstance(err, KeyboardInterrupt):
                            raise
    return _compact(list(dict.fromkeys(audit.keys)), audit.specs, audit.scale.stitch().string_id())


def _compact(keys, specs, stitch) -> str:
    """One line per model (``model KEY STRING_ID``) and the stitch's id, then each distinct cell key
    in plan order with every model's string id written as ``<KEY>`` and the stitch's as
    ``<stitch>`` (the file stays small and still names every byte)."""
    lines = [f"model {key} {sid}" for sid, key in sorted(specs.items())] + [f"part stitch {stitch}"]
    longest_first = sorted([*specs.items(), (stitch, "stitch")], key=lambda item: -len(item[0]))
    for k in keys:
        for sid, key in longest_first:
            k = k.replace(sid, f"<{key}>")
        lines.append(f"cell {k}")
    return "\n".join(lines) + "\n"


def _expand(text: str):
    """The golden file's full ids: ``(cell keys, {model string id: key})``."""
    specs, parts, keys = {}, {}, []
    for line in text.splitlines():
        kind, rest = line.split(" ", 1)
        if kind == "cell":
            keys.append(rest)
        else:
            key, sid = rest.split(" ", 1)
            parts[key] = sid
            if kind == "model":
                specs[sid] = key
    for key, sid in parts.items():
        keys = [k.replace(f"<{key}>", sid) for k in keys]
    return keys, specs


@pytest.mark.filterwarnings("ignore:Mean of empty slice", "ignore:All-NaN slice")  # a plan computes no readout
def test_cell_and_model_keys_are_unchanged():
    assert GOLDEN.exists(), "tests/golden/cell_keys.txt is missing: python tests/test_golden_ids.py"
    (expected, expected_models), (got, got_models) = _expand(GOLDEN.read_text()), _expand(plan())
    assert len(expected) > 1000 and len(expected_models) > 10
    assert got_models == expected_models
    changed = [(e, g) for e, g in zip(expected, got) if e != g]
    assert not changed and len(expected) == len(got), (
        f"{len(changed)} of {len(expected)} golden cell keys changed (now {len(got)}); first: {changed[:1]}")


if __name__ == "__main__":
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(plan())
    print(f"wrote {GOLDEN}")
