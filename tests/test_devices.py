"""Worker placement and memory shares: what ``pytest testbeds -n N`` relies on to spread over GPUs
and cores without running a machine out of memory."""
import os
import re
from dataclasses import replace

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


def test_without_gpus_workers_split_the_cores(clean_env, tmp_path):
    clean_env.setattr(torch.cuda, "device_count", lambda: 0)
    clean_env.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    clean_env.setattr(devices, "CGROUP", tmp_path)  # no cgroup limit
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
    six = replace(SCALES["small"], cache_gib=6.0)
    assert six.context_options()["cache_bytes"] == 6 * 2**30
    assert six.context_options(3 * 2**30)["cache_bytes"] == 3 * 2**30
    assert six.context_options(100 * 2**30)["cache_bytes"] == 6 * 2**30


def test_the_cpu_is_named_with_the_flags_of_its_fast_paths(monkeypatch):
    from stitchtest.runtime import devices

    assert devices.cpu_name().strip()
    features = devices.cpu_features()
    assert re.fullmatch(r"AMX (yes|no), AVX512-BF16 (yes|no), AVX512 (yes|no)", features)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16")
    assert devices.cpu_features().endswith("ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16")


@pytest.fixture
def machine(monkeypatch):
    """A 64-core machine with 256 GiB, of which this process is given the first 8 cores (Slurm, taskset)."""
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    pages = {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": 256 * 2**30 // 4096}
    monkeypatch.setattr(os, "sysconf", lambda name: pages[name])
    return monkeypatch


def test_cores_come_from_the_affinity_and_the_cgroup_quota(machine, tmp_path):
    """Issue 32: threads came from os.cpu_count(): under Slurm with 8 of 64 cores, ``-n 4`` started
    16 threads per worker."""
    assert devices.cpu_cores(tmp_path) == 8  # no cgroup files: the affinity alone
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert devices.cpu_cores(tmp_path) == 8
    (tmp_path / "cpu.max").write_text("400000 100000\n")  # docker --cpus 4 (cgroup v2)
    assert devices.cpu_cores(tmp_path) == 4
    (tmp_path / "cpu.max").write_text("50000 100000\n")  # half a core: still one thread
    assert devices.cpu_cores(tmp_path) == 1
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("300000\n")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert devices.cpu_cores(v1) == 3
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert devices.cpu_cores(v1) == 8


def test_pin_worker_splits_the_cores_this_process_may_use(machine, tmp_path, clean_env):
    machine.setattr(torch.cuda, "device_count", lambda: 0)
    machine.setattr(devices, "CGROUP", tmp_path)
    devices.pin_worker(0, 4)
    assert torch.get_num_threads() == 2  # 8 cores among 4 workers, not 64


def test_memory_is_the_cgroup_limit_where_that_is_smaller(machine, tmp_path):
    cpu = torch.device("cpu")
    assert devices.memory_bytes(cpu, tmp_path) == 256 * 2**30
    (tmp_path / "memory.max").write_text("max\n")
    assert devices.memory_bytes(cpu, tmp_path) == 256 * 2**30
    (tmp_path / "memory.max").write_text(f"{16 * 2**30}\n")  # a container's --memory 16g (cgroup v2)
    assert devices.memory_bytes(cpu, tmp_path) == 16 * 2**30
    v1 = tmp_path / "v1"
    (v1 / "memory").mkdir(parents=True)
    (v1 / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")  # v1's "no limit"
    assert devices.memory_bytes(cpu, v1) == 256 * 2**30
    (v1 / "memory" / "memory.limit_in_bytes").write_text(f"{2**30}\n")
    assert devices.memory_bytes(cpu, v1) == 2**30
    machine.setattr(devices, "CGROUP", tmp_path)
    assert devices.cache_share(cpu, 2) == int(0.5 * 16 * 2**30 / 2)


def test_a_process_in_a_nested_cgroup_reads_its_own_limits(machine, tmp_path):
    """Outside a container (a Slurm job) the limits are in the process's own cgroup folder."""
    own = tmp_path / "system.slice" / "job_42"
    own.mkdir(parents=True)
    (own / "memory.max").write_text(f"{4 * 2**30}\n")
    (own / "cpu.max").write_text("200000 100000\n")
    real_read = devices._read
    machine.setattr(devices, "_read", lambda path: "0::/system.slice/job_42\n" if str(path) == "/proc/self/cgroup"
                    else real_read(path))
    assert devices.memory_bytes(torch.device("cpu"), tmp_path) == 4 * 2**30
    assert devices.cpu_cores(tmp_path) == 2
