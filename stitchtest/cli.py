"""The ``stitchtest`` command: run the audit (``stitchtest audit``: pytest over the packaged
testbeds), inspect the zoo and the registered methods, re-render reports from stored rows,
compare a run with a baseline. Exit status: 0 fine, 1 a regression (or nothing to
report), 2 unusable input (the message names the file and line)."""
from __future__ import annotations

import argparse
import difflib
import os
import sys
from typing import List, Optional

from tabulate import tabulate

from . import __version__
from .audit.testbeds import plugin_roots, testbeds_dir  # noqa: F401 (stitchtest.cli.testbeds_dir stays)
from .records.baseline import DEFAULT_TOL
from .records.results import ResultsError
from .runtime.registry import RegistryError


class UsageError(Exception):
    """A user's argument that cannot work: one line naming it and what is expected, exit status 2."""


def default_zoo_specs():
    """The models a default run (``--stitch-scale smoke``, digits) trains: the 24 the package ships."""
    from .audit.scales import SCALES
    from .data.spec import DataSpec

    return SCALES["smoke"].zoo_specs(DataSpec())


def cmd_zoo(args) -> int:
    from .runtime.paths import CacheError
    from .models.zoo import Zoo

    try:
        # training messages: the stitchtest logger (log_to_stderr). Exporting never copies shipped
        # weights: what it ships is what this machine's cache holds or trains
        zoo = Zoo(args.cache, device=args.device, **({"pretrained": None} if args.export_pretrained else {}))
        if args.prune:
            removed = zoo.prune()
            print(f"pruned {len(removed)} files" + "".join(f"\n  {p}" for p in removed))
        if args.train and not args.export_pretrained:
            for spec in default_zoo_specs():
                zoo.get(spec)
        if args.export_pretrained:
            written = zoo.export(default_zoo_specs(), args.export_pretrained)
            size = sum(p.stat().st_size for p in written)
            print(f"exported {len(written) // 2} models to {args.export_pretrained} ({size / 2**20:.2f} MiB)")
    except CacheError as e:
        print(f"stitchtest zoo: error: {e}", file=sys.stderr)
        return 2
    rows = [[e["spec"], f"{e['clean_accuracy']:.3f}", _robust(e), _cue_free(e), f"{e['train_seconds']:.1f}",
             e["device"]] for e in sorted(zoo.entries(), key=lambda e: e["spec"])]
    print(f"zoo at {zoo.root}: {len(rows)} models")
    print(tabulate(rows, headers=["model", "clean acc", "robust acc", "cue-free acc", "train s", "device"],
                   tablefmt="github", disable_numparse=True))
    return 0


def _regime(entry: dict) -> Optional[str]:
    return (entry.get("config") or {}).get("regime")


def _robust(entry: dict) -> str:
    """PGD accuracy of the adversarially trained models; "-" for the others, which were never trained
    against an attack (their metadata still holds the figure, near 0 for a standard model)."""
    return f"{entry['robust_accuracy']:.3f}" if _regime(entry) == "adversarial" else "-"


def _cue_free(entry: dict) -> str:
    """Accuracy without the cue, measured for the shortcut models only."""
    return f"{entry['cue_free_accuracy']:.3f}" if "cue_free_accuracy" in entry else "-"


def cmd_methods(args) -> int:
    from .measures.core import MEASURES
    from .stitching.objectives import OBJECTIVES

    rows = [[n, "objective", o, "yes" if OBJECTIVES.by_default(n) else f"by name: --stitch-methods {n}"]
            for n, o in OBJECTIVES.origins().items()]
    rows += [[n, "measure", o, "yes" if MEASURES.by_default(n) else f"by name: --stitch-methods {n}"]
             for n, o in MEASURES.origins().items()]
    print(tabulate(rows, headers=["method", "kind", "from", "audited by default"], tablefmt="github"))
    return 0


