"""The pytest plugin end to end through ``pytester``: options, fixtures, results, resume, reports, xdist."""
import json

import pytest

pytest_plugins = ["pytester"]

CONFTEST = '''
import stitchtest.scales as scales
scales.SCALES["smoke"] = scales.Scale("smoke", width=4, epochs=1, seeds=2, steps=5)
'''

TESTBED = '''
import pytest
from stitchtest import checks
from stitchtest.audit import Planned, values
from stitchtest.cells import Cell

pytestmark = pytest.mark.testbed("tiny")


def test_self_stitch(audit, method):
    planned = [Planned(Cell(audit.spec(seed=k), c, audit.spec(seed=k), c), "self", k)
               for k in range(audit.scale.seeds) for c in ("layer1.0", "layer3.0")]
    rows = audit.cells("tiny", method, planned)
    if method.kind == "measure":
        outcome = checks.close(values(rows, "score"), [1.0] * len(rows), 1e-3)
    else:
        outcome = checks.close(values(rows, "accuracy"), values(rows, "receiver_accuracy"), 0.02)
    audit.expect("tiny", "self_stitch", method, method.primary, outcome)


def test_impossible(audit, method):
    rows = audit.cells("tiny", method, [Planned(Cell(audit.spec(seed=0), "stem", audit.spec(seed=0), "stem"), "self", 0)])
    audit.expect("tiny", "impossible", method, method.primary, checks.at_least(values(rows, method.primary), 2.0))
'''


@pytest.fixture
def project(pytester, tmp_path, monkeypatch):
    monkeypatch.setenv("STITCHTEST_CACHE", str(tmp_path / "cache"))
    pytester.makeconftest(CONFTEST)
    pytester.mkdir("testbeds")
    pytester.path.joinpath("testbeds", "test_tiny.py").write_text(TESTBED)
    return pytester


def run(project, *args):
    """A real ``pytest`` process: the plugin is loaded the way a user's run loads it."""
    return project.runpytest_subprocess("testbeds", "--methods", "dm,linear_cka", "-p", "no:cacheprovider", *args)


def rows(project):
    out = []
    for f in sorted((project.path / "results").glob("results-*.jsonl")):
        out += [json.loads(line) for line in f.read_text().splitlines()]
    return out


def test_options_are_in_a_named_group_with_help(project):
    result = project.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(["*stitchtest: audit functional-similarity methods*", "*--scale*smoke*",
                                 "*--methods*", "*--report-dir*", "*--resume*", "*--baseline=FILE*",
                                 "*--save-baseline=FILE*"])


def test_run_records_rows_checks_and_writes_reports(project):
    result = run(project, "-v")
    result.assert_outcomes(passed=2, failed=2)  # the impossible check fails for both methods
    result.stdout.fnmatch_lines(["*dm: tiny/impossible on accuracy*"])
    result.stdout.fnmatch_lines(["[[]main[]] *zoo: training model(*", "[[]main[]] * cell tiny dm self s0 *"])
    cells = [r for r in rows(project) if r["kind"] == "cell"]
    assert len(cells) == 2 * 2 * 2 + 2  # methods x seeds x cuts, plus the stem cells
    assert {r["method"] for r in cells} == {"dm", "linear_cka"}
    summary = (project.path / "reports" / "summary.md").read_text()
    assert "tiny/self_stitch" in summary and "FAIL" in summary and "| scale" in summary
    assert (project.path / "reports" / "tiny.md").exists()


def test_resume_skips_finished_cells_and_fresh_run_starts_over(project):
    run(project)
    first = rows(project)
    log = project.path / "results" / "progress-main.log"
    lines_before = len(log.read_text().splitlines())
    run(project, "--resume").assert_outcomes(passed=2, failed=2)
    cells_after = [r for r in rows(project) if r["kind"] == "cell"]
    assert len(cells_after) == len([r for r in first if r["kind"] == "cell"])  # nothing recomputed
    assert not any("tiny dm self" in line for line in log.read_text().splitlines()[lines_before:])
    run(project)  # without --resume the results start over
    assert len([r for r in rows(project) if r["kind"] == "cell"]) == len(cells_after)


def test_interrupted_results_are_kept(project):
    run(project)
    path = project.path / "results" / "results-main.jsonl"
    kept = path.read_text().splitlines()[:3]
    path.write_text("\n".join(kept) + '\n{"kind": "cell", "key": "half-writ')  # killed mid-line
    result = run(project, "--resume")
    result.assert_outcomes(passed=2, failed=2)
    assert len([r for r in rows(project) if r["kind"] == "cell"]) == 10


KNOWN = """
import stitchtest.expectations as ex
ex.TABLE += (ex.Expectation("tiny", "impossible", ("dm", "linear_cka"), "known-fail", "cannot exceed 1"),
             ex.Expectation("tiny", "self_stitch", ("linear_cka",), "known-fail", "wrongly expected to fail"))
"""


