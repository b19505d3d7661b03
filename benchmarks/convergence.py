"""Convergence study: how many Adam steps a least-squares-initialised stitch needs.

For a few representative cells (diagonal, deep-to-shallow, shallow-to-deep) of the default zoo
(digits, R1111 width 16, trained A -> trained B), trains stitches with TLM, SLM and FuLA at
growing step budgets and prints stitched test accuracy and latent error. The default budget is
the smallest one after which accuracy moves by less than 0.5 points.

    python benchmarks/convergence.py [--data digits] [--budgets 0,50,100,200,300,500,1000]

``--plateau 0.01,0.02`` instead compares the convergence stop (``StitchConfig.plateau``: a stitch
stops once its windowed training loss improves by less than that, relative) with the full budget
on the whole 5 x 5 matrix of every objective and ``--pairs`` seed pairs: steps taken, time, and how
far stitched accuracy moved (max and mean |difference|, cells within one point), beside the
seed-to-seed spread of the full-budget accuracy (the noise a stop has to stay within).

``--schedules 200:1e-3,100:2e-3,50:4e-3`` compares step budgets at their own learning rates the
same way (the first is the reference), and adds what the cross-layer testbed decides from each
matrix: the triangle score and layer monotonicity on accuracy, per seed pair. Why: fewer steps at
the default rate under-train the stitch and flip exactly those checks (reports/performance.md,
the budget study of 2026-12-01); a larger rate might reach the same stitch in fewer steps.
"""
from __future__ import annotations

import argparse
import time

import torch
from tabulate import tabulate

from stitchtest.engine import methods
from stitchtest.engine.cells import Cell
from stitchtest.engine.context import Context
from stitchtest.data import DataSpec
from stitchtest.stitching import StitchConfig
from stitchtest.models.zoo import ModelSpec, Zoo


def plateau_study(args) -> None:
    """Full budget vs the convergence stop, per objective, on full matrices of several seed pairs."""
    import statistics

    data = DataSpec.parse(args.data)
    zoo = Zoo()
    pairs = [(ModelSpec(data=data, width=args.width, seed=k), ModelSpec(data=data, width=args.width, seed=100 + k))
             for k in range(args.pairs)]
    cuts = zoo.model(pairs[0][0]).spatial_cuts
    cells = [Cell(a, i, b, j) for a, b in pairs for i in cuts for j in cuts]
    budgets = [0.0] + [float(p) for p in args.plateau.split(",")]
    rows = []
    for name in args.objectives.split(","):
        method = methods.get(name)
        full = None
        for plateau in budgets:
            ctx = Context(zoo, StitchConfig(steps=args.steps, plateau=plateau, window=args.window))
            for c in cells[:: len(cuts) ** 2]:  # frozen traces first, so the timing is the stitches'
                ctx.pair(c, "train"), ctx.pair(c, "test")
            t = time.perf_counter()
            r = method.evaluate_many(ctx, cells)
            seconds = time.perf_counter() - t
            acc = [x["accuracy"] for x in r]
            steps = statistics.mean(x.get("steps", 0) for x in r)
            if full is None:
                full = acc
                per_cell = [[acc[k * len(cuts) ** 2 + n] for k in range(args.pairs)] for n in range(len(cuts) ** 2)]
                spread = statistics.mean(statistics.stdev(v) for v in per_cell) if args.pairs > 1 else float("nan")
            diff = [abs(x - y) for x, y in zip(acc, full)]
            rows.append([name, plateau or "off (full budget)", f"{steps:.0f}", f"{seconds:.1f}",
                         f"{max(diff):.3f}", f"{statistics.mean(diff):.4f}",
                         f"{sum(d <= 0.01 for d in diff)}/{len(diff)}", f"{statistics.mean(acc):.3f}", f"{spread:.3f}"])
            print(tabulate([rows[-1]], tablefmt="plain"), flush=True)
    print()
    print(f"{len(cells)} cells per objective ({args.pairs} seed pairs x {len(cuts)}x{len(cuts)}), {data.string_id()}, "
          f"budget {args.steps} steps, window {args.window}, {torch.get_num_threads()} threads")
    print(tabulate(rows, headers=["objective", "plateau", "mean steps", "seconds", "max |Δ acc|", "mean |Δ acc|",
                                  "within 1 pt", "mean acc", "seed spread (std)"], tablefmt="github"))


