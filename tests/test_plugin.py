"""The pytest plugin end to end through ``pytester``: options, fixtures, results, resume, reports, xdist."""
import json

import pytest

pytest_plugins = ["pytester"]

CONFTEST = '''
import stitchtest.audit.scales as scales
scales.SCALES["smoke"] = scales.Scale("smoke", width=4, epochs=1, seeds=2, steps=5)
'''

TESTBED = '''
import pytest
from stitchtest.audit import checks
from stitchtest.audit import Planned, values
from stitchtest.engine.cells import Cell

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
    return project.runpytest_subprocess("testbeds", "--stitch-methods", "dm,linear_cka", "-p", "no:cacheprovider", *args)


def rows(project):
    out = []
    for f in sorted((project.path / "results").glob("results-*.jsonl")):
        out += [json.loads(line) for line in f.read_text().splitlines()]
    return out


def test_options_are_in_a_named_group_with_help(project):
    result = project.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(["*stitchtest: audit functional-similarity methods*", "*--stitch-scale*smoke*",
                                 "*--stitch-methods*", "*--stitch-report-dir*", "*--stitch-resume*", "*--stitch-baseline=FILE*",
                                 "*--stitch-save-baseline=FILE*"])


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
    # issue 32: a subset run leads with what ran, and the claims it could not judge are one line
    assert summary.splitlines()[2].startswith("This run: testbeds tiny; methods dm, linear_cka; 4 checks")
    result.stdout.fnmatch_lines(["stitchtest: * claim(s) not audited in this run: need methods *fula*on testbeds *"])
    assert "not audited |" not in result.stdout.str() and "| not audited" not in summary


def test_resume_skips_finished_cells_and_fresh_run_starts_over(project):
    run(project)
    first = rows(project)
    log = project.path / "results" / "progress-main.log"
    lines_before = len(log.read_text().splitlines())
    run(project, "--stitch-resume").assert_outcomes(passed=2, failed=2)
    cells_after = [r for r in rows(project) if r["kind"] == "cell"]
    assert len(cells_after) == len([r for r in first if r["kind"] == "cell"])  # nothing recomputed
    assert not any("tiny dm self" in line for line in log.read_text().splitlines()[lines_before:])
    run(project)  # without --stitch-resume the results start over
    assert len([r for r in rows(project) if r["kind"] == "cell"]) == len(cells_after)


def test_interrupted_results_are_kept(project):
    run(project)
    path = project.path / "results" / "results-main.jsonl"
    lines = path.read_text().splitlines()
    kept = lines[:3]
    path.write_text("\n".join(kept) + '\n{"kind": "cell", "key": "half-writ')  # killed mid-line
    # two more cells an xdist worker of the interrupted run had spooled but not handed over
    spooled = [line for line in lines[3:] if json.loads(line)["kind"] == "cell"][:2]
    (project.path / "results" / "spool-gw1.jsonl").write_text("\n".join(spooled) + "\n")
    result = run(project, "--stitch-resume")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(["*kept 2 rows that the interrupted run's workers computed*"])
    assert len([r for r in rows(project) if r["kind"] == "cell"]) == 10
    times = {r["key"]: r["time"] for r in rows(project)}
    assert all(times[json.loads(line)["key"]] == json.loads(line)["time"] for line in spooled)  # not recomputed
    assert not (project.path / "results" / "spool-gw1.jsonl").exists()


KNOWN = """
from pathlib import Path
from stitchtest.audit import testbeds
testbeds.register(Path(__file__).parent / "tiny")
"""
#: the tiny testbed's known failures, in its folder (``tiny/expect.py``), registered by the conftest
TINY_EXPECT = """
from stitchtest.audit.expectations import Expectation
EXPECTATIONS = (Expectation("tiny", "impossible", ("dm", "linear_cka"), "known-fail", "cannot exceed 1"),
                Expectation("tiny", "self_stitch", ("linear_cka",), "known-fail", "wrongly expected to fail"))
"""


def test_known_failures_are_strict_xfails(project):
    project.makeconftest(CONFTEST + KNOWN)
    project.mkdir("tiny")
    project.path.joinpath("tiny", "expect.py").write_text(TINY_EXPECT)
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
    assert not (project.path / "results" / "results-main.jsonl").exists()  # the controller computes nothing
    cells = {(r["method"], r["key"]) for r in rows(project) if r["kind"] == "cell"}
    assert len(cells) == 10 and {m for m, _ in cells} == {"dm", "linear_cka"}
    logs = sorted(p.name for p in (project.path / "results").glob("progress-gw*.log"))
    assert logs and all(" cell tiny " in (project.path / "results" / n).read_text() for n in logs)
    summary = (project.path / "reports" / "summary.md").read_text()
    assert "tiny/self_stitch" in summary and "tiny/impossible" in summary
    result.stdout.fnmatch_lines(["*stitchtest: * rows -> reports/summary.md*"])


def test_under_xdist_a_testbed_marked_by_a_decorator_is_audited(project):
    """The controller collects nothing: it reads the marker in the files its workers' ids name
    (pytest 9.2 ids carry no group suffix to read instead)."""
    path = project.path / "testbeds" / "test_tiny.py"
    path.write_text(path.read_text().replace('pytestmark = pytest.mark.testbed("tiny")\n', "")
                    .replace("\ndef test_", '\n@pytest.mark.testbed("tiny")\ndef test_'))
    result = run(project, "-n", "2", "-k", "self_stitch")
    result.assert_outcomes(passed=2)
    assert result.ret == 0
    assert {r["method"] for r in rows(project) if r["kind"] == "check"} == {"dm", "linear_cka"}
    assert (project.path / "reports" / "summary.md").exists()


def test_workers_that_audit_what_the_controller_cannot_see_fail_the_session(project):
    """A marker the file does not spell out is invisible to the controller: the workers still
    compute, and the session fails in one line instead of ending green with nothing written."""
    path = project.path / "testbeds" / "test_tiny.py"
    path.write_text(path.read_text().replace('pytestmark = pytest.mark.testbed("tiny")',
                                             'pytestmark = getattr(pytest.mark, "test" + "bed")("tiny")'))
    result = run(project, "-n", "2", "-k", "self_stitch")
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*stitchtest: the workers computed * rows, but the controller did not recognise*"])
    assert not (project.path / "reports").exists()


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without CUDA")
def test_a_device_the_machine_lacks_is_a_usage_error(project):
    result = run(project, "--stitch-device", "cuda")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--stitch-device: device 'cuda' requested but CUDA is not available here*"])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


def test_unknown_method_is_a_clear_error(project):
    result = project.runpytest_subprocess("testbeds", "--stitch-methods", "nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown method 'nope'*"])


def _edit_rows(path, edit):
    """Rewrite a baseline file row by row (``edit`` returns the row, changed or not)."""
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps(edit(r)) + "\n" for r in lines))


def test_baseline_saved_then_failures_it_records_are_xfails_and_regressions_fail(project):
    base = project.path / "base.jsonl"
    run(project, "--stitch-save-baseline", str(base)).assert_outcomes(passed=2, failed=2)
    saved = [json.loads(line) for line in base.read_text().splitlines()]
    assert saved[0]["kind"] == "run" and (saved[0]["scale"], saved[0]["seeds"]) == ("smoke", 2)
    assert {r["outcome"] for r in saved if r["kind"] == "check"} == {"pass", "fail"}

    result = run(project, "--stitch-baseline", str(base), "-n", "2")  # workers learn the baseline's failures
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
    result = run(project, "--stitch-baseline", str(base))
    result.assert_outcomes(passed=2, failed=1, xfailed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*compared with baseline*REGRESSION*",
                                 "*tiny/impossible*dm*pass*fail*REGRESSION*",
                                 "*tiny/vanished*dm*pass*MISSING*REGRESSION*"])


def test_a_bad_baseline_fails_at_once_and_keeps_the_results(project):
    run(project)
    before = rows(project)
    bad = project.path / "bad.jsonl"
    bad.write_text('{"kind": "run", "key": "run", "scale": "smoke", "data": "digits", "seeds": 2}\nnot json\n')
    result = run(project, "--stitch-baseline", str(bad))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--stitch-baseline: {bad}:2: not valid JSON*"])
    assert rows(project) == before  # the earlier run's results were not deleted

    other = project.path / "other.jsonl"
    run(project, "--stitch-save-baseline", str(other))
    _edit_rows(other, lambda r: {**r, "scale": "small"} if r["kind"] == "run" else r)
    result = run(project, "--stitch-baseline", str(other))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{other}:1: baseline is from another setting: scale 'small'*"])


def test_a_run_that_computes_nothing_keeps_the_reports(project):
    """--setup-only sets the fixtures up and runs no test: like --collect-only and --setup-plan, it
    neither moves the previous run aside nor adds a run row, so reports and results still agree."""
    run(project)
    summary = (project.path / "reports" / "summary.md").read_text()
    results = {p.name: p.read_bytes() for p in (project.path / "results").iterdir() if p.is_file()}
    for only_looks in ("--collect-only", "--setup-plan", "--setup-only"):
        assert run(project, only_looks).ret == 0, only_looks
        assert (project.path / "reports" / "summary.md").read_text() == summary, only_looks
        now = {p.name: p.read_bytes() for p in (project.path / "results").iterdir() if p.is_file()}
        assert {n: b for n, b in now.items() if n.startswith(("results-", "progress-"))} == \
               {n: b for n, b in results.items() if n.startswith(("results-", "progress-"))}, only_looks
        assert not (project.path / "results" / "previous").exists(), only_looks


# ---------------------------------------------------------------- the results directory (issue 16)


def test_a_results_dir_holding_other_files_keeps_them(project):
    """--stitch-results-dir may be the working directory: only stitchtest's own files ever move, and
    nothing at all happens with --collect-only."""
    project.path.joinpath("src").mkdir()
    project.path.joinpath("src", "mine.py").write_text("x = 1\n")
    project.path.joinpath("notes.log").write_text("my notes\n")
    project.path.joinpath("progress-mine.log").write_text("not a progress log\n")
    # shaped like ours, but no run recorded writing them (issue 27, 1)
    theirs = {"results-empty.jsonl": "", "progress-todo.log": "", "progress-backup.log": "12:00:01 backed up\n"}
    for name, text in theirs.items():
        project.path.joinpath(name).write_text(text)
    assert run(project, "--stitch-results-dir", ".", "--collect-only").ret == 0
    mine = sorted(["conftest.py", "notes.log", "progress-mine.log", "src", "testbeds", *theirs])
    assert sorted(p.name for p in project.path.iterdir() if not p.name.startswith((".", "runpytest", "std"))) == mine
    run(project, "--stitch-results-dir", ".").assert_outcomes(passed=2, failed=2)
    first = (project.path / "results-main.jsonl").read_text()
    for only_looks in ("--collect-only", "--help", "--fixtures"):
        assert run(project, "--stitch-results-dir", ".", only_looks).ret == 0
        assert (project.path / "results-main.jsonl").read_text() == first
    result = run(project, "--stitch-results-dir", ".")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(["*the previous run's results were moved to previous/*"])
    (moved,) = (project.path / "previous").iterdir()
    assert (moved / "results-main.jsonl").read_text() == first
    assert {p.name for p in moved.iterdir()} == {"progress-main.log", "results-controller.jsonl", "results-main.jsonl"}
    assert project.path.joinpath("src", "mine.py").read_text() == "x = 1\n"
    assert project.path.joinpath("notes.log").read_text() == "my notes\n"
    assert project.path.joinpath("progress-mine.log").read_text() == "not a progress log\n"
    assert {name: project.path.joinpath(name).read_text() for name in theirs} == theirs


def test_a_results_file_stitchtest_did_not_write_is_refused(project):
    (project.path / "results").mkdir()
    foreign = project.path / "results" / "results-x.jsonl"
    foreign.write_text("id,value\n1,2\n")
    result = run(project)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*results/results-x.jsonl is not a stitchtest results file*move it away*"])
    assert foreign.read_text() == "id,value\n1,2\n"


BAD_OPTIONS = [
    (("--stitch-methods", "dmm"), "*--stitch-methods: unknown method 'dmm'*"),
    (("--stitch-methods", ","), "*--stitch-methods ',' names no method*"),
    (("--stitch-seeds", "0"), "*--stitch-seeds: 0 is not a number of models; give 1 or more*"),
    (("--stitch-seeds", "-1"), "*--stitch-seeds: -1 is not a number of models*"),
    (("--stitch-report-dir", "afile"), "*--stitch-report-dir: afile is a file, not a directory*"),
    (("--stitch-results-dir", "afile"), "*--stitch-results-dir: afile is a file, not a directory*"),
    (("--stitch-data", "nowhere"), "*--stitch-data: 'nowhere' is neither a known data set*"),
    (("--stitch-baseline-tol", "-1"), "*--stitch-baseline-tol: -1.0 is not a tolerance; give a number >= 0*"),
    (("--stitch-arch", "resnet19"), "*--stitch-arch: unknown architecture 'resnet19'; expected R<abcd>*"),
    # issue 32: names that resolve but cannot build an audited model on this data failed in every test
    (("--stitch-arch", "torchvision.models:resnet18"), "*--stitch-arch: architecture 'torchvision.models:resnet18' "
                                                       "cannot be audited on 1x16x16 images*unexpected keyword*width*"),
    (("--stitch-arch", "vgg9"), "*--stitch-arch: architecture 'vgg9' cannot be audited*Output size is too small*"),
    (("--stitch-arch", "math:pi"), "*--stitch-arch: architecture 'math:pi' cannot be audited*not callable*"),
    (("--stitch-results-dir", "r" * 300), "*--stitch-results-dir: a name in rrr* is 300 bytes long*give a shorter path"),
    (("--stitch-report-dir", "out/" + "p" * 300), "*--stitch-report-dir: a name in out/ppp* is 300 bytes*shorter path"),
]


def test_a_bad_option_fails_before_the_old_results_are_touched(project):
    run(project)
    before = rows(project)
    project.path.joinpath("afile").write_text("mine\n")
    for args, message in BAD_OPTIONS:
        result = run(project, *args)
        assert result.ret == pytest.ExitCode.USAGE_ERROR, args
        result.stderr.fnmatch_lines([message])
        assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
        assert rows(project) == before and project.path.joinpath("afile").read_text() == "mine\n"


def test_a_results_dir_in_use_by_a_live_session_is_refused(project):
    from filelock import FileLock

    run(project)
    before = rows(project)
    with FileLock(str(project.path / "results" / ".stitchtest.lock")):  # as a running session holds it
        result = run(project)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*results is in use by another stitchtest session*another --stitch-results-dir*"])
    assert rows(project) == before
    run(project, "--stitch-resume").assert_outcomes(passed=2, failed=2)  # released when a session ends


def test_resume_refuses_other_settings_and_names_a_corrupt_line(project):
    run(project)
    before = rows(project)
    result = run(project, "--stitch-resume", "--stitch-seeds", "1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--stitch-resume: results holds a run of other settings: seeds 2 (this run: 1)*"])
    result = project.runpytest_subprocess("testbeds", "--stitch-methods", "dm", "-p", "no:cacheprovider", "--stitch-resume")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "audited ['dm', 'linear_cka'] (this run: ['dm'])" in result.stderr.str()
    assert rows(project) == before
    path = project.path / "results" / "results-main.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:2] + ["{not json"] + lines[2:]) + "\n")
    result = run(project, "--stitch-resume")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--stitch-resume: results/results-main.jsonl:3: not valid JSON*fix or delete that line*"])


def test_a_baseline_without_a_run_row_is_refused(project):
    run(project)
    worker_file = project.path / "worker.jsonl"
    worker_file.write_text((project.path / "results" / "results-main.jsonl").read_text())
    result = run(project, "--stitch-baseline", str(worker_file))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--stitch-baseline: {worker_file} has no run row*--stitch-save-baseline*"])


INTERRUPTING = '''
import pytest
from stitchtest.audit import Planned
from stitchtest.engine.cells import Cell

