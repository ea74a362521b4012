"""Large element-wise passes on the CPU, split over threads by blocks of rows (examples).

NumPy's matrix products call BLAS, which uses every core; its ufuncs (``exp``,
``maximum``, ``multiply``, ...) run on one. A conv net's maxout and pooling, or
the softmax over a language model's 10,000 words, are such single-core passes
over megabytes, and they are a large part of a training step while the other
core waits. NumPy releases the GIL inside a ufunc's loop over a large array, so
Python threads that each take their own block of rows do run at the same time.

:func:`for_row_blocks` calls ``fn(lo, hi)`` for blocks of rows that together
cover ``[0, n_rows)``, on a pool of worker threads. The caller's ``fn`` must
only touch its own rows: operations on each example (row) that do not look at
the others. Then every number is computed by the same operations as in one
call over all rows, bit for bit; a reduction *across* rows (a sum over the
batch) would change the order of the additions and does not belong here.

One catch, and the setting that removes it. After a matrix product, OpenBLAS's
worker threads keep spinning on their cores for 2^28 clock cycles (a tenth of
a second) in case another product follows; a pool thread started then shares a
core with a spinning thread and runs at half speed or worse (the language
model's softmax: 9.3 ms on two threads against 6.6 ms on one).
``OPENBLAS_THREAD_TIMEOUT=18`` (2^18 cycles, about 0.1 ms) sends them to sleep
soon enough for a pass of a millisecond or more, and late enough that the
small products of an LSTM's steps, which follow each other within 0.1 ms, find
them awake. OpenBLAS reads the variable once, when NumPy loads it, so importing
``minilinpath`` sets it (unless it is set already) if NumPy is not loaded yet:
the case for every ``python -m minilinpath...`` command, and for a program that
imports minilinpath before NumPy. A program that imports NumPy first keeps
OpenBLAS's long spin, and then the pool stays off unless asked for.

How many threads (:func:`worker_count`): ``MINILINPATH_THREADS`` if set (1 turns
the pool off); else ``OPENBLAS_NUM_THREADS`` or else ``OMP_NUM_THREADS`` if set,
in OpenBLAS's own order (a user who limits BLAS to one thread per process, to
run two jobs side by side, limits these too); else, when NumPy's BLAS is
OpenBLAS with a short spin (the one above, or a user's own of at most 2^20
cycles), the CPUs this process may run on; else 1. On a GPU the arrays are CuPy's and
``fn(0, n_rows)`` is called once: the GPU already runs every element in parallel.
"""
from __future__ import annotations

import functools
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

THREAD_VARIABLES = ("MINILINPATH_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")  # OpenBLAS's own order
OPENBLAS_SPIN_VARIABLE = "OPENBLAS_THREAD_TIMEOUT"
OPENBLAS_SPIN_EXPONENT = "18"     # idle OpenBLAS threads sleep after 2^18 cycles instead of 2^28
LONGEST_SHORT_SPIN = 20           # a user's own setting up to 2^20 cycles (0.4 ms) still leaves the cores free
MIN_BLOCK_BYTES = 512 << 10      # a block smaller than this is not worth a thread (the MLP's 480 KB maxout: slower split)

# Decided once, as minilinpath is imported: will OpenBLAS (once NumPy loads it) spin only briefly?
if OPENBLAS_SPIN_VARIABLE not in os.environ and "numpy" not in sys.modules:
    os.environ[OPENBLAS_SPIN_VARIABLE] = OPENBLAS_SPIN_EXPONENT
OPENBLAS_SPIN_IS_SHORT = os.environ.get(OPENBLAS_SPIN_VARIABLE, "").strip().isdigit() and \
    int(os.environ[OPENBLAS_SPIN_VARIABLE]) <= LONGEST_SHORT_SPIN

_pool = None
_pool_size = 0
_pool_lock = threading.Lock()
_inside_worker = threading.local()


@functools.lru_cache(maxsize=1)
def _numpy_uses_openblas() -> bool:
    import numpy as np
    try:
        name = np.__config__.CONFIG["Build Dependencies"]["blas"]["name"]
    except (AttributeError, KeyError, TypeError):
        return False
    return "openblas" in str(name).lower()


