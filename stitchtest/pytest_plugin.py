"""pytest wiring for the testbeds: options, fixtures, worker pinning, session-end reports.

Registered through the ``pytest11`` entry point, so any ``pytest`` run in an environment with
stitchtest installed has the options; nothing here does work unless a testbed asks for a
fixture. Workers compute cells and append rows to their own results file; the controller
(never a worker) merges the rows and writes the reports when the session ends, then compares
them with a baseline (``--baseline``) or saves one (``--save-baseline``).
"""
from __future__ import annotations

import os
import sys
import threading
import time
import warnings
from typing import List, Optional
from pathlib import Path

import pytest

RESULTS = "results"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("stitchtest", "stitchtest: audit functional-similarity methods")
    group.addoption("--scale", choices=("smoke", "small", "paper"), default="smoke",
                    help="how many models, cuts and seeds the testbeds use (default: smoke, on digits)")
    group.addoption("--data", default="digits", metavar="NAME_OR_DIR",
                    help="data set: digits (default), a directory (MNIST IDX, CIFAR-10/100 python, torchvision's "
                         "layouts, an ImageFolder) or module:function returning a torch Dataset")
    group.addoption("--methods", default=None, metavar="NAMES",
                    help="comma-separated methods to audit (registered names or module:Name); default: all")
    group.addoption("--seeds", type=int, default=None, metavar="N",
                    help="models per group (default: the scale's, 3)")
    group.addoption("--arch", default=None, metavar="NAME",
                    help="the model family every testbed audits (default: the scale's, R1111): a built-in "
                         "(vgg4, R2222, ...), a registered family (stitchtest.models entry points) or module:Name")
    group.addoption("--device", default="auto",
                    help="auto (CUDA when available, else CPU), cpu, cuda or cuda:N")
    group.addoption("--report-dir", default="reports", metavar="DIR",
                    help="where the markdown reports are written at session end (default: reports/)")
    group.addoption("--results-dir", default=RESULTS, metavar="DIR",
                    help="where computed cells are appended as JSON lines, one file per worker (default: results/)")
    group.addoption("--resume", action="store_true",
                    help="keep the results of an earlier, interrupted run and skip the cells already there")
    group.addoption("--baseline", default=None, metavar="FILE",
                    help="compare with a baseline (from --save-baseline): fail the session when a check that "
                         "passed there fails now or has gone missing; checks that failed there too run as xfail")
    group.addoption("--save-baseline", default=None, metavar="FILE",
                    help="write this run's settings, cells and checks to FILE at session end, as a baseline")
    group.addoption("--baseline-tol", type=float, default=None, metavar="X",
                    help="list readouts that moved by more than X (absolute) from the baseline (default: 0.02)")
    parser.addini("stitchtest_progress_every", default="30",
                  help="stitchtest: seconds between running counts of computed cells (without -v)")


def pytest_report_header(config: pytest.Config) -> Optional[List[str]]:
    """One line saying what this run audits and where its rows and reports go."""
    if not _runs_testbeds(config):
        return None
    moved = getattr(config, "_stitchtest_set_aside", None)
    aside = [f"stitchtest: the previous run's results were moved to {moved}/ (--resume continues a run instead)"]
    return (aside if moved else []) + [f"stitchtest: scale {config.getoption('scale')}, data {config.getoption('data')}, "
            f"device {config.getoption('device')}, stitches in {_precision(config)}, "
            f"results {config.getoption('results_dir')}/, reports {config.getoption('report_dir')}/"
            + (" (resuming)" if config.getoption("resume") else "")]


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _worker_id(config: pytest.Config) -> str:
    """From xdist's own worker input, not the environment: a pytest run started *inside* an
    xdist worker (pytester, a subprocess) inherits PYTEST_XDIST_WORKER but is no worker."""
    return config.workerinput["workerid"] if _is_worker(config) else "main"