pytestmark = pytest.mark.testbed("tiny")


def test_then_ctrl_c(audit, method):
    audit.cells("tiny", method, [Planned(Cell(audit.spec(seed=0), "layer1.0", audit.spec(seed=0), "layer1.0"), "self", 0)])
    audit.expect("tiny", "runs", method, method.primary, __import__("stitchtest.audit.checks").audit.checks.at_least([1.0], 0.0))
    raise KeyboardInterrupt
'''


def test_an_interrupted_run_says_so_in_its_summary(project):
    project.path.joinpath("testbeds", "test_tiny.py").write_text(INTERRUPTING)
    result = run(project)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    summary = (project.path / "reports" / "summary.md").read_text()
    assert "| status" in summary and "INCOMPLETE (interrupted" in summary and "--stitch-resume" in summary


def test_a_cache_that_is_a_file_is_one_usage_error(project, monkeypatch, tmp_path):
    cache = tmp_path / "cache-file"
    cache.write_text("not a directory")
    monkeypatch.setenv("STITCHTEST_CACHE", str(cache))
    result = run(project)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*model cache {cache}: {cache} is a file, not a directory; set STITCHTEST_CACHE*"])


def test_a_cache_path_too_long_is_one_usage_error(project, monkeypatch, tmp_path):
    cache = tmp_path / ("c" * 300) / "models"
    monkeypatch.setenv("STITCHTEST_CACHE", str(cache))
    result = run(project)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*model cache: a name in {tmp_path}/ccc* is 300 bytes long*set STITCHTEST_CACHE*"])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


FULL_REPORT_DISK = '''
import errno, os, pathlib

