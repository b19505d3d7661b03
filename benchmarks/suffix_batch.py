"""How the frozen suffix's cost per image falls with the images per pass (issue #13).

Why. A training step's time is the receiver suffix's convolutions, forward and input gradient
(reports/performance.md, the step profile of 2026-12-01), and on a CPU a small network's convolutions are
cheaper per image in a larger batch. Stitches into one receiver cut share one suffix pass
(``stitching.fit_stitches``), so how many of them a testbed plans together decides the batch:
this prints what a larger group would buy, per image, before anyone restructures a testbed.

What. The default zoo's architecture (R1111, width 8, digits 16x16 by default), BatchNorm folded,
frozen, the whole network as suffix; per batch size the median over ``--seconds`` of repeated
forward + input-gradient passes, in fp32 and under bf16 autocast, on ``--threads`` threads.

    python benchmarks/suffix_batch.py [--batches 64,128,320,640,1280] [--size 16] [--threads 1]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from tabulate import tabulate

from stitchtest.runtime.devices import cpu_features, cpu_name
from stitchtest.models import build, fold_batchnorm


def per_image_us(model, batch: int, size: int, bf16: bool, seconds: float) -> float:
    """Median microseconds per image of one forward + input-gradient pass at ``batch``."""
    def step():
        x = torch.randn(batch, 1, size, size, requires_grad=True).to(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(x)
        out.float().sum().backward()

    for _ in range(3):
        step()
    times, start = [], time.perf_counter()
    while time.perf_counter() - start < seconds:
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return statistics.median(times) / batch * 1e6


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batches", default="64,128,320,640,1280")
    ap.add_argument("--arch", default="R1111")
    ap.add_argument("--width", type=int, default=8)
    ap.add_argument("--size", type=int, default=16, help="image side (digits 16, MNIST at small 32)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=2.0, help="time per batch size and precision")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = fold_batchnorm(build(args.arch, width=args.width, in_channels=1).eval())
    for p in model.parameters():
        p.requires_grad_(False)
    batches = [int(b) for b in args.batches.split(",")]
    rows = [[name] + [f"{per_image_us(model, b, args.size, bf16, args.seconds):.0f}" for b in batches]
            for name, bf16 in (("fp32", False), ("bf16", True))]
    print(f"{cpu_name()} ({cpu_features()}), {args.threads} thread(s), {args.arch} width {args.width}, "
          f"{args.size}x{args.size}: microseconds per image, forward + input gradient")
    print(tabulate(rows, headers=["precision"] + [str(b) for b in batches], tablefmt="github"))


if __name__ == "__main__":
    main()