def _worker_slot(config: pytest.Config):
    """``(index, count)`` of this xdist worker (``gw3`` of 4 -> ``(3, 4)``); ``(0, 1)`` outside xdist."""
    worker = _worker_id(config)
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    return index, config.workerinput["workercount"] if _is_worker(config) else 1


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Share the machine between xdist workers before anything initialises CUDA.

    On GPUs each worker takes one device round-robin (within an outer ``CUDA_VISIBLE_DEVICES``);
    on CPU each worker gets ``max(1, cores // workers)`` torch threads, because OpenMP threads that
    outnumber cores spin against each other and run many times slower. Testbeds default to
    ``--dist loadgroup`` so cells that share models stay on one worker.
    """
    from . import devices

    devices.pin_worker(*_worker_slot(config))
    if getattr(config.option, "dist", None) == "load" and getattr(config.option, "numprocesses", None):
        config.option.dist = "loadgroup"
    if _is_worker(config) and config.workerinput.get("stitchtest_loadgroup"):
        config.option.loadgroup = True  # workers re-parse the command line, so they learn it here
    config.addinivalue_line("markers", "testbed(name): a stitchtest audit suite")
    config._stitchtest_start = time.time()
    if _is_worker(config) or not _runs_testbeds(config):
        return
    # Every option is checked before anything happens to the results of an earlier run.
    _device(config)
    run = _run_row(config)
    _check_paths(config)
    _load_baseline(config, run)
    if not _computes(config):
        return  # the results directory is left as it is
    _open_results(config, run)


def _computes(config: pytest.Config) -> bool:
    """False for a session that runs no test: ``--collect-only``, ``--help``, ``--fixtures``, ..."""
    return not any(getattr(config.option, name, False) for name in (
        "collectonly", "help", "showfixtures", "show_fixtures_per_test", "markers", "setupplan"))


def _check_paths(config: pytest.Config) -> None:
    """``--report-dir`` and ``--results-dir`` must be directories (or not exist yet), and so
    must the model cache."""
    from .zoo import CacheError, check_root, default_root

    try:
        check_root(default_root())
    except CacheError as e:
        raise pytest.UsageError(str(e)) from None
    for option in ("report_dir", "results_dir"):
        path = Path(config.getoption(option))
        if path.exists() and not path.is_dir():
            flag = "--" + option.replace("_", "-")
            raise pytest.UsageError(f"{flag}: {path} is a file, not a directory; give a directory")


def _open_results(config: pytest.Config, run: dict) -> None:
    """Lock the results directory for this session, then either check that ``--resume``
    continues a run of the same settings, or move the previous run's files aside."""
    from . import rundir
    from .results import ResultsWriter

    results = Path(config.getoption("results_dir"))
    try:  # a usage error still unconfigures, which releases the lock
        config._stitchtest_lock = rundir.claim(results)
        if not config.getoption("resume"):
            config._stitchtest_set_aside = rundir.set_aside(results)
    except (OSError, rundir.RunDirError) as e:
        raise pytest.UsageError(f"--results-dir: {e}") from None
    if config.getoption("resume"):
        _check_resume(results, run)
    ResultsWriter(results, "controller").append(run)


def _check_resume(results: Path, run: dict) -> None:
    """``--resume`` continues the run in ``results`` only with its settings, so a report never
    mixes rows of two settings; a malformed line is named now, not in every test."""
    from .baseline import RESUMED
    from .results import ResultsError, load_rows

    try:
        rows = load_rows(results)
    except ResultsError as e:
        raise pytest.UsageError(f"--resume: {e}; fix or delete that line (its cell is then recomputed), "
                                f"or start over without --resume") from None
    before = next((r for r in rows if r["kind"] == "run"), None)
    if before is None:
        return
    differ = [f"{k} {before.get(k)!r} (this run: {run.get(k)!r})" for k in RESUMED
              if k in before and before.get(k) != run.get(k)]
    if differ:
        raise pytest.UsageError(f"--resume: {results} holds a run of other settings: {'; '.join(differ)}; resume "
                                f"it with its own options, or start a new run without --resume (the old results "
                                f"are moved aside)")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Let the next session have the results directory."""
    lock = getattr(config, "_stitchtest_lock", None)
    if lock is not None:
        lock.release()


def _run_row(config: pytest.Config) -> dict:
    """The settings that make two runs comparable, stored with the results and in baselines."""
    from .baseline import run_row
    from .data import DataError, DataSpec, check
    from .scales import SCALES
    from .zoo import versions

    try:  # read the files now: a data error is one usage error, not a failure in every test
        spec = DataSpec.parse(config.getoption("data"))
        with warnings.catch_warnings(record=True) as degenerate:
            warnings.simplefilter("always")
            config._stitchtest_classes = check(spec)  # the class count, for the reports' chance level
        data = spec.string_id()
    except DataError as e:
        raise pytest.UsageError(f"--data: {e}") from None
    for w in degenerate:
        config.issue_config_time_warning(w.message, stacklevel=2)
    seeds = config.getoption("seeds")
    if seeds is not None and seeds < 1:
        raise pytest.UsageError(f"--seeds: {seeds} is not a number of models; give 1 or more, or leave it out "
                                f"for the scale's {SCALES[config.getoption('scale')].seeds}")
    seeds = SCALES[config.getoption("scale")].with_seeds(seeds).seeds
    arch = {"arch": config.getoption("arch")} if config.getoption("arch") else {}
    return run_row(config.getoption("scale"), data, seeds, methods=config.getoption("methods") or "all",
                   audited=_audited(config), versions=versions(), command="pytest " + " ".join(sys.argv[1:]), **arch)


def _audited(config: pytest.Config) -> List[str]:
    """The names ``--methods`` resolves to; an unknown one, or none at all, is a usage error."""
    from .audit import resolve_methods
    from .registry import RegistryError

    try:
        chosen = resolve_methods(config.getoption("methods"))
    except (RegistryError, ImportError, TypeError) as e:
        raise pytest.UsageError(f"--methods: {e}") from None
    if not chosen:
        raise pytest.UsageError(f"--methods {config.getoption('methods')!r} names no method; give names such as "
                                f"dm,linear_cka (`stitchtest methods` lists them), or leave it out to audit all")
    return sorted(m.name for m in chosen)


def _device(config: pytest.Config):
    """``--device`` resolved; one this machine lacks is a usage error, said once before anything runs."""
    from . import devices

    try:
        return devices.resolve(None if config.getoption("device") == "auto" else config.getoption("device"))
    except (RuntimeError, ValueError) as e:
        raise pytest.UsageError(f"--device: {e}") from None


def _precision(config: pytest.Config) -> str:
    """What the stitches of this run train in, e.g. ``"bf16 (auto)"``: ``auto`` depends on the hardware."""
    from .scales import SCALES

    from . import precision

    stitch, device = SCALES[config.getoption("scale")].stitch(), _device(config)
    resolved = stitch.resolved_precision(device)
    if stitch.precision != "auto":
        return resolved
    return f"{resolved} (auto; {precision.explain(device.type)})"


def _load_baseline(config: pytest.Config, run: dict) -> None:
    """Read and vet ``--baseline`` (and the ``--save-baseline`` target) now, on the controller, so a
    bad one fails in seconds, not at the end of the run."""
    path, target = config.getoption("baseline"), config.getoption("save_baseline")
    config._stitchtest_baseline = None
    tol = config.getoption("baseline_tol")
    if tol is not None and not tol >= 0:
        raise pytest.UsageError(f"--baseline-tol: {tol} is not a tolerance; give a number >= 0 (default 0.02)")
    if target and Path(target).is_dir():
        raise pytest.UsageError(f"--save-baseline: {target} is a directory; give a file name")
    if not path:
        return
    from .baseline import baseline_failures, check_match, load
    from .results import ResultsError

    try:
        base = load(path)
        if base.run is None:  # a worker's results file: its settings cannot be checked
            raise ResultsError(f"{path} has no run row (the settings it was made with), so it is no baseline; "
                               f"make one with --save-baseline")
        check_match(run, base)
    except ResultsError as e:
        raise pytest.UsageError(f"--baseline: {e}") from None
    config._stitchtest_baseline = base
    config._stitchtest_baseline_failures = baseline_failures(base)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """Tell each xdist worker that the controller schedules by group (see pytest_configure)."""
    node.workerinput["stitchtest_loadgroup"] = node.config.getvalue("dist") == "loadgroup"
    node.workerinput["stitchtest_baseline_failures"] = sorted(_baseline_failures(node.config))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """``--dist loadgroup`` (the default) that survives a killed worker (:mod:`stitchtest.loadgroup`)."""
    if config.getvalue("dist") == "loadgroup":
        from .loadgroup import RecoveringLoadGroup

        return RecoveringLoadGroup(config, log)
    return None


def _baseline_failures(config: pytest.Config) -> set:
    """Keys of the checks that failed in ``--baseline`` (workers learn them from the controller)."""
    if _is_worker(config):
        return set(config.workerinput.get("stitchtest_baseline_failures", ()))
    return getattr(config, "_stitchtest_baseline_failures", set())


def _runs_testbeds(config: pytest.Config) -> bool:
    return any("testbed" in str(a) for a in config.args)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize every testbed test that takes ``method`` over the audited methods."""
    if "method" in metafunc.fixturenames:
        from .audit import resolve_methods

        chosen = resolve_methods(metafunc.config.getoption("methods"))
        metafunc.parametrize("method", chosen, ids=[m.name for m in chosen])


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items) -> None:
    """Keep each method, over every testbed, on one xdist worker: its cells share models and
    activations, and a cell two testbeds ask for is computed once (``Audit.cells``). One group per
    method also balances: the SGD objectives cost about the same, and there are about as many
    of them as workers, while the cheap methods fill in where a worker frees up."""
    for item in items:
        method = getattr(item, "callspec", None) and item.callspec.params.get("method")
        marker = item.get_closest_marker("testbed")
        if method is not None and marker is not None:
            item.add_marker(pytest.mark.xdist_group(f"method-{method.name}"))


