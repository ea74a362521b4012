"""Where a study's tasks run: in this process, or on Dask (an embedded LocalCluster or a running cluster).

Both executors offer one method, ``run(function, tasks)``, which yields ``(task, result, error)`` for every
task as it finishes (``error`` is the exception a task raised, ``result`` then None). A task that fails does
not stop the others: a study reports its failures at the end, and everything that finished is kept.
``run(function, tasks, *shared)`` calls ``function(task, *shared)``: objects every task needs (a plane's model
and data, see minilinpath.path.plane) are sent to each Dask worker once (``Client.scatter``), not per task.

Dask is imported only here, and only when a Dask executor is made, so minilinpath works without it. Tasks go
through Dask's futures API (``Client.submit`` and ``as_completed``), nothing home-made:

- ``DaskExecutor()`` starts a LocalCluster on this machine: ``n_workers`` worker *processes* (default 2), one
  thread each, and one BLAS thread each (``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS`` and
  ``MKL_NUM_THREADS`` = 1 in the workers' environment), so two workers use two cores and no more. It is shut
  down when the executor is closed.
- ``DaskExecutor(scheduler="tcp://host:8786")`` sends the tasks to a running cluster (e.g. one that
  dask-jobqueue's SLURMCluster started). Its workers must have minilinpath installed, see the data under the
  same path and share the run cache's folder with this machine.

One table whichever executor: every task runs its training and its line with ONE BLAS thread
(:func:`one_blas_thread`), in this process as on any worker. OpenBLAS splits a matrix product's sums over its
threads, so two threads add in another order than one, and the last bits of theta differ (on 784-wide data,
distances differed by up to 4e-6). The LocalCluster's workers get one thread from their environment; the task
sets it again through OpenBLAS's own call, for this process and for a remote cluster's workers.
"""
from __future__ import annotations

import contextlib
import ctypes
import os

ONE_BLAS_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# Dask starts its workers with MALLOC_TRIM_THRESHOLD_=65536, which also pins glibc's mmap threshold at 128 KiB:
# every large NumPy temporary is then a fresh mmap, zero-filled page by page (a plane's grid row took twice the
# CPU time). These are glibc's own upper limits for its dynamic thresholds on 64-bit Linux; glibc reads them
# when a process starts, so they go into Dask's pre-spawn environment.
WORKER_MALLOC = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": 64 << 20,
                 "distributed.nanny.pre-spawn-environ.MALLOC_MMAP_THRESHOLD_": 32 << 20}
INSTALL_HINT = 'pip install "minilinpath[study]"'


class ExecutorError(RuntimeError):
    """An executor that cannot start (Dask missing, a scheduler that cannot be reached): one line."""


