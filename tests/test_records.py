"""``stitchtest.records``: one typed record per row kind, its JSON the rows stitchtest has always written."""
import json
from dataclasses import fields, replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stitchtest.records.folder import ResultsFolder
from stitchtest.records import (KINDS, CellRow, CheckRow, ExhibitRow, Record, ResultsError, RunRow, RunSettings,
                                of_kind, run_of)
from stitchtest.records.results import ResultsWriter, load_rows, read_rows

BASELINE = Path(__file__).resolve().parents[1] / "examples" / "stitchtest-cosine" / "baseline.jsonl"

# Rows as stitchtest 0.1.0 wrote them before there were records (from a results folder of that
# code, readouts and texts shortened): they must load, and write back exactly as they were.
OLD_ROWS = [
    '{"audited": ["dm", "tlm"], "command": "pytest testbeds -n 4", "data": "digits(size=16,n_train=None,n_test=None,'
    'split_seed=0)", "key": "run", "kind": "run", "methods": "all", "scale": "smoke", "seeds": 3, "time": '
    '1796132599.4076777, "versions": {"python": "3.11.7", "stitchtest": "0.1.0"}, "worker": "controller"}',
    '{"arch": "vgg4", "audited": ["dm"], "command": "pytest testbeds --stitch-arch vgg4", "data": "digits(size=16)", '
    '"key": "run", "kind": "run", "methods": "dm", "scale": "smoke", "seeds": 2, "versions": {}}',
    '{"cell": "cell(sender=model(seed=0),sender_cut=layer1.0,receiver=model(seed=1),receiver_cut=layer1.0,robust=True)"'
    ', "key": "adversarial|tlm()|cell(sender=model(seed=0),sender_cut=layer1.0,receiver=model(seed=1),receiver_cut='
    'layer1.0,robust=True)|stitch(steps=200)", "kind": "cell", "method": "tlm", "method_id": "tlm()", "pair": '
    '"std->std", "readouts": {"accuracy": 0.9622166246851386, "kl": null, "latent_error@layer1.0": 0.33, "seconds": '
    '1.5}, "receiver": "standard/s1", "receiver_cut": "layer1.0", "receiver_depth": 0.25, "seed": 0, "sender": '
    '"standard/s0", "sender_cut": "layer1.0", "sender_depth": 0.25, "testbed": "adversarial", "time": 1796132796.39, '
    '"worker": "gw1"}',
    '{"key": "tb|dm()|cell(x)|stitch()", "kind": "cell", "method": "dm", "method_id": "dm()", "pair": "a->b", '
    '"readouts": {"failure": "non-finite loss"}, "receiver": "standard/s1", "receiver_cut": "stem", "receiver_depth": '
    '0.0, "seed": 1, "sender": "standard/s2", "sender_cut": "stem", "sender_depth": 0.0, "testbed": "tb"}',
    '{"better": "higher", "check": "separation_clean", "detail": {"chance": 0.5, "per_cut": {"layer1.0": 0.71}}, '
    '"figure": "mean AUPRC 0.61 over 4 cuts", "key": "adversarial|separation_clean|tlm", "kind": "check", "method": '
    '"tlm", "outcome": "known-fail", "per_seed": {"gap": [0.0009, null], "value": [0.6875, 0.6458]}, "readout": '
    '"accuracy", "reason": "Robust and standard networks look alike", "testbed": "adversarial", "time": 1796132796.3, '
    '"value": 0.6074915824915825, "worker": "gw1"}',
    '{"images": null, "key": "cross_layer|sanity", "kind": "exhibit", "name": "sanity", "table": {"headers": ["a", '
    '"b"], "rows": [["EV", "0.4"]]}, "testbed": "cross_layer", "text": "MSE per element", "time": 1.0, "title": '
    '"Sanity table", "worker": "gw0"}',
]


