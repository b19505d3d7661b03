"""Does the default budget train hints-only FuLA (the authors' ``fula``) to its plateau?

Trains ``fula`` at several step budgets on a few cells of the default zoo (smoke: digits, R1111
width 8, 64 images a step) and prints held-out readouts per budget, averaged over the cells: the
stitched network's test accuracy, its hard and soft agreement with the receiver (``agreement``,
the authors' ``agreement_prob``) and FuLA's own distance on the test images (the mean over hint
cuts of ``sqrt(latent_error@cut)``, i.e. their ratio). Each budget is a complete run: the authors'
step schedule (x0.1 at 1/3 and 2/3) is laid over that budget, and the objective's own minimum
budget (``epochs``: 30 for ``fula``) is switched off so the steps are exactly the budget's.

    python benchmarks/fula_convergence.py [--budgets 0,50,100,200,400,800] [--objective fula] [--pairs 2]
    python benchmarks/fula_convergence.py --scale small --data ../shared/data/mnist --budgets 450,1350

The figures are recorded in docs/lab/fula-convergence.md.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import time

import torch
from tabulate import tabulate

from stitchtest.audit.scales import SCALES
from stitchtest.data import DataSpec
from stitchtest.engine import methods
from stitchtest.engine.cells import Cell
from stitchtest.engine.context import Context
from stitchtest.models.zoo import Zoo
from stitchtest.stitching import StitchConfig
from stitchtest.stitching.objectives import OBJECTIVES

#: diagonal shallow and deep, deep -> shallow, shallow -> deep (sender cut, receiver cut)
CUTS = (("layer1.0", "layer1.0"), ("layer3.0", "layer3.0"), ("layer4.0", "layer1.0"), ("layer1.0", "layer3.0"))


def ratio(r: dict, cut: str = "") -> float:
    """FuLA's distance on the test images: the mean over hint cuts of ||h - g||_F / ||g||_F."""
    errors = [math.sqrt(v) for k, v in r.items() if k.startswith("latent_error@")]
    return statistics.mean(errors)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budgets", default="0,50,100,200,400,800")
    ap.add_argument("--objective", default="fula")
    ap.add_argument("--pairs", type=int, default=2, help="seed pairs (2k -> 2k + 1)")
    ap.add_argument("--scale", default="smoke")
    ap.add_argument("--data", default="digits", help="a data set name or directory, as --stitch-data; read "
                                                     "as the scale reads it (its image side and image counts)")
    args = ap.parse_args()
    scale = SCALES[args.scale]
    data = scale.data(DataSpec.parse(args.data))
    zoo = Zoo()
    cells = [Cell(scale.spec(data, seed=2 * k), i, scale.spec(data, seed=2 * k + 1), j)
             for k in range(args.pairs) for i, j in CUTS]
    method = methods.wrap(dataclasses.replace(OBJECTIVES.get(args.objective)(), epochs=None))
    rows, per_cell = [], []
    for steps in (int(s) for s in args.budgets.split(",")):
        ctx = Context(zoo, StitchConfig(steps=steps, batch_size=scale.batch_size))
        for c in cells:  # frozen traces first, so the timing is the stitches'
            ctx.pair(c, "train"), ctx.pair(c, "test")
        t = time.perf_counter()
        r = method.evaluate_many(ctx, cells)
        seconds = time.perf_counter() - t
        mean = {k: statistics.mean(x[k] for x in r) for k in ("accuracy", "agreement", "agreement_prob")}
        dist = statistics.mean(ratio(x, c.receiver_cut) for x, c in zip(r, cells))
        loss = statistics.mean(x.get("final_loss", float("nan")) for x in r)
        rows.append([steps, f"{mean['accuracy']:.4f}", f"{mean['agreement']:.4f}", f"{mean['agreement_prob']:.4f}",
                     f"{dist:.4f}", f"{loss:.4f}", f"{seconds:.0f}"])
        per_cell.append([steps] + [f"{x['accuracy']:.3f}/{ratio(x, c.receiver_cut):.3f}" for x, c in zip(r, cells)])
        print(tabulate([rows[-1]], tablefmt="plain"), flush=True)
    print()
    print(f"{method.string_id()}, {len(cells)} cells ({args.pairs} seed pairs x {len(CUTS)} cuts), "
          f"{scale.name}: {data.string_id()}, {scale.arch} width {scale.width}, {scale.batch_size} images a step, "
          f"{torch.get_num_threads()} threads")
    print(tabulate(rows, headers=["steps", "test accuracy", "agreement", "agreement_prob", "test ratio (FuLA loss)",
                                  "final train loss", "seconds"], tablefmt="github"))
    print()
    print("per cell: test accuracy / test ratio")
    print(tabulate(per_cell, headers=["steps"] + [f"s{c.sender.seed}:{c.sender_cut}->{c.receiver_cut}" for c in cells],
                   tablefmt="github"))


if __name__ == "__main__":
    main()