def cmd_report(args) -> int:
    """Re-render the reports from stored rows (a results directory or a baseline file), without
    recomputing anything; the run's settings come from its ``run`` row when it has one."""
    from pathlib import Path

    from .records.folder import ResultsFolder
    from .records.rows import run_of
    from .audit.report import write_reports
    from .records.results import load_rows, read_rows

    source = Path(args.results)
    rows = read_rows(source) if source.is_file() else load_rows(source)
    if not rows:
        print(f"no result rows in {args.results}", file=sys.stderr)
        return 1
    run = run_of(rows)
    settings = run.settings if run is not None else None
    about = {"run_command": settings.command} if settings is not None and settings.command else {}
    paths = write_reports(rows, Path(args.output), settings,
                          {**about, "command": "stitchtest report " + args.results, "source": args.results})
    print(f"{len(rows)} rows -> {len(paths)} files in {args.output}")
    spools = ResultsFolder(source).spool_files() if source.is_dir() else []
    if spools:  # an interrupted xdist run: reading never moves rows, so say what is left out
        print(f"note: {', '.join(p.name for _, p in spools)} in {args.results} hold rows that xdist workers "
              f"computed but never handed over; these reports leave them out, and the same pytest "
              f"command with --stitch-resume takes them into the results", file=sys.stderr)
    return 0


def cmd_compare(args) -> int:
    """List changed checks and moved readouts; 1 on a regression (or drift, if asked), else 0."""
    from .records.baseline import compare, load, render

    comparison = compare(load(args.new), load(args.baseline), args.tol)
    print(f"{args.new} against the baseline {args.baseline}: "
          + ("REGRESSION" if comparison.failed(args.fail_on_drift) else "no regression"))
    print(render(comparison))
    return 1 if comparison.failed(args.fail_on_drift) else 0


def cmd_check_measure(args) -> int:
    """The invariance property checks on a registered measure (or ``module:function``); 1 if a claim breaks."""
    from .engine import methods
    from .measures.core import MEASURES
    from .measures.invariance import check

    try:
        method = methods.get(args.name)
    except (RegistryError, TypeError, ValueError) as e:
        close = difflib.get_close_matches(args.name, MEASURES.names(), n=1)
        raise UsageError(f"argument name: {e}" + (f" (did you mean {close[0]}?)" if close else "")) from None
    if method.kind != methods.Kind.MEASURE:
        raise UsageError(f"argument name: {args.name!r} is an objective, not a measure; expected a measure "
                         f"({', '.join(MEASURES.names())}) or module:Name")
    findings = check(method.measure, trials=args.trials)
    print(f"{method.string_id()} on {args.trials} random pairs of related representations:")
    print(tabulate([[f.prop, f.verdict, f"{f.worst:.2e}"] for f in findings],
                   headers=["property", "verdict", "largest change"], tablefmt="github"))
    return 1 if any(f.claimed and not f.holds for f in findings) else 0


def cmd_export(args) -> int:
    """Cell rows as one CSV line per cell and readout, every id parsed into columns."""
    from pathlib import Path

    from .records.export import write_csv
    from .records.results import load_rows, read_rows

    source = Path(args.results)
    rows = read_rows(source) if source.is_file() else load_rows(source)
    n = write_csv(rows, args.csv)
    if not n:
        print(f"no cell rows in {args.results}", file=sys.stderr)
        return 1
    print(f"{n} lines (cell x readout) -> {args.csv}")
    return 0


def cmd_audit(args, pytest_args: List[str]) -> int:
    """``pytest <the testbeds> ARGS``: the audit without a clone of the repository, the built-in
    testbeds and those installed packages add (``stitchtest.testbeds`` entry points); testbeds that
    cannot be found are one error line (exit status 4, pytest's usage error), not a traceback."""
    import subprocess

    import pytest

    try:
        testbeds = [testbeds_dir(), *plugin_roots()]
    except (FileNotFoundError, ImportError) as e:
        print(f"stitchtest audit: error: {e}", file=sys.stderr)
        return int(pytest.ExitCode.USAGE_ERROR)
    # pytest in an interpreter of its own: in this one stitchtest is already imported, so pytest could
    # not rewrite the plugin's asserts and said so (PytestAssertRewriteWarning) in every audit
    with subprocess.Popen([sys.executable, "-m", "pytest", *map(str, testbeds), *pytest_args]) as child:
        while True:
            try:
                return child.wait()
            except KeyboardInterrupt:  # Ctrl-C reached pytest too: it stops, writes what it has and exits
                continue


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


