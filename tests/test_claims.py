"""Comparative checks and the claims table: both verdicts each way, from synthetic check rows."""
import math
import re
from dataclasses import replace

import pytest

from stitchtest.audit import testbeds as registry
from stitchtest.audit.checks import compare, seeds_agreeing
from stitchtest.audit.claims import Claim, failures, judge, judge_all
from stitchtest.records import CheckRow, RunSettings
from stitchtest.audit.report import ranking, write_reports

SIX_LOW = [0.86, 0.88, 0.87, 0.89, 0.85, 0.90]
SIX_HIGH = [0.98, 0.97, 0.99, 0.98, 0.98, 0.97]


def test_seeds_agreeing_is_five_of_six():
    assert [seeds_agreeing(n) for n in (1, 2, 3, 6, 12)] == [1, 2, 3, 5, 10]


def test_compare_reproduced_both_directions():
    lower = compare(SIX_LOW, SIX_HIGH, 0.02, "lower", ("fula", "tlm"))
    assert lower.passed and lower.detail["verdict"] == "reproduced"
    assert lower.detail["agree"] == 6 and lower.detail["need"] == 5
    assert lower.value == pytest.approx(sum(h - l for h, l in zip(SIX_HIGH, SIX_LOW)) / 6)
    assert "6/6 seed pairs agree" in lower.figure and lower.figure.startswith("fula 0.875 < tlm 0.978")
    higher = compare(SIX_HIGH, SIX_LOW, 0.02, "higher")
    assert higher.passed and higher.value == pytest.approx(lower.value)


def test_compare_not_reproduced_when_decided_the_other_way():
    out = compare(SIX_HIGH, SIX_LOW, 0.02, "lower")
    assert not out.passed and out.detail["verdict"] == "not reproduced" and out.detail["against"] == 6
    assert out.value < 0


def test_compare_inconclusive_when_too_few_pairs_agree_or_the_margin_is_not_met():
    mixed = compare([0.9, 0.8, 0.9, 0.8, 0.9, 0.8], [0.85] * 6, 0.0, "higher")
    assert mixed.detail["verdict"] == "inconclusive" and not mixed.passed  # 3 for, 3 against
    small = compare([0.851] * 6, [0.85] * 6, 0.02, "higher")  # all agree, below the margin
    assert small.detail["verdict"] == "inconclusive"
    four = compare([0.9, 0.9, 0.9, 0.9, 0.8, 0.8], [0.85] * 6, 0.0)  # 4 of 6: one short
    assert four.detail["verdict"] == "inconclusive"


def test_compare_drops_nan_pairs_and_fails_on_no_data():
    out = compare([0.9, math.nan, 0.9, 0.9], [0.8, 0.8, 0.8, math.nan], 0.05)
    assert out.detail["n"] == 2 and out.detail["dropped"] == 2 and out.detail["verdict"] == "reproduced"
    few = compare([0.9, math.nan, 0.9], [0.8, 0.8, math.nan], 0.05)  # 1 of 3 pairs: decided neither way
    assert few.detail["n"] == 1 and few.detail["verdict"] == "inconclusive" and not few.passed
    empty = compare([math.nan], [0.5], 0.0)
    assert not empty.passed and empty.detail["verdict"] == "no data"
    with pytest.raises(ValueError, match="one value per seed pair"):
        compare([1, 2], [1], 0.0)
    with pytest.raises(ValueError, match="higher"):
        compare([1], [1], 0.0, "sideways")


def check_row(method, values, check="triangle_absent", testbed="cross_layer", **stats):
    return CheckRow(key=f"{testbed}|{check}|{method}", testbed=testbed, check=check, method=method, readout="accuracy",
                    outcome="pass", value=sum(values) / len(values), per_seed={"value": values, **stats})


VERSUS = Claim("fula_below_tlm", "FuLA below TLM", "a paper", "cross_layer", "triangle_absent", "fula", "tlm",
               expect="lower", margin=0.02)
SINGLE = Claim("tlm_triangle", "TLM shows it", "a paper", "cross_layer", "triangle_absent", "tlm",
               expect="higher", threshold=0.9)


def test_a_claim_against_another_method_and_against_a_threshold():
    rows = [check_row("fula", SIX_LOW), check_row("tlm", SIX_HIGH)]
    assert judge(VERSUS, rows, "smoke").status == "ok"
    single = judge(SINGLE, rows, "smoke")
    assert single.verdict == "reproduced" and "threshold 0.9" in single.figure
    flipped = [check_row("fula", SIX_HIGH), check_row("tlm", SIX_LOW)]
    row = judge(VERSUS, flipped, "smoke")
    assert row.verdict == "not reproduced" and row.status == "FAIL"
    assert failures([row]) == [row]
    assert judge(SINGLE, flipped, "smoke").status == "FAIL"


