"""Worker placement and memory shares: what ``pytest testbeds -n N`` relies on to spread over GPUs
and cores without running a machine out of memory."""
import os
import re

import pytest
import torch

from stitchtest.runtime import devices
from stitchtest.audit.scales import SCALES


@pytest.fixture
def clean_env(monkeypatch):
    """No GPU pinning in the environment, and whatever ``pin_worker`` sets undone afterwards."""
    saved, before = dict(os.environ), torch.get_num_threads()
    for var in ("CUDA_VISIBLE_DEVICES", devices.GPU_SHARERS):
        os.environ.pop(var, None)
    yield monkeypatch
    os.environ.clear()
    os.environ.update(saved)
    torch.set_num_threads(before)


@pytest.mark.parametrize("index, workers, visible, gpu, sharers", [
    (0, 4, "0,1", "0", 2), (1, 4, "0,1", "1", 2), (2, 4, "0,1", "0", 2),
    (1, 3, "5,7", "7", 1),  # an outer CUDA_VISIBLE_DEVICES is respected; 3 workers on 2 GPUs: 2 + 1
    (2, 3, "5,7", "5", 2),
])
def test_workers_take_gpus_round_robin_within_the_visible_ones(clean_env, index, workers, visible, gpu, sharers):
    clean_env.setenv("CUDA_VISIBLE_DEVICES", visible)
    devices.pin_worker(index, workers)
    assert os.environ["CUDA_VISIBLE_DEVICES"] == gpu
    assert os.environ[devices.GPU_SHARERS] == str(sharers)


def test_without_gpus_workers_split_the_cores(clean_env):
    clean_env.setattr(torch.cuda, "device_count", lambda: 0)
    clean_env.setattr(os, "cpu_count", lambda: 2)
    devices.pin_worker(3, 4)  # -n 4 on two cores must work: one thread each, not zero
    assert torch.get_num_threads() == 1 and "CUDA_VISIBLE_DEVICES" not in os.environ
    devices.pin_worker(0, 1)
    assert torch.get_num_threads() == 2


def test_cache_share_splits_ram_among_workers_and_a_gpu_among_its_workers(clean_env):
    clean_env.setattr(devices, "memory_bytes", lambda device: 24 * 2**30)
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert devices.cache_share(cpu, 1) == 12 * 2**30
    assert devices.cache_share(cpu, 4) == 3 * 2**30
    clean_env.setenv(devices.GPU_SHARERS, "2")
    assert devices.cache_share(gpu, 8) == int(0.9 * 24 * 2**30 / 2)


def test_a_scale_budget_is_capped_by_the_share_never_raised():
    small = SCALES["small"]
    assert small.context_options()["cache_bytes"] == 6 * 2**30
    assert small.context_options(3 * 2**30)["cache_bytes"] == 3 * 2**30
    assert small.context_options(100 * 2**30)["cache_bytes"] == 6 * 2**30


def test_the_cpu_is_named_with_the_flags_of_its_fast_paths(monkeypatch):
    from stitchtest.runtime import devices

    assert devices.cpu_name().strip()
    features = devices.cpu_features()
    assert re.fullmatch(r"AMX (yes|no), AVX512-BF16 (yes|no), AVX512 (yes|no)", features)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16")
    assert devices.cpu_features().endswith("ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16")