_write_text = pathlib.Path.write_text


def _full(self, data, *args, **kwargs):  # the report disk fills up half-way through a file
    if self.parent.name != "reports":
        return _write_text(self, data, *args, **kwargs)
    _write_text(self, data[:100], *args, **kwargs)
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))


pathlib.Path.write_text = _full
'''


def test_a_full_report_disk_is_one_red_line_and_keeps_the_previous_reports(project):
    """Issue 27, 9: the reports are written atomically, and a write that fails is one red line
    naming the file and the error; the session fails, and pytest's summary is still printed."""
    run(project)
    summary = (project.path / "reports" / "summary.md").read_text()
    project.makeconftest(CONFTEST + FULL_REPORT_DISK)
    result = run(project)
    result.assert_outcomes(passed=2, failed=2)  # pytest's result line came
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*stitchtest: the reports were not written: reports/summary.md: No space left on "
                                 "device; the rows in results/ are whole*stitchtest report results -o reports*"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert (project.path / "reports" / "summary.md").read_text() == summary
    assert not list((project.path / "reports").glob("*.tmp"))


FAULTY_MEASURES = '''
from dataclasses import dataclass
from stitchtest.measures import Measure


@dataclass(frozen=True)
class NanScore(Measure):
    name = "nan_score"

    def _score(self, x, y):
        return float("nan")