@pytest.fixture(scope="session")
def stitchtest_audit(request: pytest.FixtureRequest):
    """The session's :class:`~stitchtest.audit.Audit` (zoo, context, results writer)."""
    from . import devices
    from .audit import Audit
    from .data import DataSpec
    from .results import ResultsWriter, load_rows
    from .scales import SCALES
    from .zoo import Zoo

    config = request.config
    results = Path(config.getoption("results_dir"))
    log_path = results / f"progress-{_worker_id(config)}.log"
    results.mkdir(parents=True, exist_ok=True)

    def progress(message: str) -> None:  # the controller's ProgressFollower shows it on the terminal
        with open(log_path, "a") as f:
            f.write(f"{time.strftime('%H:%M:%S')} {message}\n")
        if not _is_worker(config):
            _show_progress(config)

    scale = SCALES[config.getoption("scale")].with_seeds(config.getoption("seeds")).with_arch(config.getoption("arch"))
    zoo = Zoo(device=None if config.getoption("device") == "auto" else config.getoption("device"), log=progress)
    done = {r["key"]: r for r in load_rows(results) if r["kind"] == "cell"} if config.getoption("resume") else {}
    index, workers = _worker_slot(config)
    audit = Audit(scale, DataSpec.parse(config.getoption("data")), zoo, ResultsWriter(results, _worker_id(config)),
                  done, progress, cache_limit=devices.cache_share(zoo.device, workers), worker=(index, workers))
    progress(f"activation cache budget {audit.context.cache_bytes / 2**30:.2f} GiB on {zoo.device} "
             f"(scale {scale.cache_gib:g} GiB, capped to this worker's share of memory)")
    return audit


