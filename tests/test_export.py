"""stitchtest export: result rows as CSV with every id parsed into columns."""
import csv
import json
from pathlib import Path

import pytest

from stitchtest.cli import main
from stitchtest.records.export import COLUMNS, parse_id, table
from stitchtest.records import CellRow, ResultsError
from stitchtest.records.results import read_rows
from stitchtest.models.zoo import ModelSpec

BASELINE = Path(__file__).resolve().parents[1] / "examples" / "stitchtest-cosine" / "baseline.jsonl"


def test_parse_id_reads_back_what_string_id_writes():
    spec = ModelSpec(regime="adversarial", seed=3)
    name, fields = parse_id(spec.string_id())
    assert name == "model" and fields["arch"] == spec.arch and fields["seed"] == "3"
    assert fields["regime"] == "adversarial" and fields["eps"] == str(spec.eps)
    assert fields["data"] == ("digits", {"size": "16", "n_train": None, "n_test": None, "split_seed": "0"})
    assert parse_id("fula(weights=(0.5,0.5),hints=all)") == ("fula", {"weights": "(0.5,0.5)", "hints": "all"})
    assert parse_id("procrustes()") == ("procrustes", {})
    with pytest.raises(ValueError):
        parse_id("not an id")


def test_export_round_trips_every_cell_row_of_a_default_run(tmp_path):
    rows = read_rows(BASELINE)  # the example plug-in's rows of a default run: every testbed cosine runs at smoke
    assert main(["export", str(BASELINE), "--csv", str(tmp_path / "rows.csv")]) == 0
    with open(tmp_path / "rows.csv", newline="") as f:
        lines = list(csv.DictReader(f))
    cell_rows = {r.key: r for r in rows if isinstance(r, CellRow)}
    assert len(lines) == sum(len(r.readouts) for r in cell_rows.values())
    assert list(lines[0])[:len(COLUMNS)] == list(COLUMNS) and list(lines[0])[-1] == "key"
    seen = set()
    for line in lines:
        row = cell_rows[line["key"]]
        value = row.readouts[line["readout"]]
        assert line["value"] == ("" if value is None else str(value))
        seen.add((line["key"], line["readout"]))
        assert line["testbed"] == row.testbed and line["method"] == row.method
        assert (line["sender_cut"], line["receiver_cut"]) == (row.sender_cut, row.receiver_cut)
        for side in ("sender", "receiver"):
            assert line[f"{side}_arch"] == "R1111" and line[f"{side}_width"] == "8" and line[f"{side}_regime"]
            assert line[f"{side}_seed"].isdigit() and float(line[f"{side}_depth"]) == getattr(row, f"{side}_depth")
        assert line["data"] == "digits" and line["data_size"] == "16" and line["stitch_steps"] == "200"
        assert "None" not in line.values() and line["data_n_train"] == ""  # unset: an empty field, not "None"
        # no id left unparsed: only the key (kept to join back) and the method's id hold one
        assert not [k for k, v in line.items() if "(" in v and "=" in v and k not in ("key", "method_id")]
    assert len(seen) == len(lines)
    assert {line["testbed"] for line in lines} == {r.testbed for r in cell_rows.values()}
    assert {r.testbed for r in cell_rows.values()} >= {"adversarial", "calibration", "cross_layer", "misleading",
                                                       "random_controls", "shortcut"}


def test_export_of_a_results_directory_and_of_nothing(tmp_path, capsys):
    rows = [r for r in read_rows(BASELINE) if isinstance(r, CellRow)][:3]
    (tmp_path / "results-gw0.jsonl").write_text("".join(json.dumps(r.to_json()) + "\n" for r in rows))
    assert main(["export", str(tmp_path), "--csv", str(tmp_path / "out.csv")]) == 0
    assert len(table(rows)) == sum(len(r.readouts) for r in rows)
    assert main(["export", str(tmp_path / "empty"), "--csv", str(tmp_path / "none.csv")]) == 1


def test_a_method_name_holding_a_bar_is_exported_from_the_rows_fields(tmp_path):
    # issue 27, item 11: a user function named "a|b" made `stitchtest export` refuse the whole results dir
    from dataclasses import replace

    rows = []
    for r in [r for r in read_rows(BASELINE) if isinstance(r, CellRow)][:2]:
        testbed, _, rest = r.key.partition("|")
        cell_and_stitch = rest.partition("|")[2]
        rows.append(replace(r, method="a|b", method_id="a|b()", key=f"{testbed}|a|b()|{cell_and_stitch}",
                            cell=cell_and_stitch.rpartition("|")[0]))  # as a results file has it
    (tmp_path / "results-gw0.jsonl").write_text("".join(json.dumps(r.to_json()) + "\n" for r in rows))
    assert main(["export", str(tmp_path), "--csv", str(tmp_path / "out.csv")]) == 0
    with open(tmp_path / "out.csv", newline="") as f:
        lines = list(csv.DictReader(f))
    assert {(line["method"], line["method_id"]) for line in lines} == {("a|b", "a|b()")}
    assert {line["sender_arch"] for line in lines} == {"R1111"} and {line["stitch_steps"] for line in lines} == {"200"}
    from stitchtest.records.export import key_parts  # what the export reads a row's parts with

    old = replace(rows[0], method_id=None)  # a row from before method_id: the cell field decides
    assert key_parts(old)[1:3] == ("a|b()", rows[0].cell)
    baseline = replace(rows[0], cell=None)  # a baseline row lacks the cell: the method id decides
    assert key_parts(baseline)[1:3] == ("a|b()", rows[0].cell)
    with pytest.raises(ResultsError, match="is not testbed|method|cell|stitch of its row's fields"):
        key_parts(replace(rows[0], method_id="other()"))
