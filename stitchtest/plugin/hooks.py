"""pytest wiring for the testbeds: the hooks and fixtures, each handing off to the run's
:class:`~stitchtest.plugin.session.AuditSession`, which owns all of the plugin's state.

Registered through the ``pytest11`` entry point, so any ``pytest`` run in an environment with
stitchtest installed loads it, and it is inert there: its options carry the ``--stitch-``
prefix (:mod:`stitchtest.plugin.options`), and until a collected test carries the ``testbed`` marker
nothing happens (no torch import, no device or thread pinning, no header, no report). Then the
session starts the audit (settings, checks, the results folder, resume); without xdist the
process that collects the testbeds computes the cells and writes the results; under xdist the
workers hand their rows to the controller with each test report (:mod:`stitchtest.plugin.relay`)
and only the controller writes them; at the end the owner of the results writes the reports and
compares with a baseline (:mod:`stitchtest.plugin.finish`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional

import pytest

from .options import add_options
from .session import audit_session

if TYPE_CHECKING:
    from .fixture import Expect


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker and make the session; nothing else happens until the testbeds are collected."""
    config.addinivalue_line("markers", "testbed(name): a stitchtest audit suite (the plugin acts only on these)")
    audit_session(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    audit_session(config).release()


# ---------------------------------------------------------------- collection and scheduling


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    node.workerinput["stitchtest"] = audit_session(node.config).worker_input(node)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    return audit_session(config).scheduler(log)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids) -> None:
    audit_session(node.config).workers_collected(ids)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    audit_session(metafunc.config).parametrize(metafunc)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    audit_session(session.config).collected(session.items)


def pytest_report_collectionfinish(config: pytest.Config, start_path, items) -> Optional[List[str]]:
    return audit_session(config).collection_report()


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def stitchtest_audit(request: pytest.FixtureRequest):
    """The session's :class:`~stitchtest.audit.Audit` (zoo, context, results writer)."""
    return audit_session(request.config).new_audit()


@pytest.fixture
def audit(stitchtest_audit, request: pytest.FixtureRequest) -> Expect:
    """The session's audit, with pytest semantics for check outcomes (:class:`stitchtest.plugin.fixture.Expect`)."""
    from .fixture import Expect

    return Expect(stitchtest_audit, request)


# ---------------------------------------------------------------- rows from workers, and the end


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    audit_session(item.config).report_made(item, call.when, outcome.get_result())


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    node = getattr(report, "node", None)  # xdist sets it on the reports that came from a worker
    if node is not None:
        audit_session(node.config).worker_reported(node, report)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    audit_session(node.config).worker_down(node, error)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    audit_session(session.config).finish(session)
