"""pytest wiring for the testbeds: options, fixtures, worker shares, session-end reports.

Registered through the ``pytest11`` entry point, so any ``pytest`` run in an environment with
stitchtest installed loads it, and it is inert there: its options carry the ``--stitch-``
prefix, and until a collected test carries the ``testbed`` marker nothing happens (no torch
import, no device or thread pinning, no header, no report). Without xdist the process that
collects the testbeds computes the cells and writes the results; under xdist the workers hand
their rows to the controller with each test report (:mod:`stitchtest.relay`) and only the
controller writes the results and the reports, then compares them with a baseline
(``--stitch-baseline``) or saves one (``--stitch-save-baseline``). All of the plugin's state
lives in ``config.stash``.
"""
from __future__ import annotations

import os
import sys
import threading
import time
import uuid
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional
from pathlib import Path

import pytest

RESULTS = "results"
#: the prefix of every option (``--stitch-scale``); ``dest`` names drop the dashes (``stitch_scale``)
PREFIX = "stitch"
#: the file a controller writes in its results directory so a worker can tell whether it sees the
#: same directory (then it writes its progress log there, live) or another machine's
SESSION_FILE = ".stitchtest-session"


def option(config: pytest.Config, name: str) -> Any:
    """The value of ``--stitch-<name>`` (``name`` as its dest, ``results_dir``)."""
    return config.getoption(f"{PREFIX}_{name}")


def flag(name: str) -> str:
    """The command-line spelling of an option, for messages: ``results_dir`` -> ``--stitch-results-dir``."""
    return f"--{PREFIX}-{name.replace('_', '-')}"


@dataclass
class State:
    """What the plugin knows about this session (in ``config.stash``)."""

    active: bool = False  #: the session runs testbeds (decided at collection)
    start: float = field(default_factory=time.time)
    token: str = field(default_factory=lambda: uuid.uuid4().hex)  #: this session's, for SESSION_FILE
    lock: Any = None
    set_aside: Optional[Path] = None
    baseline: Any = None
    baseline_failures: set = field(default_factory=set)
    done: Optional[List[dict]] = None  #: --stitch-resume: the controller's cells, read once for workers
    progress: Any = None
    inbox: Any = None  #: the controller's end of the row relay
    outbox: Any = None  #: a worker's end
    lost: List[str] = field(default_factory=list)  #: workers that died
    missing: Dict[str, int] = field(default_factory=dict)  #: rows a worker sent that never came
    workers: int = 1
    classes: Optional[int] = None  #: the data's class count, when it is not digits' ten


STATE = pytest.StashKey[State]()


def _state(config: pytest.Config) -> State:
    return config.stash.setdefault(STATE, State())


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("stitchtest", "stitchtest: audit functional-similarity methods (active only when "
                                          "tests marked `testbed` are collected)")

    def add(name: str, **kwargs) -> None:
        group.addoption(flag(name), dest=f"{PREFIX}_{name}", **kwargs)

    add("scale", choices=("smoke", "small", "paper"), default="smoke",
        help="how many models, cuts and seeds the testbeds use (default: smoke, on digits)")
    add("data", default="digits", metavar="NAME_OR_DIR",
        help="data set: digits (default), a directory (MNIST IDX, CIFAR-10/100 python, torchvision's "
             "layouts, an ImageFolder) or module:function returning a torch Dataset")
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


def _header(config: pytest.Config) -> List[str]:
    """One line saying what this run audits and where its rows and reports go."""
    moved = _state(config).set_aside
    aside = [f"stitchtest: the previous run's results were moved to {moved}/ ({flag('resume')} continues a run "
             f"instead)"]
    return (aside if moved else []) + [
        f"stitchtest: scale {option(config, 'scale')}, data {option(config, 'data')}, "
        f"device {option(config, 'device')}, stitches in {_precision(config)}, "
        f"results {option(config, 'results_dir')}/, reports {option(config, 'report_dir')}/"
        + (" (resuming)" if option(config, "resume") else "")]


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _is_controller(config: pytest.Config) -> bool:
    """An xdist controller: it collects nothing and runs no test; workers send it their rows."""
    return config.pluginmanager.has_plugin("dsession")