class _Expect:
    """The ``audit`` fixture: the session audit, plus pytest semantics for check outcomes."""

    def __init__(self, audit, request: pytest.FixtureRequest):
        self._audit, self._request = audit, request

    def __getattr__(self, name):
        return getattr(self._audit, name)

    def expect(self, testbed: str, check: str, method, readout: str, outcome, per_seed=None) -> None:
        """Record the outcome; assert it unless only reported; known failures are strict xfails,
        and so (not strict) are failures that ``--baseline`` recorded too: only new ones fail."""
        row = self._audit.check(testbed, check, method, readout, outcome, per_seed)
        message = f"{method.name}: {testbed}/{check} on {readout}: {outcome.figure}"
        if row["outcome"] == "reported":
            return
        if row["outcome"] in ("known-fail", "unexpected-pass"):
            self._request.applymarker(pytest.mark.xfail(strict=True, reason=row["reason"]))
        elif row["outcome"] == "fail" and row["key"] in _baseline_failures(self._request.config):
            self._request.applymarker(pytest.mark.xfail(reason="failed in the --baseline run too"))
        assert outcome.passed, message


@pytest.fixture
def audit(stitchtest_audit, request: pytest.FixtureRequest) -> _Expect:
    return _Expect(stitchtest_audit, request)


