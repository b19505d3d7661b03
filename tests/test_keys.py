"""Typed row keys (stitchtest.records.keys): ``str`` is the key results files hold, ``parse`` its inverse."""
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stitchtest.records.keys import CellKey, CheckKey

GOLDEN = Path(__file__).resolve().parent / "golden" / "cell_keys.txt"

#: a test module's name: no ``|``
testbeds = st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True)
#: ids written by stitchtest or a user (a method id may hold a ``|``: a function named ``a|b``)
ids = st.text(min_size=0, max_size=20)
plain_ids = st.text(alphabet=st.characters(blacklist_characters="|"), max_size=20)


@settings(max_examples=300, deadline=None)
@given(testbeds, ids, ids, plain_ids)
def test_a_cell_key_round_trips_given_its_rows_method_and_cell(testbed, method_id, cell_id, stitch_id):
    key = CellKey(testbed, method_id, cell_id, stitch_id)
    text = str(key)
    assert text == f"{testbed}|{method_id}|{cell_id}|{stitch_id}"  # the form results files hold
    assert CellKey.parse(text, testbed, method_id, cell_id) == key
    assert CellKey.parse(text, method_id=method_id) == key  # a baseline row keeps no cell id
    assert CellKey.parse(text, cell_id=cell_id) == key  # an old row keeps no method id
    assert key.work == text[len(testbed) + 1:] == CellKey.work_of(text)


@settings(max_examples=300, deadline=None)
@given(testbeds, plain_ids, plain_ids, plain_ids)
def test_a_cell_key_without_a_bar_in_method_or_cell_round_trips_alone(testbed, method_id, cell_id, stitch_id):
    key = CellKey(testbed, method_id, cell_id, stitch_id)
    assert CellKey.parse(str(key)) == key


def test_an_ambiguous_or_foreign_cell_key_is_refused():
    with pytest.raises(ValueError, match="cannot be told apart"):
        CellKey.parse("t|a|b|cell|stitch")  # method a|b, or cell b|cell?
    with pytest.raises(ValueError, match="testbed"):
        CellKey.parse("t|m|c|s", testbed="other")
    with pytest.raises(ValueError, match="method"):
        CellKey.parse("t|m|c|s", method_id="n")
    with pytest.raises(ValueError):
        CellKey.parse("no bar at all")


def test_every_golden_cell_key_parses_and_prints_byte_identical():
    lines = [line[len("cell "):] for line in GOLDEN.read_text(encoding="utf-8").splitlines() if line.startswith("cell ")]
    assert len(lines) > 1000
    for line in lines:
        key = CellKey.parse(line)
        assert str(key) == line
        assert key.method_id.endswith(")") and key.cell_id.startswith("cell(") and key.stitch_id == "<stitch>"


@settings(max_examples=200, deadline=None)
@given(testbeds, st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True), ids)
def test_a_check_key_round_trips(testbed, check, method):
    key = CheckKey(testbed, check, method)
    assert str(key) == f"{testbed}|{check}|{method}"
    assert CheckKey.parse(str(key)) == key


def test_the_audit_writes_its_keys_through_the_typed_key(tmp_path):
    """The audit's key and its reuse key are the typed key's forms."""
    from types import SimpleNamespace

    from stitchtest.audit import Audit
    from stitchtest.audit.scales import SCALES
    from stitchtest.data import DataSpec
    from stitchtest.engine.cells import Cell
    from stitchtest.engine.methods import get

    audit = Audit(SCALES["smoke"], DataSpec("digits"), zoo=SimpleNamespace(), writer=None)
    spec = audit.spec(seed=0)
    cell = Cell(spec, "layer1.0", audit.spec(seed=1), "layer2.0")
    method = get("tlm")
    key = audit.cell_key("tb", method, cell)
    assert audit.key("tb", method, cell) == str(key) == f"tb|{method.string_id()}|{cell.string_id()}|" \
                                                       f"{SCALES['smoke'].stitch().string_id()}"
    assert audit._work(method, cell) == key.work