@dataclass(frozen=True)
class InfScore(Measure):
    name = "inf_score"

    def _score(self, x, y):
        return float("inf")


@dataclass(frozen=True)
class Raises(Measure):
    name = "raises"

    def _score(self, x, y):
        raise RuntimeError("out of ideas")
'''


def test_a_non_finite_or_raising_measure_fails_its_cells_with_the_reason(project):
    project.makepyfile(faulty=FAULTY_MEASURES)
    result = project.runpytest_subprocess("testbeds", "-p", "no:cacheprovider", "--stitch-methods",
                                          "faulty:NanScore,faulty:InfScore,faulty:Raises")
    result.assert_outcomes(failed=6)  # never a pass: NaN is not a score of 0.0
    cells = [r for r in rows(project) if r["kind"] == "cell"]
    assert {r["readouts"]["failure"] for r in cells} == {
        "non-finite score (nan)", "non-finite score (inf)", "raises() raised RuntimeError: out of ideas"}
    summary = (project.path / "reports" / "summary.md").read_text()
    for name in ("nan_score", "inf_score", "raises"):  # every audited method keeps its column
        assert f"| {name}" in summary
    assert "raises() raised RuntimeError: out of ideas" in (project.path / "reports" / "tiny.md").read_text()


def _write_mnist(root, labels=None, images=None):
    """A tiny MNIST IDX directory (one t10k split, carved 80/20 by the loader)."""
    import struct

    import numpy as np

    root.mkdir()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (50, 28, 28), dtype=np.uint8) if images is None else images
    labels = np.arange(50) % 10 if labels is None else labels
    for name, array, magic in (("t10k-images-idx3-ubyte", images, 0x803), ("t10k-labels-idx1-ubyte", labels, 0x801)):
        array = np.asarray(array, dtype=np.uint8)
        (root / name).write_bytes(struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
                                  + array.tobytes())
    return root


def test_degenerate_data_warns_or_is_one_usage_error_before_anything_runs(project):
    import numpy as np

    few = _write_mnist(project.path / "few", labels=np.arange(50) % 2)
    result = run(project, "--stitch-data", str(few), "--collect-only")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*the labels use only 2 of 10 classes (0, 1)*"])
    blank = _write_mnist(project.path / "blank", images=np.zeros((50, 28, 28)))
    result = run(project, "--stitch-data", str(blank))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--stitch-data: *blank: every training image has the same value everywhere*"])
    truncated = _write_mnist(project.path / "truncated")
    path = truncated / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    result = run(project, "--stitch-data", str(truncated))
    assert result.ret == pytest.ExitCode.USAGE_ERROR and "passed" not in result.stdout.str()
    result.stderr.fnmatch_lines(["*--stitch-data: *t10k-images-idx3-ubyte is truncated*"])


KILLED = '''
import os
import pathlib
import signal

