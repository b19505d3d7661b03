"""Convergence study: how many Adam steps a least-squares-initialised stitch needs.

For a few representative cells (diagonal, deep-to-shallow, shallow-to-deep) of the default zoo
(digits, R1111 width 16, trained A -> trained B), trains stitches with TLM, SLM and FuLA at
growing step budgets and prints stitched test accuracy and latent error. The default budget is
the smallest one after which accuracy moves by less than 0.5 points.

    python benchmarks/convergence.py [--data digits] [--budgets 0,50,100,200,300,500,1000]
"""
from __future__ import annotations

import argparse
import time

import torch
from tabulate import tabulate

from stitchtest import methods
from stitchtest.cells import Cell
from stitchtest.context import Context
from stitchtest.data import DataSpec
from stitchtest.stitching import StitchConfig
from stitchtest.zoo import ModelSpec, Zoo


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="digits")
    ap.add_argument("--width", type=int, default=8)
    ap.add_argument("--budgets", default="0,50,100,200,300,500,1000")
    ap.add_argument("--objectives", default="tlm,slm,fula")
    args = ap.parse_args()
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