def worker_count() -> int:
    """Threads for element-wise passes (the module docstring says how they are decided).

    A variable whose value is not a whole number >= 1 is a ValueError that names it.
    """
    for name in THREAD_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value:
            first = value.split(",")[0].strip()   # OpenMP's "4,2" (threads per nesting level): the outer level
            if not first.isdigit() or int(first) < 1:
                raise ValueError(f"{name}={value!r}: give a whole number of threads >= 1 (1: no worker threads).")
            return int(first)
    if not (OPENBLAS_SPIN_IS_SHORT and _numpy_uses_openblas()):
        return 1
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _get_pool(size: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size != size:
            # a pool of another size (the variables changed) is dropped, not shut down: a block another thread
            # is submitting to it still runs, and its idle threads end when it is collected
            _pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="minilinpath-rows")
            _pool_size = size
        return _pool


def _forget_pool_after_fork() -> None:
    """A forked child has none of its parent's threads: it starts a pool of its own when it needs one."""
    global _pool, _pool_size, _pool_lock
    _pool, _pool_size, _pool_lock = None, 0, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


def _run_block(fn, lo, hi):
    _inside_worker.active = True
    try:
        fn(lo, hi)
    finally:
        _inside_worker.active = False


def even_blocks(n_rows: int, parts: int) -> list:
    """``[(lo, hi), ...]``: ``parts`` consecutive blocks of (nearly) equal size covering ``[0, n_rows)``."""
    if parts < 1:
        raise ValueError(f"parts must be >= 1, got {parts}.")
    bounds = [n_rows * i // parts for i in range(parts + 1)]
    return [(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]


def rows_per_block(row_bytes: int, block_bytes: int | None = None) -> int:
    """How many rows of ``row_bytes`` bytes fill ``block_bytes`` (default ``MIN_BLOCK_BYTES``; at least one)."""
    block_bytes = MIN_BLOCK_BYTES if block_bytes is None else block_bytes
    return max(1, int(block_bytes) // max(int(row_bytes), 1))


def for_row_blocks(fn, n_rows: int, min_block_rows: int, xp=None) -> None:
    """Call ``fn(lo, hi)`` on blocks that cover ``[0, n_rows)``: one block per worker thread, each of at least
    ``min_block_rows`` rows (fewer blocks when there are not enough rows), in parallel on the CPU.

    This thread takes the first block itself and waits for the others. ``xp``:
    the array module of the data; for CuPy ``fn(0, n_rows)`` is called once. A
    single block runs here, as does every call made from inside a block (no
    nested pools). The first exception a block raised is raised here, after
    every block ended.
    """
    if n_rows <= 0:
        return
    if (xp is not None and getattr(xp, "__name__", "numpy") != "numpy") or getattr(_inside_worker, "active", False):
        fn(0, n_rows)
        return
    workers = worker_count()
    parts = min(workers, max(1, n_rows // max(int(min_block_rows), 1)))
    if parts == 1:
        fn(0, n_rows)
        return
    first, *others = even_blocks(n_rows, parts)
    pool = _get_pool(workers - 1)
    futures, here = [], [first]
    for lo, hi in others:
        try:
            futures.append(pool.submit(_run_block, fn, lo, hi))
        except RuntimeError:  # the interpreter is shutting down (a thread outlived the script): no new work
            here.append((lo, hi))
    errors = []
    for lo, hi in here:
        try:
            _run_block(fn, lo, hi)
        except BaseException as error:  # noqa: BLE001 - re-raised below, once the other blocks ended
            errors.append(error)
    errors += [future.exception() for future in futures]
    for error in errors:
        if error is not None:
            raise error


def for_example_blocks(fn, xp, *arrays, axis: int = 0) -> None:
    """:func:`for_row_blocks` over the examples of ``arrays`` (along ``axis``, the same length in each), each
    block at least ``MIN_BLOCK_BYTES`` of the largest of them."""
    n = arrays[0].shape[axis]
    example_bytes = max(a.nbytes // max(a.shape[axis], 1) for a in arrays)
    for_row_blocks(fn, n, rows_per_block(example_bytes), xp)