def test_known_failures_apply_per_scale_and_a_reproduced_one_is_unexpected():
    known = Claim(**{**VERSUS.__dict__, "known": ((("smoke",), "saturated at smoke: 0.98 vs 0.98"),)})
    flipped = [check_row("fula", SIX_HIGH), check_row("tlm", SIX_LOW)]
    assert judge(known, flipped, "smoke").status == "known"
    assert judge(known, flipped, "smoke").reason.startswith("saturated")
    assert judge(known, flipped, "small").status == "FAIL"
    holds = [check_row("fula", SIX_LOW), check_row("tlm", SIX_HIGH)]
    assert judge(known, holds, "smoke").status == "UNEXPECTED"


def test_a_claim_whose_method_was_not_run_is_not_audited_and_never_fails():
    row = judge(VERSUS, [check_row("tlm", SIX_HIGH)], "smoke")
    assert row.status == "not audited" and "fula" in row.figure and failures([row]) == []


def test_a_claim_reads_the_named_statistic():
    stat = Claim("diag", "FuLA beats DM on the diagonal", "p", "cross_layer", "triangle_absent", "fula", "dm",
                 stat="mean_diagonal", expect="higher", margin=0.01)
    rows = [check_row("fula", SIX_LOW, mean_diagonal=[0.95] * 6), check_row("dm", SIX_HIGH, mean_diagonal=[0.6] * 6)]
    assert judge(stat, rows, "smoke").verdict == "reproduced"


def test_the_built_in_claims_name_real_checks_and_methods():
    from stitchtest.engine.methods import names
    testbeds = {"cross_layer", "adversarial", "shortcut", "random_controls", "calibration", "misleading", "interventions"}
    for c in registry.claims():
        assert c.testbed in testbeds and c.source and c.statement
        assert set(c.methods()) <= set(names()), c
        assert c.expect in ("higher", "lower")
    assert {r.key for r in judge_all([], "smoke")} <= {c.id for c in registry.claims()}
    assert any(c.id == "tlm_triangle_across_architectures" for c in registry.claims())
    assert "tlm_triangle_across_architectures" not in {r.key for r in judge_all([], "smoke")}


def test_summary_leads_with_the_claims_table_and_ranks_methods(tmp_path):
    rows = [check_row("fula", SIX_LOW), check_row("tlm", SIX_HIGH), check_row("dm", [0.4] * 6)]
    rows = [replace(r, better="lower") for r in rows]
    write_reports(rows, tmp_path, RunSettings("smoke", "digits", 6))
    text = (tmp_path / "summary.md").read_text()
    assert text.index("## Claims") < text.index("## Method ranking") < text.index("## Run configuration")
    line = next(l for l in text.splitlines() if l.startswith("| FuLA's triangle score is below TLM's"))
    assert "reproduced" in line and "| ok " in line and "6/6 seed pairs agree" in line
    # issue 32: the claims a run could not judge are one line at the top, not rows of the table
    assert not any(l.startswith("| FuLA's triangle score is below SLM's") for l in text.splitlines())
    assert "| not audited " not in text
    skipped = next(l for l in text.splitlines() if "not audited in this run" in l)
    assert text.index(skipped) < text.index("## Claims")
    assert re.fullmatch(r"\d+ claim\(s\) not audited in this run: need methods [a-z_, ]*slm[a-z_, ]* on testbeds "
                        r"[a-z_, ]*cross_layer[a-z_, ]*\.", skipped)
    headers, table = ranking(rows)
    assert headers == ["method", "cross_layer", "overall"]
    assert [r[0] for r in table] == ["dm", "fula", "tlm"]  # lower triangle is better
    assert table[0][-1] == "1.00 (1)" and table[-1][-1] == "3.00 (1)"


def test_ranking_shares_ties_and_skips_reported_only_checks():
    rows = [check_row("a", [0.5]), check_row("b", [0.5]), check_row("c", [0.1])]
    headers, table = ranking(rows)
    assert {r[0]: r[-1] for r in table} == {"a": "1.50 (1)", "b": "1.50 (1)", "c": "3.00 (1)"}
    assert ranking([replace(r, outcome="reported") for r in rows])[1] == []
