"""Pipeline benchmark: the library's stitching pipeline against a naive reference (issue #5).

Why. stitchtest claims two things about how it trains a stitch (README, "Architecture"):
frozen activations are computed once per model and data view and shared by every cell and
method (``Context``), and every stitch starts from the least-squares solution, so a small step
budget suffices (``stitching.fit_stitch``). This script measures what those choices buy, in
cells per second, and whether they change the answer (stitched test accuracy), against the
pipeline one would write from a paper without them.

What. One full cross-layer matrix of the default zoo: R1111 width 8 on digits, A (seed 0) at
every spatial cut -> B (seed 1) at every spatial cut (5 x 5 = 25 cells), with TLM, FuLA and DM,
computed two ways:

1. library: ``methods.get(name).evaluate(ctx, Cell(A, i, B, j))`` with one shared
   ``Context(zoo, StitchConfig(steps=S))`` (frozen activations computed once; least-squares
   initialisation; DM is the closed-form least-squares stitch, no SGD);
2. naive reference, written out below: one stitch at a time, random (PyTorch default)
   initialisation, a ``DataLoader`` over the training images (shuffle, batch 128), the frozen
   sender prefix -- and the receiver's targets where the loss needs them -- recomputed under
   ``no_grad`` at every step, fp32, Adam lr 1e-3 with a cosine schedule for the same S steps;
   TLM = cross-entropy, FuLA = the README formula (``objectives.FuLA().loss``), DM = SGD on the
   normalised MSE at the stitch cut (``objectives.DM(sgd=True)``).

Both are scored the same way: the stitched network's accuracy on the test images. The script
prints cells/s per objective and overall, the speed ratio, per-objective agreement of the
accuracies (max |difference|, cells within 1 point), and closed-form DM against SGD DM at equal
budget. It asserts nothing: a random-init stitch with the same budget being worse is a finding.

How. ``torch.set_num_threads`` is set from ``--threads`` (default 2). Models come from the zoo
cache (trained in seconds if missing) and are loaded before any timing starts.

    python benchmarks/pipeline.py [--steps 200] [--objectives tlm,fula,dm] [--cells 25] [--threads 2]
                                  [--write-report reports/performance.md]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from typing import Dict, List, Tuple

import torch
from tabulate import tabulate
from torch.utils.data import DataLoader, TensorDataset

from stitchtest import methods
from stitchtest.cells import Cell
from stitchtest.context import Context
from stitchtest.models import CutModel
from stitchtest.objectives import DM, TLM, Batch, FuLA, Objective
from stitchtest.stitch import Stitch
from stitchtest.stitching import StitchConfig
from stitchtest.zoo import ModelSpec, Zoo, training_data

# The naive pipeline's losses: the objective classes' own ``loss`` on a Batch built here by hand.
NAIVE = {"tlm": TLM(), "fula": FuLA(), "dm": DM(sgd=True)}


# ----------------------------------------------------------------------------------------------
# 1. the library pipeline
# ----------------------------------------------------------------------------------------------

def library_pipeline(zoo: Zoo, steps: int, names: List[str], cells: List[Cell]):
    """Accuracy per (objective, cell) and seconds per objective; plus the shared precompute."""
    ctx = Context(zoo, StitchConfig(steps=steps))
    # The frozen activations every cell shares: A's and B's full traces on train and test images.
    # Timed on their own so that per-objective figures do not depend on which objective runs first.
    t = time.perf_counter()
    for split in ("train", "test"):
        ctx.pair(cells[0], split)
    precompute = time.perf_counter() - t
    acc: Dict[Tuple[str, Cell], float] = {}
    seconds: Dict[str, float] = {}
    for name in names:
        method = methods.get(name)
        t = time.perf_counter()
        for cell in cells:
            acc[name, cell] = method.evaluate(ctx, cell)["accuracy"]
        seconds[name] = time.perf_counter() - t
        print(f"  library {name:5s} {len(cells)} cells in {seconds[name]:6.1f} s", flush=True)
    return acc, seconds, precompute


# ----------------------------------------------------------------------------------------------
# 2. the naive reference pipeline
# ----------------------------------------------------------------------------------------------

def naive_stitch(objective: Objective, sender: CutModel, i: str, receiver: CutModel, j: str,
                 x_train: torch.Tensor, y_train: torch.Tensor, steps: int, seed: int = 0) -> Stitch:
    """Train one stitch A@i -> B@j the straightforward way: recompute everything every step."""
    torch.manual_seed(seed)
    shape = x_train.shape[1:]
    stitch = Stitch(sender.cut_shapes(shape)[i], receiver.cut_shapes(shape)[j])  # PyTorch default init
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=128, shuffle=True)
    opt = torch.optim.Adam(stitch.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, steps))
    hints = objective.hint_cuts(receiver, j)
    needs_targets = bool(hints) or objective.needs_receiver_logits
    stitch.train()
    step = 0
    while step < steps:
        for x, y in loader:
            if step == steps:
                break
            with torch.no_grad():
                a = sender.prefix(x, i)  # the frozen sender, recomputed every step
                g = receiver.trace(x) if needs_targets else None  # the receiver's own activations
            h = stitch(a)
            acts = {j: h, **receiver.trace(h, j)}
            loss = objective.loss(Batch(
                labels=y,
                stitched_logits=acts["logits"],
                stitched_acts={c: acts[c] for c in hints},
                receiver_logits=g["logits"] if objective.needs_receiver_logits else None,
                receiver_acts={c: g[c] for c in hints} if hints else None,
            ))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
    stitch.eval()
    return stitch


@torch.no_grad()
def naive_accuracy(sender: CutModel, i: str, stitch: Stitch, receiver: CutModel, j: str,
                   x_test: torch.Tensor, y_test: torch.Tensor, batch_size: int = 500) -> float:
    """Stitched test accuracy with a plain loop: sender prefix -> stitch -> receiver suffix."""
    correct = 0
    for k in range(0, len(x_test), batch_size):
        logits = receiver.suffix(stitch(sender.prefix(x_test[k:k + batch_size], i)), j)
        correct += (logits.argmax(1) == y_test[k:k + batch_size]).sum().item()
    return correct / len(x_test)


def naive_pipeline(zoo: Zoo, steps: int, names: List[str], cells: List[Cell]):
    ds = training_data(cells[0].receiver, zoo.device)
    acc: Dict[Tuple[str, Cell], float] = {}
    seconds: Dict[str, float] = {}
    for name in names:
        t = time.perf_counter()
        for cell in cells:
            sender, receiver = zoo.model(cell.sender), zoo.model(cell.receiver)
            stitch = naive_stitch(NAIVE[name], sender, cell.sender_cut, receiver, cell.receiver_cut,
                                  ds.x_train, ds.y_train, steps)
            acc[name, cell] = naive_accuracy(sender, cell.sender_cut, stitch, receiver, cell.receiver_cut,
                                             ds.x_test, ds.y_test)
        seconds[name] = time.perf_counter() - t
        print(f"  naive   {name:5s} {len(cells)} cells in {seconds[name]:6.1f} s", flush=True)
    return acc, seconds


# ----------------------------------------------------------------------------------------------
# 3. run both, compare, report
# ----------------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200, help="Adam steps per stitch, both pipelines (200)")
    ap.add_argument("--objectives", default="tlm,fula,dm", help="comma-separated subset of tlm,fula,dm")
    ap.add_argument("--cells", type=int, default=25, help="compute only the first N of the 25 cells")
    ap.add_argument("--width", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    ap.add_argument("--write-report", default="", help="also write the figures as markdown to this path")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    names = [n.strip() for n in args.objectives.split(",") if n.strip()]
    unknown = [n for n in names if n not in NAIVE]
    if unknown:
        ap.error(f"unknown objective(s) {unknown}; this benchmark knows {', '.join(NAIVE)}")

    zoo = Zoo()
    a, b = ModelSpec(width=args.width, seed=0), ModelSpec(width=args.width, seed=1)
    t = time.perf_counter()
    zoo.model(a), zoo.model(b)  # load (or train) before any timing
    print(f"models ready in {time.perf_counter() - t:.1f} s", flush=True)
    cuts = zoo.model(a).spatial_cuts
    cells = [Cell(a, i, b, j) for i in cuts for j in cuts][: args.cells]

    start = time.perf_counter()
    print(f"library pipeline ({len(cells)} cells, {args.steps} steps):", flush=True)
    lib_acc, lib_s, precompute = library_pipeline(zoo, args.steps, names, cells)
    print(f"  shared activation precompute {precompute:.2f} s")
    print(f"naive pipeline ({len(cells)} cells, {args.steps} steps):", flush=True)
    naive_acc, naive_s = naive_pipeline(zoo, args.steps, names, cells)
    total = time.perf_counter() - start

    n = len(cells)
    # Speed. The library's overall time includes the shared precompute once.
    speed = []
    for name in names:
        speed.append([name, f"{n / lib_s[name]:.2f}", f"{n / naive_s[name]:.2f}", f"{naive_s[name] / lib_s[name]:.1f}x"])
    lib_total, naive_total = sum(lib_s.values()) + precompute, sum(naive_s.values())
    speed.append(["overall", f"{n * len(names) / lib_total:.2f}", f"{n * len(names) / naive_total:.2f}",
                  f"{naive_total / lib_total:.1f}x"])
    speed_headers = ["objective", "library cells/s", "naive cells/s", "speed-up"]

    # Agreement of stitched test accuracy.
    agree = []
    for name in names:
        d = [lib_acc[name, c] - naive_acc[name, c] for c in cells]
        m_lib = sum(lib_acc[name, c] for c in cells) / n
        m_naive = sum(naive_acc[name, c] for c in cells) / n
        agree.append([name, f"{m_lib:.3f}", f"{m_naive:.3f}", f"{max(abs(x) for x in d) * 100:.1f}",
                      f"{sum(x for x in d) / n * 100:+.1f}", f"{sum(abs(x) <= 0.01 for x in d)}/{n}"])
    agree_headers = ["objective", "library mean acc", "naive mean acc", "max abs diff (points)",
                     "mean diff lib-naive (points)", "cells within 1 point"]

    # Per-cell accuracies.
    cell_rows = [[f"{c.sender_cut} -> {c.receiver_cut}"]
                 + [f"{lib_acc[nm, c]:.3f} / {naive_acc[nm, c]:.3f}" for nm in names] for c in cells]
    cell_headers = ["cell (A -> B)"] + [f"{nm} library / naive" for nm in names]

    # Closed-form DM against SGD DM (the naive DM) at the same budget.
    dm_rows = []
    if "dm" in names:
        dm_rows = [
            ["closed form (library)", f"{lib_s['dm']:.1f}", f"{n / lib_s['dm']:.2f}",
             f"{sum(lib_acc['dm', c] for c in cells) / n:.3f}"],
            [f"SGD, random init, {args.steps} steps (naive)", f"{naive_s['dm']:.1f}", f"{n / naive_s['dm']:.2f}",
             f"{sum(naive_acc['dm', c] for c in cells) / n:.3f}"],
        ]
    dm_headers = ["DM", "seconds", "cells/s", "mean stitched acc"]

    machine = (f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, "
               f"{torch.get_num_threads()} threads, Python {platform.python_version()}")
    command = "python " + " ".join(sys.argv)
    print()
    print(f"{machine}; {len(cells)} cells; steps {args.steps}; total {total:.1f} s "
          f"(+ shared precompute {precompute:.2f} s included in the library's overall)")
    print(tabulate(speed, headers=speed_headers, tablefmt="github"))
    print()
    print(tabulate(agree, headers=agree_headers, tablefmt="github"))
    if dm_rows:
        print()
        print(f"closed-form DM vs SGD DM: {naive_s['dm'] / lib_s['dm']:.1f}x faster")
        print(tabulate(dm_rows, headers=dm_headers, tablefmt="github"))
    print()
    print(tabulate(cell_rows, headers=cell_headers, tablefmt="github"))

    if args.write_report:
        with open(args.write_report, "w") as f:
            f.write(f"<!-- generated by: {command} -->\n")
            f.write(f"machine: {machine}; cells: {len(cells)}; steps: {args.steps}; wall time of both pipelines: "
                    f"{total:.1f} s; shared precompute: {precompute:.2f} s\n\n")
            for rows, headers in ((speed, speed_headers), (agree, agree_headers), (dm_rows, dm_headers),
                                  (cell_rows, cell_headers)):
                if rows:
                    f.write(tabulate(rows, headers=headers, tablefmt="github") + "\n\n")


if __name__ == "__main__":
    main()