def pytest_sessionstart(session: pytest.Session) -> None:
    """On the controller: follow the workers' progress logs on the terminal (``stitchtest.progress``)."""
    config = session.config
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if _is_worker(config) or not _runs_testbeds(config) or reporter is None:
        return
    from .progress import ProgressFollower

    def write(line: str) -> None:
        if getattr(reporter, "_width_of_current_line", 0):  # after xdist's dots, start a new line
            reporter.line("")
        reporter.write_line(line)

    # An xdist controller runs no tests, so a thread may write; a process that runs the tests
    # itself polls from the main thread, with pytest's output capture lifted (``_show_progress``).
    xdist_controller = bool(getattr(config.option, "numprocesses", None))
    config._stitchtest_progress = ProgressFollower(
        Path(config.getoption("results_dir")), write, verbose=config.getoption("verbose") > 0,
        every=float(config.getini("stitchtest_progress_every"))).start(thread=xdist_controller)


def _show_progress(config: pytest.Config) -> None:
    """In a run without workers: show what the progress log just got, outside output capture.

    Only the main thread may lift capture; a line logged from a thread computing a group of cells
    (``concurrency.completed``; e.g. a model trained on demand) is shown by the main thread's next poll.
    """
    follower = getattr(config, "_stitchtest_progress", None)
    capman = config.pluginmanager.getplugin("capturemanager")
    if follower is None or capman is None or threading.current_thread() is not threading.main_thread():
        return
    with capman.global_and_fixture_disabled():
        follower.poll()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """On the controller only: merge every worker's rows, write the reports, then compare with
    ``--baseline`` (a regression fails the session) and write ``--save-baseline``."""
    config = session.config
    if _is_worker(config) or not _runs_testbeds(config) or not _computes(config):
        return
    follower = getattr(config, "_stitchtest_progress", None)
    if follower is not None:
        follower.stop()
    from .report import write_reports
    from .results import load_rows

    rows = load_rows(Path(config.getoption("results_dir")))
    if not any(r["kind"] in ("cell", "check") for r in rows):  # nothing ran (--collect-only, -k nothing)
        return
    import torch

    from . import devices
    from .zoo import versions

    run_config = {
        "status": _status(session),
        "scale": config.getoption("scale"), "data": config.getoption("data"),
        "seeds": config.getoption("seeds") or "scale default", "methods": config.getoption("methods") or "all",
        "audited": _audited(config), "device": config.getoption("device"), "cuda": torch.cuda.is_available(),
        "stitch_precision": _precision(config),
        "workers": getattr(config.option, "numprocesses", None) or 1,
        "cpu": f"{devices.cpu_name()}, {os.cpu_count()} cores ({devices.cpu_features()})", "versions": versions(),
        "wall_time_s": round(time.time() - config._stitchtest_start, 1),
        # with --resume the wall time is this session's only; the cells' own compute time is all of it
        "resumed": bool(config.getoption("resume")),
        "cell_compute_s": round(sum(float(r["readouts"].get("seconds", 0.0)) for r in rows if r["kind"] == "cell"), 1),
        "command": "pytest " + " ".join(sys.argv[1:]),
    }
    if getattr(config, "_stitchtest_classes", None):
        run_config["num_classes"] = config._stitchtest_classes
    paths = write_reports(rows, Path(config.getoption("report_dir")), run_config)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("-", f"stitchtest: {len(rows)} rows -> {', '.join(str(p) for p in paths[:3])}"
                           + (" ..." if len(paths) > 3 else ""))
    _claims_finish(session, rows, reporter)
    _baseline_finish(session, rows, reporter)


