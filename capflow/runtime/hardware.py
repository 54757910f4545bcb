"""Hardware probes: the device a step computes on, whether the CPU computes bf16 natively, the CPUs
torch may use, and peak memory."""

from __future__ import annotations

import os
import resource
import sys
from pathlib import Path

from capflow.runtime.cpus import available_cpus


def pick_device() -> str:
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def device_name() -> str:
    """The accelerator a step computes on, or the CPU count: what the rehearsal's times hold for."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"CPU ({len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()} cores)"


def cpu_has_native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU computes in bf16 natively (AVX512-BF16 or AMX), where autocast pays off."""
    try:
        flags = set(cpuinfo.read_text(encoding="utf-8", errors="replace").split())
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def peak_memory_mb(device: str) -> dict:
    peak = {"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if device == "cuda":
        import torch

        peak["peak_gpu_allocated_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return peak


def limit_cpu_threads() -> None:
    """No more compute threads than CPUs this process may run on (OMP_NUM_THREADS can ask for more)."""
    import torch

    available = available_cpus()
    if torch.get_num_threads() > available:
        torch.set_num_threads(available)
