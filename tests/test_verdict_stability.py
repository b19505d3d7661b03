"""benchmarks/verdict_stability.py: two runs' verdicts side by side; only decided-both-ways flips are defects."""
import importlib.util
from pathlib import Path

from stitchtest.records.rows import CheckRow

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("verdict_stability", ROOT / "benchmarks" / "verdict_stability.py")
vs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(vs)


def row(check, outcome, method="tlm"):
    return CheckRow(key=f"x|{check}|{method}", testbed="x", check=check, method=method, outcome=outcome,
                    figure=f"{check} {outcome}")


def test_a_check_is_held_failed_or_undecided_and_reported_checks_decide_nothing():
    v = vs.check_verdicts([row("a", "pass"), row("b", "known-fail"), row("c", "undecided"), row("d", "reported"),
                           row("e", "unexpected-pass"), row("f", "fail")])
    assert {k[1]: x[0] for k, x in v.items()} == {"a": "holds", "b": "fails", "c": "undecided", "e": "holds",
                                                 "f": "fails"}


def test_only_two_decided_verdicts_that_differ_count_as_a_flip():
    a = vs.check_verdicts([row("same", "pass"), row("noise", "pass"), row("flip", "pass"), row("only_a", "pass")])
    b = vs.check_verdicts([row("same", "pass"), row("noise", "undecided"), row("flip", "fail")])
    counts, differ = vs.compare(a, b, ("holds", "fails"))
    assert counts["same verdict"] == 1 and counts["decided in one run only"] == 1
    assert counts["DECIDED BOTH WAYS"] == 1 and counts["only in one run"] == 1
    assert [d[1] for d in differ if d[0] == "DECIDED BOTH WAYS"] == ["x / flip / tlm"]


def test_the_script_exits_1_on_a_flip_and_0_without(tmp_path):
    from stitchtest.records.results import ResultsWriter

    for name, outcome in (("a", "pass"), ("b", "fail"), ("c", "undecided")):
        ResultsWriter(tmp_path / name, "controller").append(row("k", outcome))
    assert vs.main([str(tmp_path / "a"), str(tmp_path / "b")]) == 1
    assert vs.main([str(tmp_path / "a"), str(tmp_path / "c")]) == 0
