"""``stitchtest.records.baseline`` on hand-made rows: regressions, non-regressions, drift, mismatches, bad files."""
import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from stitchtest.records.baseline import (BaselineError, Results, baseline_failures, compare, is_regression, load,
                                         render, save)
from stitchtest.records import CellRow, CheckRow, RunRow, RunSettings
from stitchtest.records.results import ResultsError, ResultsWriter, read_rows

SETTINGS = RunSettings("smoke", "digits(size=16)", 3)
RUN = RunRow(SETTINGS)


def cell(key, method="dm", testbed="tb", **readouts):
    return CellRow(key=key, testbed=testbed, method=method, method_id=f"{method}()", pair="a->b", seed=0,
                   sender_cut="stem", receiver_cut="stem", readouts={"accuracy": 0.9, "seconds": 1.0, **readouts})


def check(name, outcome, method="dm", testbed="tb", value=0.5):
    return CheckRow(key=f"{testbed}|{name}|{method}", testbed=testbed, check=name, method=method, outcome=outcome,
                    value=value)


def results(*rows, run=RUN, path="new"):
    return Results(Path(path), ([run] if run else []) + list(rows))


def changes(comparison):
    return {c.key.split("|")[1]: (c.before, c.after, c.regression) for c in comparison.changes}


@pytest.mark.parametrize("before, after, regression", [
    ("pass", "fail", True),
    ("pass", "known-fail", True),  # an expectation loosened to hide a failure still stopped passing
    ("pass", "reported", True),
    ("known-fail", "fail", True),
    ("unexpected-pass", "fail", True),
    ("reported", "fail", True),
    ("pass", None, True),  # gone missing
    ("fail", "pass", False),
    ("known-fail", "unexpected-pass", False),
    ("unexpected-pass", "known-fail", False),
    ("fail", "known-fail", False),
    ("known-fail", "known-fail", False),
    (None, "fail", False),  # a new check is judged by pytest, not by the baseline
    ("pass", "undecided", False),  # within noise now: listed, not failed (another CPU moves values there)
    ("undecided", "fail", True),
    ("undecided", "pass", False),
])
def test_regression_rule(before, after, regression):
    assert is_regression(before, after) is regression


def test_compare_lists_changes_and_flags_regressions():
    base = results(cell("c1"), check("kept", "pass"), check("broke", "pass"), check("fixed", "fail"),
                   check("worse", "known-fail"), check("unexpected", "known-fail"), path="base")
    new = results(cell("c1"), check("kept", "pass"), check("broke", "fail"), check("fixed", "pass"),
                  check("worse", "fail"), check("unexpected", "unexpected-pass"))
    c = compare(new, base)
    assert changes(c) == {"broke": ("pass", "fail", True), "fixed": ("fail", "pass", False),
                          "worse": ("known-fail", "fail", True),
                          "unexpected": ("known-fail", "unexpected-pass", False)}
    assert [r.key for r in c.regressions] == ["tb|broke|dm", "tb|worse|dm"]
    assert c.failed() and c.common_cells == 1 and c.moves == []


def test_no_regression_when_only_improvements():
    base = results(cell("c1"), check("a", "fail"), path="base")
    c = compare(results(cell("c1"), check("a", "pass")), base)
    assert not c.failed() and len(c.changes) == 1


def test_a_missing_check_is_a_regression_only_where_the_new_run_audited():
    base = results(cell("c1"), cell("c2", method="tlm"), cell("c3", testbed="other"),
                   check("gone", "pass"), check("gone", "pass", method="tlm"), check("gone", "pass", testbed="other"),
                   path="base")
    new = results(cell("c1"), check("kept", "pass"))  # audited dm on tb only
    c = compare(new, base)
    assert [(ch.key, ch.after, ch.regression) for ch in c.changes] == [("tb|gone|dm", None, True)]
    assert c.not_audited == ["tlm"]
    assert c.new_checks == ["tb|kept|dm"]


def test_readout_drift_is_listed_and_fails_only_when_asked():
    base = results(cell("c1", accuracy=0.90, kl=0.10), cell("c2", accuracy=0.50), check("a", "pass", value=0.5),
                   path="base")
    new = results(cell("c1", accuracy=0.95, kl=0.11, seconds=99.0), cell("c2", accuracy=0.50),
                  check("a", "pass", value=0.4))
    c = compare(new, base, tol=0.02)
    assert sorted((m.readout, round(m.delta, 3)) for m in c.moves) == [("accuracy", 0.05), ("value", -0.1)]
    assert not c.failed() and c.failed(fail_on_drift=True)
    assert compare(new, base, tol=0.2).moves == []  # seconds (the machine's speed) never counts
    text = render(c)
    assert "+0.050" in text and "-0.100" in text and "0 regressions" in text


