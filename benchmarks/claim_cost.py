"""What deciding the claims would cost: seed pairs needed per testbed, priced by a run's own cells.

Why. At the default scale most claims come out "undecided": three independent seed pairs cannot
give an exact one-sided p below 0.125, and Holm over all claims of a run needs about 11 (#29).
A scale that decides (#30) must buy those pairs where they are cheapest. This script reads a
results folder, judges its claims as the report does, and per testbed prints: the seed pairs the
run has and how many of them are independent (a ring pairing keeps ``n // 2``), the independent
pairs that decide every claim when all of the run's tested claims are in the Holm family
(:func:`stitchtest.audit.statistics.pairs_needed`), the seed pairs that means at the testbed's
pairing, and the cell-seconds of the run's own cells scaled to that many pairs. Then the same
when only the testbed's own claims are in Tarone's family (the claims table's default family
holds only the claims whose pairs can decide them, so a scale that buys pairs for one testbed
alone decides its claims at ``pairs_needed(alpha, 2 x its tested claims)``). Cells scale with
seed pairs within a testbed; a testbed's cells that do not (one-off exhibits) make the figure an
upper bound.

Usage::

    python benchmarks/claim_cost.py RESULTS_DIR

Cell-seconds are the rows' ``seconds`` (a worker's share of its group's wall time, so with more
workers than cores, per worker; name the CPU beside the figures).
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from typing import List, Optional

from tabulate import tabulate

from stitchtest.audit import claims as claims_mod
from stitchtest.audit import statistics as st
from stitchtest.records.results import load_rows
from stitchtest.records.rows import CellRow, CheckRow, run_of


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("results")
    args = p.parse_args(argv)
    rows = load_rows(args.results)
    run = run_of(rows)
    settings = run.settings if run is not None else None
    if settings is None:
        print(f"{args.results}: no run row, so no scale or chance level to judge the claims at", file=sys.stderr)
        return 2
    checks = [r for r in rows if isinstance(r, CheckRow)]
    verdicts = claims_mod.judge_all(checks, settings.scale,
                                    chance=1.0 / settings.num_classes if settings.num_classes else None,
                                    test_images=claims_mod.test_set_size(settings.data))
    tested = [v for v in verdicts if v.verdict in ("reproduced", "refuted", "undecided")]
    hypotheses = 2 * len(tested)
    family = max([v.detail.get("family", 0) for v in tested] or [0])
    needed = st.pairs_needed(st.ALPHA, max(1, hypotheses))
    seconds = defaultdict(float)
    for r in rows:
        if isinstance(r, CellRow):
            seconds[r.testbed] += float(r.readouts.get("seconds") or 0.0)
    by_testbed = defaultdict(list)
    for v in verdicts:
        by_testbed[v.testbed].append(v)
    table, total_now, total_then, total_own = [], 0.0, 0.0, 0.0
    for testbed in sorted(seconds):
        vs = [v for v in by_testbed.get(testbed, []) if v.pairs_total]
        now = seconds[testbed]
        total_now += now
        if not vs:
            table.append([testbed, 0, "-", "-", "-", "-", f"{now:,.0f}", "-", "-", "-"])
            total_then += now
            total_own += now
            continue
        pairs_total = max(v.pairs_total for v in vs)
        independent = min(v.pairs for v in vs if v.pairs_total == pairs_total)
        ring = any(v.detail.get("pairing") == "ring" for v in vs)
        per = 2 if ring else 1  # a ring of n pairs keeps n // 2 independent
        then = now * per * needed / pairs_total
        own_tested = sum(v.verdict in ("reproduced", "refuted", "undecided") for v in vs)
        own = st.pairs_needed(st.ALPHA, max(1, 2 * own_tested))
        alone = now * per * own / pairs_total
        total_then += then
        total_own += alone
        decided = sum(v.verdict in ("reproduced", "refuted") for v in vs)
        table.append([testbed, len(vs), decided, f"{pairs_total} ({independent} independent)", needed, per * needed,
                      f"{now:,.0f}", f"{then:,.0f} ({then / now:.1f}x)" if now else "-", own,
                      f"{alone:,.0f} ({alone / now:.1f}x)" if now else "-"])
    print(f"{hypotheses} hypotheses (both directions of the tested claims); Tarone's family this run: {family} of them. "
          f"All in one Holm family, the exact sign-flip test needs {needed} independent seed pairs all agreeing "
          f"to reach adjusted p < {st.ALPHA:g}; the testbed's claims alone in Tarone's family need the "
          f"'own family' pairs\n")
    print(tabulate(table, headers=["testbed", "claims judged", "decided", "seed pairs now", "independent needed",
                                   "seed pairs needed", "cell-s now", "cell-s to decide", "own family: independent",
                                   "own family: cell-s"], tablefmt="github"))
    print(f"\nall testbeds: {total_now:,.0f} cell-s now, {total_then:,.0f} cell-s at the pairs that could decide "
          f"({total_then / max(total_now, 1e-9):.1f}x); {total_own:,.0f} cell-s ({total_own / max(total_now, 1e-9):.1f}x) "
          f"if each testbed's claims were decided in a family of their own (one testbed at a time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
