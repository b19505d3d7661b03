"""The ``stitchtest`` command: inspect the zoo and the registered methods."""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from tabulate import tabulate


def default_zoo_specs():
    """The models the default (smoke) testbeds use most: three seeds of each regime on digits."""
    from .zoo import ModelSpec

    base = ModelSpec()
    return [base.replace(seed=s, regime=r) for r in ("standard", "random", "adversarial", "shortcut") for s in range(3)]


def cmd_zoo(args) -> int:
    from .zoo import Zoo

    zoo = Zoo(args.cache, device=args.device, log=lambda s: print(s, file=sys.stderr, flush=True))
    if args.prune:
        removed = zoo.prune()
        print(f"pruned {len(removed)} files" + "".join(f"\n  {p}" for p in removed))
    if args.train:
        for spec in default_zoo_specs():
            zoo.get(spec)
    rows = [[e["spec"], f"{e['clean_accuracy']:.3f}", f"{e['robust_accuracy']:.3f}",
             f"{e.get('cue_free_accuracy', float('nan')):.3f}", f"{e['train_seconds']:.1f}", e["device"]]
            for e in zoo.entries()]
    print(f"zoo at {zoo.root}: {len(rows)} models")
    print(tabulate(rows, headers=["model", "clean acc", "robust acc", "cue-free acc", "train s", "device"],
                   tablefmt="github"))
    return 0


def cmd_methods(args) -> int:
    from .measures import MEASURES
    from .objectives import OBJECTIVES

    rows = [[n, "objective", o] for n, o in OBJECTIVES.origins().items()]
    rows += [[n, "measure", o] for n, o in MEASURES.origins().items()]
    print(tabulate(rows, headers=["method", "kind", "from"], tablefmt="github"))
    return 0


def cmd_report(args) -> int:
    """Re-render the reports from stored rows, without recomputing anything."""
    from pathlib import Path

    from .report import write_reports
    from .results import load_rows

    rows = load_rows(Path(args.results))
    if not rows:
        print(f"no result rows in {args.results}", file=sys.stderr)
        return 1
    paths = write_reports(rows, Path(args.output), {"command": "stitchtest report " + args.results,
                                                     "source": args.results})
    print(f"{len(rows)} rows -> {len(paths)} files in {args.output}")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="stitchtest", description="Audit functional-similarity methods.")
    sub = parser.add_subparsers(dest="command", required=True)
    z = sub.add_parser("zoo", help="list cached models (--train: train the default zoo first; --prune: clean up)")
    z.add_argument("--prune", action="store_true",
                   help="delete temporary, partial, corrupt and outdated-recipe entries from the cache")
    z.add_argument("--train", action="store_true", help="train the default zoo models that are not cached yet")
    z.add_argument("--cache", default=None, help="cache directory (default: $STITCHTEST_CACHE or ~/.cache/stitchtest)")
    z.add_argument("--device", default=None, help="auto, cpu, cuda or cuda:N")
    z.set_defaults(func=cmd_zoo)
    r = sub.add_parser("report", help="re-render markdown reports from a results directory (no recomputation)")
    r.add_argument("results", help="directory with results-*.jsonl (default of pytest --results-dir: results/)")
    r.add_argument("-o", "--output", default="reports", help="report directory (default: reports/)")
    r.set_defaults(func=cmd_report)
    m = sub.add_parser("methods", help="list registered objectives and measures and where they come from")
    m.set_defaults(func=cmd_methods)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