def schedule_study(args) -> None:
    """Step budgets at their own learning rates against the first, on full matrices of several seed pairs."""
    import statistics

    import numpy as np

    from stitchtest.audit import checks

    data = DataSpec.parse(args.data)
    zoo = Zoo()
    pairs = [(ModelSpec(data=data, width=args.width, seed=k), ModelSpec(data=data, width=args.width, seed=100 + k))
             for k in range(args.pairs)]
    model = zoo.model(pairs[0][0])
    cuts = model.spatial_cuts
    depths = [model.depth(c) for c in cuts]
    n = len(cuts) ** 2
    cells = [Cell(a, i, b, j) for a, b in pairs for i in cuts for j in cuts]
    schedules = [(int(steps), float(lr)) for steps, lr in (s.split(":") for s in args.schedules.split(","))]
    rows = []
    for name in args.objectives.split(","):
        method = methods.get(name)
        full = None
        for steps, lr in schedules:
            ctx = Context(zoo, StitchConfig(steps=steps, lr=lr, batch_size=args.batch_size))
            for c in cells[::n]:  # frozen traces first, so the timing is the stitches'
                ctx.pair(c, "train"), ctx.pair(c, "test")
            t = time.perf_counter()
            acc = [x["accuracy"] for x in method.evaluate_many(ctx, cells)]
            seconds = time.perf_counter() - t
            full = full or acc
            diff = [abs(x - y) for x, y in zip(acc, full)]
            mats = [np.reshape(acc[k * n:(k + 1) * n], (len(cuts), len(cuts))) for k in range(args.pairs)]
            tri = [checks.triangle_score(m, depths, depths) for m in mats]
            mono = [checks.layer_monotonicity(m, depths, depths, 0.5).value for m in mats]
            rows.append([name, steps, lr, f"{seconds:.1f}", f"{max(diff):.3f}", f"{statistics.mean(diff):.4f}",
                         f"{sum(d <= 0.01 for d in diff)}/{len(diff)}", f"{statistics.mean(acc):.3f}",
                         " ".join(f"{x:.3f}" for x in tri), " ".join(f"{x:+.2f}" for x in mono)])
            print(tabulate([rows[-1]], tablefmt="plain"), flush=True)
    print()
    print(f"{len(cells)} cells per objective ({args.pairs} seed pairs x {len(cuts)}x{len(cuts)}), {data.string_id()}, "
          f"{args.batch_size} images a step, {torch.get_num_threads()} threads")
    print(tabulate(rows, headers=["objective", "steps", "lr", "seconds", "max |Δ acc|", "mean |Δ acc|", "within 1 pt",
                                  "mean acc", "triangle score per pair", "layer monotonicity per pair"],
                   tablefmt="github"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="digits")
    ap.add_argument("--width", type=int, default=8)
    ap.add_argument("--budgets", default="0,50,100,200,300,500,1000")
    ap.add_argument("--objectives", default="tlm,slm,fula")
    ap.add_argument("--plateau", default=None, help="compare these convergence stops with the full budget")
    ap.add_argument("--window", type=int, default=25)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--pairs", type=int, default=2, help="seed pairs for --plateau")
    ap.add_argument("--schedules", default=None, help="compare steps:lr budgets with the first, e.g. 200:1e-3,100:2e-3")
    ap.add_argument("--batch-size", type=int, default=64, help="images a step for --schedules (smoke's 64)")
    args = ap.parse_args()
    if args.schedules:
        return schedule_study(args)
    if args.plateau:
        return plateau_study(args)
    data = DataSpec.parse(args.data)
    zoo = Zoo()
    a, b = ModelSpec(data=data, width=args.width, seed=0), ModelSpec(data=data, width=args.width, seed=1)
    cuts = zoo.model(a).spatial_cuts
    pairs = [(cuts[1], cuts[1]), (cuts[3], cuts[3]), (cuts[4], cuts[1]), (cuts[4], cuts[2]), (cuts[1], cuts[3])]
    budgets = [int(s) for s in args.budgets.split(",")]
    rows = []
    for name in args.objectives.split(","):
        method = methods.get(name)
        for i, j in pairs:
            row = [name, f"{i}->{j}"]
            for steps in budgets:
                ctx = Context(zoo, StitchConfig(steps=steps))
                t = time.perf_counter()
                r = method.evaluate(ctx, Cell(a, i, b, j))
                row.append(f"{r['accuracy']:.3f} / {r['latent_error']:.2f} ({time.perf_counter() - t:.1f}s)")
            rows.append(row)
            print(tabulate([row], tablefmt="plain"), flush=True)
    print()
    print(f"stitched test accuracy / latent error (seconds), {data.string_id()}, {torch.get_num_threads()} threads")
    print(tabulate(rows, headers=["objective", "cell"] + [f"{s} steps" for s in budgets], tablefmt="github"))


if __name__ == "__main__":
    main()
