"""An audit session: the one object that owns everything the plugin knows about a pytest run.

Each pytest config gets one :class:`AuditSession` (:func:`audit_session`, kept in ``config.stash``),
made when pytest configures; the hooks (:mod:`stitchtest.plugin.hooks`) only hand off to it. It
stays inert until a collected test carries the ``testbed`` marker; then :meth:`~AuditSession.activate`
runs: a worker takes its host's share of threads and memory; the process that owns the results (a
run without xdist, or the controller) resolves the options into one
:class:`~stitchtest.records.RunSettings`, checks every option before anything happens to an
earlier run's results, then locks the results folder and either moves the previous run aside or
checks that ``--stitch-resume`` continues a run of the same settings. Under xdist it tells each
worker what only the controller knows, and writes the rows the workers send; at the end the
owner of the results writes the reports (:mod:`stitchtest.plugin.finish`).
"""
from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Set, Tuple

import pytest

from ..records.folder import ResultsFolder
from .options import check_paths, computes, device, flag, host_slots, option, precision, run_settings

if TYPE_CHECKING:
    from filelock import FileLock

    from ..audit.core import Audit
    from ..records.baseline import Results
    from ..records.rows import RunSettings
    from .loadgroup import AuditIds
    from .progress import ProgressFollower
    from .relay import Inbox, Outbox

#: this process's role in a run (:attr:`AuditSession.role`)
SINGLE, CONTROLLER, WORKER = "single", "controller", "worker"