def _worker_id(config: pytest.Config) -> str:
    """From xdist's own worker input, not the environment: a pytest run started *inside* an
    xdist worker (pytester, a subprocess) inherits PYTEST_XDIST_WORKER but is no worker."""
    return config.workerinput["workerid"] if _is_worker(config) else "main"


def _from_controller(config: pytest.Config) -> dict:
    """What the controller told this worker (``pytest_configure_node``); empty outside xdist."""
    return config.workerinput.get("stitchtest", {}) if _is_worker(config) else {}


def _worker_slot(config: pytest.Config):
    """``(index, count)`` of this xdist worker among all (``gw3`` of 4 -> ``(3, 4)``); ``(0, 1)``
    outside xdist. Where the zoo starts warming: workers sharing a cache train different models."""
    worker = _worker_id(config)
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    return index, config.workerinput["workercount"] if _is_worker(config) else 1


def _host_slot(config: pytest.Config):
    """``(index, count)`` of this worker among the workers on its host: what threads, memory and
    GPUs are shared by (``(0, 1)`` outside xdist)."""
    return tuple(_from_controller(config).get("host_slot", _worker_slot(config)))


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


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker; nothing else happens until the testbeds are collected."""
    config.addinivalue_line("markers", "testbed(name): a stitchtest audit suite (the plugin acts only on these)")
    _state(config)


def _activate(config: pytest.Config) -> None:
    """The session runs testbeds: in a worker, take this host's share; in the process that owns
    the results, check every option before anything happens to an earlier run's results, then
    open them."""
    state = _state(config)
    if state.active:
        return
    from . import devices

    if _is_worker(config):
        devices.pin_worker(*_host_slot(config))
        from .relay import Outbox

        state.outbox = Outbox(_worker_id(config))
    else:
        if not _is_controller(config):
            devices.pin_worker(0, 1)
        _device(config)
        run = _run_row(config)
        _check_paths(config)
        _load_baseline(config, run)
        if _computes(config):
            _open_results(config, run)
            _follow_progress(config)
    state.active = True  # only now: a session stopped by a usage error writes no report


def _computes(config: pytest.Config) -> bool:
    """False for a session that runs no test: ``--collect-only``, ``--help``, ``--fixtures``, ..."""
    return not any(getattr(config.option, name, False) for name in (
        "collectonly", "help", "showfixtures", "show_fixtures_per_test", "markers", "setupplan"))


def _check_paths(config: pytest.Config) -> None:
    """``--stitch-report-dir`` and ``--stitch-results-dir`` must be directories (or not exist yet), and so
    must the model cache."""
    from .zoo import CacheError, check_root, default_root

    try:
        check_root(default_root())
    except CacheError as e:
        raise pytest.UsageError(str(e)) from None
    for name in ("report_dir", "results_dir"):
        path = Path(option(config, name))
        if path.exists() and not path.is_dir():
            raise pytest.UsageError(f"{flag(name)}: {path} is a file, not a directory; give a directory")


def _open_results(config: pytest.Config, run: dict) -> None:
    """Lock the results directory for this session, then either check that ``--stitch-resume``
    continues a run of the same settings, or move the previous run's files aside."""
    from . import rundir
    from .relay import Inbox
    from .results import ResultsWriter

    state, results = _state(config), Path(option(config, "results_dir"))
    try:  # a usage error still unconfigures, which releases the lock
        state.lock = rundir.claim(results)
        if not option(config, "resume"):
            state.set_aside = rundir.set_aside(results)
        (results / SESSION_FILE).write_text(state.token + "\n")
    except (OSError, rundir.RunDirError) as e:
        raise pytest.UsageError(f"{flag('results_dir')}: {e}") from None
    if option(config, "resume"):
        _check_resume(results, run)
    ResultsWriter(results, "controller").append(run)
    if _is_controller(config):
        state.inbox = Inbox(results)


