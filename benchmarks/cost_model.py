"""Cost model of an audit: cells x steps x images x multiply-adds per image, predicted against measured.

Why. A budget for the default run (#30) has to be planned before it is run: which lever buys how
much. The work of a stitching cell is fixed by what it measures -- the stitch is trained for
``steps`` steps of ``batch`` images through the receiver's frozen suffix (forward, and backward to
the stitch's input: about three forwards) plus a fixed cost per step (the stitch, the optimiser,
Python: what dominates where the suffix is small), then read out on the test images; a robust cell adds a
PGD attack (``robust_steps`` forward+backward passes of the whole stitched network per test image);
a calibrated cell refits its stitch under each permutation of its null.
This script counts those multiply-adds from the models themselves, for every cell of a results
folder, fits one rate per kind of work (multiply-adds per second, plus a fixed cost per cell) by
least squares on the measured ``seconds`` of the rows, and prints predicted against measured per
testbed and method. The fitted rates then price a candidate scale before it is run.

Usage::

    python benchmarks/cost_model.py RESULTS_DIR [--robust-steps 10] [--n-test N]

``seconds`` of a row is its share of its group's wall time in the worker that computed it, so with
more workers than cores the rates are per worker, not per core (say so beside the figures, and
name the CPU).
"""
from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import re
from functools import lru_cache
from typing import Dict, Tuple

import numpy as np
import torch
from torch import nn

from stitchtest.models.core import build

SGD = {"tlm", "slm", "fula", "fula_kl", "fula_bn", "fula_bntrain", "dm_hint", "dm_adam", "cosine"}


@lru_cache(maxsize=None)
def stage_macs(arch: str, width: int, size: int, channels: int = 1) -> Tuple[Tuple[str, ...], Tuple[int, ...]]:
    """Multiply-adds per image of each stage of ``arch`` (convolutions and linear layers)."""
    model = build(arch, width=width, in_channels=channels, num_classes=10).eval()
    counts: Dict[nn.Module, int] = {}

    def hook(module, inputs, output):
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            counts[module] = counts.get(module, 0) + output[0].numel() * k
        elif isinstance(module, nn.Linear):
            counts[module] = counts.get(module, 0) + module.in_features * module.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(torch.zeros(1, channels, size, size))
    for h in handles:
        h.remove()
    per_stage = tuple(sum(counts.get(m, 0) for m in stage.modules()) for stage in model.stages)
    return model.cuts, per_stage


def suffix_macs(arch: str, width: int, size: int, cut: str) -> int:
    cuts, macs = stage_macs(arch, width, size)
    return sum(macs[cuts.index(cut) + 1:])


def full_macs(arch: str, width: int, size: int) -> int:
    return sum(stage_macs(arch, width, size)[1])


def _model(text: str) -> Tuple[str, int, int]:
    arch = re.search(r"arch=([^,)]+)", text).group(1)
    width = int(re.search(r"width=(\d+)", text).group(1))
    size = re.search(r"size=(\d+)", text)
    return arch, width, int(size.group(1)) if size else 16


def rows(folder: str):
    for path in sorted(glob.glob(os.path.join(folder, "results-*.jsonl"))):
        with open(path) as f:
            for line in f:
                r = json.loads(line)
                if r.get("kind") == "cell" and r.get("method") in SGD and "seconds" in r.get("readouts", {}):
                    yield r


def features(r, robust_steps: int, n_test: int) -> Tuple[float, float, float, float]:
    """(training multiply-adds, attack multiply-adds, optimiser steps, 1) of one cell."""
    arch, width, size = _model(r["cell"].split("receiver=", 1)[1])
    steps = r["readouts"].get("steps", 0) or 0
    batch = int(re.search(r"batch_size=(\d+)", r["key"]).group(1))
    train = 3.0 * steps * batch * suffix_macs(arch, width, size, r["receiver_cut"]) + n_test * full_macs(arch, width, size)
    fits = 1 + (r["readouts"].get("permutations") or 0)  # a calibrated cell refits under each permutation
    attack = 3.0 * robust_steps * n_test * full_macs(arch, width, size) if "robust=True" in r["cell"] else 0.0
    return train * fits, attack, float(steps * fits), 1.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("results")
    p.add_argument("--robust-steps", type=int, default=10)
    p.add_argument("--n-test", type=int, default=397, help="test images (digits: 397)")
    a = p.parse_args()
    data = list(rows(a.results))
    if not data:
        raise SystemExit(f"no timed stitching cells in {a.results}")
    X = np.array([features(r, a.robust_steps, a.n_test) for r in data])
    y = np.array([r["readouts"]["seconds"] for r in data])
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    pred = X @ coef
    r2 = 1 - ((y - pred) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    print(f"{len(data)} stitching cells; fitted: training {1 / coef[0] / 1e9:.2f} GMAC/s, attack "
          f"{(1 / coef[1] / 1e9) if coef[1] > 0 else float('nan'):.2f} GMAC/s, {coef[2] * 1e3:.2f} ms per step, "
          f"{coef[3]:.3f} s per cell; "
          f"R^2 {r2:.3f} per cell")
    parts = (X * coef).sum(axis=0) / pred.sum()
    print(f"of the predicted time: training multiply-adds {parts[0]:.0%}, attack {parts[1]:.0%}, "
          f"per-step cost {parts[2]:.0%}, per cell {parts[3]:.0%}")
    groups = collections.defaultdict(lambda: [0.0, 0.0, 0])
    for r, yy, pp in zip(data, y, pred):
        g = groups[(r["testbed"], r["method"])]
        g[0] += yy
        g[1] += pp
        g[2] += 1
    print(f"{'testbed':16s} {'method':10s} {'cells':>6s} {'measured s':>11s} {'predicted s':>12s}")
    for (tb, m), (meas, pr, n) in sorted(groups.items(), key=lambda kv: -kv[1][0]):
        print(f"{tb:16s} {m:10s} {n:6d} {meas:11.0f} {pr:12.0f}")
    print(f"{'total':16s} {'':10s} {len(data):6d} {y.sum():11.0f} {pred.sum():12.0f}")


if __name__ == "__main__":
    main()