def test_known_failures_are_strict_xfails(project):
    project.makeconftest(CONFTEST + KNOWN)
    result = run(project, "-rX")
    result.assert_outcomes(passed=1, xfailed=2, failed=1)  # linear_cka self-stitch: XPASS(strict)
    result.stdout.fnmatch_lines(["*XPASS(strict)*wrongly expected to fail*"])
    summary = (project.path / "reports" / "summary.md").read_text()
    assert "known-fail" in summary and "UNEXPECTED PASS" in summary


def test_xdist_workers_share_the_work_and_the_controller_reports(project):
    result = run(project, "-n", "2", "-o", "stitchtest_progress_every=0")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(["[[]stitchtest[]] 10 cells computed (gw*"])  # the workers' count, live
    workers = {r["worker"] for r in rows(project) if r["kind"] != "run"}
    assert workers <= {"gw0", "gw1"} and workers
    for method in ("dm", "linear_cka"):  # a (testbed, method) group stays on one worker
        assert len({r["worker"] for r in rows(project) if r["kind"] == "cell" and r["method"] == method}) == 1
    assert (project.path / "reports" / "summary.md").exists()
    assert not (project.path / "results" / "results-main.jsonl").exists()  # the controller computes nothing


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without CUDA")
def test_a_device_the_machine_lacks_is_a_usage_error(project):
    result = run(project, "--device", "cuda")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--device: device 'cuda' requested but CUDA is not available here*"])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


def test_unknown_method_is_a_clear_error(project):
    result = project.runpytest_subprocess("testbeds", "--methods", "nope")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*unknown method 'nope'*"])


def _edit_rows(path, edit):
    """Rewrite a baseline file row by row (``edit`` returns the row, changed or not)."""
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps(edit(r)) + "\n" for r in lines))


def test_baseline_saved_then_failures_it_records_are_xfails_and_regressions_fail(project):
    base = project.path / "base.jsonl"
    run(project, "--save-baseline", str(base)).assert_outcomes(passed=2, failed=2)
    saved = [json.loads(line) for line in base.read_text().splitlines()]
    assert saved[0]["kind"] == "run" and (saved[0]["scale"], saved[0]["seeds"]) == ("smoke", 2)
    assert {r["outcome"] for r in saved if r["kind"] == "check"} == {"pass", "fail"}

    result = run(project, "--baseline", str(base), "-n", "2")  # workers learn the baseline's failures
    result.assert_outcomes(passed=2, xfailed=2)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*compared with baseline*no regression*"])

    def passed_before(row):  # as if dm's impossible check had passed, and a check had existed since
        if row.get("key") == "tiny|impossible|dm":
            return {**row, "outcome": "pass"}
        return row

    _edit_rows(base, passed_before)
    with open(base, "a") as f:
        f.write(json.dumps({"kind": "check", "key": "tiny|vanished|dm", "testbed": "tiny", "check": "vanished",
                            "method": "dm", "outcome": "pass"}) + "\n")
    result = run(project, "--baseline", str(base))
    result.assert_outcomes(passed=2, failed=1, xfailed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*compared with baseline*REGRESSION*",
                                 "*tiny/impossible*dm*pass*fail*REGRESSION*",
                                 "*tiny/vanished*dm*pass*MISSING*REGRESSION*"])


def test_a_bad_baseline_fails_at_once_and_keeps_the_results(project):
    run(project)
    before = rows(project)
    bad = project.path / "bad.jsonl"
    bad.write_text('{"kind": "run", "key": "run", "scale": "smoke"}\nnot json\n')
    result = run(project, "--baseline", str(bad))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--baseline: {bad}:2: not valid JSON*"])
    assert rows(project) == before  # the earlier run's results were not deleted

    other = project.path / "other.jsonl"
    run(project, "--save-baseline", str(other))
    _edit_rows(other, lambda r: {**r, "scale": "small"} if r["kind"] == "run" else r)
    result = run(project, "--baseline", str(other))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{other}:1: baseline is from another setting: scale 'small'*"])


def test_a_run_that_computes_nothing_keeps_the_reports(project):
    run(project)
    summary = (project.path / "reports" / "summary.md").read_text()
    run(project, "--collect-only")
    assert (project.path / "reports" / "summary.md").read_text() == summary


def test_a_plain_function_is_audited_as_a_measure(project):
    """``--methods my_measures:gram_cosine`` (a function f(x, y) -> float): collected, run, reported."""
    project.makepyfile(my_measures="def gram_cosine(x, y):\n"
                                   "    k, l = x @ x.T, y @ y.T\n"
                                   "    return float((k * l).sum() / (k.norm() * l.norm()))\n")
    result = project.runpytest_subprocess("testbeds", "--methods", "my_measures:gram_cosine", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)  # the self-stitch scores 1; nothing exceeds 2
    cells = [r for r in rows(project) if r["kind"] == "cell"]
    assert {(r["method"], r["method_id"]) for r in cells} == {("gram_cosine", "gram_cosine()")}
    assert all(r["readouts"]["score"] == pytest.approx(1.0) for r in cells)
