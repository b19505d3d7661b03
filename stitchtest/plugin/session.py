"""An audit session's start: its settings, every option checked, the results folder opened.

Once a collected test carries the ``testbed`` marker, :func:`activate` runs: a worker takes its
host's share of threads and memory; the process that owns the results (a run without xdist, or
the controller) resolves the options into one :class:`~stitchtest.records.RunSettings`, checks
every option before anything happens to an earlier run's results, then locks the results folder
and either moves the previous run aside or checks that ``--stitch-resume`` continues a run of the
same settings. What workers need from the controller (:func:`worker_input`) is decided here too.
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import List

import pytest

from .options import (flag, from_controller, host_slot, is_controller, is_worker, option, results_folder, state,
                      worker_id, computes, host_slots)


def activate(config: pytest.Config) -> None:
    """The session runs testbeds: in a worker, take this host's share; in the process that owns
    the results, check every option before anything happens to an earlier run's results, then
    open them."""
    st = state(config)
    if st.active:
        return
    from ..runtime import devices

    if is_worker(config):
        devices.pin_worker(*host_slot(config))
        from .relay import Outbox

        st.outbox = Outbox(worker_id(config))
    else:
        if not is_controller(config):
            devices.pin_worker(0, 1)
        device(config)
        st.settings = run_settings(config)
        check_paths(config)
        load_baseline(config)
        if computes(config):
            open_results(config)
            follow_progress(config)
    st.active = True  # only now: a session stopped by a usage error writes no report


def header(config: pytest.Config) -> List[str]:
    """One line saying what this run audits and where its rows and reports go."""
    moved = state(config).set_aside
    aside = [f"stitchtest: the previous run's results were moved to {moved}/ ({flag('resume')} continues a run "
             f"instead)"]
    return (aside if moved else []) + [
        f"stitchtest: scale {option(config, 'scale')}, data {option(config, 'data')}, "
        f"device {option(config, 'device')}, stitches in {precision(config)}, "
        f"results {option(config, 'results_dir')}/, reports {option(config, 'report_dir')}/"
        + (" (resuming)" if option(config, "resume") else "")]


# ---------------------------------------------------------------- settings and checks


def run_settings(config: pytest.Config):
    """The settings that make two runs comparable (:class:`~stitchtest.records.RunSettings`),
    from the options; a bad data set, architecture, seed count or method is one usage error, now."""
    from ..data.dataset import check
    from ..data.errors import DataError
    from ..data.spec import DataSpec
    from ..records.rows import RunSettings
    from ..audit.scales import SCALES
    from ..models.zoo import versions

    try:  # read the files now: a data error is one usage error, not a failure in every test
        spec = DataSpec.parse(option(config, "data"))
        with warnings.catch_warnings(record=True) as degenerate:
            warnings.simplefilter("always")
            classes = check(spec)  # the class count, for the reports' chance level
        data = spec.string_id()
    except DataError as e:
        raise pytest.UsageError(f"{flag('data')}: {e}") from None
    for w in degenerate:
        config.issue_config_time_warning(w.message, stacklevel=2)
    arch = option(config, "arch")
    if arch:
        from ..models.core import builder_of

        try:
            builder_of(arch)
        except ValueError as e:
            raise pytest.UsageError(f"{flag('arch')}: {e}") from None
    seeds = option(config, "seeds")
    if seeds is not None and seeds < 1:
        raise pytest.UsageError(f"{flag('seeds')}: {seeds} is not a number of models; give 1 or more, or leave "
                                f"it out for the scale's {SCALES[option(config, 'scale')].seeds}")
    return RunSettings(scale=option(config, "scale"), data=data,
                       seeds=SCALES[option(config, "scale")].with_seeds(seeds).seeds,
                       methods=option(config, "methods") or "all", audited=tuple(audited(config)),
                       arch=option(config, "arch") or None, num_classes=classes or None, versions=versions(),
                       command="pytest " + " ".join(sys.argv[1:]))


def audited(config: pytest.Config) -> List[str]:
    """The names ``--stitch-methods`` resolves to; an unknown one, or none at all, is a usage error."""
    from ..audit.core import resolve_methods
    from ..runtime.registry import RegistryError

    try:
        chosen = resolve_methods(option(config, "methods"))
    except (RegistryError, ImportError, TypeError) as e:
        raise pytest.UsageError(f"{flag('methods')}: {e}") from None
    if not chosen:
        raise pytest.UsageError(f"{flag('methods')} {option(config, 'methods')!r} names no method; give names such "
                                f"as dm,linear_cka (`stitchtest methods` lists them), or leave it out to audit all")
    return sorted(m.name for m in chosen)


def device(config: pytest.Config):
    """``--stitch-device`` resolved; one this machine lacks is a usage error, said once before anything runs."""
    from ..runtime import devices

    try:
        return devices.resolve(None if option(config, "device") == "auto" else option(config, "device"))
    except (RuntimeError, ValueError) as e:
        raise pytest.UsageError(f"{flag('device')}: {e}") from None


def precision(config: pytest.Config) -> str:
    """What the stitches of this run train in, e.g. ``"bf16 (auto)"``: ``auto`` depends on the hardware."""
    from ..runtime import precision as precision_mod
    from ..audit.scales import SCALES

    stitch, dev = SCALES[option(config, "scale")].stitch(), device(config)
    resolved = stitch.resolved_precision(dev)
    if stitch.precision != "auto":
        return resolved
    return f"{resolved} (auto; {precision_mod.explain(dev.type)})"


def check_paths(config: pytest.Config) -> None:
    """``--stitch-report-dir`` and ``--stitch-results-dir`` must be directories (or not exist yet) that
    this file system can hold, and so must the model cache."""
    from ..runtime.files import path_problem
    from ..runtime.paths import CacheError, check_root, default_root

    try:
        check_root(default_root())
    except CacheError as e:
        raise pytest.UsageError(str(e)) from None
    for name in ("report_dir", "results_dir"):
        path = Path(option(config, name))
        problem = path_problem(path)
        if problem:
            raise pytest.UsageError(f"{flag(name)}: {problem}; give a shorter path")
        if path.exists() and not path.is_dir():
            raise pytest.UsageError(f"{flag(name)}: {path} is a file, not a directory; give a directory")


# ---------------------------------------------------------------- the results folder


def open_results(config: pytest.Config) -> None:
    """Lock the results folder for this session, then either check that ``--stitch-resume``
    continues a run of the same settings, or move the previous run's files aside; record the
    files this run writes (:func:`stitchtest.records.rundir.record`), then write its ``run`` row."""
    from ..records import rundir
    from ..records.rows import RunRow
    from .relay import Inbox
    from ..records.results import ResultsWriter

    st, folder = state(config), results_folder(config)
    try:  # a usage error still unconfigures, which releases the lock
        st.lock = rundir.claim(folder.root)
        resume = bool(option(config, "resume"))
        if not resume:
            st.set_aside = rundir.set_aside(folder.root)
        # before anything is written: what this run writes is what the next run may move aside
        writers = ["controller"] + (st.worker_ids if is_controller(config) else [worker_id(config)])
        taken = rundir.resumed_files(folder.root) if resume else []
        rundir.record(folder.root, rundir.run_files(writers) + taken, keep=resume)
        folder.session.write_text(st.token + "\n")
    except (OSError, rundir.RunDirError) as e:
        raise pytest.UsageError(f"{flag('results_dir')}: {e}") from None
    if option(config, "resume"):
        adopt_spools(config, "the interrupted run's")
        check_resume(folder.root, st.settings)
    ResultsWriter(folder.root, "controller").append(RunRow(st.settings))
    if is_controller(config):
        st.inbox = Inbox(folder.root)


def adopt_spools(config: pytest.Config, whose: str) -> dict:
    """Take into the results the rows that xdist workers spooled but never handed over (a worker
    killed in a test, an interrupted session: :mod:`stitchtest.records.spool`), and say so; returns how
    many per worker."""
    from ..records import spool
    from ..records.results import ResultsError

    try:
        adopted = spool.adopt(results_folder(config).root)
    except (ResultsError, OSError) as e:
        raise pytest.UsageError(f"{flag('results_dir')}: a worker's spool cannot be read: {e}") from None
    if adopted:
        text = ", ".join(f"{n} from {w}" for w, n in sorted(adopted.items()))
        n = sum(adopted.values())
        message = (f"stitchtest: kept {n} row{'s' * (n != 1)} that {whose} workers computed in tests "
                   f"they did not finish ({text}); {flag('resume')} does not compute them again")
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        reporter.write_line(message, yellow=True) if reporter is not None else print(message)
    return adopted


def check_resume(results: Path, settings) -> None:
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


def resumed_cells(config: pytest.Config) -> List[dict]:
    """The cells already in the results folder (``--stitch-resume``) as JSON, read once (they
    travel to the workers), with those a killed run's workers spooled: the workers are told
    before the spools are adopted (:func:`adopt_spools`). A malformed file gives none here and
    is named when the session starts the audit (:func:`check_resume`)."""
    st = state(config)
    if not option(config, "resume"):
        return []
    if st.done is None:
        from ..records import spool
        from ..records.rows import CellRow
        from ..records.results import ResultsError, load_rows

        root, rows = results_folder(config).root, []
        try:
            rows = load_rows(root)
            rows += spool.spooled(root)
        except (ResultsError, OSError):
            pass
        cells = {r.key: r for r in reversed(rows) if isinstance(r, CellRow)}  # a results row over a spooled one
        st.done = [r.to_json() for r in cells.values()]
    return st.done


# ---------------------------------------------------------------- the baseline


def load_baseline(config: pytest.Config) -> None:
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
    from ..records.baseline import check_match
    from ..records.results import ResultsError

    try:
        base = read_baseline(config)
        check_match(state(config).settings, base)
    except ResultsError as e:
        raise pytest.UsageError(f"{flag('baseline')}: {e}") from None


def read_baseline(config: pytest.Config):
    """``--stitch-baseline`` read once (ResultsError if it is none); its failed checks remembered."""
    st = state(config)
    if st.baseline is None:
        from ..records.baseline import baseline_failures, load
        from ..records.results import ResultsError

        path = option(config, "baseline")
        base = load(path)
        if base.run is None:  # a worker's results file: its settings cannot be checked
            raise ResultsError(f"{path} has no run row (the settings it was made with), so it is no baseline; "
                               f"make one with {flag('save_baseline')}")
        st.baseline, st.baseline_failures = base, baseline_failures(base)
    return st.baseline


def baseline_failures(config: pytest.Config) -> set:
    """Keys of the checks that failed in ``--stitch-baseline`` (workers learn them from the controller)."""
    if is_worker(config):
        return set(from_controller(config).get("baseline_failures", ()))
    return state(config).baseline_failures


# ---------------------------------------------------------------- workers and progress


def worker_input(node) -> dict:
    """What only the controller knows, for one xdist worker before it starts: its place among
    the workers on its host (for its share of threads and memory), the controller's absolute
    results folder and session token (a worker that sees them writes its progress log there,
    live), the cells already done (``--stitch-resume``) and the baseline's failed checks. None of
    it needs torch; a worker that collects no testbed ignores it."""
    config, st = node.config, state(node.config)
    specs = node.nodemanager.specs
    st.workers = len(specs)
    st.worker_ids.append(node.gateway.id)
    if st.lock is not None:  # a worker started in place of one that died: its files are this run's too
        from ..records import rundir

        rundir.record(results_folder(config).root, rundir.run_files([node.gateway.id]))
    failures: List[str] = []
    if option(config, "baseline"):
        from ..records.results import ResultsError

        try:
            failures = sorted(read_baseline(config) and st.baseline_failures)
        except ResultsError:
            pass  # said as a usage error when the audit starts
    return {
        "host_slot": list(host_slots(specs).get(node.gateway.id, (0, 1))),
        "results_dir": str(results_folder(config).root.resolve()),
        "token": st.token,
        "done": resumed_cells(config),
        "baseline_failures": failures,
    }


def follow_progress(config: pytest.Config) -> None:
    """Follow the progress logs on the terminal (``stitchtest.plugin.progress``)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    from .progress import ProgressFollower

    def write(line: str) -> None:
        if getattr(reporter, "_width_of_current_line", 0):  # after xdist's dots, start a new line
            reporter.line("")
        reporter.write_line(line)

    # An xdist controller runs no tests, so a thread may write; a process that runs the tests
    # itself polls from the main thread, with pytest's output capture lifted (``show_progress``).
    state(config).progress = ProgressFollower(
        results_folder(config).root, write, verbose=config.getoption("verbose") > 0,
        every=float(config.getini("stitchtest_progress_every"))).start(thread=is_controller(config))


def show_progress(config: pytest.Config) -> None:
    """In a run without workers: show what the progress log just got, outside output capture.

    Only the main thread may lift capture; a line logged from a thread computing a group of cells
    (``concurrency.completed``; e.g. a model trained on demand) is shown by the main thread's next poll.
    """
    import threading

    follower = state(config).progress
    capman = config.pluginmanager.getplugin("capturemanager")
    if follower is None or capman is None or threading.current_thread() is not threading.main_thread():
        return
    with capman.global_and_fixture_disabled():
        follower.poll()
