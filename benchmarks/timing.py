"""Timing helpers shared by the benchmarks (run them as scripts: ``python benchmarks/bench_*.py``)."""
from __future__ import annotations

import time

import numpy as np


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