def _check_resume(results: Path, run: dict) -> None:
    """``--stitch-resume`` continues the run in ``results`` only with its settings, so a report never
    mixes rows of two settings; a malformed line is named now, not in every test."""
    from .baseline import RESUMED
    from .results import ResultsError, load_rows

    try:
        rows = load_rows(results)
    except ResultsError as e:
        raise pytest.UsageError(f"{flag('resume')}: {e}; fix or delete that line (its cell is then "
                                f"recomputed), or start over without {flag('resume')}") from None
    before = next((r for r in rows if r["kind"] == "run"), None)
    if before is None:
        return
    differ = [f"{k} {before.get(k)!r} (this run: {run.get(k)!r})" for k in RESUMED
              if k in before and before.get(k) != run.get(k)]
    if differ:
        raise pytest.UsageError(f"{flag('resume')}: {results} holds a run of other settings: {'; '.join(differ)}; "
                                f"resume it with its own options, or start a new run without {flag('resume')} "
                                f"(the old results are moved aside)")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Let the next session have the results directory."""
    lock = _state(config).lock
    if lock is not None:
        lock.release()


def _run_row(config: pytest.Config) -> dict:
    """The settings that make two runs comparable, stored with the results and in baselines."""
    from .baseline import run_row
    from .data import DataError, DataSpec, check
    from .scales import SCALES
    from .zoo import versions

    try:  # read the files now: a data error is one usage error, not a failure in every test
        spec = DataSpec.parse(option(config, "data"))
        with warnings.catch_warnings(record=True) as degenerate:
            warnings.simplefilter("always")
            _state(config).classes = check(spec)  # the class count, for the reports' chance level
        data = spec.string_id()
    except DataError as e:
        raise pytest.UsageError(f"{flag('data')}: {e}") from None
    for w in degenerate:
        config.issue_config_time_warning(w.message, stacklevel=2)
    seeds = option(config, "seeds")
    if seeds is not None and seeds < 1:
        raise pytest.UsageError(f"{flag('seeds')}: {seeds} is not a number of models; give 1 or more, or leave "
                                f"it out for the scale's {SCALES[option(config, 'scale')].seeds}")
    seeds = SCALES[option(config, "scale")].with_seeds(seeds).seeds
    arch = {"arch": option(config, "arch")} if option(config, "arch") else {}
    return run_row(option(config, "scale"), data, seeds, methods=option(config, "methods") or "all",
                   audited=_audited(config), versions=versions(), command="pytest " + " ".join(sys.argv[1:]), **arch)


def _audited(config: pytest.Config) -> List[str]:
    """The names ``--stitch-methods`` resolves to; an unknown one, or none at all, is a usage error."""
    from .audit import resolve_methods
    from .registry import RegistryError

    try:
        chosen = resolve_methods(option(config, "methods"))
    except (RegistryError, ImportError, TypeError) as e:
        raise pytest.UsageError(f"{flag('methods')}: {e}") from None
    if not chosen:
        raise pytest.UsageError(f"{flag('methods')} {option(config, 'methods')!r} names no method; give names such "
                                f"as dm,linear_cka (`stitchtest methods` lists them), or leave it out to audit all")
    return sorted(m.name for m in chosen)


def _device(config: pytest.Config):
    """``--stitch-device`` resolved; one this machine lacks is a usage error, said once before anything runs."""
    from . import devices

    try:
        return devices.resolve(None if option(config, "device") == "auto" else option(config, "device"))
    except (RuntimeError, ValueError) as e:
        raise pytest.UsageError(f"{flag('device')}: {e}") from None


def _precision(config: pytest.Config) -> str:
    """What the stitches of this run train in, e.g. ``"bf16 (auto)"``: ``auto`` depends on the hardware."""
    from .scales import SCALES

    from . import precision

    stitch, device = SCALES[option(config, "scale")].stitch(), _device(config)
    resolved = stitch.resolved_precision(device)
    if stitch.precision != "auto":
        return resolved
    return f"{resolved} (auto; {precision.explain(device.type)})"


def _load_baseline(config: pytest.Config, run: dict) -> None:
    """Read and vet ``--stitch-baseline`` (and the ``--stitch-save-baseline`` target) now, in the
    process that owns the results, so a bad one fails in seconds, not at the end of the run."""
    path, target, tol = option(config, "baseline"), option(config, "save_baseline"), option(config, "baseline_tol")
    if tol is not None and not tol >= 0:
        raise pytest.UsageError(f"{flag('baseline_tol')}: {tol} is not a tolerance; give a number >= 0 "
                                f"(default 0.02)")
    if target and Path(target).is_dir():
        raise pytest.UsageError(f"{flag('save_baseline')}: {target} is a directory; give a file name")
    if not path:
        return
    from .baseline import check_match
    from .results import ResultsError

    try:
        base = _read_baseline(config)
        check_match(run, base)
    except ResultsError as e:
        raise pytest.UsageError(f"{flag('baseline')}: {e}") from None


def _read_baseline(config: pytest.Config):
    """``--stitch-baseline`` read once (ResultsError if it is none); its failed checks remembered."""
    state = _state(config)
    if state.baseline is None:
        from .baseline import baseline_failures, load
        from .results import ResultsError

        path = option(config, "baseline")
        base = load(path)
        if base.run is None:  # a worker's results file: its settings cannot be checked
            raise ResultsError(f"{path} has no run row (the settings it was made with), so it is no baseline; "
                               f"make one with {flag('save_baseline')}")
        state.baseline, state.baseline_failures = base, baseline_failures(base)
    return state.baseline


def _resumed_cells(config: pytest.Config) -> List[dict]:
    """The cells already in the results directory (``--stitch-resume``), read once; a malformed file
    gives none here and is named when the session starts the audit (``_check_resume``)."""
    state = _state(config)
    if not option(config, "resume"):
        return []
    if state.done is None:
        from .results import ResultsError, load_rows

        try:
            rows = load_rows(Path(option(config, "results_dir")))
        except ResultsError:
            rows = []
        state.done = [r for r in rows if r["kind"] == "cell"]
    return state.done


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """Tell each xdist worker, before it starts, what only the controller knows: its place among
    the workers on its host (for its share of threads and memory), the controller's absolute
    results directory and session token (a worker that sees them writes its progress log there,
    live), the cells already done (``--stitch-resume``) and the baseline's failed checks. None of
    it needs torch; a worker that collects no testbed ignores it."""
    config, state = node.config, _state(node.config)
    specs = node.nodemanager.specs
    state.workers = len(specs)
    failures: List[str] = []
    if option(config, "baseline"):
        from .results import ResultsError

        try:
            failures = sorted(_read_baseline(config) and state.baseline_failures)
        except ResultsError:
            pass  # said as a usage error when the audit starts
    node.workerinput["stitchtest"] = {
        "host_slot": list(host_slots(specs).get(node.gateway.id, (0, 1))),
        "results_dir": str(Path(option(config, "results_dir")).resolve()),
        "token": state.token,
        "done": _resumed_cells(config),
        "baseline_failures": failures,
    }


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """For ``--dist load`` (``-n``'s default) and ``loadgroup``: group scheduling that survives a
    killed worker, if the workers collect testbeds; else xdist's own (:mod:`stitchtest.loadgroup`)."""
    dist = config.getvalue("dist")
    if dist in ("load", "loadgroup"):
        from xdist.scheduler import LoadGroupScheduling, LoadScheduling

        from .loadgroup import AuditScheduling

        return AuditScheduling(config, log, LoadScheduling if dist == "load" else LoadGroupScheduling)
    return None


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids) -> None:
    """On the controller: the first worker that collected testbeds starts the audit (checks the
    options, opens the results) before any test is scheduled."""
    from .loadgroup import is_audit

    if is_audit(ids):
        config = node.config
        if not _state(config).active:
            _activate(config)
            reporter = config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                for line in _header(config):
                    reporter.write_line(line)


