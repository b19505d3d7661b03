"""Groups of cells computed at once: scheduling, thread shares, errors, and the shared RNG."""
import threading

import pytest
import torch

from stitchtest.runtime import concurrency
from stitchtest.stitching.stitch import Stitch


def test_auto_is_one_group_per_intra_op_thread_on_a_cpu_and_one_on_a_gpu():
    threads = torch.get_num_threads()
    assert concurrency.workers(0, torch.device("cpu"), tasks=100) == threads
    assert concurrency.workers(0, torch.device("cuda"), tasks=100) == 1
    assert concurrency.workers(3, torch.device("cuda"), tasks=100) == 3  # asked for: given
    assert concurrency.workers(8, torch.device("cpu"), tasks=2) == 2  # never more than the tasks
    assert concurrency.workers(0, torch.device("cpu"), tasks=0) == 1
    with pytest.raises(ValueError, match="concurrent groups"):
        concurrency.workers(-1, torch.device("cpu"), tasks=4)


def test_items_run_at_once_share_the_intra_op_threads_and_get_them_back():
    before = torch.get_num_threads()
    barrier = threading.Barrier(2, timeout=10)  # breaks unless both items run at the same time
    seen = []

    def work(item):
        barrier.wait()
        seen.append(torch.get_num_threads())
        return item * item

    try:
        torch.set_num_threads(4)
        results = dict(concurrency.completed(work, [3, 4], 2))
        assert results == {0: 9, 1: 16}
        assert seen == [2, 2], "four intra-op threads shared by two groups: two each"
        assert torch.get_num_threads() == 4
    finally:
        torch.set_num_threads(before)


def test_one_at_a_time_runs_inline_in_order():
    caller = threading.get_ident()
    assert list(concurrency.completed(lambda x: (x, threading.get_ident() == caller), "abc", 1)) == [
        (0, ("a", True)), (1, ("b", True)), (2, ("c", True))]


def test_an_error_in_a_group_reaches_the_caller_and_the_threads_come_back():
    before = torch.get_num_threads()

    def work(item):
        if item == 1:
            raise RuntimeError("group 1 broke")
        return item

    with pytest.raises(RuntimeError, match="group 1 broke"):
        list(concurrency.completed(work, [0, 1, 2, 3], 2))
    assert torch.get_num_threads() == before


def test_seeded_draws_what_manual_seed_draws_and_restores_the_callers_rng():
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    with concurrency.seeded(7):
        inside = torch.rand(3)
    torch.manual_seed(7)
    assert torch.equal(inside, torch.rand(3))
    torch.manual_seed(123)
    with concurrency.seeded(7):
        torch.rand(100)
    assert torch.equal(torch.rand(3), expected_next), "the caller's RNG stream must not move"


def test_stitches_built_in_threads_get_the_parameters_they_get_alone():
    def build(seed):
        with concurrency.seeded(seed):
            return Stitch((32, 8, 8), (16, 4, 4)).map.weight.detach().clone()

    alone = [build(s) for s in range(16)]
    threaded = dict(concurrency.completed(build, list(range(16)), 4))
    for seed in range(16):
        assert torch.equal(threaded[seed], alone[seed]), f"seed {seed}: a thread took another's draws"


def test_an_interrupt_hands_back_the_items_in_flight_then_stops(monkeypatch):
    """Ctrl-C while groups run: the two in flight finish and come back (to be recorded), the
    four not started never run, and the interrupt still reaches the caller."""
    import time

    started, release = [], threading.Event()
    real_wait = concurrency.wait

    def work(item):
        started.append(item)
        release.wait(10)  # in flight until the interrupt has been handled
        return item * 10

    def wait_then_interrupt(futures, return_when="ALL_COMPLETED"):
        if return_when == concurrency.FIRST_COMPLETED:  # the first wait: Ctrl-C arrives
            deadline = time.monotonic() + 10
            while len(started) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            raise KeyboardInterrupt
        release.set()  # the wait for the items in flight, after the others were cancelled
        return real_wait(futures, return_when=return_when)

    monkeypatch.setattr(concurrency, "wait", wait_then_interrupt)
    got = {}
    with pytest.raises(KeyboardInterrupt):
        for k, result in concurrency.completed(work, list(range(6)), 2):
            got[k] = result
    assert sorted(started) == [0, 1], started
    assert got == {0: 0, 1: 10}
