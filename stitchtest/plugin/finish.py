"""An audit session's end, in the process that owns the results: the reports, the papers'
claims, the baseline comparison, and the session's exit status.

A worker's rows that never reached the controller, an unexpected claim verdict, or a
regression against ``--stitch-baseline`` fail the session. The results files are only added to
here (rows that workers spooled but never handed over, :mod:`stitchtest.records.spool`), never rewritten,
so the same rows can be re-rendered (``stitchtest report``) or compared again later.
:meth:`stitchtest.plugin.session.AuditSession.finish` calls it with itself, the ``owner`` of the
results (not imported here: the session imports this module), and pytest's session, whose exit
status it sets.
"""
from __future__ import annotations

import os
import time
from typing import Any, Dict, List

import pytest

from .options import flag, option, precision, results_folder


def finish(owner, session: pytest.Session) -> None:
    """Merge the rows, write the reports, judge the claims, then compare with ``--stitch-baseline``
    (a regression fails the session) and write ``--stitch-save-baseline``."""
    config = session.config
    if owner.progress is not None:
        owner.progress.stop()
    from ..records.rows import CellRow, CheckRow
    from ..audit.report import write_reports
    from ..records.results import load_rows

    reporter = config.pluginmanager.get_plugin("terminalreporter")
    try:
        adopted = owner.adopt_spools("this run's")
    except pytest.UsageError as e:  # the spool stays for a later --stitch-resume to take
        adopted = {}
        reporter.write_line(str(e), red=True) if reporter is not None else print(e)
    # a row sent but lost on the way is not lost if its worker spooled it
    owner.missing = {w: n - adopted.get(w, 0) for w, n in owner.missing.items() if n > adopted.get(w, 0)}
    if owner.missing:
        text = ", ".join(f"{w}: {n}" for w, n in sorted(owner.missing.items()))
        message = (f"stitchtest: rows that workers computed never reached the controller ({text}); the results "
                   f"and reports lack them, and {flag('resume')} computes them again")
        reporter.write_line(message, red=True, bold=True) if reporter is not None else print(message)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    rows = load_rows(results_folder(config).root)
    if not any(isinstance(r, (CellRow, CheckRow)) for r in rows):  # nothing ran (-k nothing, -x at once)
        if owner.ran:
            _failed(session, reporter, f"stitchtest: {owner.ran} testbed test(s) ran but no row reached "
                                     f"{results_folder(config).root}/, so no report was written")
        return
    try:
        paths = write_reports(rows, option(config, "report_dir"), owner.settings, about(owner, session, rows))
    except OSError as e:  # a full or read-only disk: the rows are whole, and pytest's summary still comes
        results = results_folder(config).root
        _failed(session, reporter, f"stitchtest: the reports were not written: {_error(e)}; the rows in {results}/ "
                                   f"are whole: `stitchtest report {results} -o {option(config, 'report_dir')}` "
                                   f"writes them")
    else:
        if reporter is not None:
            reporter.write_sep("-", f"stitchtest: {len(rows)} rows -> {', '.join(str(p) for p in paths[:3])}"
                               + (" ..." if len(paths) > 3 else ""))
    _claims(session, rows, reporter, owner.settings)
    _baseline(owner, session, rows, reporter)


def unheard(owner, session: pytest.Session) -> None:
    """Workers audited testbeds the controller did not recognise as such: nothing was written.
    Said in one line, and the session fails, whatever the tests' outcomes."""
    _failed(session, session.config.pluginmanager.get_plugin("terminalreporter"),
            f"stitchtest: the workers computed {owner.unheard} rows, but the controller did not "
            f"recognise their tests as testbeds, so no results or reports were written: declare the marker in "
            f"the test file (pytestmark = pytest.mark.testbed(\"name\"), or a decorator), where the "
            f"controller reads it")


def _error(e: OSError) -> str:
    """``path: No space left on device``: what failed, and where."""
    return f"{e.filename}: {e.strerror}" if e.filename and e.strerror else str(e)


def _failed(session: pytest.Session, reporter, message: str) -> None:
    """One red line, and the session fails (a report or baseline that was asked for is missing)."""
    reporter.write_line(message, red=True, bold=True) if reporter is not None else print(message)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


