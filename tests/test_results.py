"""``stitchtest.records.results``: durable per-worker JSONL rows, merging, crash tolerance, strict errors."""
from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

from stitchtest.records import results
from stitchtest.records import CellRow, CheckRow
from stitchtest.records.results import (ResultsError, ResultsWriter, cells, checks, done_keys, load_rows, read_rows,
                                        save_rows)


def cell(key, **readouts):
    return CellRow(key=key, testbed="tb", method="dm", pair="a->b", seed=0, sender_cut="stem", receiver_cut="stem",
                   readouts=readouts)


def check(key, outcome="pass", **more):
    return CheckRow(key=key, testbed="tb", check="c", method="dm", outcome=outcome, **more)


def test_round_trip_adds_worker_and_time(tmp_path):
    writer = ResultsWriter(tmp_path / "new" / "dir", worker="gw0")
    writer.append(cell("a", accuracy=0.5))
    writer.append(check("b"))
    assert writer.path.name == "results-gw0.jsonl"
    rows = load_rows(tmp_path / "new" / "dir")
    assert [r.key for r in rows] == ["a", "b"]
    assert rows[0].readouts == {"accuracy": 0.5}
    assert all(r.worker == "gw0" and isinstance(r.time, float) for r in rows)
    assert writer.path.read_text().count("\n") == 2  # one line per row


def test_given_worker_and_time_are_kept(tmp_path):
    ResultsWriter(tmp_path, "gw0").append(cell("a").stamped("other", 1.0))
    (row,) = load_rows(tmp_path)
    assert (row.worker, row.time) == ("other", 1.0)


def test_every_append_is_fsynced(tmp_path, monkeypatch):
    synced = []
    monkeypatch.setattr(results.os, "fsync", lambda fd: synced.append(fd))
    writer = ResultsWriter(tmp_path)
    writer.append(cell("a"))
    writer.append(cell("b"))
    assert len(synced) == 2


def test_only_records_are_written(tmp_path):
    with pytest.raises(TypeError, match="record"):
        ResultsWriter(tmp_path).append({"kind": "cell", "key": "a"})


def test_workers_are_merged_and_the_last_occurrence_wins(tmp_path):
    w0, w1 = ResultsWriter(tmp_path, "gw0"), ResultsWriter(tmp_path, "gw1")
    w0.append(cell("shared", accuracy=0.1))
    w0.append(cell("only0"))
    w0.append(cell("twice", accuracy=0.1))
    w0.append(cell("twice", accuracy=0.2))  # later line of the same file wins
    w1.append(cell("shared", accuracy=0.9))  # later file (sorted by name) wins
    w1.append(check("only1"))
    rows = {r.key: r for r in load_rows(tmp_path)}
    assert set(rows) == {"shared", "only0", "twice", "only1"}
    assert rows["shared"].readouts["accuracy"] == 0.9
    assert rows["twice"].readouts["accuracy"] == 0.2
    assert done_keys(tmp_path) == set(rows)
    assert [r.key for r in cells(rows.values())] == ["shared", "only0", "twice"]
    assert [r.key for r in checks(rows.values())] == ["only1"]


def test_missing_directory_has_no_rows(tmp_path):
    assert load_rows(tmp_path / "nope") == []
    assert done_keys(tmp_path / "nope") == set()


