"""pytest wiring for the testbeds: options, fixtures, worker pinning, session-end reports.

Registered through the ``pytest11`` entry point, so any ``pytest`` run in an environment with
stitchtest installed has the options; nothing here does work unless a testbed asks for a
fixture. Workers compute cells and append rows to their own results file; the controller
(never a worker) merges the rows and writes the reports when the session ends.
"""
from __future__ import annotations

import os
import platform
import shutil
import sys
import time
from pathlib import Path

import pytest

RESULTS = "results"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("stitchtest", "stitchtest: audit functional-similarity methods")
    group.addoption("--scale", choices=("smoke", "small", "paper"), default="smoke",
                    help="how many models, cuts and seeds the testbeds use (default: smoke, on digits)")
    group.addoption("--data", default="digits", metavar="NAME_OR_DIR",
                    help="data set: digits (default), or an MNIST / CIFAR-10 directory in its standard format")
    group.addoption("--methods", default=None, metavar="NAMES",
                    help="comma-separated methods to audit (registered names or module:Name); default: all")
    group.addoption("--seeds", type=int, default=None, metavar="N",
                    help="models per group (default: the scale's, 3)")
    group.addoption("--device", default="auto",
                    help="auto (CUDA when available, else CPU), cpu, cuda or cuda:N")
    group.addoption("--report-dir", default="reports", metavar="DIR",
                    help="where the markdown reports are written at session end (default: reports/)")
    group.addoption("--results-dir", default=RESULTS, metavar="DIR",
                    help="where computed cells are appended as JSON lines, one file per worker (default: results/)")
    group.addoption("--resume", action="store_true",
                    help="keep the results of an earlier, interrupted run and skip the cells already there")


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _worker_id(config: pytest.Config) -> str:
    """From xdist's own worker input, not the environment: a pytest run started *inside* an
    xdist worker (pytester, a subprocess) inherits PYTEST_XDIST_WORKER but is no worker."""
    return config.workerinput["workerid"] if _is_worker(config) else "main"


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Share the machine between xdist workers before anything initialises CUDA.

    On GPUs each worker takes one device round-robin (within an outer ``CUDA_VISIBLE_DEVICES``);
    on CPU each worker gets ``max(1, cores // workers)`` torch threads, because OpenMP threads that
    outnumber cores spin against each other and run many times slower. Testbeds default to
    ``--dist loadgroup`` so cells that share models stay on one worker.
    """
    from . import devices

    worker = _worker_id(config)
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    devices.pin_worker(index, config.workerinput["workercount"] if _is_worker(config) else 1)
    if getattr(config.option, "dist", None) == "load" and getattr(config.option, "numprocesses", None):
        config.option.dist = "loadgroup"
    if _is_worker(config) and config.workerinput.get("stitchtest_loadgroup"):
        config.option.loadgroup = True  # workers re-parse the command line, so they learn it here
    config.addinivalue_line("markers", "testbed(name): a stitchtest audit suite")
    config._stitchtest_start = time.time()
    results = Path(config.getoption("results_dir"))
    if not _is_worker(config) and not config.getoption("resume") and _runs_testbeds(config) and results.exists():
        shutil.rmtree(results)  # a fresh run; --resume keeps what an interrupted run computed


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """Tell each xdist worker that the controller schedules by group (see pytest_configure)."""
    node.workerinput["stitchtest_loadgroup"] = node.config.getvalue("dist") == "loadgroup"


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
    """Keep each (testbed, method) on one xdist worker: its cells share models and activations."""
    for item in items:
        method = getattr(item, "callspec", None) and item.callspec.params.get("method")
        marker = item.get_closest_marker("testbed")
        if method is not None and marker is not None:
            item.add_marker(pytest.mark.xdist_group(f"{marker.args[0]}-{method.name}"))


@pytest.fixture(scope="session")
def stitchtest_audit(request: pytest.FixtureRequest):
    """The session's :class:`~stitchtest.audit.Audit` (zoo, context, results writer)."""
    from .audit import Audit
    from .data import DataSpec
    from .results import ResultsWriter, load_rows
    from .scales import SCALES
    from .zoo import Zoo

    config = request.config
    verbose = config.getoption("verbose") > 0
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    results = Path(config.getoption("results_dir"))
    log_path = results / f"progress-{_worker_id(config)}.log"
    results.mkdir(parents=True, exist_ok=True)

    def progress(message: str) -> None:
        with open(log_path, "a") as f:
            f.write(f"{time.strftime('%H:%M:%S')} {message}\n")
        if verbose and reporter is not None and not _is_worker(config):
            reporter.write_line(f"[stitchtest] {message}")

    scale = SCALES[config.getoption("scale")].with_seeds(config.getoption("seeds"))
    zoo = Zoo(device=None if config.getoption("device") == "auto" else config.getoption("device"), log=progress)
    done = {r["key"]: r for r in load_rows(results) if r["kind"] == "cell"} if config.getoption("resume") else {}
    return Audit(scale, DataSpec.parse(config.getoption("data")), zoo, ResultsWriter(results, _worker_id(config)),
                 done, progress)


class _Expect:
    """The ``audit`` fixture: the session audit, plus pytest semantics for check outcomes."""

    def __init__(self, audit, request: pytest.FixtureRequest):
        self._audit, self._request = audit, request

    def __getattr__(self, name):
        return getattr(self._audit, name)

    def expect(self, testbed: str, check: str, method, readout: str, outcome) -> None:
        """Record the outcome; assert it unless only reported; known failures are strict xfails."""
        row = self._audit.check(testbed, check, method, readout, outcome)
        message = f"{method.name}: {testbed}/{check} on {readout}: {outcome.figure}"
        if row["outcome"] == "reported":
            return
        if row["outcome"] in ("known-fail", "unexpected-pass"):
            self._request.applymarker(pytest.mark.xfail(strict=True, reason=row["reason"]))
        assert outcome.passed, message


@pytest.fixture
def audit(stitchtest_audit, request: pytest.FixtureRequest) -> _Expect:
    return _Expect(stitchtest_audit, request)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """On the controller only: merge every worker's rows and write the reports."""
    config = session.config
    if _is_worker(config) or not _runs_testbeds(config):
        return
    from .report import write_reports
    from .results import load_rows

    rows = load_rows(Path(config.getoption("results_dir")))
    if not rows:
        return
    import torch

    from .zoo import versions

    run_config = {
        "scale": config.getoption("scale"), "data": config.getoption("data"),
        "seeds": config.getoption("seeds") or "scale default", "methods": config.getoption("methods") or "all",
        "device": config.getoption("device"), "cuda": torch.cuda.is_available(),
        "workers": getattr(config.option, "numprocesses", None) or 1,
        "cpu": f"{platform.machine()}, {os.cpu_count()} cores", "versions": versions(),
        "wall_time_s": round(time.time() - config._stitchtest_start, 1),
        "command": "pytest " + " ".join(sys.argv[1:]),
    }
    paths = write_reports(rows, Path(config.getoption("report_dir")), run_config)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("-", f"stitchtest: {len(rows)} rows -> {', '.join(str(p) for p in paths[:3])}"
                           + (" ..." if len(paths) > 3 else ""))
