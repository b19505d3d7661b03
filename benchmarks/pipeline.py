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

1. library: ``methods.get(name).evaluate_many(ctx, all cells)`` with one shared
   ``Context(zoo, StitchConfig(steps=S))``, exactly as a testbed computes a matrix: frozen
   activations computed once (by inference copies with BatchNorm folded in, channels-last);
   least-squares initialisation; the stitches into one receiver cut trained together through one
   pass of the shared suffix (``--group``), and on a CPU as many receiver cuts at once as there are
   threads, one intra-op thread each (``--concurrent-groups``, default auto; 1 = one at a time);
   bf16 autocast where the hardware multiplies bf16 (``--precision``, default ``auto``: CUDA, CPUs
   with AVX512-BF16 or AMX); DM is the closed-form least-squares stitch, no SGD;
2. naive reference, written out below: one stitch at a time, random (PyTorch default)
   initialisation, a ``DataLoader`` over the training images (shuffle, batch 128), the frozen
   sender prefix -- and the receiver's targets where the loss needs them -- recomputed under
   ``no_grad`` at every step, fp32, Adam lr 1e-3 with a cosine schedule for the same S steps;
   TLM = cross-entropy, FuLA = the README formula (``objectives.FuLA().loss``), DM = SGD on the
   normalised MSE at the stitch cut (``objectives.DM(sgd=True)``).

Both are scored the same way: the stitched network's accuracy on the test images. The script
prints cells/s per objective and overall, the speed ratio, per-objective agreement of the
accuracies (max |difference|, cells within 1 point), and closed-form DM against SGD DM at equal
budget, and judges the issues' targets (ratio >= 10x, #13; closed-form DM >= 50x SGD DM at equal or
better accuracy, every cell within 1 point) in a table. It asserts nothing: a random-init stitch
with the same budget being worse is a finding.

How. ``torch.set_num_threads`` is set from ``--threads`` (default 2). Models come from the zoo
cache (trained in seconds if missing) and are loaded before any timing starts.

    python benchmarks/pipeline.py [--steps 200] [--naive-steps N] [--objectives tlm,fula,dm] [--cells 25] [--threads 2]
                                  [--group 8] [--write-report reports/performance-run.md]
    python benchmarks/pipeline.py --memory     # the activation-cache size formula, default and paper scale
    python benchmarks/pipeline.py --scaling    # full-matrix time as cuts and data grow (library only)
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from typing import Dict, List, Tuple

import torch
from tabulate import tabulate
from torch.utils.data import DataLoader, TensorDataset

from stitchtest.runtime import precision as precision_probe
from stitchtest.runtime import concurrency, devices
from stitchtest.engine import methods
from stitchtest.engine.cells import Cell
from stitchtest.engine.context import Context
from stitchtest.data import Dataset
from stitchtest.models import CutModel
from stitchtest.stitching.objectives import DM, TLM, Batch, FuLA, Objective
from stitchtest.stitching.stitch import Stitch
from stitchtest.stitching import StitchConfig
from stitchtest.models.zoo import ModelSpec, Zoo, training_data

# The naive pipeline's losses: the objective classes' own ``loss`` on a Batch built here by hand.
NAIVE = {"tlm": TLM(), "fula": FuLA(), "dm": DM(sgd=True)}


# ----------------------------------------------------------------------------------------------
# 1. the library pipeline
# ----------------------------------------------------------------------------------------------

def library_cells(ctx: Context, name: str, cells: List[Cell]) -> List[float]:
    """Cells the library's way (as ``Audit.cells`` does): shared frozen activations, least-squares
    init, the stitches into one receiver cut trained together, groups at once where threads allow."""
    return [r["accuracy"] for r in methods.get(name).evaluate_many(ctx, cells)]