class AuditSession:
    """What the plugin knows about one pytest run, and what it does at each of its steps.

    Its :attr:`role`: a ``single`` process (no xdist) collects and runs the testbeds and owns the
    results; an xdist ``controller`` collects nothing and runs no test, but owns the results,
    which its ``worker`` processes compute and send it with their test reports
    (:mod:`stitchtest.plugin.relay`).
    """

    def __init__(self, config: pytest.Config):
        self.config = config
        self.active = False  #: the session runs testbeds (decided at collection)
        self.start = time.time()
        self.token = uuid.uuid4().hex  #: this session's, for the session file
        self.settings: Optional[RunSettings] = None  #: the run's settings, where the results are owned
        self.lock: Optional[FileLock] = None  #: on the results folder, held until pytest unconfigures
        self.set_aside: Optional[Path] = None  #: where the previous run's results went
        self.baseline: Optional[Results] = None  #: ``--stitch-baseline``, read once
        self.baseline_failures: Set[str] = set()  #: keys of the checks that failed in it
        self.done: Optional[List[dict]] = None  #: --stitch-resume: the controller's cells (JSON), read once for workers
        self.progress: Optional[ProgressFollower] = None
        self.inbox: Optional[Inbox] = None  #: the controller's end of the row relay
        self.outbox: Optional[Outbox] = None  #: a worker's end
        self.lost: List[str] = []  #: workers that died
        self.missing: Dict[str, int] = {}  #: rows a worker sent that never came
        self.workers = 1
        self.audit_ids: Optional[AuditIds] = None  #: the controller's reading of the workers' ids
        self.ran = 0  #: testbed tests that ran (not skipped), seen where the results are owned
        self.unheard = 0  #: rows workers sent to a controller that did not know it was auditing
        self.worker_ids: List[str] = []  #: the controller's xdist workers, as each is set up
        self._role: Optional[str] = None

    # ------------------------------------------------------------ where this process stands

    @property
    def role(self) -> str:
        """``worker``, ``controller`` or ``single``, decided on first use, which comes after
        pytest configures: xdist registers its controller (``dsession``) in its own, last,
        ``pytest_configure``."""
        if self._role is None:
            self._role = (WORKER if hasattr(self.config, "workerinput")
                          else CONTROLLER if self.config.pluginmanager.has_plugin("dsession") else SINGLE)
        return self._role

    @property
    def worker_id(self) -> str:
        """From xdist's own worker input, not the environment: a pytest run started *inside* an
        xdist worker (pytester, a subprocess) inherits PYTEST_XDIST_WORKER but is no worker."""
        return self.config.workerinput["workerid"] if self.role == WORKER else "main"

    @property
    def told(self) -> dict:
        """What the controller told this worker (:meth:`worker_input`); empty outside xdist."""
        return self.config.workerinput.get("stitchtest", {}) if self.role == WORKER else {}

    @property
    def worker_slot(self) -> Tuple[int, int]:
        """``(index, count)`` of this xdist worker among all (``gw3`` of 4 -> ``(3, 4)``); ``(0, 1)``
        outside xdist. Where the zoo starts warming: workers sharing a cache train different models."""
        worker = self.worker_id
        index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
        return index, self.config.workerinput["workercount"] if self.role == WORKER else 1

    @property
    def host_slot(self) -> Tuple[int, int]:
        """``(index, count)`` of this worker among the workers on its host: what threads, memory and
        GPUs are shared by (``(0, 1)`` outside xdist)."""
        return tuple(self.told.get("host_slot", self.worker_slot))

    @property
    def folder(self) -> ResultsFolder:
        """``--stitch-results-dir``, as the folder whose file names it owns."""
        return ResultsFolder(option(self.config, "results_dir"))

    def option(self, name: str):
        """The value of ``--stitch-<name>`` (``name`` as its dest, ``results_dir``)."""
        return option(self.config, name)

    # ------------------------------------------------------------ collection and the start

    def collected(self, items: List[pytest.Item]) -> None:
        """This process collected its tests: an audit starts if any is a testbed's."""
        if any(item.get_closest_marker("testbed") is not None for item in items):
            self.activate()

    def workers_collected(self, ids: List[str]) -> None:
        """On the controller: the first worker that collected testbeds starts the audit (checks the
        options, opens the results) before any test is scheduled. The controller collects nothing, so
        it reads the ids and the test files they name (:class:`stitchtest.plugin.loadgroup.AuditIds`)."""
        if self.active:
            return
        from .loadgroup import AuditIds

        audit_ids = AuditIds(self.config.rootpath, lambda: self.settings.audited if self.settings is not None else ())
        if audit_ids.any_testbed(ids):
            self.activate()
            self.audit_ids = audit_ids
            reporter = self.config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                for line in self.header():
                    reporter.write_line(line)

    def activate(self) -> None:
        """The session runs testbeds: in a worker, take this host's share; in the process that owns
        the results, check every option before anything happens to an earlier run's results, then
        open them."""
        if self.active:
            return
        from ..runtime import devices

        if self.role == WORKER:
            devices.pin_worker(*self.host_slot)
            from .relay import Outbox

            self.outbox = Outbox(self.worker_id)
        else:
            if self.role == SINGLE:
                devices.pin_worker(0, 1)
            device(self.config)
            self.check_executor()
            self.settings = run_settings(self.config)
            check_paths(self.config)
            self.load_baseline()
            if computes(self.config):
                self.open_results()
                self.follow_progress()
        self.active = True  # only now: a session stopped by a usage error writes no report

    def check_executor(self) -> None:
        """``--stitch-executor slurm`` runs without xdist (the cluster is the parallelism) and needs
        submitit and Slurm's commands: said now, before anything happens to an earlier run's results."""
        if self.option("executor") != "slurm":
            return
        import shutil

        if self.role == CONTROLLER:
            raise pytest.UsageError(f"{flag('executor')} slurm: run without -n/--tx (the jobs are the workers)")
        try:
            import submitit  # noqa: F401
        except ImportError:
            raise pytest.UsageError(f"{flag('executor')} slurm needs submitit: pip install stitchtest[slurm]") from None
        for command in ("sbatch", "squeue", "scancel"):
            if shutil.which(command) is None:
                raise pytest.UsageError(f"{flag('executor')} slurm: no {command} on PATH (run on a Slurm login node)")

    def executor(self):
        """Who computes the missing cells (:mod:`stitchtest.audit.executor`), from ``--stitch-executor``."""
        if self.option("executor") != "slurm" or self.role == WORKER:
            from ..audit.executor import Threads

            return Threads()
        from ..audit.slurm import Slurm

        return Slurm(results_dir=self.option("results_dir"), partition=self.option("slurm_partition"),
                            cpus=self.option("slurm_cpus"), gpus=self.option("slurm_gpus"),
                            time_min=self.option("slurm_time"), jobs=self.option("slurm_jobs"),
                            logs=self.option("slurm_logs"),
                            device=None if self.option("device") == "auto" else self.option("device"))

    def header(self) -> List[str]:
        """One line saying what this run audits and where its rows and reports go."""
        moved = self.set_aside
        aside = [f"stitchtest: the previous run's results were moved to {moved}/ ({flag('resume')} continues a run "
                 f"instead)"]
        return (aside if moved else []) + [
            f"stitchtest: scale {self.option('scale')}, data {self.option('data')}, "
            f"device {self.option('device')}, stitches in {precision(self.config)}, "
            f"results {self.option('results_dir')}/, reports {self.option('report_dir')}/"
            + (" (resuming)" if self.option("resume") else "")
            + (f", cells as Slurm jobs (partition {self.option('slurm_partition') or 'default'})"
               if self.option("executor") == "slurm" else "")]

    def collection_report(self) -> Optional[List[str]]:
        """The stitchtest line, after "collected N items", in a run without xdist that audits."""
        return self.header() if self.active and self.role != WORKER else None

    def parametrize(self, metafunc: pytest.Metafunc) -> None:
        """Parametrize every testbed test that takes ``method`` over the audited methods."""
        if "method" in metafunc.fixturenames and metafunc.definition.get_closest_marker("testbed") is not None:
            from ..audit.core import resolve_methods
            from ..runtime.registry import RegistryError

            try:
                chosen = resolve_methods(self.option("methods"))
            except (RegistryError, ImportError, TypeError):
                chosen = []  # said once, as a usage error, when the audit starts (``options.audited``)
            metafunc.parametrize("method", chosen, ids=[m.name for m in chosen])

    def scheduler(self, log):
        """For ``--dist load`` (``-n``'s default) and ``loadgroup``: group scheduling that survives a
        killed worker, if the workers collect testbeds; else xdist's own (:mod:`stitchtest.plugin.loadgroup`)."""
        dist = self.config.getvalue("dist")
        if dist not in ("load", "loadgroup"):
            return None
        from xdist.scheduler import LoadGroupScheduling, LoadScheduling

        from .loadgroup import AuditScheduling

        return AuditScheduling(self.config, log, LoadScheduling if dist == "load" else LoadGroupScheduling,
                               lambda: self.audit_ids if self.active else None)

    # ------------------------------------------------------------ the results folder

    def open_results(self) -> None:
        """Lock the results folder for this session, then either check that ``--stitch-resume``
        continues a run of the same settings, or move the previous run's files aside; record the
        files this run writes (:func:`stitchtest.records.rundir.record`), then write its ``run`` row."""
        from ..records import rundir
        from ..records.rows import RunRow
        from .relay import Inbox
        from ..records.results import ResultsWriter

        folder = self.folder
        try:  # a usage error still unconfigures, which releases the lock
            self.lock = rundir.claim(folder.root)
            resume = bool(self.option("resume"))
            if not resume:
                self.set_aside = rundir.set_aside(folder.root)
            # before anything is written: what this run writes is what the next run may move aside
            writers = ["controller"] + (self.worker_ids if self.role == CONTROLLER else [self.worker_id])
            taken = rundir.resumed_files(folder.root) if resume else []
            rundir.record(folder.root, rundir.run_files(writers) + taken, keep=resume)
            folder.session.write_text(self.token + "\n")
        except (OSError, rundir.RunDirError) as e:
            raise pytest.UsageError(f"{flag('results_dir')}: {e}") from None
        if self.option("resume"):
            self.adopt_spools("the interrupted run's")
            check_resume(folder.root, self.settings)
        ResultsWriter(folder.root, "controller").append(RunRow(self.settings))
        if self.role == CONTROLLER:
            self.inbox = Inbox(folder.root)

    def release(self) -> None:
        """Let the next session have the results folder."""
        if self.lock is not None:
            self.lock.release()

    def adopt_spools(self, whose: str) -> dict:
        """Take into the results the rows that xdist workers spooled but never handed over (a worker
        killed in a test, an interrupted session: :mod:`stitchtest.records.spool`), and say so; returns how
        many per worker."""
        from ..records import spool
        from ..records.results import ResultsError

        try:
            adopted = spool.adopt(self.folder.root)
        except (ResultsError, OSError) as e:
            raise pytest.UsageError(f"{flag('results_dir')}: a worker's spool cannot be read: {e}") from None
        if adopted:
            text = ", ".join(f"{n} from {w}" for w, n in sorted(adopted.items()))
            n = sum(adopted.values())
            message = (f"stitchtest: kept {n} row{'s' * (n != 1)} that {whose} workers computed in tests "
                       f"they did not finish ({text}); {flag('resume')} does not compute them again")
            reporter = self.config.pluginmanager.get_plugin("terminalreporter")
            reporter.write_line(message, yellow=True) if reporter is not None else print(message)
        return adopted

    def resumed_cells(self) -> List[dict]:
        """The cells already in the results folder (``--stitch-resume``) as JSON, read once (they
        travel to the workers), with those a killed run's workers spooled: the workers are told
        before the spools are adopted (:meth:`adopt_spools`). A malformed file gives none here and
        is named when the session starts the audit (:func:`check_resume`)."""
        if not self.option("resume"):
            return []
        if self.done is None:
            from ..records import spool
            from ..records.rows import CellRow
            from ..records.results import ResultsError, load_rows

            root, rows = self.folder.root, []
            try:
                rows = load_rows(root)
                rows += spool.spooled(root)
            except (ResultsError, OSError):
                pass
            cells = {r.key: r for r in reversed(rows) if isinstance(r, CellRow)}  # a results row over a spooled one
            self.done = [r.to_json() for r in cells.values()]
        return self.done

    # ------------------------------------------------------------ the baseline

    def load_baseline(self) -> None:
        """Read and vet ``--stitch-baseline`` (and the ``--stitch-save-baseline`` target) now, in the
        process that owns the results, so a bad one fails in seconds, not at the end of the run."""
        path, target, tol = self.option("baseline"), self.option("save_baseline"), self.option("baseline_tol")
        if tol is not None and not tol >= 0:
            raise pytest.UsageError(f"{flag('baseline_tol')}: {tol} is not a tolerance; give a number >= 0 "
                                    f"(default 0.02)")
        if target and Path(target).is_dir():
            raise pytest.UsageError(f"{flag('save_baseline')}: {target} is a directory; give a file name")
        if not path:
            return
        from ..records.baseline import check_match
        from ..records.results import ResultsError

        try:
            base = self.read_baseline()
            check_match(self.settings, base)
        except ResultsError as e:
            raise pytest.UsageError(f"{flag('baseline')}: {e}") from None

    def read_baseline(self) -> Results:
        """``--stitch-baseline`` read once (ResultsError if it is none); its failed checks remembered."""
        if self.baseline is None:
            from ..records.baseline import baseline_failures, load
            from ..records.results import ResultsError

            path = self.option("baseline")
            base = load(path)
            if base.run is None:  # a worker's results file: its settings cannot be checked
                raise ResultsError(f"{path} has no run row (the settings it was made with), so it is no baseline; "
                                   f"make one with {flag('save_baseline')}")
            self.baseline, self.baseline_failures = base, baseline_failures(base)
        return self.baseline

    def failed_in_baseline(self, key: str) -> bool:
        """Whether the check ``key`` failed in ``--stitch-baseline`` too (workers learn those from the controller)."""
        failures = set(self.told.get("baseline_failures", ())) if self.role == WORKER else self.baseline_failures
        return key in failures

    # ------------------------------------------------------------ workers and progress

    def worker_input(self, node) -> dict:
        """What only the controller knows, for one xdist worker before it starts: its place among
        the workers on its host (for its share of threads and memory), the controller's absolute
        results folder and session token (a worker that sees them writes its progress log there,
        live), the cells already done (``--stitch-resume``) and the baseline's failed checks. None of
        it needs torch; a worker that collects no testbed ignores it."""
        specs = node.nodemanager.specs
        self.workers = len(specs)
        self.worker_ids.append(node.gateway.id)
        if self.lock is not None:  # a worker started in place of one that died: its files are this run's too
            from ..records import rundir

            rundir.record(self.folder.root, rundir.run_files([node.gateway.id]))
        failures: List[str] = []
        if self.option("baseline"):
            from ..records.results import ResultsError

            try:
                failures = sorted(self.read_baseline() and self.baseline_failures)
            except ResultsError:
                pass  # said as a usage error when the audit starts
        return {
            "host_slot": list(host_slots(specs).get(node.gateway.id, (0, 1))),
            "results_dir": str(self.folder.root.resolve()),
            "token": self.token,
            "done": self.resumed_cells(),
            "baseline_failures": failures,
        }

    def live_folder(self) -> Optional[ResultsFolder]:
        """In a worker: the controller's results folder, if this worker sees it (same host or a shared
        disk: the session file there holds this session's token); else None."""
        told = self.told
        if "results_dir" not in told:
            return None
        live = ResultsFolder(told["results_dir"])
        try:
            return live if live.session.read_text().strip() == told.get("token") else None
        except OSError:
            return None

    def follow_progress(self) -> None:
        """Follow the progress logs on the terminal (``stitchtest.plugin.progress``)."""
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return
        from .progress import ProgressFollower

        def write(line: str) -> None:
            if getattr(reporter, "_width_of_current_line", 0):  # after xdist's dots, start a new line
                reporter.line("")
            reporter.write_line(line)

        # An xdist controller runs no tests, so a thread may write; a process that runs the tests
        # itself polls from the main thread, with pytest's output capture lifted (``show_progress``).
        self.progress = ProgressFollower(
            self.folder.root, write, verbose=self.config.getoption("verbose") > 0,
            every=float(self.config.getini("stitchtest_progress_every"))).start(thread=self.role == CONTROLLER)

    def show_progress(self) -> None:
        """In a run without workers: show what the progress log just got, outside output capture.

        Only the main thread may lift capture; a line logged from a thread computing a group of cells
        (``concurrency.completed``; e.g. a model trained on demand) is shown by the main thread's next poll.
        """
        import threading

        follower = self.progress
        capman = self.config.pluginmanager.getplugin("capturemanager")
        if follower is None or capman is None or threading.current_thread() is not threading.main_thread():
            return
        with capman.global_and_fixture_disabled():
            follower.poll()

    def progress_log(self) -> Callable[[str], None]:
        """Where this process says what it does: its progress log in the results folder, which the
        owner of the results follows on the terminal (:mod:`stitchtest.plugin.progress`). A worker writes
        there directly, live, when it sees the controller's folder (same host or a shared disk: the
        session file there holds this session's token); else its lines travel with its rows."""
        if self.role != WORKER and not computes(self.config):  # --setup-only: the previous run's log is not ours
            return lambda message: None
        live = self.live_folder() if self.role == WORKER else self.folder
        path: Optional[Path] = live.progress(self.worker_id) if live is not None else None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

        def progress(message: str) -> None:
            line = f"{time.strftime('%H:%M:%S')} {message}"
            if path is None:
                self.outbox.log(line)
                return
            with open(path, "a") as f:
                f.write(line + "\n")
            if self.role != WORKER:
                self.show_progress()
        return progress

    # ------------------------------------------------------------ the audit the tests use

    def new_audit(self) -> Audit:
        """The session's :class:`~stitchtest.audit.Audit` (zoo, context, results writer): in a worker,
        its rows go to the controller and the cells already done come from it."""
        from ..runtime import devices
        from ..audit.core import Audit
        from ..data.spec import DataSpec
        from ..records.rows import CellRow, Record
        from ..records.results import ResultsWriter, load_rows
        from ..audit.scales import SCALES
        from ..models.zoo import Zoo

        if self.role == WORKER:  # rows go to the controller; done cells come from it
            told = [Record.from_json(r, "a cell the controller sent") for r in self.told.get("done", ())]
            writer, done = self.outbox, {r.key: r for r in told}
            live = self.live_folder()
            if live is not None:  # and to the controller's disk at once, so a killed worker loses nothing
                from ..records import spool

                self.outbox.spool = spool.writer(live, self.worker_id)
        else:
            results = self.folder.root
            writer = ResultsWriter(results, self.worker_id)
            done = {r.key: r for r in load_rows(results) if isinstance(r, CellRow)} if self.option("resume") else {}
        progress = self.progress_log()
        scale = (SCALES[self.option("scale")].with_seeds(self.option("seeds")).with_arch(self.option("arch"))
                 .with_precision(self.option("precision")))
        zoo = Zoo(device=None if self.option("device") == "auto" else self.option("device"), log=progress)
        audit = Audit(scale, DataSpec.parse(self.option("data")), zoo, writer, done, progress,
                      cache_limit=devices.cache_share(zoo.device, self.host_slot[1]), worker=self.worker_slot,
                      executor=self.executor())
        progress(f"activation cache budget {audit.context.cache_bytes / 2**30:.2f} GiB on {zoo.device} "
                 f"(scale {scale.cache_gib:g} GiB, capped to this worker's share of memory)")
        return audit

    # ------------------------------------------------------------ rows from workers

    def report_made(self, item: pytest.Item, when: str, report: pytest.TestReport) -> None:
        """Where the tests run, count the testbed tests that ran (:func:`stitchtest.plugin.finish.finish`);
        in a worker, the rows and progress lines of this test phase leave with its report."""
        if when == "call" and not report.skipped and item.get_closest_marker("testbed") is not None:
            self.ran += 1
        if self.outbox is not None:
            from .relay import PROGRESS, ROWS

            rows, lines = self.outbox.take()
            if rows:
                setattr(report, ROWS, rows)
            if lines:
                setattr(report, PROGRESS, lines)

    def worker_reported(self, node, report: pytest.TestReport) -> None:
        """On the controller: write the rows a worker's report brought (and its progress lines), and
        count the testbed tests that ran, so that a run that computed something and wrote nothing says so."""
        from .relay import PROGRESS, ROWS

        rows, lines = getattr(report, ROWS, None), getattr(report, PROGRESS, None)
        if report.when == "call" and not report.skipped and "testbed" in report.keywords:
            self.ran += 1
        if not self.active:
            self.unheard += len(rows or [])  # a worker audited what the controller did not see
            return
        if rows or lines:
            self._receive(node, rows or [], lines or [])

    def worker_down(self, node, error) -> None:
        """A worker ended: take the rows no report carried, and check that every row it sent came.
        One that died (``error``) is remembered: the report then says the run is incomplete."""
        if error is not None:
            self.lost.append(node.gateway.id)
        out = getattr(node, "workeroutput", None) or {}
        if not self.active:
            return
        from .relay import LEFT, SENT

        if SENT not in out:
            return
        rows, lines = out.get(LEFT, ([], []))
        if rows or lines:
            self._receive(node, rows, lines)
        short = self.inbox.shortfall(node.gateway.id, out[SENT]) if self.inbox is not None else out[SENT]
        if short:
            self.missing[node.gateway.id] = short

    def _receive(self, node, rows: List[dict], lines: List[str]) -> None:
        if self.inbox is None:  # a worker that audits while the controller does not: a bug, said loudly
            self.missing[node.gateway.id] = self.missing.get(node.gateway.id, 0) + len(rows)
            return
        self.inbox.receive(node.gateway.id, rows, lines)

    # ------------------------------------------------------------ the end

    def finish(self, session: pytest.Session) -> None:
        """A worker hands over what no report took (in ``workeroutput``, which xdist sends when the
        worker ends); the process that owns the results writes the reports (:mod:`stitchtest.plugin.finish`)."""
        if self.role == WORKER:
            if self.outbox is not None:
                from .relay import LEFT, SENT

                rows, lines = self.outbox.take()
                self.config.workeroutput[LEFT] = [rows, lines]
                self.config.workeroutput[SENT] = self.outbox.sent
            return
        if self.active and computes(self.config):
            from .finish import finish

            finish(self, session)
        elif self.unheard:
            from .finish import unheard

            unheard(self, session)