def _crash_mid_write(path, row):
    """Simulate a worker killed mid-write: the first half of a row, no newline."""
    line = json.dumps(row.to_json())
    with open(path, "a") as f:
        f.write(line[: len(line) // 2])


def test_an_unfinished_last_line_is_skipped_with_a_warning(tmp_path):
    writer = ResultsWriter(tmp_path, "gw0")
    writer.append(cell("a"))
    writer.append(cell("b"))
    _crash_mid_write(writer.path, cell("c"))
    with pytest.warns(UserWarning, match=r"results-gw0\.jsonl:3"):
        rows = load_rows(tmp_path)
    assert [r.key for r in rows] == ["a", "b"]
    with pytest.warns(UserWarning):
        assert done_keys(tmp_path) == {"a", "b"}  # the unfinished row is not done: resume redoes it


def test_reopening_drops_the_unfinished_line_so_appends_stay_valid(tmp_path):
    writer = ResultsWriter(tmp_path, "gw0")
    writer.append(cell("a"))
    _crash_mid_write(writer.path, cell("b"))
    with pytest.warns(UserWarning, match="unfinished"):
        resumed = ResultsWriter(tmp_path, "gw0")
    resumed.append(cell("b"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [r.key for r in load_rows(tmp_path)] == ["a", "b"]


def test_a_complete_row_missing_only_its_newline_is_kept(tmp_path):
    path = tmp_path / "results-gw0.jsonl"
    path.write_text(json.dumps(cell("a").to_json()) + "\n" + json.dumps(cell("b").to_json()))
    assert [r.key for r in load_rows(tmp_path)] == ["a", "b"]
    ResultsWriter(tmp_path, "gw0").append(cell("c"))
    assert [r.key for r in load_rows(tmp_path)] == ["a", "b", "c"]


@pytest.mark.parametrize("bad, why", [
    ('{"kind": "cell", "key": ', "not valid JSON"),
    ("[1, 2]", "JSON object"),
    ('{"key": "x"}', "kind"),
    ('{"kind": "cell"}', "key"),
    ('{"kind": "cell", "key": "x", "testbed": "tb"}', "cell row needs the field.s. method, pair, seed"),
    ('{"kind": "cell", "key": "x", "testbed": "tb", "method": "dm", "pair": "p", "seed": 0, "sender_cut": "a", '
     '"receiver_cut": "b", "readouts": [1]}', "'readouts' of a cell row must be a JSON object"),
    ('{"kind": "claim", "key": "x"}', "unknown row kind 'claim'.*newer stitchtest"),
])
def test_a_malformed_middle_line_names_file_and_line(tmp_path, bad, why):
    path = tmp_path / "results-gw1.jsonl"
    path.write_text("\n".join([json.dumps(cell("a").to_json()), "", bad, json.dumps(cell("b").to_json())]) + "\n")
    with pytest.raises(ResultsError, match=rf"results-gw1\.jsonl:3\b.*{why}"):
        load_rows(tmp_path)


def test_non_finite_floats_are_written_as_null(tmp_path):
    writer = ResultsWriter(tmp_path)
    writer.append(check("k", value=np.float32("nan"),
                        detail={"kl": math.inf, "list": [-math.inf, 1.5], "ok": np.float64(0.25)}))

    def reject(constant):
        raise AssertionError(f"non-strict JSON constant {constant}")

    json.loads(writer.path.read_text(), parse_constant=reject)  # strict JSON
    (row,) = load_rows(tmp_path)
    assert row.value is None
    assert row.detail == {"kl": None, "list": [None, 1.5], "ok": 0.25}


def test_save_and_read_rows_round_trip_sorted(tmp_path):
    path = tmp_path / "baselines" / "smoke.jsonl"
    rows = [cell("b", accuracy=float("nan")), check("z"), cell("a", accuracy=0.5)]
    save_rows(rows, path)
    back = read_rows(path)
    assert [(r.kind, r.key) for r in back] == [("cell", "a"), ("cell", "b"), ("check", "z")]
    assert back[1].readouts["accuracy"] is None
    assert [p.name for p in path.parent.iterdir()] == ["smoke.jsonl"]  # no temporary left behind
    assert path.stat().st_mode & 0o777 == 0o644  # readable by others, unlike mkstemp's default


def test_read_rows_of_a_missing_file_names_it(tmp_path):
    with pytest.raises(ResultsError, match="missing.jsonl.*not found"):
        read_rows(tmp_path / "missing.jsonl")


@pytest.mark.parametrize("text, line", [
    ("{ROW}\nnot json\n", 2),
    ('{ROW}\n{"kind": "cell", "ke', 2),  # strict: no unfinished tail either
])
def test_read_rows_names_file_and_line(tmp_path, text, line):
    path = tmp_path / "baseline.jsonl"
    path.write_text(text.replace("{ROW}", json.dumps(cell("a").to_json())))
    with pytest.raises(ResultsError, match=rf"baseline\.jsonl:{line}\b"):
        read_rows(path)


def test_newest_row_wins_across_worker_files(tmp_path):
    """A resumed run may recompute a key on another worker: the newer row must win."""
    from stitchtest.records.results import ResultsWriter, load_rows

    ResultsWriter(tmp_path, "gw1").append(check("k", "new", time=200.0))
    ResultsWriter(tmp_path, "gw3").append(check("k", "old", time=100.0))
    assert [r.outcome for r in load_rows(tmp_path)] == ["new"]


def test_a_readout_stored_as_null_reads_as_nan():
    """A non-finite readout is written as null; read back (``--stitch-resume``) it is NaN, not a TypeError."""
    import math

    from stitchtest.audit import values

    rows = [cell("a", kl=None), cell("b", kl=0.5), cell("c", failure="x"), cell("d")]
    v = values(rows, "kl")
    assert math.isnan(v[0]) and v[1] == 0.5 and math.isnan(v[2]) and math.isnan(v[3])