def library_context(zoo: Zoo, config: StitchConfig, cell: Cell) -> Tuple[Context, float]:
    """One context for every cell and objective, with A's and B's full traces (train and test)
    computed up front and timed on their own, so no objective's figure depends on running first."""
    ctx = Context(zoo, config)
    t = time.perf_counter()
    for split in ("train", "test"):
        ctx.pair(cell, split)
    return ctx, time.perf_counter() - t


# ----------------------------------------------------------------------------------------------
# 2. the naive reference pipeline
# ----------------------------------------------------------------------------------------------

def naive_stitch(objective: Objective, sender: CutModel, i: str, receiver: CutModel, j: str,
                 x_train: torch.Tensor, y_train: torch.Tensor, steps: int, init: str = "random",
                 seed: int = 0) -> Stitch:
    """Train one stitch A@i -> B@j the straightforward way: recompute everything every step.

    ``init="least_squares"`` is a control only (``--naive-init``): it isolates the effect of the
    initialisation from the rest of the pipeline.
    """
    torch.manual_seed(seed)
    shape = x_train.shape[1:]
    stitch = Stitch(sender.cut_shapes(shape)[i], receiver.cut_shapes(shape)[j])  # PyTorch default init
    if init == "least_squares":
        with torch.no_grad():
            stitch.fit_least_squares(sender.prefix(x_train, i), receiver.prefix(x_train, j))
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


def naive_cell(zoo: Zoo, ds: Dataset, name: str, cell: Cell, steps: int, init: str = "random") -> float:
    """One cell the naive way, on ``ds`` (the receiver's data, loaded once, as the library does)."""
    sender, receiver = zoo.model(cell.sender), zoo.model(cell.receiver)
    stitch = naive_stitch(NAIVE[name], sender, cell.sender_cut, receiver, cell.receiver_cut,
                          ds.x_train, ds.y_train, steps, init)
    return naive_accuracy(sender, cell.sender_cut, stitch, receiver, cell.receiver_cut, ds.x_test, ds.y_test)


# ----------------------------------------------------------------------------------------------
# 3. run both, compare, report
# ----------------------------------------------------------------------------------------------

def memory_table() -> Tuple[List[list], List[str]]:
    """The cache-size formula (``context.trace_bytes``) at the default and the paper scale."""
    from stitchtest.engine.context import trace_bytes
    from stitchtest.models import build

    settings = [  # (scale, data, arch, width, channels, size, train, test)
        ("smoke (default)", "digits", "R1111", 8, 1, 16, 1400, 397),
        ("small", "MNIST", "R2222", 8, 1, 32, 8000, 2000),
        ("paper", "CIFAR-10", "resnet18", 64, 3, 32, 50000, 10000),
        ("paper", "CIFAR-10", "resnet34", 64, 3, 32, 50000, 10000),
    ]
    rows = []
    for scale, data, arch, width, ch, size, n_train, n_test in settings:
        model = build(arch, width, ch)
        per_image = trace_bytes(model, (ch, size, size), 1)
        fp32 = trace_bytes(model, (ch, size, size), n_train + n_test)
        fp16 = trace_bytes(model, (ch, size, size), n_train + n_test, torch.float16)
        rows.append([scale, data, f"{arch} w{width}", f"{n_train}+{n_test}", f"{per_image / 1e3:.1f} KB",
                     f"{fp32 / 2**30:.2f} GiB", f"{fp16 / 2**30:.2f} GiB", f"{2 * fp32 / 2**30:.2f} GiB"])
    headers = ["scale", "data", "model", "images (train+test)", "trace per image (fp32)",
               "one model, fp32", "one model, fp16", "one cell's pair, fp32"]
    return rows, headers