SESSION = pytest.StashKey[AuditSession]()


def audit_session(config: pytest.Config) -> AuditSession:
    """The one :class:`AuditSession` of this pytest config (made on first use, kept in ``config.stash``)."""
    found = config.stash.get(SESSION, None)
    if found is None:
        found = config.stash[SESSION] = AuditSession(config)
    return found


def check_resume(results: Path, settings: RunSettings) -> None:
    """``--stitch-resume`` continues the run in ``results`` only with its settings
    (:attr:`~stitchtest.records.RunSettings.RESUME`), so a report never mixes rows of two
    settings; a malformed line is named now, not in every test."""
    from ..records.rows import RunSettings, run_of
    from ..records.results import ResultsError, load_rows

    try:
        rows = load_rows(results)
    except ResultsError as e:
        raise pytest.UsageError(f"{flag('resume')}: {e}; fix or delete that line (its cell is then "
                                f"recomputed), or start over without {flag('resume')}") from None
    before = run_of(rows)
    if before is None:
        return
    differ = settings.differences(before.settings, RunSettings.RESUME)
    if differ:
        raise pytest.UsageError(f"{flag('resume')}: {results} holds a run of other settings: {'; '.join(differ)}; "
                                f"resume it with its own options, or start a new run without {flag('resume')} "
                                f"(the old results are moved aside)")
