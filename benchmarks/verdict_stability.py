"""Do two runs of the same audit reach the same verdicts? Checks and claims, side by side.

Why. A verdict that flips with the CPU that ran it, or with the precision the probe picked, was
within noise and must come out undecided on both (#30). Two results folders of the same plan --
bf16 against fp32 stitches (``--stitch-precision``), or one CPU against another -- are compared
here: a check or claim *decided* in both (check: it held or it did not; claim: reproduced or
refuted) must agree; one decided in one run and undecided in the other is allowed (the other run
saw it within noise); two decided verdicts that differ are a defect, and the script exits 1.

Usage::

    python benchmarks/verdict_stability.py RESULTS_A RESULTS_B [--labels bf16,fp32]

Prints markdown tables (for reports/performance.md): the counts, then every check and claim
whose verdict differs between the runs, with both figures.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from typing import Dict, List, Optional, Tuple

from tabulate import tabulate

from stitchtest.audit import claims as claims_mod
from stitchtest.records.results import load_rows
from stitchtest.records.rows import CheckRow, RunSettings, run_of

#: a check's outcome as a verdict on whether the property holds (``reported`` checks decide nothing)
HOLDS = {"pass": "holds", "unexpected-pass": "holds", "fail": "fails", "known-fail": "fails",
         "undecided": "undecided"}
DECIDED_CLAIM = (claims_mod.REPRODUCED, claims_mod.REFUTED)


def _load(folder: str) -> Tuple[List[CheckRow], Optional[RunSettings]]:
    rows = load_rows(folder)
    run = run_of(rows)
    settings = run.settings if run is not None else None
    return [r for r in rows if isinstance(r, CheckRow)], settings


def check_verdicts(rows: List[CheckRow]) -> Dict[Tuple[str, str, str], Tuple[str, str]]:
    """``(testbed, check, method)`` -> (holds / fails / undecided, figure), reported checks left out."""
    return {(r.testbed, r.check, r.method): (HOLDS[r.outcome], r.figure) for r in rows if r.outcome in HOLDS}


def claim_verdicts(rows: List[CheckRow], settings: Optional[RunSettings]) -> Dict[str, Tuple[str, str]]:
    """claim id -> (verdict, figure), judged as the run's own report judges them."""
    scale = settings.scale if settings else "smoke"
    chance = 1.0 / settings.num_classes if settings and settings.num_classes else None
    n_test = claims_mod.test_set_size(settings.data) if settings else None
    return {v.key: (v.verdict, v.figure) for v in claims_mod.judge_all(rows, scale, chance=chance, test_images=n_test)
            if v.verdict != claims_mod.NOT_AUDITED}


def compare(a: Dict, b: Dict, decided) -> Tuple[Counter, List[list]]:
    """Counts of same / decided-vs-undecided / both decided but different, and the differing rows."""
    counts: Counter = Counter()
    differ = []
    for key in sorted(set(a) & set(b)):
        (va, fa), (vb, fb) = a[key], b[key]
        if va == vb:
            counts["same verdict"] += 1
            continue
        kind = ("DECIDED BOTH WAYS" if va in decided and vb in decided else "decided in one run only")
        counts[kind] += 1
        differ.append([kind, " / ".join(key) if isinstance(key, tuple) else key, va, vb, fa, fb])
    counts["only in one run"] = len(set(a) ^ set(b))
    return counts, differ


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--labels", default="A,B", help="names of the two runs, comma-separated (default: A,B)")
    args = p.parse_args(argv)
    la, lb = args.labels.split(",")
    (rows_a, set_a), (rows_b, set_b) = _load(args.a), _load(args.b)
    worst = 0
    for what, va, vb, decided in (
            ("checks", check_verdicts(rows_a), check_verdicts(rows_b), ("holds", "fails")),
            ("claims", claim_verdicts(rows_a, set_a), claim_verdicts(rows_b, set_b), DECIDED_CLAIM)):
        counts, differ = compare(va, vb, decided)
        print(f"\n### {what}: {la} against {lb}\n")
        print(tabulate(sorted(counts.items()), headers=["", "count"], tablefmt="github"))
        if differ:
            print()
            print(tabulate([[d[0], d[1], d[2], d[3], d[4][:120], d[5][:120]] for d in differ],
                           headers=["", what[:-1], la, lb, f"figure ({la})", f"figure ({lb})"], tablefmt="github"))
        worst = max(worst, counts["DECIDED BOTH WAYS"])
    return 1 if worst else 0


if __name__ == "__main__":
    sys.exit(main())