@pytest.mark.parametrize("line", OLD_ROWS, ids=lambda line: json.loads(line)["kind"])
def test_rows_written_before_records_load_and_write_back_unchanged(line):
    obj = json.loads(line)
    row = Record.from_json(obj)
    assert type(row) is KINDS[obj["kind"]] and row.key == obj["key"] and row.extra == {}
    assert row.to_json() == obj


def test_the_old_rows_read_as_attributes():
    run, arch_run, cell, failed, check, exhibit = (Record.from_json(json.loads(line)) for line in OLD_ROWS)
    assert run.settings == RunSettings("smoke", "digits(size=16,n_train=None,n_test=None,split_seed=0)", 3,
                                       audited=("dm", "tlm"), versions={"python": "3.11.7", "stitchtest": "0.1.0"},
                                       command="pytest testbeds -n 4")
    assert (run.worker, arch_run.settings.arch, arch_run.worker) == ("controller", "vgg4", None)
    assert (cell.method_label, cell.seed, cell.receiver_depth, cell.readouts["kl"]) == ("tlm()", 0, 0.25, None)
    assert not cell.failed and failed.failed and cell.cell.startswith("cell(")
    assert check.per_seed["gap"] == [0.0009, None] and check.outcome == "known-fail" and check.value > 0.6
    assert exhibit.table["rows"] == [["EV", "0.4"]] and exhibit.images is None


def test_the_committed_baseline_loads_whole_and_saves_back_the_same_json():
    lines = BASELINE.read_text().splitlines()
    rows = read_rows(BASELINE)
    assert [r.to_json() for r in rows] == [json.loads(line) for line in lines]
    assert {type(r) for r in rows} == {RunRow, CellRow, CheckRow} and run_of(rows).settings.scale == "smoke"
    assert all(r.cell is None and r.worker is None for r in of_kind(rows, CellRow))  # a baseline leaves them out


def test_unknown_fields_survive_a_round_trip_through_a_results_file(tmp_path):
    """A row of a newer stitchtest keeps what this version does not know, so nothing is lost."""
    newer = {**json.loads(OLD_ROWS[2]), "gpu": "H200", "provenance": {"host": "a"}}
    row = Record.from_json(newer)
    assert row.extra == {"gpu": "H200", "provenance": {"host": "a"}}
    ResultsWriter(tmp_path, "gw0").append(row)
    (back,) = load_rows(tmp_path)
    assert back == row and back.to_json() == newer
    run = Record.from_json({**json.loads(OLD_ROWS[0]), "cluster": "x"})
    assert run.extra == {"cluster": "x"} and run.to_json()["cluster"] == "x"


@pytest.mark.parametrize("obj, message", [
    ({"kind": "verdict", "key": "k"}, r"unknown row kind 'verdict' \(this stitchtest reads cell, check, exhibit, run\)"),
    ({"kind": "check", "key": "k", "testbed": "t"}, "a check row needs the field.s. check, method, outcome"),
    ({"kind": "run", "key": "run", "scale": "smoke"}, "a run row needs the field.s. data, seeds"),
    ({"kind": "run", "key": "run", "scale": "smoke", "data": "d", "seeds": 1, "audited": "dm"}, "field 'audited'.*list"),
    ({"kind": "exhibit", "key": 3}, "missing string field 'key'"),
    (["kind", "cell"], "expected a JSON object, got list"),
])
def test_what_cannot_be_read_is_an_error_saying_where_and_why(obj, message):
    with pytest.raises(ResultsError, match=rf"^here:1: {message}"):
        Record.from_json(obj, "here:1")


# ---------------------------------------------------------------- round trips of any record

_names = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=12)
_scalars = st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False, allow_infinity=False) \
    | _names
_json = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_names, inner, max_size=3),
                     max_leaves=8)
_opt_float = st.none() | st.floats(0, 1)


def _extra(cls):
    taken = {f.name for f in fields(cls)} | {"kind"} | ({f.name for f in fields(RunSettings)} if cls is RunRow else set())
    return st.dictionaries(_names.filter(lambda n: n not in taken), _json, max_size=2)