import pytest
from stitchtest.audit import checks
from stitchtest.audit import Planned
from stitchtest.engine.cells import Cell

TESTBED = pathlib.Path(__file__).stem
pytestmark = pytest.mark.testbed(TESTBED)


@pytest.mark.parametrize("k", range(3))
def test_cell(audit, method, k):
    audit.cells(TESTBED, method, [Planned(Cell(audit.spec(seed=k), "layer1.0", audit.spec(seed=k), "layer1.0"),
                                          "self", k)])
    if (TESTBED, method.name, k) == ("test_b", "linear_cka", 2) and not pathlib.Path("killed").exists():
        pathlib.Path("killed").write_text("once")  # a kill -9 from outside, as the OOM killer does
        os.kill(os.getpid(), signal.SIGKILL)
    audit.expect(TESTBED, f"cell{k}", method, method.primary, checks.at_least([1.0], 0.0))
'''


def test_a_killed_worker_does_not_hang_the_session_and_the_others_work_is_kept(project):
    """Four groups on two workers; one worker is killed in its second group. pytest-xdist 3.8's
    loadgroup scheduler then hangs for good (the dead worker's finished group comes back as
    empty work); stitchtest's (``stitchtest.plugin.loadgroup``) ends the session with every other test run."""
    (project.path / "testbeds" / "test_tiny.py").unlink()
    for name in ("test_a", "test_b"):
        project.path.joinpath("testbeds", f"{name}.py").write_text(KILLED)
    result = project.runpytest_subprocess("testbeds", "--stitch-methods", "dm,linear_cka", "-p", "no:cacheprovider",
                                          "-n", "2", timeout=240)
    result.assert_outcomes(passed=11, failed=1)  # the test the worker died on is a failure, not re-run
    result.stdout.fnmatch_lines(["*worker 'gw*' crashed while running*test_b.py::test_cell?linear_cka-2*"])
    checks = {r["key"] for r in rows(project) if r["kind"] == "check"}
    assert len(checks) == 11 and "test_b|cell2|linear_cka" not in checks
    summary = (project.path / "reports" / "summary.md").read_text()
    assert "INCOMPLETE (worker gw" in summary and "died" in summary

    # the cell the worker computed before it died never reached the controller with a report, but
    # it was spooled on the controller's disk and kept at the end (stitchtest.records.spool): resuming
    # computes no cell again and only runs the check the worker did not reach
    result.stdout.fnmatch_lines(["*kept 1 row that this run's workers computed in tests they did not finish*"])
    before = {r["key"]: r["time"] for r in rows(project) if r["kind"] == "cell"}
    assert len(before) == 12 and any(k.startswith("test_b|linear_cka") and "seed=2" in k for k in before)
    assert not list((project.path / "results").glob("spool-*"))
    result = project.runpytest_subprocess("testbeds", "--stitch-methods", "dm,linear_cka", "-p", "no:cacheprovider",
                                          "-n", "2", "--stitch-resume", timeout=240)
    result.assert_outcomes(passed=12)
    after = {r["key"]: r["time"] for r in rows(project) if r["kind"] == "cell"}
    assert after == before
    assert len({r["key"] for r in rows(project) if r["kind"] == "check"}) == 12
    assert __import__("re").search(r"\| status +\| complete", (project.path / "reports" / "summary.md").read_text())


def test_a_plain_function_is_audited_as_a_measure(project):
    """``--stitch-methods my_measures:gram_cosine`` (a function f(x, y) -> float): collected, run, reported."""
    project.makepyfile(my_measures="def gram_cosine(x, y):\n"
                                   "    k, l = x @ x.T, y @ y.T\n"
                                   "    return float((k * l).sum() / (k.norm() * l.norm()))\n")
    result = project.runpytest_subprocess("testbeds", "--stitch-methods", "my_measures:gram_cosine", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)  # the self-stitch scores 1; nothing exceeds 2
    cells = [r for r in rows(project) if r["kind"] == "cell"]
    assert {(r["method"], r["method_id"]) for r in cells} == {("gram_cosine", "gram_cosine()")}
    assert all(r["readouts"]["score"] == pytest.approx(1.0) for r in cells)


def test_a_method_named_with_a_newline_is_one_usage_error_before_anything_runs(project):
    """Issue 27, item 11: the newline went raw into progress-*.log (and splits every line it is in)."""
    run(project, "--stitch-methods", "dm")
    before = rows(project)
    project.makepyfile(my_measures="def two_lines(x, y):\n"
                                   "    return 1.0\n"
                                   "two_lines.__name__ = 'two\\nlines'\n")
    result = project.runpytest_subprocess("testbeds", "--stitch-methods", "my_measures:two_lines", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--stitch-methods: method 'my_measures:two_lines' has the name 'two\\nlines', "
                                 "which holds a control character*"])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str() and rows(project) == before


# ---------------------------------------------------------------- beyond one machine (issue 14)


def _comparable(rows):
    """What two runs of the same audit must agree on, whichever worker computed what and when."""
    out = set()
    for r in rows:
        if r["kind"] == "cell":
            readouts = {k: v for k, v in r["readouts"].items() if k not in ("seconds", "reused_from")}
            out.add((r["key"], json.dumps(readouts, sort_keys=True)))
        elif r["kind"] in ("check", "exhibit"):
            out.add((r["key"], json.dumps({k: v for k, v in r.items() if k not in ("worker", "time")}, sort_keys=True)))
    return out


def _summary(project):
    """summary.md without what differs between any two runs (times, the command line)."""
    import re

    text = (project.path / "reports" / "summary.md").read_text()
    return [re.sub(r"-{3,}", "---", re.sub(r" +", " ", line)) for line in text.splitlines()  # column widths follow them
            if not line.startswith(("| wall_time_s", "| cell_compute_s", "| command"))]


def test_workers_in_other_directories_give_the_rows_and_report_of_n_2(project):
    """Two workers that each run in their own directory, as on two hosts (xdist copies the testbeds
    there, ``--rsyncdir``): every row reaches the controller's results directory, no result is
    written where the workers run, and the report is the one ``-n 2`` writes."""
    project.path.joinpath("testbeds", "conftest.py").write_text(CONFTEST)  # travels with the testbeds
    run(project, "-n", "2").assert_outcomes(passed=2, failed=2)
    local, summary = _comparable(rows(project)), _summary(project)
    hosts = [project.mkdir(name) for name in ("hostA", "hostB")]
    testbeds = str(project.path / "testbeds")  # xdist maps only absolute paths into an rsync root
    result = project.runpytest_subprocess(testbeds, "--stitch-methods", "dm,linear_cka", "-p", "no:cacheprovider",
                                          "--dist", "load", "--rsyncdir", testbeds,
                                          *[a for h in hosts for a in ("--tx", f"popen//chdir={h}")])
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(["*stitchtest: * rows -> reports/summary.md*"])
    assert _comparable(rows(project)) == local and len(local) == 14
    assert {r["worker"] for r in rows(project) if r["kind"] == "cell"} <= {"gw0", "gw1"}
    assert _summary(project) == summary
    for h in hosts:  # the testbeds were copied there; no result was written there
        assert (h / "testbeds" / "test_tiny.py").exists()
        assert not [p for p in h.rglob("*") if p.name in ("results", "reports") or p.suffix == ".jsonl"]


DROPS_ROWS = CONFTEST + '''
import os