def _baseline_failures(config: pytest.Config) -> set:
    """Keys of the checks that failed in ``--stitch-baseline`` (workers learn them from the controller)."""
    if _is_worker(config):
        return set(_from_controller(config).get("baseline_failures", ()))
    return _state(config).baseline_failures


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize every testbed test that takes ``method`` over the audited methods."""
    if "method" in metafunc.fixturenames and metafunc.definition.get_closest_marker("testbed") is not None:
        from .audit import resolve_methods
        from .registry import RegistryError

        try:
            chosen = resolve_methods(option(metafunc.config, "methods"))
        except (RegistryError, ImportError, TypeError):
            chosen = []  # said once, as a usage error, when the audit starts (``_audited``)
        metafunc.parametrize("method", chosen, ids=[m.name for m in chosen])


def _group(item) -> Optional[str]:
    """The xdist group of a testbed test: one per method (``stitchtest-method-dm``); None for other tests."""
    if item.get_closest_marker("testbed") is None:
        return None
    from .loadgroup import GROUP_PREFIX

    method = getattr(item, "callspec", None) and item.callspec.params.get("method")
    return GROUP_PREFIX + (f"method-{method.name}" if method is not None else item.nodeid.split("::")[0])


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items) -> None:
    """Keep each method, over every testbed, on one xdist worker: its cells share models and
    activations, and a cell two testbeds ask for is computed once (``Audit.cells``). One group per
    method also balances: the SGD objectives cost about the same, and there are about as many
    of them as workers, while the cheap methods fill in where a worker frees up."""
    for item in items:
        group = _group(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))


@pytest.hookimpl(tryfirst=True)  # before xdist's worker sends the ids, after its loadgroup suffix
def pytest_collection_finish(session: pytest.Session) -> None:
    """The testbeds are collected (or not): an audit starts here. A worker also puts each testbed
    test's group into its node id, as xdist does for ``--dist loadgroup``, whatever ``--dist`` is:
    the controller, which collects nothing, learns from the ids both that this is an audit and how
    to group it (:class:`stitchtest.loadgroup.AuditScheduling`)."""
    config = session.config
    audits = [item for item in session.items if item.get_closest_marker("testbed") is not None]
    if not audits:
        return
    if _is_worker(config):
        for item in audits:
            if "@" not in item.nodeid:
                item._nodeid = f"{item.nodeid}@{_group(item)}"
    _activate(config)


def pytest_report_collectionfinish(config: pytest.Config, start_path, items) -> Optional[List[str]]:
    """The stitchtest line, after "collected N items", in a run without xdist that audits."""
    return _header(config) if _state(config).active and not _is_worker(config) else None


@pytest.fixture(scope="session")
def stitchtest_audit(request: pytest.FixtureRequest):
    """The session's :class:`~stitchtest.audit.Audit` (zoo, context, results writer)."""
    from . import devices
    from .audit import Audit
    from .data import DataSpec
    from .results import ResultsWriter, load_rows
    from .scales import SCALES
    from .zoo import Zoo

    config, state = request.config, _state(request.config)
    if _is_worker(config):  # rows go to the controller; done cells come from it
        writer, done = state.outbox, {r["key"]: r for r in _from_controller(config).get("done", ())}
    else:
        results = Path(option(config, "results_dir"))
        writer = ResultsWriter(results, _worker_id(config))
        done = {r["key"]: r for r in load_rows(results) if r["kind"] == "cell"} if option(config, "resume") else {}
    progress = _progress_log(config)
    scale = SCALES[option(config, "scale")].with_seeds(option(config, "seeds")).with_arch(option(config, "arch"))
    zoo = Zoo(device=None if option(config, "device") == "auto" else option(config, "device"), log=progress)
    audit = Audit(scale, DataSpec.parse(option(config, "data")), zoo, writer, done, progress,
                  cache_limit=devices.cache_share(zoo.device, _host_slot(config)[1]), worker=_worker_slot(config))
    progress(f"activation cache budget {audit.context.cache_bytes / 2**30:.2f} GiB on {zoo.device} "
             f"(scale {scale.cache_gib:g} GiB, capped to this worker's share of memory)")
    return audit