def about(owner, session: pytest.Session, rows: list) -> Dict[str, Any]:
    """This session's facts beside the run's settings in the report's run configuration: its
    status, the machine, the time it took."""
    import torch

    from ..runtime import devices
    from ..records.rows import CellRow

    config = session.config
    return {
        "status": status(owner, session),
        "device": option(config, "device"), "cuda": torch.cuda.is_available(),
        "stitch_precision": precision(config),
        "workers": owner.workers,
        "cpu": f"{devices.cpu_name()}, {devices.cpu_cores()} of {os.cpu_count()} cores ({devices.cpu_features()})",
        "zoo": _zoo(rows),
        "wall_time_s": round(time.time() - owner.start, 1),
        # with --stitch-resume the wall time is this session's only; the cells' own compute time is all of it
        "resumed": bool(option(config, "resume")),
        "cell_compute_s": round(sum(float(r.readouts.get("seconds") or 0.0) for r in rows
                                    if isinstance(r, CellRow)), 1),
    }


def _zoo(rows: list) -> str:
    """Where the run's models came from: the package's shipped weights (and the CPU that trained
    them) or this machine; from the cache's metadata of the models the cell rows name."""
    from ..models.zoo import model_ids, provenance
    from ..records.rows import CellRow
    from ..runtime.paths import default_root

    return provenance(default_root(), [m for r in rows if isinstance(r, CellRow) for m in model_ids(r.cell)])


def status(owner, session: pytest.Session) -> str:
    """``complete``, or why not, for the report's first line: a partial report must say so."""
    lost = owner.lost
    if session.exitstatus == pytest.ExitCode.INTERRUPTED or session.shouldstop or session.shouldfail:
        why = f"interrupted: {session.shouldstop or session.shouldfail or 'Ctrl-C'}"
    elif lost:
        why = f"worker {', '.join(lost)} died"
    else:
        return "complete"
    return f"INCOMPLETE ({why}); the same command with {flag('resume')} computes only what is missing"


def _claims(session: pytest.Session, rows: List, reporter, settings=None) -> None:
    """Judge the papers' claims on every method's check rows (they meet only here, on the
    controller), print them, and fail the session on an unexpected verdict."""
    from ..audit.claims import failures, judge_all, test_set_size
    from ..audit.report import _chance, _effect, _p, _pairs, _table, judged, not_audited
    from ..records.results import checks

    check_rows = checks(rows)
    claim_rows = judge_all(check_rows, option(session.config, "scale"), chance=_chance(settings),
                           test_images=test_set_size(settings.data if settings else None))
    if not claim_rows:
        return
    shown, skipped = judged(claim_rows), not_audited(claim_rows, {c.method for c in check_rows})
    table = _table([[r.status, r.verdict, r.key, _effect(r), _p(r), _pairs(r)] for r in shown],
                   ["status", "verdict", "claim", "effect [95%]", "adjusted p (Holm)", "independent seed pairs"])
    if reporter is not None:
        reporter.write_sep("-", "stitchtest: claims of the source papers (summary.md has the sources)")
        if shown:
            reporter.write_line(table)
        if skipped:
            reporter.write_line(f"stitchtest: {skipped}")
    bad = failures(claim_rows)
    if bad and session.exitstatus != pytest.ExitCode.INTERRUPTED:
        if reporter is not None:
            reporter.write_line(f"stitchtest: {len(bad)} claim(s) not as expected at this scale: "
                                + ", ".join(f"{r.key} ({r.verdict})" for r in bad), red=True, bold=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _baseline(owner, session: pytest.Session, rows: list, reporter) -> None:
    """Compare with ``--stitch-baseline`` and save ``--stitch-save-baseline``; the results files are never touched."""
    from ..records.baseline import DEFAULT_TOL, BaselineError, Results, compare, render, save

    config = session.config

    def write(text: str, **markup) -> None:
        reporter.write_line(text, **markup) if reporter is not None else print(text)

    base, target = owner.baseline, option(config, "save_baseline")
    if (base is not None or target) and session.exitstatus == pytest.ExitCode.INTERRUPTED:
        write("stitchtest: interrupted, so the baseline is neither compared nor saved")
        return
    results = Results(results_folder(config).root, rows)
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
        try:
            save(results, target)
        except OSError as e:
            _failed(session, reporter, f"stitchtest: {flag('save_baseline')}: the baseline was not saved: {_error(e)}")
        else:
            write(f"stitchtest: baseline saved to {target}")
