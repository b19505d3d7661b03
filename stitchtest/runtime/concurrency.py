"""Independent groups of cells computed at once, in threads of one process.

Why. At the default scale a stitch and its receiver suffix are small: two CPU cores split one
small convolution at about 70% efficiency, so one group of stitches at a time leaves a third of
the machine idle. Two groups at once, one intra-op thread each, keep both cores busy
(``benchmarks/pipeline.py``: the TLM matrix 1.3-1.4x faster). PyTorch releases the GIL inside
its operators, and the groups share nothing they write, so threads suffice.

What has to hold for that, and where it is kept:

- torch's global RNG is shared: parameter initialisers draw from it, so every seeded
  construction goes through :func:`seeded` (one lock, and the caller's RNG state restored);
- :class:`~stitchtest.engine.context.Context` guards its caches with a lock;
- results are recorded by the calling thread only, as :func:`completed` hands them back.

On a GPU one group at a time is the default: its kernels share one device, and grouping
stitches into one pass (``StitchConfig.group``) is what keeps it busy.
"""
from __future__ import annotations

import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Callable, Iterator, Sequence, Tuple, TypeVar

import torch

from . import devices

T = TypeVar("T")
R = TypeVar("R")

_RNG_LOCK = threading.Lock()


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run the block on torch's global RNG seeded with ``seed``, alone, then restore its state.

    Module constructors draw their initial parameters from the global RNG; without the lock a
    stitch built in one thread could take draws from a model being built in another.
    """
    with _RNG_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def workers(requested: int, device: torch.device, tasks: int) -> int:
    """How many groups to compute at once: ``requested``, or for 0 (auto) one per intra-op thread
    on a CPU and one on a GPU; never more than there are ``tasks``."""
    if requested < 0:
        raise ValueError(f"concurrent groups must be >= 0 (0 = auto), got {requested}")
    n = requested or (torch.get_num_threads() if device.type == "cpu" else 1)
    return max(1, min(n, tasks))


def completed(fn: Callable[[T], R], items: Sequence[T], n: int) -> Iterator[Tuple[int, R]]:
    """``(index, fn(item))`` for every item, as each finishes, computing ``n`` at a time.

    With ``n == 1`` it runs inline, in order. Otherwise the process's intra-op threads are shared
    out among the ``n`` threads for the duration. The first exception is raised here once the
    items in flight have finished; the ones not started are cancelled. A thread cannot be stopped
    mid-item, so an interrupt (Ctrl-C) cancels the items not started, waits for those in flight,
    hands back what they computed (the caller records it: nothing computed is lost) and then
    raises ``KeyboardInterrupt``.
    """
    if n <= 1:
        for k, item in enumerate(items):
            yield k, fn(item)
        return
    with devices.threads(max(1, torch.get_num_threads() // n)):
        pool = ThreadPoolExecutor(n, thread_name_prefix="stitchtest-group")
        try:
            pending = {pool.submit(fn, item): k for k, item in enumerate(items)}
            while pending:
                try:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                except KeyboardInterrupt:
                    for future in pending:
                        future.cancel()  # only those not started yet
                    for future in wait(pending).done:
                        if not future.cancelled() and future.exception() is None:
                            yield pending[future], future.result()
                    raise
                for future in done:
                    yield pending.pop(future), future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
