"""Which precision trains a stitch faster on this machine: measured once, then remembered.

CPU flags do not decide it. bf16 autocast pays on a CPU with AMX tiles; on one with only
AVX512-BF16 (the AMD EPYC of docs/lab/facts.md#f24) oneDNN's bf16 kernels can be no faster than
fp32 at a stitch's sizes, and where neither is present bf16 is emulated and always slower. So
``StitchConfig(precision="auto")`` on a CPU with bf16 arithmetic times a short forward and
backward pass of a small frozen convolutional suffix in both precisions and picks the faster.

The verdict is stored in the model cache, keyed by what decides it (CPU model, features,
``ONEDNN_MAX_CPU_ISA``, torch version), so every worker of a run and every later
run on the machine resolve ``"auto"`` alike: a resumed run never mixes precisions. Delete the
``precision-*.json`` file to measure again.
"""
from __future__ import annotations

import functools
import json
import os
import statistics
import time
from pathlib import Path
from typing import Callable, Dict, Optional

import torch
from filelock import FileLock

from . import devices
from .ids import short_hash

#: bf16 must beat fp32 by this factor (median of paired ratios) to be chosen: a tie keeps fp32's exact arithmetic
MARGIN = 1.1


def probe_workload(dtype_bf16: bool, reps: int = 1) -> float:
    """Seconds of ``reps`` forward + input-gradient passes of a frozen conv suffix (batch 256,
    16x16, width 8 -> 32: the default zoo's sizes), with bf16 autocast or without."""
    net, x = _workload()
    t = time.perf_counter()
    for _ in range(reps):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype_bf16):
            loss = net(x).float().logsumexp(1).sum()
        loss.backward()
        x.grad = None
    return time.perf_counter() - t


@functools.lru_cache(maxsize=1)
def _workload():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = torch.nn.Sequential(
            torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(16, 16, 3, padding=1),
            torch.nn.ReLU(), torch.nn.Conv2d(16, 32, 3, stride=2, padding=1), torch.nn.ReLU(),
            torch.nn.Conv2d(32, 32, 3, padding=1), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
            torch.nn.Linear(32, 10),
        ).to(memory_format=torch.channels_last).requires_grad_(False)
        x = torch.randn(256, 8, 16, 16).contiguous(memory_format=torch.channels_last).requires_grad_(True)
    return net, x


def machine_key() -> str:
    """What the verdict depends on, as one line."""
    return f"{devices.cpu_name()} | {devices.cpu_features()} | torch {torch.__version__}"


def measure(timer: Callable[[bool], float] = probe_workload, pairs: int = 9) -> Dict[str, object]:
    """Time both precisions in adjacent pairs, so load from other processes hits both alike, and
    decide by the median ratio: one burst of load cannot flip the verdict. One thread: the ratio
    is what decides, and a busy machine stalls a multi-threaded pass at its barriers."""
    with devices.threads(1):
        return _measure(timer, pairs)


def _measure(timer: Callable[[bool], float], pairs: int) -> Dict[str, object]:
    timer(False), timer(True)  # warm-up: oneDNN builds its kernels on first use
    ratios, times = [], {"fp32": [], "bf16": []}
    for _ in range(pairs):
        fp32, bf16 = timer(False), timer(True)
        times["fp32"].append(fp32), times["bf16"].append(bf16)
        ratios.append(bf16 / fp32 if fp32 > 0 else 1.0)
    ratio = statistics.median(ratios)
    return {"precision": "bf16" if ratio * MARGIN < 1 else "fp32", "bf16_over_fp32": ratio,
            "seconds_fp32": statistics.median(times["fp32"]), "seconds_bf16": statistics.median(times["bf16"]),
            "machine": machine_key()}


def _store(root: Path) -> Path:
    return root / f"precision-{short_hash(machine_key())}.json"


def probe(root: Optional[Path] = None, timer: Callable[[bool], float] = probe_workload) -> Dict[str, object]:
    """The stored verdict for this machine, measuring (under a lock, once) where there is none.
    A cache that cannot be written still gets a verdict, measured in this process only."""
    if root is None:
        from .paths import default_root

        root = default_root()
    path = _store(Path(root))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path) + ".lock", timeout=300):
            if path.is_file():
                try:
                    verdict = json.loads(path.read_text())
                    if verdict.get("precision") in ("fp32", "bf16") and verdict.get("machine") == machine_key():
                        return verdict
                except ValueError:
                    pass  # a damaged file is measured again and replaced
            verdict = measure(timer)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(verdict, indent=1))
            os.replace(tmp, path)
            return verdict
    except OSError:
        return measure(timer)


@functools.lru_cache(maxsize=None)
def auto(device_type: str) -> str:
    """``"bf16"`` or ``"fp32"``: what ``precision="auto"`` means on this kind of device here.

    CUDA: bf16. A CPU without bf16 arithmetic: fp32 (emulated bf16 is slower, no need to time
    it). A CPU with it: the stored measured verdict (:func:`probe`)."""
    device = torch.device(device_type)
    if not devices.native_bf16(device):
        return "fp32"
    if device.type != "cpu":
        return "bf16"
    return str(probe()["precision"])


def explain(device_type: str) -> str:
    """Why ``"auto"`` resolved as it did here, for the report's configuration table."""
    device = torch.device(device_type)
    if not devices.native_bf16(device):
        return "no bf16 arithmetic"
    if device.type != "cpu":
        return "GPU"
    verdict = probe()
    ratio = verdict.get("bf16_over_fp32")
    return f"measured: bf16 takes {ratio:.2f}x fp32's time" if isinstance(ratio, float) else "measured"
