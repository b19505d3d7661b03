"""pytest wiring for the testbeds: options, fixtures, worker pinning, session-end reports.

Registered through the ``pytest11`` entry point, so any ``pytest`` run in an environment with
stitchtest installed has the options; nothing here runs unless a testbed asks for a fixture.
"""
from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("stitchtest", "stitchtest: audit functional-similarity methods")
    group.addoption("--scale", choices=("smoke", "small", "paper"), default="smoke",
                    help="how many models, cuts and seeds the testbeds use (default: smoke, on digits)")
    group.addoption("--data", default=None, metavar="NAME_OR_DIR",
                    help="data set: digits (default), or an MNIST / CIFAR-10 directory in its standard format")
    group.addoption("--methods", default=None, metavar="NAMES",
                    help="comma-separated methods to audit (registered names or module:Name); default: all")
    group.addoption("--seeds", type=int, default=None, metavar="N",
                    help="models per group (default: the scale's, at least 3)")
    group.addoption("--device", default="auto",
                    help="auto (CUDA when available, else CPU), cpu, cuda or cuda:N")
    group.addoption("--report-dir", default="reports", metavar="DIR",
                    help="where the markdown reports are written (default: reports/)")
    group.addoption("--resume", action="store_true",
                    help="skip cells already in the results of an earlier, interrupted run")


def _worker_count(config: pytest.Config) -> int:
    import os

    return int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))


def _worker_index() -> int:
    import os

    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Share the machine between xdist workers before anything initialises CUDA.

    On GPUs each worker takes one device round-robin (within an outer ``CUDA_VISIBLE_DEVICES``);
    on CPU each worker gets ``max(1, cores // workers)`` torch threads, because OpenMP threads that
    outnumber cores spin against each other and run many times slower.
    """
    from . import devices

    devices.pin_worker(_worker_index(), _worker_count(config))
