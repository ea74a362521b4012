"""Studies of many runs: a grid of settings times seeds, each run's init -> solution line and its metrics.

In the spirit of Lucas, Bae, Zhang, Fort, Zemel & Grosse (2021), "Analyzing Monotonic Linear Interpolation
in Neural Network Loss Landscapes", which trained hundreds of networks and asked how often J falls
monotonically along the line from the initial point to the solution, and what goes with a bump.

    from minilinpath.study import StudySpec, run_study
    spec = StudySpec(activation=["relu", "sigmoid"], init_scale=[1, 3], seeds=4, dataset=["mnist-test"],
                     data_dir="data/", epochs=10)
    result = run_study(spec, executor="dask")      # a 2-worker LocalCluster; "local" runs in this process
    result.rows                                    # one dict per run, sorted by settings

One task per run (:mod:`.tasks`); tasks run on an executor (:mod:`.executors`: Dask or in-process); each
task's result is stored in the run cache beside its run, so an interrupted study, run again, does only the
tasks that had not finished. The table (:mod:`.table`) is built from the stored results, so it is the same
whichever executor ran the study.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..checks import is_whole_number
from ..progress import progress_bar
from .executors import DaskExecutor, ExecutorError, LocalExecutor, make_executor
from .spec import RunSettings, SpecError, StudySpec, expand, read_spec
from .table import COLUMNS, fraction_monotone, sort_rows, to_csv, write_csv
from .tasks import Task, run_task


class StudyFailed(RuntimeError):
    """Some tasks raised. ``result`` holds the rows of those that finished (they are kept in the run cache)."""

    def __init__(self, message: str, result: "StudyResult"):
        super().__init__(message)
        self.result = result


@dataclass
class StudyResult:
    """The table and what this call did: ``trained`` tasks trained a run (fully or the epochs left),
    ``computed`` swept a line, ``reused`` found their line stored, ``redone`` refused a damaged record."""
    rows: list
    n_runs: int  # runs in the whole study (more than len(rows) when ``limit`` cut it short)
    trained: int = 0
    computed: int = 0
    reused: int = 0
    redone: list = field(default_factory=list)  # (run label, why the stored record was refused)
    failures: list = field(default_factory=list)  # (run label, one-line error)

    @property
    def complete(self) -> bool:
        return len(self.rows) == self.n_runs


def make_tasks(spec: StudySpec, runs_dir) -> list:
    """The study's tasks, sorted by settings (``runs_dir``: the run cache, made absolute for the workers)."""
    from ..experiments import runs_root

    spec.check()  # a StudySpec made in Python: dataset="npz:a.npz" where a list belongs is named as such first
    root = str(runs_root(runs_dir).resolve())
    data_dir = None if spec.data_dir is None else str(Path(spec.data_dir).expanduser().resolve())
    _refuse_one_file_under_two_names(spec.dataset)
    return [Task(settings, spec.epochs, spec.alphas, spec.profile, data_dir, root) for settings in expand(spec)]


def _refuse_one_file_under_two_names(datasets) -> None:
    """SpecError when two ``npz:`` entries hold the same data (runs are named by the file's content, so they would
    be the same runs, counted twice in the table). A file that cannot be read is left to its tasks' errors."""
    from ..experiments import dataset_key

    first_name = {}
    for name in datasets:
        try:
            key = dataset_key(name)
        except OSError:
            continue
        if key in first_name:
            raise SpecError(f"dataset: {first_name[key]} and {name} hold the same data (the same runs twice); "
                            "give each data set once.")
        first_name[key] = name


def _in_the_run_cache(error: BaseException, runs_dir: str) -> str | None:
    """A disk error (full, read-only) on a file of the run cache, said as such; None for any other error."""
    filename = getattr(error, "filename", None) if isinstance(error, OSError) else None
    if not filename or Path(runs_dir) not in Path(filename).parents:
        return None
    return (f"could not write into the run cache {runs_dir} ({error.strerror or error}: {filename}); free some "
            "space there or choose another --runs-dir")


def run_study(spec: StudySpec, executor="dask", scheduler: str | None = None, n_workers: int = 2, runs_dir=None,
              limit: int | None = None, progress: bool = True, log=print) -> StudyResult:
    """Run (or resume) a study and return its table.

    ``executor``: ``"dask"`` (a LocalCluster of ``n_workers`` processes, or the cluster at ``scheduler``),
    ``"local"`` (this process), or an executor object (not closed here). ``runs_dir``: the run cache
    (default ``$MINILINPATH_RUNS`` or ``~/.cache/minilinpath/runs``). ``limit``: do only the first ``limit``
    tasks (in table order) this time. Raises :class:`StudyFailed` (after every other task has finished)
    when tasks raised.
    """
    if limit is not None:
        if not is_whole_number(limit) or limit < 1:
            raise SpecError(f"limit must be a whole number >= 1, got {limit!r}.")
        limit = int(limit)
    tasks = make_tasks(spec, runs_dir)
    chosen = tasks[:limit] if limit is not None else tasks
    log = log or (lambda *a, **k: None)
    owned = isinstance(executor, str)
    runner = make_executor(executor, scheduler, n_workers) if owned else executor
    result = StudyResult(rows=[], n_runs=len(tasks))
    try:
        log(f"study: {len(chosen)} of {len(tasks)} runs on {runner.describe()}; run cache {chosen[0].runs_dir}")
        outcomes = runner.run(run_task, chosen)
        for task, outcome, error in progress_bar(outcomes, desc="study", enabled=progress, total=len(chosen),
                                                 unit="run"):
            label = task.settings.label()
            if error is not None:
                message = _in_the_run_cache(error, task.runs_dir) or "; ".join(str(error).splitlines()) \
                    or type(error).__name__
                result.failures.append((label, f"{type(error).__name__}: {message}"))
                log(f"  failed: {label}: {type(error).__name__}: {message}")
                continue
            row = outcome["row"]
            result.rows.append(row)
            log(f"  [{len(result.rows) + len(result.failures)}/{len(chosen)}] {label}: "
                f"{'monotone' if row['monotone'] else 'bump %.3g' % row['largest_bump']}, "
                f"distance {row['distance']:.3g}, valid error {row['valid_error']:.2%} ({outcome['line']})")
            result.trained += outcome["trained_epochs"] > 0
            result.computed += outcome["line"] in ("computed", "redone")
            result.reused += outcome["line"] == "reused"
            if outcome["line"] == "redone":
                result.redone.append((label, outcome["problem"]))
                log(f"  {label}: the stored line was refused ({outcome['problem']}); computed it again.")
    finally:
        if owned:
            runner.close()
    result.rows = sort_rows(result.rows)
    if result.failures:
        first = result.failures[0]
        raise StudyFailed(f"{len(result.failures)} of {len(chosen)} runs failed (first: {first[0]}: {first[1]}); "
                          f"the {len(result.rows)} that finished are kept in the run cache: run the study again "
                          "to do only what is left.", result)
    return result


__all__ = ["COLUMNS", "DaskExecutor", "ExecutorError", "LocalExecutor", "RunSettings", "SpecError", "StudyFailed",
           "StudyResult", "StudySpec", "Task", "expand", "fraction_monotone", "make_executor", "make_tasks",
           "read_spec", "run_study", "run_task", "sort_rows", "to_csv", "write_csv"]
