"""Timing helpers shared by the benchmarks (run them as scripts: ``python benchmarks/bench_*.py``)."""
from __future__ import annotations

import os
import platform
import statistics
import time

import minilinpath  # noqa: F401  (before NumPy, as every command does: minilinpath/threads.py says why)
import numpy as np

from minilinpath import threads
from minilinpath.allocator import keep_freed_memory

# The benchmarks time what the package's commands run, and every command starts by letting malloc keep freed
# memory (minilinpath.allocator); so do they. machine() says whether it took effect.
KEPT_FREED_MEMORY = keep_freed_memory()


def synchronize(xp) -> None:
    """Wait for the GPU to finish queued work (a no-op with NumPy), so timings measure the work itself."""
    if xp is not np:
        xp.cuda.Device().synchronize()


def best_time(fn, xp, repeats: int = 3) -> float:
    """The fastest of ``repeats`` runs of ``fn()``, in seconds (the least disturbed by the rest of the machine)."""
    best = float("inf")
    for _ in range(repeats):
        synchronize(xp)
        started = time.perf_counter()
        fn()
        synchronize(xp)
        best = min(best, time.perf_counter() - started)
    return best


def median_times(fns: dict, xp, repeats: int = 5, warmup: bool = True) -> dict:
    """``{name: median seconds}`` of ``repeats`` rounds in which every function runs once, back to back.

    Interleaving the candidates means a change in the machine's load (other
    processes on a shared machine) hits all of them alike, so their ratios
    stay meaningful even when the absolute times do not. Each function runs
    once first, untimed (memory pools, BLAS threads, caches).
    """
    if warmup:
        for fn in fns.values():
            fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            synchronize(xp)
            started = time.perf_counter()
            fn()
            synchronize(xp)
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(t) for name, t in times.items()}


def try_torch():
    """PyTorch if it can be imported (an optional comparison, never a dependency), using this process's CPUs; else None."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    return torch


def machine() -> str:
    """One line: CPUs, model, BLAS threads, load average, and PyTorch's version when it is there."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    blas_threads = os.environ.get("OPENBLAS_NUM_THREADS", "unset")
    spin = os.environ.get("OPENBLAS_THREAD_TIMEOUT", "unset")
    return (f"{len(os.sched_getaffinity(0))} CPUs ({model}), numpy {np.__version__}, OPENBLAS_NUM_THREADS {blas_threads}, "
            f"OPENBLAS_THREAD_TIMEOUT {spin}, element-wise threads {threads.worker_count()}, "
            f"malloc keeps freed memory: {'yes' if KEPT_FREED_MEMORY else 'no'}, load average {load}")