class LocalExecutor:
    """Runs the tasks one after another in this process (no Dask): for tests, debugging, and small studies."""
    name = "local"

    def run(self, function, tasks, *shared):
        for task in tasks:
            try:
                result = function(task, *shared)
            except Exception as exc:  # noqa: BLE001 - reported with the task; KeyboardInterrupt stops the study
                yield task, None, exc
            else:
                yield task, result, None

    def describe(self) -> str:
        return "in this process"

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def import_distributed():
    """``dask.distributed``, or ExecutorError saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise ExecutorError(f"the Dask executor needs dask.distributed, which is not installed: {INSTALL_HINT} "
                            "(or run in this process with --executor local).") from None
    return distributed


class DaskExecutor:
    """Runs the tasks on Dask workers: a LocalCluster started here (default), or the cluster at ``scheduler``."""
    name = "dask"

    def __init__(self, scheduler: str | None = None, n_workers: int = 2, silence_logs: bool = True):
        if scheduler is not None and not str(scheduler).strip():  # e.g. --scheduler "$ADDRESS", the variable unset
            raise ExecutorError("the scheduler address is empty; give one such as tcp://10.0.0.5:8786, or leave "
                                "--scheduler out to start a Dask cluster on this machine.")
        distributed = import_distributed()
        self.scheduler, self.cluster = scheduler, None
        try:
            if scheduler is None:
                import dask
                with dask.config.set(WORKER_MALLOC):
                    self.cluster = distributed.LocalCluster(
                        n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None,
                        # no dashboard; the scheduler's small HTTP server on any free port (never a clash on 8787)
                        scheduler_kwargs={"dashboard": False, "dashboard_address": ":0"},
                        env=dict(ONE_BLAS_THREAD), silence_logs=_log_level(silence_logs))
                self.client = distributed.Client(self.cluster)
            else:
                self.client = distributed.Client(scheduler, timeout="20s")
        except (OSError, TimeoutError, ValueError) as exc:
            self.close()
            where = f"the Dask scheduler at {scheduler}" if scheduler else "a local Dask cluster"
            raise ExecutorError(f"could not connect to {where} ({type(exc).__name__}: {exc}); check the address "
                                "and that the scheduler is running.") from None
        self._as_completed = distributed.as_completed

    def run(self, function, tasks, *shared):
        shared = self.client.scatter(list(shared), broadcast=True, hash=False) if shared else []
        futures = {}
        for task in tasks:
            futures[self.client.submit(function, task, *shared, key=task.key, pure=False)] = task
        try:
            for future in self._as_completed(futures):
                task = futures[future]
                try:
                    result = future.result()
                except Exception as exc:  # noqa: BLE001 - the task's own error, raised again here by Dask
                    yield task, None, exc
                else:
                    yield task, result, None
        finally:  # an interrupted study: tasks not started are dropped; finished ones are in the run cache
            self.client.cancel([f for f in futures if not f.done()])

    def describe(self) -> str:
        workers = self.client.scheduler_info().get("workers", {})
        where = f"the Dask scheduler at {self.scheduler}" if self.scheduler else "a local Dask cluster"
        return f"{where} ({len(workers)} worker{'s' if len(workers) != 1 else ''})"

    def close(self) -> None:
        client, self.client = getattr(self, "client", None), None
        if client is not None:
            client.close()
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _log_level(silence: bool):
    import logging
    return logging.ERROR if silence else logging.WARNING


def worker_environment(keys=tuple(ONE_BLAS_THREAD)) -> dict:
    """The BLAS thread settings of the process that runs this (a task to check the workers' environment)."""
    return {k: os.environ.get(k) for k in keys}


# OpenBLAS's thread calls under the names its builds export: plain, 64-bit integers, and the scipy-openblas wheels
OPENBLAS_THREAD_CALLS = (("openblas_get_num_threads", "openblas_set_num_threads"),
                         ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
                         ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
                         ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"))


def loaded_openblas() -> list:
    """``[(get_threads, set_threads), ...]``: the thread calls of every OpenBLAS this process has loaded (NumPy's,
    SciPy's), found in /proc/self/maps (Linux; elsewhere none, and the BLAS keeps its own thread count)."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            paths = sorted({line.split(None, 5)[5].strip() for line in maps
                            if len(line.split(None, 5)) == 6 and "openblas" in line.lower() and ".so" in line})
    except OSError:
        return []
    calls = []
    for path in paths:
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for get_name, set_name in OPENBLAS_THREAD_CALLS:
            if hasattr(library, get_name) and hasattr(library, set_name):
                calls.append((getattr(library, get_name), getattr(library, set_name)))
                break
    return calls


@contextlib.contextmanager
def one_blas_thread():
    """Run the block with one OpenBLAS thread (every OpenBLAS loaded), then put the previous counts back: a
    study's task computes the same bits in this process as on a Dask worker (see the module docstring)."""
    import numpy  # noqa: F401 - loads NumPy's OpenBLAS, so that it is found
    calls = loaded_openblas()
    before = [get() for get, _ in calls]
    for _, set_threads in calls:
        set_threads(1)
    try:
        yield
    finally:
        for (_, set_threads), count in zip(calls, before):
            set_threads(int(count))


FILES_PER_WORKER = 32  # open files (sockets, pipes, libraries) a LocalCluster's worker process holds, and to spare


def max_local_workers() -> int:
    """The most worker processes a LocalCluster may start here: one per CPU core this process may use (each
    worker computes on one thread; more would only share the cores), at least 2 (the default), and no more than
    the open-file limit allows (``ulimit -n``: every worker holds sockets and pipes; past it Dask loops on
    "Too many open files")."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        import resource
        files = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        unlimited = files in (resource.RLIM_INFINITY, -1)
    except (ImportError, OSError, ValueError):  # no such limit here (Windows)
        files, unlimited = 0, True
    return max(2, min(cores, cores if unlimited else files // FILES_PER_WORKER))


def worker_limit_message(n_workers: int) -> str:
    limit = max_local_workers()
    return (f"{n_workers:,} workers is more than this machine can run at once: at most {limit} (one per CPU core, "
            f"within the open-file limit, ulimit -n); give --workers {limit} or fewer, or --scheduler ADDRESS for a "
            "larger cluster.")


def make_executor(kind: str = "dask", scheduler: str | None = None, n_workers: int = 2):
    """``"local"``: :class:`LocalExecutor`; ``"dask"``: :class:`DaskExecutor` (LocalCluster, or ``scheduler``)."""
    if kind == "local":
        if scheduler is not None:
            raise ExecutorError("--scheduler sends the tasks to a Dask cluster; it does not go with --executor local.")
        return LocalExecutor()
    if kind == "dask":
        if n_workers < 1:
            raise ExecutorError(f"n_workers must be >= 1, got {n_workers}.")
        if scheduler is None and n_workers > max_local_workers():
            raise ExecutorError(worker_limit_message(n_workers))
        return DaskExecutor(scheduler, n_workers)
    raise ExecutorError(f"unknown executor {kind!r}; choose dask or local.")