def test_a_failed_cell_is_one_move_and_non_finite_values_compare():
    base = results(cell("c1"), cell("c2", kl=None), path="base")
    failed = replace(cell("c1"), readouts={"failure": "non-finite loss"})
    c = compare(results(failed, cell("c2", kl=0.3)), base)
    assert {(m.readout, m.after) for m in c.moves} == {("failure", "non-finite loss"), ("kl", 0.3)}
    assert all(math.isnan(m.delta) for m in c.moves)


def test_mismatched_setting_names_the_baseline_run_row(tmp_path):
    path = tmp_path / "baseline.jsonl"
    save(results(cell("c1"), check("a", "pass"), run=RunRow(replace(SETTINGS, scale="small"))), path)
    with pytest.raises(BaselineError, match=rf"baseline\.jsonl:1\b.*scale 'small' \(this run: 'smoke'\)"):
        compare(results(cell("c1")), load(path))


@pytest.mark.parametrize("run, checks", [(RUN, []), (None, [check("a", "pass")])],
                         ids=["nothing-shared", "no-run-rows-to-tell"])
def test_no_common_cell_is_an_error_naming_both(run, checks):
    with pytest.raises(BaselineError, match="new and base share no cell"):
        compare(results(cell("c1"), *checks, run=run), results(cell("c2"), *checks, run=run, path="base"))


def test_runs_without_run_rows_still_compare():
    c = compare(results(cell("c1"), check("a", "fail"), run=None), results(cell("c1"), check("a", "pass"), run=None))
    assert c.failed()


def test_save_puts_the_run_first_and_drops_volatile_fields(tmp_path):
    path = tmp_path / "b.jsonl"
    writer = ResultsWriter(tmp_path / "results", "gw0")
    for row in (check("a", "fail"), replace(cell("c1", kl=0.123456789012, tiny=1.23456789e-7), cell="cell(...)"), RUN):
        writer.append(row)
    save(load(tmp_path / "results"), path)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["kind"] for r in rows] == ["run", "cell", "check"]
    assert all("time" not in r and "worker" not in r for r in rows)
    assert "cell" not in rows[1]  # the key carries the cell id
    assert rows[1]["readouts"] == {"accuracy": 0.9, "kl": 0.123457, "tiny": 1.23457e-7}  # 6 significant digits
    assert [r.to_json() for r in read_rows(path)] == rows
    assert baseline_failures(load(path)) == {"tb|a|dm"}


def test_load_errors_name_the_file_and_line(tmp_path):
    path = tmp_path / "baseline.jsonl"
    path.write_text(json.dumps(RUN.to_json()) + "\n" + json.dumps(cell("c1").to_json()) + "\n{oops\n")
    with pytest.raises(ResultsError, match=rf"baseline\.jsonl:3\b.*not valid JSON"):
        load(path)
    with pytest.raises(ResultsError, match="nope.jsonl: results file not found"):
        load(tmp_path / "nope.jsonl")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ResultsError, match="empty: no results"):
        load(tmp_path / "empty")


def test_same_setting_with_other_cell_ids_still_compares_outcomes():
    """A baseline from another stitchtest version (cell ids changed) still guards the outcomes."""
    c = compare(results(cell("new-id"), check("a", "fail")), results(cell("old-id"), check("a", "pass"), path="base"))
    assert c.failed() and c.common_cells == 0 and c.moves == []
    assert "no cell in common" in render(c)



def test_a_baseline_of_another_model_family_is_refused(tmp_path):
    path = tmp_path / "baseline.jsonl"
    save(results(cell("c1"), check("a", "pass")), path)  # a default run: no arch in its run row
    with pytest.raises(BaselineError, match=r"arch None \(this run: 'vgg4'\)"):
        compare(results(cell("c1"), run=RunRow(replace(SETTINGS, arch="vgg4"))), load(path))
    compare(results(cell("c1"), check("a", "pass")), load(path))  # default runs still match it


def test_a_check_key_is_labelled_from_the_left_so_a_method_may_hold_a_bar():
    from stitchtest.records.baseline import _check_label

    assert _check_label("cross_layer|triangle|tlm") == ("cross_layer/triangle", "tlm")
    assert _check_label("cross_layer|triangle|my|odd") == ("cross_layer/triangle", "my|odd")
