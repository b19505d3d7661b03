"""Where tensors live: one place that decides CPU or CUDA, so every module degrades the same way."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import torch


def resolve(device: str | torch.device | None = None) -> torch.device:
    """``None`` or ``"auto"`` -> CUDA when there is one, else CPU; anything else as given.

    Asking for CUDA on a machine without it is an error, not a silent fallback: a user who
    says ``--device cuda`` wants to know their GPU is not being used.
    """
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {str(device)!r} requested but CUDA is not available here")
    return dev


def describe(device: torch.device) -> str:
    """A human-readable device name for metadata and reports."""
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return f"cpu ({torch.get_num_threads()} threads, {os.cpu_count()} cores)"


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` multiplies bf16 in hardware: CUDA, or a CPU with AVX512-BF16 or AMX.
    There bf16 autocast is the faster way to train a stitch; elsewhere it is emulated, slower
    than fp32, and ``precision="auto"`` must not pick it."""
    if device.type == "cuda":
        return True
    cpu = getattr(torch, "cpu", None)
    return device.type == "cpu" and any(getattr(cpu, probe, lambda: False)()
                                        for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))


def cpu_name() -> str:
    """The CPU model (``/proc/cpuinfo``'s model name where there is one): machines of one kind
    differ by 4x in stitch time (docs/lab/facts.md#f24), so every timing names its CPU."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def cpu_features() -> str:
    """The flags that decide the CPU fast paths (bf16 autocast, oneDNN's AMX kernels), as
    ``"AMX yes, AVX512-BF16 yes, AVX512 yes"``; oneDNN may be capped below them with
    ``ONEDNN_MAX_CPU_ISA``, which is named when set."""
    cpu = getattr(torch, "cpu", None)
    probe = lambda name: "yes" if getattr(cpu, name, lambda: False)() else "no"  # noqa: E731
    text = (f"AMX {probe('_is_amx_tile_supported')}, AVX512-BF16 {probe('_is_avx512_bf16_supported')}, "
            f"AVX512 {probe('_is_avx512_supported')}")
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA")
    return text + (f", ONEDNN_MAX_CPU_ISA={isa}" if isa else "")


#: where this process's cgroup (v2 unified, or v1 controllers) exposes its limits
CGROUP = Path("/sys/fs/cgroup")


def _read(path: Path) -> Optional[str]:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _own(root: Path) -> Path:
    """This process's own cgroup v2 folder under ``root`` (``/proc/self/cgroup``'s ``0::/path``): outside
    a container, a Slurm job's limits are there, not at the top; ``root`` itself where there is none."""
    for line in (_read(Path("/proc/self/cgroup")) or "").splitlines():
        if line.startswith("0::") and (root / line[3:].lstrip("/")).is_dir():
            return root / line[3:].lstrip("/")
    return root


def _cgroup_cpus(root: Path) -> Optional[float]:
    """The CPU quota in cores: v2 ``cpu.max`` (``"200000 100000"``; ``max`` is none), else v1
    ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (``-1`` is none)."""
    quota_period = (_read(_own(root) / "cpu.max") or "").split()
    if len(quota_period) != 2:
        quota_period = [_read(root / "cpu" / "cpu.cfs_quota_us") or "-1", _read(root / "cpu" / "cpu.cfs_period_us") or ""]
    try:
        quota, period = float(quota_period[0]), float(quota_period[1])
    except ValueError:  # "max", or nothing there
        return None
    return quota / period if quota > 0 and period > 0 else None


def cpu_cores(root: Optional[Path] = None) -> int:
    """The cores this process may use: its CPU affinity (Slurm, taskset, a container's cpuset), capped by
    the cgroup's CPU quota (a container's ``--cpus``). ``os.cpu_count()`` counts the whole machine: with 8
    of 64 cores, ``-n 4`` would start 16 threads per worker on 2 cores each."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    quota = _cgroup_cpus(CGROUP if root is None else root)
    return max(1, min(cores, int(quota)) if quota is not None else cores)


def _cgroup_memory(root: Path) -> Optional[int]:
    """The cgroup's memory limit in bytes: v2 ``memory.max`` (``max`` is none), else v1
    ``memory.limit_in_bytes`` (a huge number is none)."""
    for path in (_own(root) / "memory.max", root / "memory" / "memory.limit_in_bytes"):
        text = _read(path)
        if text is not None and text.isdigit() and int(text) < 2**60:
            return int(text)
    return None


#: how many xdist workers ``pin_worker`` put on this worker's GPU (they share its memory)
GPU_SHARERS = "STITCHTEST_GPU_SHARERS"


def pin_worker(index: int, workers: int) -> None:
    """Give worker ``index`` of the ``workers`` on this host its share: one visible GPU, or a
    slice of the cores. Only workers on the same host count: two hosts with two workers each
    give each worker half of its own machine, not a quarter.

    Must run before CUDA initialises, so it reads the GPU count from ``CUDA_VISIBLE_DEVICES``
    or ``torch.cuda.device_count()`` (which does not initialise CUDA in recent torch).
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    gpus = [g for g in visible.split(",") if g.strip()] if visible else None
    if gpus is None and workers > 1:
        gpus = [str(i) for i in range(torch.cuda.device_count())]  # NVML count: no CUDA context
    if workers > 1 and gpus:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpus[index % len(gpus)]
        os.environ[GPU_SHARERS] = str(len(range(index % len(gpus), workers, len(gpus))))
    torch.set_num_threads(max(1, cpu_cores() // max(1, workers)))


def memory_bytes(device: torch.device, root: Optional[Path] = None) -> int:
    """The memory activations cached for ``device`` live in: the GPU's, or the RAM this process may use
    (the machine's, or its cgroup's limit where that is smaller: a container or a Slurm job is killed
    at its limit, not at the machine's)."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    limit = _cgroup_memory(CGROUP if root is None else root)
    return min(physical, limit) if limit is not None else physical


def cache_share(device: torch.device, workers: int) -> int:
    """Bytes of cached activations one worker may hold: 90% of its GPU's memory split among the
    workers pinned to that GPU, or half the RAM split among the ``workers`` on this host. A scale's cache budget
    assumes one worker per machine or GPU; without this cap ``-n 4`` at ``small`` on a 24 GiB
    machine would ask for 4 x 6 GiB of cache and be killed for memory."""
    if device.type == "cuda":
        return int(0.9 * memory_bytes(device) / int(os.environ.get(GPU_SHARERS, "1")))
    return int(0.5 * memory_bytes(device) / max(1, workers))


@contextmanager
def threads(n: Optional[int]) -> Iterator[None]:
    """Run the block with ``n`` torch CPU threads (``None``: unchanged), then restore the count."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