import pytest
from stitchtest.plugin.session import AuditSession

if os.environ.get("PYTEST_XDIST_WORKER"):  # as on another host without a shared disk: no spool
    AuditSession.live_folder = lambda self: None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logreport(report):
    """In a worker, before xdist sends the report: lose linear_cka's rows on the way."""
    if os.environ.get("PYTEST_XDIST_WORKER") and "linear_cka" in report.nodeid and hasattr(report, "stitchtest_rows"):
        del report.stitchtest_rows
'''


def test_rows_a_worker_sent_that_never_came_fail_the_session(project):
    project.makeconftest(DROPS_ROWS)
    result = run(project, "-n", "2", "-k", "self_stitch")
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*stitchtest: rows that workers computed never reached the controller (gw?: 5)*"])
    assert {r["method"] for r in rows(project) if r["kind"] == "cell"} == {"dm"}


def test_an_audit_is_recognised_by_its_marker_not_its_path(project):
    (project.path / "testbeds").rename(project.path / "myaudits")
    result = project.runpytest_subprocess("myaudits", "--stitch-methods", "linear_cka", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["stitchtest: scale smoke, data digits*"])
    assert (project.path / "reports" / "summary.md").exists()


NOISY = '''
import pytest
from stitchtest.audit import checks
from stitchtest.audit.statistics import binomial_se

