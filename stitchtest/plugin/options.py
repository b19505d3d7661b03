"""The plugin's options, its per-session state, and where this process stands in an xdist run.

Every option carries the ``--stitch-`` prefix (its ``dest`` drops the dashes: ``stitch_scale``), so
a user's own ``--device`` never collides with ours; all of the plugin's state lives in
``config.stash``. Nothing here imports torch: the plugin is loaded in every pytest session.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from ..records.folder import ResultsFolder

RESULTS = "results"
#: the prefix of every option (``--stitch-scale``); ``dest`` names drop the dashes (``stitch_scale``)
PREFIX = "stitch"


def option(config: pytest.Config, name: str) -> Any:
    """The value of ``--stitch-<name>`` (``name`` as its dest, ``results_dir``)."""
    return config.getoption(f"{PREFIX}_{name}")


def flag(name: str) -> str:
    """The command-line spelling of an option, for messages: ``results_dir`` -> ``--stitch-results-dir``."""
    return f"--{PREFIX}-{name.replace('_', '-')}"


def results_folder(config: pytest.Config) -> ResultsFolder:
    """``--stitch-results-dir``, as the folder whose file names it owns."""
    return ResultsFolder(option(config, "results_dir"))


@dataclass
class State:
    """What the plugin knows about this session (in ``config.stash``)."""

    active: bool = False  #: the session runs testbeds (decided at collection)
    start: float = field(default_factory=time.time)
    token: str = field(default_factory=lambda: uuid.uuid4().hex)  #: this session's, for the session file
    settings: Any = None  #: the run's :class:`~stitchtest.records.RunSettings` (where the results are owned)
    lock: Any = None
    set_aside: Optional[Path] = None
    baseline: Any = None
    baseline_failures: set = field(default_factory=set)
    done: Optional[List[dict]] = None  #: --stitch-resume: the controller's cells (JSON), read once for workers
    progress: Any = None
    inbox: Any = None  #: the controller's end of the row relay
    outbox: Any = None  #: a worker's end
    lost: List[str] = field(default_factory=list)  #: workers that died
    missing: Dict[str, int] = field(default_factory=dict)  #: rows a worker sent that never came
    workers: int = 1
    audit_ids: Any = None  #: the controller's reading of the workers' ids (:class:`~stitchtest.plugin.loadgroup.AuditIds`)
    ran: int = 0  #: testbed tests that ran (not skipped), seen where the results are owned
    unheard: int = 0  #: rows workers sent to a controller that did not know it was auditing
    worker_ids: List[str] = field(default_factory=list)  #: the controller's xdist workers, as each is set up


STATE = pytest.StashKey[State]()


def state(config: pytest.Config) -> State:
    return config.stash.setdefault(STATE, State())


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("stitchtest", "stitchtest: audit functional-similarity methods (active only when "
                                          "tests marked `testbed` are collected)")

    def add(name: str, **kwargs) -> None:
        group.addoption(flag(name), dest=f"{PREFIX}_{name}", **kwargs)

    add("scale", choices=("smoke", "small", "paper"), default="smoke",
        help="how many models, cuts and seeds the testbeds use (default: smoke, on digits)")
    add("data", default="digits", metavar="NAME_OR_DIR",
        help="data set: digits (default), a directory (MNIST IDX, CIFAR-10/100 python, torchvision's "
             "layouts, an ImageFolder) or module:function returning a torch Dataset; a directory's id "
             "follows its files' content, re-hashed when a file's size or mtime changes (a file edited "
             "in place keeping both keeps its old id)")
    add("methods", default=None, metavar="NAMES",
        help="comma-separated methods to audit (registered names or module:Name); default: all")
    add("seeds", type=int, default=None, metavar="N", help="models per group (default: the scale's, 3)")
    add("arch", default=None, metavar="NAME",
        help="the model family every testbed audits (default: the scale's, R1111): a built-in "
             "(vgg4, R2222, ...), a registered family (stitchtest.models entry points) or module:Name")
    add("device", default="auto", help="auto (CUDA when available, else CPU), cpu, cuda or cuda:N")
    add("report_dir", default="reports", metavar="DIR",
        help="where the markdown reports are written at session end (default: reports/)")
    add("results_dir", default=RESULTS, metavar="DIR",
        help="where computed cells are appended as JSON lines, one file per worker, by this process "
             "(under xdist, the controller) (default: results/)")
    add("resume", action="store_true",
        help="keep the results of an earlier, interrupted run and skip the cells already there")
    add("baseline", default=None, metavar="FILE",
        help=f"compare with a baseline (from {flag('save_baseline')}): fail the session when a check that "
             f"passed there fails now or has gone missing; checks that failed there too run as xfail")
    add("save_baseline", default=None, metavar="FILE",
        help="write this run's settings, cells and checks to FILE at session end, as a baseline")
    add("baseline_tol", type=float, default=None, metavar="X",
        help="list readouts that moved by more than X (absolute) from the baseline (default: 0.02)")
    parser.addini("stitchtest_progress_every", default="30",
                  help="stitchtest: seconds between running counts of computed cells (without -v)")


# ---------------------------------------------------------------- roles under xdist


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def is_controller(config: pytest.Config) -> bool:
    """An xdist controller: it collects nothing and runs no test; workers send it their rows."""
    return config.pluginmanager.has_plugin("dsession")


def worker_id(config: pytest.Config) -> str:
    """From xdist's own worker input, not the environment: a pytest run started *inside* an
    xdist worker (pytester, a subprocess) inherits PYTEST_XDIST_WORKER but is no worker."""
    return config.workerinput["workerid"] if is_worker(config) else "main"


def from_controller(config: pytest.Config) -> dict:
    """What the controller told this worker (``pytest_configure_node``); empty outside xdist."""
    return config.workerinput.get("stitchtest", {}) if is_worker(config) else {}


def worker_slot(config: pytest.Config):
    """``(index, count)`` of this xdist worker among all (``gw3`` of 4 -> ``(3, 4)``); ``(0, 1)``
    outside xdist. Where the zoo starts warming: workers sharing a cache train different models."""
    worker = worker_id(config)
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    return index, config.workerinput["workercount"] if is_worker(config) else 1


def host_slot(config: pytest.Config):
    """``(index, count)`` of this worker among the workers on its host: what threads, memory and
    GPUs are shared by (``(0, 1)`` outside xdist)."""
    return tuple(from_controller(config).get("host_slot", worker_slot(config)))


def _host(spec) -> str:
    """Which machine an xdist ``--tx`` spec runs on: its ssh or socket address, else this one."""
    return spec.ssh or spec.socket or "localhost"


def host_slots(specs) -> Dict[str, tuple]:
    """``{worker id: (index, count)}`` among the workers of the same host, in ``--tx`` order:
    ``--tx 2*ssh=a --tx ssh=b`` -> gw0 ``(0, 2)``, gw1 ``(1, 2)``, gw2 ``(0, 1)``."""
    hosts: Dict[str, List[str]] = {}
    for spec in specs:
        hosts.setdefault(_host(spec), []).append(spec.id)
    return {w: (ids.index(w), len(ids)) for ids in hosts.values() for w in ids}


def computes(config: pytest.Config) -> bool:
    """False for a session that runs no test: ``--collect-only``, ``--help``, ``--fixtures``,
    ``--setup-only``, ...: it neither moves the previous run aside nor writes a run row."""
    return not any(getattr(config.option, name, False) for name in (
        "collectonly", "help", "showfixtures", "show_fixtures_per_test", "markers", "setupplan", "setuponly"))