def _progress_log(config: pytest.Config):
    """Where this process says what it does: ``progress-<worker>.log`` in the results directory,
    which the owner of the results follows on the terminal (:mod:`stitchtest.progress`). A worker
    writes there directly, live, when it sees the controller's directory (same host or a shared
    disk: the session file there holds this session's token); else its lines travel with its rows."""
    state = _state(config)
    live: Optional[Path] = Path(option(config, "results_dir"))
    if _is_worker(config):
        told = _from_controller(config)
        live = Path(told["results_dir"]) if "results_dir" in told else None
        try:
            if live is None or (live / SESSION_FILE).read_text().strip() != told.get("token"):
                live = None
        except OSError:
            live = None
    path = live / f"progress-{_worker_id(config)}.log" if live is not None else None
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)

    def progress(message: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {message}"
        if path is None:
            state.outbox.log(line)
            return
        with open(path, "a") as f:
            f.write(line + "\n")
        if not _is_worker(config):
            _show_progress(config)
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
        if row["outcome"] == "reported":
            return
        if row["outcome"] in ("known-fail", "unexpected-pass"):
            self._request.applymarker(pytest.mark.xfail(strict=True, reason=row["reason"]))
        elif row["outcome"] == "fail" and row["key"] in _baseline_failures(self._request.config):
            self._request.applymarker(pytest.mark.xfail(reason="failed in the --stitch-baseline run too"))
        assert outcome.passed, message


@pytest.fixture
def audit(stitchtest_audit, request: pytest.FixtureRequest) -> _Expect:
    return _Expect(stitchtest_audit, request)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In a worker: the rows and progress lines of this test phase leave with its report."""
    outcome = yield
    state = _state(item.config)
    if state.outbox is not None:
        from .relay import PROGRESS, ROWS

        rows, lines = state.outbox.take()
        report = outcome.get_result()
        if rows:
            setattr(report, ROWS, rows)
        if lines:
            setattr(report, PROGRESS, lines)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """On the controller: write the rows a worker's report brought (and its progress lines)."""
    node = getattr(report, "node", None)  # xdist sets it on the reports that came from a worker
    if node is None or not _state(node.config).active:
        return
    from .relay import PROGRESS, ROWS

    rows, lines = getattr(report, ROWS, None), getattr(report, PROGRESS, None)
    if rows or lines:
        _receive(node, rows or [], lines or [])


def _receive(node, rows: List[dict], lines: List[str]) -> None:
    state = _state(node.config)
    if state.inbox is None:  # a worker that audits while the controller does not: a bug, said loudly
        state.missing[node.gateway.id] = state.missing.get(node.gateway.id, 0) + len(rows)
        return
    state.inbox.receive(node.gateway.id, rows, lines)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """A worker ended: take the rows no report carried, and check that every row it sent came.
    One that died (``error``) is remembered: the report then says the run is incomplete."""
    state = _state(node.config)
    if error is not None:
        state.lost.append(node.gateway.id)
    out = getattr(node, "workeroutput", None) or {}
    if not state.active:
        return
    from .relay import LEFT, SENT

    if SENT not in out:
        return
    rows, lines = out.get(LEFT, ([], []))
    if rows or lines:
        _receive(node, rows, lines)
    short = state.inbox.shortfall(node.gateway.id, out[SENT]) if state.inbox is not None else out[SENT]
    if short:
        state.missing[node.gateway.id] = short


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A worker hands over what no report took (in ``workeroutput``, which xdist sends when the
    worker ends); the process that owns the results writes the reports (:func:`_finish`)."""
    config, state = session.config, _state(session.config)
    if _is_worker(config):
        if state.outbox is not None:
            from .relay import LEFT, SENT

            rows, lines = state.outbox.take()
            config.workeroutput[LEFT] = [rows, lines]
            config.workeroutput[SENT] = state.outbox.sent
        return
    if state.active and _computes(config):
        _finish(session)


def _follow_progress(config: pytest.Config) -> None:
    """Follow the progress logs on the terminal (``stitchtest.progress``)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    from .progress import ProgressFollower

    def write(line: str) -> None:
        if getattr(reporter, "_width_of_current_line", 0):  # after xdist's dots, start a new line
            reporter.line("")
        reporter.write_line(line)

    # An xdist controller runs no tests, so a thread may write; a process that runs the tests
    # itself polls from the main thread, with pytest's output capture lifted (``_show_progress``).
    _state(config).progress = ProgressFollower(
        Path(option(config, "results_dir")), write, verbose=config.getoption("verbose") > 0,
        every=float(config.getini("stitchtest_progress_every"))).start(thread=_is_controller(config))


def _show_progress(config: pytest.Config) -> None:
    """In a run without workers: show what the progress log just got, outside output capture.

    Only the main thread may lift capture; a line logged from a thread computing a group of cells
    (``concurrency.completed``; e.g. a model trained on demand) is shown by the main thread's next poll.
    """
    follower = _state(config).progress
    capman = config.pluginmanager.getplugin("capturemanager")
    if follower is None or capman is None or threading.current_thread() is not threading.main_thread():
        return
    with capman.global_and_fixture_disabled():
        follower.poll()


def _finish(session: pytest.Session) -> None:
    """Merge the rows, write the reports, then compare with ``--stitch-baseline`` (a regression
    fails the session) and write ``--stitch-save-baseline``; a worker's rows that never reached
    the controller fail the session, by name."""
    config, state = session.config, _state(session.config)
    if state.progress is not None:
        state.progress.stop()
    from .report import write_reports
    from .results import load_rows

    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if state.missing:
        text = ", ".join(f"{w}: {n}" for w, n in sorted(state.missing.items()))
        message = (f"stitchtest: rows that workers computed never reached the controller ({text}); the results "
                   f"and reports lack them, and {flag('resume')} computes them again")
        reporter.write_line(message, red=True, bold=True) if reporter is not None else print(message)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    rows = load_rows(Path(option(config, "results_dir")))
    if not any(r["kind"] in ("cell", "check") for r in rows):  # nothing ran (-k nothing, -x at once)
        return
    import torch

    from . import devices
    from .zoo import versions

    run_config = {
        "status": _status(session),
        "scale": option(config, "scale"), "data": option(config, "data"),
        "seeds": option(config, "seeds") or "scale default", "methods": option(config, "methods") or "all",
        "audited": _audited(config), "device": option(config, "device"), "cuda": torch.cuda.is_available(),
        "stitch_precision": _precision(config),
        "workers": state.workers,
        "cpu": f"{devices.cpu_name()}, {os.cpu_count()} cores ({devices.cpu_features()})", "versions": versions(),
        "wall_time_s": round(time.time() - state.start, 1),
        # with --stitch-resume the wall time is this session's only; the cells' own compute time is all of it
        "resumed": bool(option(config, "resume")),
        "cell_compute_s": round(sum(float(r["readouts"].get("seconds", 0.0)) for r in rows if r["kind"] == "cell"), 1),
        "command": "pytest " + " ".join(sys.argv[1:]),
    }
    if state.classes:
        run_config["num_classes"] = state.classes
    paths = write_reports(rows, Path(option(config, "report_dir")), run_config)
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

    claim_rows = judge_all(checks(rows), option(session.config, "scale"))
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


def _status(session: pytest.Session) -> str:
    """``complete``, or why not, for the report's first line: a partial report must say so."""
    lost = _state(session.config).lost
    if session.exitstatus == pytest.ExitCode.INTERRUPTED or session.shouldstop or session.shouldfail:
        why = f"interrupted: {session.shouldstop or session.shouldfail or 'Ctrl-C'}"
    elif lost:
        why = f"worker {', '.join(lost)} died"
    else:
        return "complete"
    return f"INCOMPLETE ({why}); the same command with {flag('resume')} computes only what is missing"


def _baseline_finish(session: pytest.Session, rows: list, reporter) -> None:
    """Compare with ``--stitch-baseline`` and save ``--stitch-save-baseline``; the results files are never touched."""
    from .baseline import DEFAULT_TOL, BaselineError, Results, compare, render, save

    config = session.config

    def write(text: str, **markup) -> None:
        reporter.write_line(text, **markup) if reporter is not None else print(text)

    base, target = _state(config).baseline, option(config, "save_baseline")
    if (base is not None or target) and session.exitstatus == pytest.ExitCode.INTERRUPTED:
        write("stitchtest: interrupted, so the baseline is neither compared nor saved")
        return
    results = Results(Path(option(config, "results_dir")), rows)
    if base is not None:
        tol = option(config, "baseline_tol")
        try:
            comparison = compare(results, base, DEFAULT_TOL if tol is None else tol)
        except BaselineError as e:
            write(f"stitchtest: {flag('baseline')}: {e}", red=True)
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