def _claims_finish(session: pytest.Session, rows: list, reporter) -> None:
    """Judge the papers' claims on every method's check rows (they meet only here, on the
    controller), print them, and fail the session on an unexpected verdict."""
    from .claims import failures, judge_all
    from .report import _table
    from .results import checks

    claim_rows = judge_all(checks(rows), session.config.getoption("scale"))
    if not claim_rows:
        return
    table = _table([[r["status"], r["verdict"], r["key"], r["figure"]] for r in claim_rows],
                   ["status", "verdict", "claim", "figures"])
    if reporter is not None:
        reporter.write_sep("-", "stitchtest: claims of the source papers (summary.md has the sources)")
        reporter.write_line(table)
    bad = failures(claim_rows)
    if bad and session.exitstatus != pytest.ExitCode.INTERRUPTED:
        if reporter is not None:
            reporter.write_line(f"stitchtest: {len(bad)} claim(s) not as expected at this scale: "
                                + ", ".join(f"{r['key']} ({r['verdict']})" for r in bad), red=True, bold=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """Remember an xdist worker that died: the report then says the run is incomplete."""
    if error is not None:
        config = node.config
        config._stitchtest_lost = getattr(config, "_stitchtest_lost", []) + [node.gateway.id]


def _status(session: pytest.Session) -> str:
    """``complete``, or why not, for the report's first line: a partial report must say so."""
    lost = getattr(session.config, "_stitchtest_lost", [])
    if session.exitstatus == pytest.ExitCode.INTERRUPTED or session.shouldstop or session.shouldfail:
        why = f"interrupted: {session.shouldstop or session.shouldfail or 'Ctrl-C'}"
    elif lost:
        why = f"worker {', '.join(lost)} died"
    else:
        return "complete"
    return f"INCOMPLETE ({why}); the same command with --resume computes only what is missing"


def _baseline_finish(session: pytest.Session, rows: list, reporter) -> None:
    """Compare with ``--baseline`` and save ``--save-baseline``; the results files are never touched."""
    from .baseline import DEFAULT_TOL, BaselineError, Results, compare, render, save

    config = session.config

    def write(text: str, **markup) -> None:
        reporter.write_line(text, **markup) if reporter is not None else print(text)

    base, target = getattr(config, "_stitchtest_baseline", None), config.getoption("save_baseline")
    if (base is not None or target) and session.exitstatus == pytest.ExitCode.INTERRUPTED:
        write("stitchtest: interrupted, so the baseline is neither compared nor saved")
        return
    results = Results(Path(config.getoption("results_dir")), rows)
    if base is not None:
        tol = config.getoption("baseline_tol")
        try:
            comparison = compare(results, base, DEFAULT_TOL if tol is None else tol)
        except BaselineError as e:
            write(f"stitchtest: --baseline: {e}", red=True)
            session.exitstatus = pytest.ExitCode.USAGE_ERROR
        else:
            verdict = "REGRESSION" if comparison.failed() else "no regression"
            write(f"stitchtest: compared with baseline {base.path}: {verdict}", red=comparison.failed(), bold=True)
            write(render(comparison, limit=20))
            if comparison.failed():
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if target:
        save(results, target)
        write(f"stitchtest: baseline saved to {target}")