_common = dict(key=_names, worker=st.none() | _names, time=st.none() | st.floats(0, 2e9))
RECORDS = {
    CellRow: st.builds(CellRow, testbed=_names, method=_names, pair=_names, seed=st.integers(0, 200),
                       sender_cut=_names, receiver_cut=_names, readouts=st.dictionaries(_names, _json, max_size=4),
                       method_id=st.none() | _names, cell=st.none() | _names, sender=st.none() | _names,
                       receiver=st.none() | _names, sender_depth=_opt_float, receiver_depth=_opt_float,
                       extra=_extra(CellRow), **_common),
    CheckRow: st.builds(CheckRow, testbed=_names, check=_names, method=_names, outcome=_names,
                        readout=st.none() | _names, figure=_names, value=_opt_float, better=st.sampled_from(
                            ["higher", "lower"]), reason=st.none() | _names,
                        detail=st.dictionaries(_names, _json, max_size=3),
                        per_seed=st.dictionaries(_names, st.lists(_opt_float, max_size=3), max_size=2),
                        extra=_extra(CheckRow), **_common),
    ExhibitRow: st.builds(ExhibitRow, testbed=_names, name=_names, title=_names, text=_names,
                          table=st.none() | st.dictionaries(_names, _json, max_size=2),
                          images=st.none() | st.dictionaries(_names, _json, max_size=2), extra=_extra(ExhibitRow),
                          **_common),
    RunRow: st.builds(RunRow, settings=st.builds(
        RunSettings, scale=_names, data=_names, seeds=st.integers(1, 10), methods=_names,
        audited=st.none() | st.lists(_names, max_size=3).map(tuple), arch=st.none() | _names,
        num_classes=st.none() | st.integers(2, 1000), versions=st.dictionaries(_names, _names, max_size=2),
        command=_names), extra=_extra(RunRow), **_common),
}


@pytest.mark.parametrize("cls", list(RECORDS), ids=lambda c: c.kind)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_every_record_round_trips_through_json_text(cls, data):
    row = data.draw(RECORDS[cls])
    text = json.dumps(row.to_json(), sort_keys=True, allow_nan=False)
    back = Record.from_json(json.loads(text))
    assert back == row and type(back) is cls and back.to_json() == row.to_json()


def test_every_kind_has_a_strategy():
    assert set(RECORDS) == set(KINDS.values())


# ---------------------------------------------------------------- settings and file names


def test_run_settings_say_what_differs_and_skip_what_an_old_run_did_not_record():
    base = RunSettings("smoke", "digits", 3, audited=("dm", "tlm"))
    assert base.differences(base, RunSettings.RESUME) == []
    other = replace(base, seeds=2, arch="vgg4", audited=("dm",))
    assert other.differences(base, RunSettings.MATCH) == ["seeds 3 (this run: 2)", "arch None (this run: 'vgg4')"]
    assert other.differences(base, RunSettings.RESUME)[-1] == "audited ['dm', 'tlm'] (this run: ['dm'])"
    assert base.differences(replace(base, audited=None), RunSettings.RESUME) == []  # not recorded: not compared
    assert [k for k, _ in base.items()] == ["scale", "data", "seeds", "methods", "audited", "versions", "command"]


def test_the_results_folder_names_every_file(tmp_path):
    folder = ResultsFolder(tmp_path)
    assert folder.results("gw3") == tmp_path / "results-gw3.jsonl"
    assert folder.progress("main") == tmp_path / "progress-main.log"
    assert (folder.lock.name, folder.session.name, folder.previous.name) == (
        ".stitchtest.lock", ".stitchtest-session", "previous")
    for name in ("results-gw1.jsonl", "results-gw0.jsonl", "progress-gw0.log", "results.csv", "progress-x.txt"):
        (tmp_path / name).write_text("")
    assert [p.name for p in folder.results_files()] == ["results-gw0.jsonl", "results-gw1.jsonl"]
    assert folder.progress_logs() == [("gw0", tmp_path / "progress-gw0.log")]