def scaling_table(steps: int, archs=("R1111", "R2222", "R3463"), sizes=(700, 1400)) -> Tuple[List[list], List[str]]:
    """Library time for a full cut x cut matrix (TLM and closed-form DM) as cuts and data grow."""
    from stitchtest.data import DataSpec

    zoo, rows = Zoo(), []
    for arch in archs:
        for n_train in sizes:
            data = DataSpec(n_train=n_train)
            a, b = ModelSpec(arch=arch, data=data, seed=0), ModelSpec(arch=arch, data=data, seed=1)
            zoo.model(a), zoo.model(b)
            cuts = zoo.model(a).spatial_cuts
            cells = [Cell(a, i, b, j) for i in cuts for j in cuts]
            ctx, precompute = library_context(zoo, StitchConfig(steps=steps), cells[0])
            times = {}
            for name in ("dm", "tlm"):
                t = time.perf_counter()
                library_cells(ctx, name, cells)
                times[name] = time.perf_counter() - t
            rows.append([arch, len(cuts), len(cells), n_train, f"{precompute:.1f}", f"{times['dm']:.1f}",
                         f"{times['tlm']:.1f}", f"{times['tlm'] / len(cells):.2f}"])
            print("  scaling", rows[-1], flush=True)
    headers = ["arch", "cuts", "cells", "train images", "precompute s", "DM matrix s", f"TLM matrix s ({steps} steps)",
               "TLM s per cell"]
    return rows, headers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200, help="Adam steps per library stitch (200)")
    ap.add_argument("--naive-steps", type=int, default=0,
                    help="Adam steps per naive stitch (default: --steps). A larger budget for the naive pipeline "
                         "asks what the library's least-squares start saves at equal accuracy")
    ap.add_argument("--objectives", default="tlm,fula,dm", help="comma-separated subset of tlm,fula,dm")
    ap.add_argument("--cells", type=int, default=25, help="compute only the first N of the 25 cells")
    ap.add_argument("--width", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    ap.add_argument("--group", type=int, default=StitchConfig().group,
                    help="library: stitches trained together per pass (StitchConfig.group; 1 = one at a time)")
    ap.add_argument("--concurrent-groups", type=int, default=StitchConfig().concurrent_groups,
                    help="library: receiver-cut groups computed at once in threads (StitchConfig.concurrent_groups; "
                         "0 = auto, one per thread on a CPU; 1 = one at a time)")
    ap.add_argument("--precision", default=StitchConfig().precision, choices=["auto", "fp32", "bf16"],
                    help="library: stitch training precision (StitchConfig.precision; the naive pipeline is fp32)")
    ap.add_argument("--naive-init", default="random", choices=["random", "least_squares"],
                    help="the naive stitch's initialisation; least_squares is a control, not the reference")
    ap.add_argument("--memory", action="store_true", help="print the activation-cache size table and exit")
    ap.add_argument("--scaling", action="store_true", help="run the scaling study (library only) and exit")
    ap.add_argument("--write-report", default="", help="also write the figures as markdown to this path")
    args = ap.parse_args()
    args.naive_steps = args.naive_steps or args.steps
    torch.set_num_threads(args.threads)
    extra: List[Tuple[List[list], List[str]]] = []
    if args.memory or args.scaling:
        extra.append(memory_table() if args.memory else scaling_table(args.steps))
        print(tabulate(extra[0][0], headers=extra[0][1], tablefmt="github"))
        _write(args.write_report, extra, "python " + " ".join(sys.argv), "")
        return
    names = [n.strip() for n in args.objectives.split(",") if n.strip()]
    unknown = [n for n in names if n not in NAIVE]
    if unknown:
        ap.error(f"unknown objective(s) {unknown}; this benchmark knows {', '.join(NAIVE)}")

    zoo = Zoo()
    a, b = ModelSpec(width=args.width, seed=0), ModelSpec(width=args.width, seed=1)
    t = time.perf_counter()
    zoo.model(a), zoo.model(b)  # load (or train) before any timing
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # its first use imports torch._dynamo (~1.5 s)
    print(f"models ready in {time.perf_counter() - t:.1f} s", flush=True)
    cuts = zoo.model(a).spatial_cuts
    cells = [Cell(a, i, b, j) for i in cuts for j in cuts][: args.cells]

    # Both pipelines, one objective at a time, interleaved: on a shared machine a burst of load
    # from another process then hits both alike, not whichever pipeline happened to be running.
    # The library gets the whole matrix in one call, as a testbed asks for it: it groups the cells
    # by receiver cut and computes groups at once where it has threads for them.
    start = time.perf_counter()
    config = StitchConfig(steps=args.steps, group=args.group, precision=args.precision,
                          concurrent_groups=args.concurrent_groups)
    precision = f"{config.resolved_precision(zoo.device)} ({config.precision}"
    precision += f"; {precision_probe.explain(zoo.device.type)})" if config.precision == "auto" else ")"
    at_once = concurrency.workers(config.concurrent_groups, zoo.device, len(cuts))
    ctx, precompute = library_context(zoo, config, cells[0])
    ds = training_data(b, zoo.device)
    print(f"shared activation precompute (library) {precompute:.2f} s; {len(cells)} cells, {args.steps} steps, "
          f"device {zoo.device}, group {args.group}, groups at once {at_once}, library precision {precision}",
          flush=True)
    lib_acc: Dict[Tuple[str, Cell], float] = {}
    naive_acc: Dict[Tuple[str, Cell], float] = {}
    lib_s = {name: 0.0 for name in names}
    naive_s = {name: 0.0 for name in names}
    naive_cell_s: Dict[str, List[float]] = {name: [] for name in names}
    load_before = os.getloadavg()[0]
    for name in names:
        t = time.perf_counter()
        for cell, acc in zip(cells, library_cells(ctx, name, cells)):
            lib_acc[name, cell] = acc
        lib_s[name] = time.perf_counter() - t
        print(f"  {name:5s} library: {len(cells)} cells in {lib_s[name]:.2f} s", flush=True)
        for cell in cells:
            t = time.perf_counter()
            naive_acc[name, cell] = naive_cell(zoo, ds, name, cell, args.naive_steps, args.naive_init)
            t_naive = time.perf_counter() - t
            naive_s[name] += t_naive
            naive_cell_s[name].append(t_naive)
            print(f"  {name:5s} {cell.sender_cut:>8s} -> {cell.receiver_cut:<8s} library {lib_acc[name, cell]:.3f}  "
                  f"naive {naive_acc[name, cell]:.3f} ({t_naive:5.2f} s)", flush=True)
    total = time.perf_counter() - start
    load_after = os.getloadavg()[0]

    n = len(cells)
    # Speed: wall-clock totals. The library's overall time includes the shared precompute once.
    speed = []
    for name in names:
        speed.append([name, f"{n / lib_s[name]:.2f}", f"{n / naive_s[name]:.2f}", f"{naive_s[name] / lib_s[name]:.1f}x",
                      f"{statistics.median(naive_cell_s[name]):.2f}"])
    lib_total, naive_total = sum(lib_s.values()) + precompute, sum(naive_s.values())
    speed.append(["overall", f"{n * len(names) / lib_total:.2f}", f"{n * len(names) / naive_total:.2f}",
                  f"{naive_total / lib_total:.1f}x", ""])
    speed_headers = ["objective", "library cells/s", "naive cells/s", "speed-up", "naive s per cell (median)"]

    # Agreement of stitched test accuracy.
    agree = []
    for name in names:
        d = [lib_acc[name, c] - naive_acc[name, c] for c in cells]
        m_lib = sum(lib_acc[name, c] for c in cells) / n
        m_naive = sum(naive_acc[name, c] for c in cells) / n
        agree.append([name, f"{m_lib:.3f}", f"{m_naive:.3f}", f"{max(abs(x) for x in d) * 100:.1f}",
                      f"{round(sum(d) / n * 100, 1) + 0.0:+.1f}", f"{sum(abs(x) <= 0.01 for x in d)}/{n}"])
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
            [f"SGD, {args.naive_init} init, {args.naive_steps} steps (naive)", f"{naive_s['dm']:.1f}", f"{n / naive_s['dm']:.2f}",
             f"{sum(naive_acc['dm', c] for c in cells) / n:.3f}"],
        ]
    dm_headers = ["DM", "seconds", "cells/s", "mean stitched acc"]

    # The targets, judged (printed, not asserted: a miss is a finding to explain).
    targets = [["library / naive, overall", ">= 10x", f"{naive_total / lib_total:.1f}x",
                _verdict(naive_total / lib_total >= 10)]]
    if "dm" in names:
        ratio = naive_s["dm"] / lib_s["dm"]
        better = sum(lib_acc["dm", c] for c in cells) >= sum(naive_acc["dm", c] for c in cells)
        targets.append(["closed-form DM / SGD DM", ">= 50x, mean accuracy >= SGD's",
                        f"{ratio:.1f}x, {'>=' if better else '<'}", _verdict(ratio >= 50 and better)])
    for name in names:
        within = sum(abs(lib_acc[name, c] - naive_acc[name, c]) <= 0.01 for c in cells)
        targets.append([f"{name}: same stitched accuracy", "every cell within 1 point", f"{within}/{n}",
                        _verdict(within == n)])
    target_headers = ["target", "wanted", "measured", "verdict"]

    machine = (f"{devices.cpu_name()} ({devices.cpu_features()}), {os.cpu_count()} CPU cores, torch {torch.__version__}, "
               f"{torch.get_num_threads()} threads, Python {platform.python_version()}, device {zoo.device}"
               + (f" ({torch.cuda.get_device_name()})" if zoo.device.type == "cuda" else ""))
    command = "python " + " ".join(sys.argv)
    print()
    print(f"{machine}; {len(cells)} cells; steps {args.steps} (naive {args.naive_steps}); groups at once {at_once}; library precision {precision}; naive init {args.naive_init}; total {total:.1f} s "
          f"(shared precompute {precompute:.2f} s, counted once in the library's overall); "
          f"1-min load average {load_before:.2f} before, {load_after:.2f} after")
    print(tabulate(targets, headers=target_headers, tablefmt="github"))
    if args.naive_init == "random" and any(t[-1] != "met" for t in targets[-len(names):]):
        print("(the naive stitches start from a random init; --naive-init least_squares is the control "
              "that separates the initialisation from the rest of the pipeline)")
    print()
    print(tabulate(speed, headers=speed_headers, tablefmt="github"))
    print()
    print(tabulate(agree, headers=agree_headers, tablefmt="github"))
    if dm_rows:
        print()
        print(f"closed-form DM vs SGD DM: {naive_s['dm'] / lib_s['dm']:.1f}x faster")
        print(tabulate(dm_rows, headers=dm_headers, tablefmt="github"))
    print()
    print(tabulate(cell_rows, headers=cell_headers, tablefmt="github"))

    header = (f"machine: {machine}; cells: {len(cells)}; steps: {args.steps} (naive {args.naive_steps}); group: {args.group}; "
              f"groups at once: {at_once}; "
              f"library precision: {precision}; "
              f"naive init: {args.naive_init}; wall time of both pipelines: {total:.1f} s; shared precompute: "
              f"{precompute:.2f} s; 1-min load average {load_before:.2f} before, {load_after:.2f} after")
    _write(args.write_report, [(targets, target_headers), (speed, speed_headers), (agree, agree_headers), (dm_rows, dm_headers),
                               (cell_rows, cell_headers)], command, header)


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def _write(path: str, tables, command: str, header: str) -> None:
    """The tables as markdown (to paste into reports/performance.md), if a path was given."""
    if not path:
        return
    with open(path, "w") as f:
        f.write(f"<!-- generated by: {command} -->\n{header}\n\n")
        for rows, headers in tables:
            if rows:
                f.write(tabulate(rows, headers=headers, tablefmt="github") + "\n\n")

if __name__ == "__main__":
    main()