pytestmark = pytest.mark.testbed("tiny")


def test_near(audit, method):
    audit.expect("tiny", "near", method, "accuracy", checks.at_least([0.745], 0.75), se=binomial_se(0.745, 397))


def test_far(audit, method):
    audit.expect("tiny", "far", method, "accuracy", checks.at_least([0.60], 0.75), se=binomial_se(0.60, 397))


def test_near_by_seeds(audit, method):
    per_seed = {"value": [0.70, 0.76, 0.79]}
    audit.expect("tiny", "near_by_seeds", method, "accuracy", checks.at_least(per_seed["value"], 0.75), per_seed)
'''


def test_a_check_within_noise_of_its_threshold_is_skipped_as_undecided(project):
    """Neither pass nor fail: skipped with the figures (the run exits 0 for it), listed as undecided;
    far below its threshold the same check fails."""
    project.path.joinpath("testbeds", "test_tiny.py").write_text(NOISY)
    result = run(project, "-rs")
    result.assert_outcomes(skipped=4, failed=2)
    result.stdout.fnmatch_lines(["*undecided: 0.745 vs 0.75 ± 0.044 (2 SE)*"])
    summary = (project.path / "reports" / "summary.md").read_text()
    assert "undecided (+0.745)" in summary and "FAIL (+0.600)" in summary
    outcomes = {(r["check"], r["method"]): r["outcome"] for r in rows(project) if r["kind"] == "check"}
    assert outcomes[("near_by_seeds", "dm")] == "undecided" and outcomes[("far", "dm")] == "fail"