def importable_cwd() -> None:
    """Put the current directory on ``sys.path``, as pytest puts its rootdir for conftest files, so
    ``stitchtest check-measure my_measure:f`` finds ``./my_measure.py`` without ``PYTHONPATH=.``:
    an installed console script has its own folder on ``sys.path``, not the current one."""
    cwd = os.getcwd()
    if not any(os.path.abspath(p or os.curdir) == cwd for p in sys.path):
        sys.path.insert(0, cwd)


def log_to_stderr() -> None:
    """The ``stitchtest`` logger's diagnostics (a model being trained, ...) on stderr, as plain lines, for
    a command run from a shell; a program that configured logging itself keeps its own handlers."""
    import logging

    root = logging.getLogger("stitchtest")
    if not root.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="stitchtest", description="Audit functional-similarity methods.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("audit", add_help=False,
                       help="run the testbeds that ship with the package through pytest; every other "
                            "argument goes to pytest (e.g. -n 4 --stitch-methods my_pkg:Obj)")
    a.set_defaults(func=cmd_audit)
    z = sub.add_parser("zoo", help="list cached models (--train: train the default zoo first; --prune: clean up)")
    z.add_argument("--prune", action="store_true",
                   help="delete temporary, partial, corrupt and outdated-recipe entries from the cache")
    z.add_argument("--train", action="store_true", help="train the default zoo models that are not cached yet "
                                                        "(copied from the shipped weights where their key matches; "
                                                        "STITCHTEST_PRETRAINED=0: trained here)")
    z.add_argument("--export-pretrained", metavar="DIR", default=None,
                   help="write the default zoo models (trained here where the cache lacks them, never copied from "
                        "the shipped weights) to DIR as shipped weights, replacing DIR's entries; the package's "
                        "are in stitchtest/models/pretrained")
    z.add_argument("--cache", default=None, help="cache directory (default: $STITCHTEST_CACHE or ~/.cache/stitchtest)")
    z.add_argument("--device", default=None, help="auto, cpu, cuda or cuda:N")
    z.set_defaults(func=cmd_zoo)
    r = sub.add_parser("report", help="re-render markdown reports from a results directory (no recomputation)")
    r.add_argument("results", help="directory with results-*.jsonl (pytest's --stitch-results-dir, default results/), "
                                   "or a baseline file")
    r.add_argument("-o", "--output", default="reports", help="report directory (default: reports/)")
    r.set_defaults(func=cmd_report)
    m = sub.add_parser("methods", help="list registered objectives and measures and where they come from")
    m.set_defaults(func=cmd_methods)
    c = sub.add_parser("compare", help="compare results with a baseline: changed checks, moved readouts; "
                                       "exit 1 on a regression")
    c.add_argument("new", help="the run to judge: a results directory or a baseline file")
    c.add_argument("baseline", help="what it is judged against: a baseline file (pytest --stitch-save-baseline) "
                                    "or a results directory")
    c.add_argument("--tol", type=float, default=DEFAULT_TOL,
                   help=f"list readouts that moved by more than this, absolute (default: {DEFAULT_TOL})")
    c.add_argument("--fail-on-drift", action="store_true",
                   help="a readout that moved beyond --tol is a regression too (exit 1)")
    c.set_defaults(func=cmd_compare)
    cm = sub.add_parser("check-measure", help="run the invariance property checks on a measure and say which "
                                              "claims hold; exit 1 if one it claims breaks")
    cm.add_argument("name", help="a registered measure, or module:Name (a Measure or a function f(x, y) -> float)")
    cm.add_argument("--trials", type=positive_int, default=10, help="random representation pairs per property (default: 10)")
    cm.set_defaults(func=cmd_check_measure)
    e = sub.add_parser("export", help="write result rows as CSV: one line per cell and readout, ids parsed into "
                                      "columns (testbed, method, sender/receiver arch, width, seed, regime, cut, ...)")
    e.add_argument("results", help="a results directory (results-*.jsonl) or a baseline file")
    e.add_argument("--csv", required=True, help="the CSV file to write")
    e.set_defaults(func=cmd_export)
    argv = sys.argv[1:] if argv is None else list(argv)
    importable_cwd()
    log_to_stderr()
    if argv[:1] == ["audit"]:  # everything after it is pytest's, --help included
        return cmd_audit(None, argv[1:])
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ResultsError, UsageError) as e:  # a malformed or mismatched file, a bad argument: the message names it
        print(f"stitchtest {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
