"""pytest wiring for the testbeds: the hooks and fixtures, each handing off to one module.

Registered through the ``pytest11`` entry point, so any ``pytest`` run in an environment with
stitchtest installed loads it, and it is inert there: its options carry the ``--stitch-``
prefix (:mod:`stitchtest.plugin.options`), and until a collected test carries the ``testbed`` marker
nothing happens (no torch import, no device or thread pinning, no header, no report). Then
:mod:`stitchtest.plugin.session` starts the audit (settings, checks, the results folder, resume);
without xdist the process that collects the testbeds computes the cells and writes the results;
under xdist the workers hand their rows to the controller with each test report
(:mod:`stitchtest.plugin.relay`) and only the controller writes them; at the end the owner of the
results writes the reports and compares with a baseline (:mod:`stitchtest.plugin.finish`). All of the
plugin's state lives in ``config.stash``.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import List, Optional

import pytest

from . import session as session_mod
from ..records.folder import ResultsFolder
from .options import (add_options, computes, from_controller, host_slot, is_worker, option, results_folder, state,
                      worker_id, worker_slot)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker; nothing else happens until the testbeds are collected."""
    config.addinivalue_line("markers", "testbed(name): a stitchtest audit suite (the plugin acts only on these)")
    state(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Let the next session have the results folder."""
    lock = state(config).lock
    if lock is not None:
        lock.release()


# ---------------------------------------------------------------- collection and scheduling


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """Tell each xdist worker, before it starts, what only the controller knows (:func:`session.worker_input`)."""
    node.workerinput["stitchtest"] = session_mod.worker_input(node)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """For ``--dist load`` (``-n``'s default) and ``loadgroup``: group scheduling that survives a
    killed worker, if the workers collect testbeds; else xdist's own (:mod:`stitchtest.plugin.loadgroup`)."""
    dist = config.getvalue("dist")
    if dist in ("load", "loadgroup"):
        from xdist.scheduler import LoadGroupScheduling, LoadScheduling

        from .loadgroup import AuditScheduling

        return AuditScheduling(config, log, LoadScheduling if dist == "load" else LoadGroupScheduling,
                               lambda: state(config).audit_ids if state(config).active else None)
    return None


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids) -> None:
    """On the controller: the first worker that collected testbeds starts the audit (checks the
    options, opens the results) before any test is scheduled. The controller collects nothing, so
    it reads the ids and the test files they name (:class:`stitchtest.plugin.loadgroup.AuditIds`)."""
    config, st = node.config, state(node.config)
    if st.active:
        return
    from .loadgroup import AuditIds

    audit_ids = AuditIds(config.rootpath, lambda: st.settings.audited if st.settings is not None else ())
    if audit_ids.any_testbed(ids):
        session_mod.activate(config)
        st.audit_ids = audit_ids
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            for line in session_mod.header(config):
                reporter.write_line(line)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize every testbed test that takes ``method`` over the audited methods."""
    if "method" in metafunc.fixturenames and metafunc.definition.get_closest_marker("testbed") is not None:
        from ..audit.core import resolve_methods
        from ..runtime.registry import RegistryError

        try:
            chosen = resolve_methods(option(metafunc.config, "methods"))
        except (RegistryError, ImportError, TypeError):
            chosen = []  # said once, as a usage error, when the audit starts (``session.audited``)
        metafunc.parametrize("method", chosen, ids=[m.name for m in chosen])


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """The testbeds are collected (or not): an audit starts here (in an xdist worker, its side of it;
    the controller, which collects nothing, starts from the ids the workers send)."""
    if any(item.get_closest_marker("testbed") is not None for item in session.items):
        session_mod.activate(session.config)


def pytest_report_collectionfinish(config: pytest.Config, start_path, items) -> Optional[List[str]]:
    """The stitchtest line, after "collected N items", in a run without xdist that audits."""
    return session_mod.header(config) if state(config).active and not is_worker(config) else None


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def stitchtest_audit(request: pytest.FixtureRequest):
    """The session's :class:`~stitchtest.audit.Audit` (zoo, context, results writer)."""
    from ..runtime import devices
    from ..audit.core import Audit
    from ..data.spec import DataSpec
    from ..records.rows import CellRow, Record
    from ..records.results import ResultsWriter, load_rows
    from ..audit.scales import SCALES
    from ..models.zoo import Zoo

    config, st = request.config, state(request.config)
    if is_worker(config):  # rows go to the controller; done cells come from it
        told = [Record.from_json(r, "a cell the controller sent") for r in from_controller(config).get("done", ())]
        writer, done = st.outbox, {r.key: r for r in told}
        live = _live_folder(config)
        if live is not None:  # and to the controller's disk at once, so a killed worker loses nothing
            from ..records import spool

            st.outbox.spool = spool.writer(live, worker_id(config))
    else:
        results = results_folder(config).root
        writer = ResultsWriter(results, worker_id(config))
        done = {r.key: r for r in load_rows(results) if isinstance(r, CellRow)} if option(config, "resume") else {}
    progress = _progress_log(config)
    scale = SCALES[option(config, "scale")].with_seeds(option(config, "seeds")).with_arch(option(config, "arch"))
    zoo = Zoo(device=None if option(config, "device") == "auto" else option(config, "device"), log=progress)
    audit = Audit(scale, DataSpec.parse(option(config, "data")), zoo, writer, done, progress,
                  cache_limit=devices.cache_share(zoo.device, host_slot(config)[1]), worker=worker_slot(config))
    progress(f"activation cache budget {audit.context.cache_bytes / 2**30:.2f} GiB on {zoo.device} "
             f"(scale {scale.cache_gib:g} GiB, capped to this worker's share of memory)")
    return audit


def _live_folder(config: pytest.Config) -> Optional[ResultsFolder]:
    """In a worker: the controller's results folder, if this worker sees it (same host or a shared
    disk: the session file there holds this session's token); else None."""
    told = from_controller(config)
    if "results_dir" not in told:
        return None
    live = ResultsFolder(told["results_dir"])
    try:
        return live if live.session.read_text().strip() == told.get("token") else None
    except OSError:
        return None


def _progress_log(config: pytest.Config):
    """Where this process says what it does: its progress log in the results folder, which the
    owner of the results follows on the terminal (:mod:`stitchtest.plugin.progress`). A worker writes
    there directly, live, when it sees the controller's folder (same host or a shared disk: the
    session file there holds this session's token); else its lines travel with its rows."""
    st = state(config)
    if not is_worker(config) and not computes(config):  # --setup-only: the previous run's log is not ours
        return lambda message: None
    live = _live_folder(config) if is_worker(config) else results_folder(config)
    path: Optional[Path] = live.progress(worker_id(config)) if live is not None else None
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)

    def progress(message: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {message}"
        if path is None:
            st.outbox.log(line)
            return
        with open(path, "a") as f:
            f.write(line + "\n")
        if not is_worker(config):
            session_mod.show_progress(config)
    return progress


class _Expect:
    """The ``audit`` fixture: the session audit, plus pytest semantics for check outcomes."""

    def __init__(self, audit, request: pytest.FixtureRequest):
        self._audit, self._request = audit, request

    def __getattr__(self, name):
        return getattr(self._audit, name)

    def expect(self, testbed: str, check: str, method, readout: str, outcome, per_seed=None) -> None:
        """Record the outcome; assert it unless only reported; known failures are strict xfails,
        and so (not strict) are failures that ``--stitch-baseline`` recorded too: only new ones fail."""
        row = self._audit.check(testbed, check, method, readout, outcome, per_seed)
        message = f"{method.name}: {testbed}/{check} on {readout}: {outcome.figure}"
        if row.outcome == "reported":
            return
        if row.outcome in ("known-fail", "unexpected-pass"):
            self._request.applymarker(pytest.mark.xfail(strict=True, reason=row.reason))
        elif row.outcome == "fail" and row.key in session_mod.baseline_failures(self._request.config):
            self._request.applymarker(pytest.mark.xfail(reason="failed in the --stitch-baseline run too"))
        assert outcome.passed, message


@pytest.fixture
def audit(stitchtest_audit, request: pytest.FixtureRequest) -> _Expect:
    return _Expect(stitchtest_audit, request)


# ---------------------------------------------------------------- rows from workers


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In a worker: the rows and progress lines of this test phase leave with its report. Where
    the tests run, testbed tests that ran are counted (:func:`stitchtest.plugin.finish.finish`)."""
    outcome = yield
    st = state(item.config)
    if call.when == "call" and not outcome.get_result().skipped and item.get_closest_marker("testbed") is not None:
        st.ran += 1
    if st.outbox is not None:
        from .relay import PROGRESS, ROWS

        rows, lines = st.outbox.take()
        report = outcome.get_result()
        if rows:
            setattr(report, ROWS, rows)
        if lines:
            setattr(report, PROGRESS, lines)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """On the controller: write the rows a worker's report brought (and its progress lines). In
    the process that owns the results, count the testbed tests that ran, so that a run that
    computed something and wrote nothing says so."""
    node = getattr(report, "node", None)  # xdist sets it on the reports that came from a worker
    from .relay import PROGRESS, ROWS

    rows, lines = getattr(report, ROWS, None), getattr(report, PROGRESS, None)
    if node is None:
        return
    if report.when == "call" and not report.skipped and "testbed" in report.keywords:
        state(node.config).ran += 1
    if not state(node.config).active:
        state(node.config).unheard += len(rows or [])  # a worker audited what the controller did not see
        return
    if rows or lines:
        _receive(node, rows or [], lines or [])


def _receive(node, rows: List[dict], lines: List[str]) -> None:
    st = state(node.config)
    if st.inbox is None:  # a worker that audits while the controller does not: a bug, said loudly
        st.missing[node.gateway.id] = st.missing.get(node.gateway.id, 0) + len(rows)
        return
    st.inbox.receive(node.gateway.id, rows, lines)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """A worker ended: take the rows no report carried, and check that every row it sent came.
    One that died (``error``) is remembered: the report then says the run is incomplete."""
    st = state(node.config)
    if error is not None:
        st.lost.append(node.gateway.id)
    out = getattr(node, "workeroutput", None) or {}
    if not st.active:
        return
    from .relay import LEFT, SENT

    if SENT not in out:
        return
    rows, lines = out.get(LEFT, ([], []))
    if rows or lines:
        _receive(node, rows, lines)
    short = st.inbox.shortfall(node.gateway.id, out[SENT]) if st.inbox is not None else out[SENT]
    if short:
        st.missing[node.gateway.id] = short


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A worker hands over what no report took (in ``workeroutput``, which xdist sends when the
    worker ends); the process that owns the results writes the reports (:mod:`stitchtest.plugin.finish`)."""
    config, st = session.config, state(session.config)
    if is_worker(config):
        if st.outbox is not None:
            from .relay import LEFT, SENT

            rows, lines = st.outbox.take()
            config.workeroutput[LEFT] = [rows, lines]
            config.workeroutput[SENT] = st.outbox.sent
        return
    if st.active and computes(config):
        from .finish import finish

        finish(session)
    elif st.unheard:
        from .finish import unheard

        unheard(session)
