"""One task of a study: train one run (through the run cache), sweep its init -> solution line, store the line.

:func:`run_task` is what an executor runs, in this process or on a Dask worker. It

1. loads the data set (once per process) and builds the MLP of the run's settings (:func:`build_model`);
2. names the run folder from the fingerprint of everything the run depends on (as the figures do, see
   :mod:`minilinpath.experiments`): ``<runs>/<data set>/study-<activation>[-adv]-seed<N>-<fingerprint>``;
3. if the folder holds a *line record* for these line settings that reads back intact, and the run beside it
   checks out (:func:`check_run`: every file read back; a damaged run is an error, never reused), returns
   its row at once: a finished task is never redone;
4. otherwise trains (:func:`minilinpath.train.train`: locked, resumes an interrupted run, reuses a finished
   one), evaluates J along theta(alpha) = (1 - alpha) theta_0 + alpha theta_T for ``alphas`` points on
   [0, 1] (:func:`minilinpath.path.linear_path`, the deterministic network on the whole training and
   validation sets), and writes the line record atomically beside the run.

A line record (``line-<key>.json``) holds the curve, ||theta_T - theta_0||, the trajectory's length, and a
SHA-256 digest of its own content. Its key is the hash of the run's fingerprint and the line settings, so
a record is reused only for the same run and the same line. A record that does not parse, names another
run or other settings, or whose digest does not match (an edited or truncated file) is not trusted: the
line is computed again and the record replaced.

The table's numbers are always taken from the stored record (:func:`table_row`), so a study gives the same
table whichever executor ran it and whether its tasks were computed now or earlier.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import filelock
import numpy as np

from .. import backend, io, models
from ..adversarial import fgsm_objective
from ..experiments import dataset_key, load_splits, run_folder_name
from ..optim import Adam, RMSProp
from ..path import distance_travelled, gauss_length, linear_path, output_path, summarize
from ..runs import RunFolder, fingerprint
from ..train import Recipe, describe_run, train
from .spec import RunSettings, preset_for

LINE_FORMAT = 1  # bump when a line record's content changes meaning
BATCH_SIZE = 100  # the paper's minibatch size (mnist_pi.yaml, mnist_valid.yaml)
MONOTONE_TOL = 1e-4  # a rise smaller than this share of J's range along the line does not count (see summarize)
ADVERSARIAL_NAME = "fgsm(epsilon=0.25, mix=0.5)"  # the objective's name in the run description
GAUSS_INPUTS = 1_000  # the Gauss length is the mean over the first this many validation inputs


@dataclass(frozen=True)
class Task:
    """Everything one task needs, small enough to send to a worker (the data are loaded there)."""
    settings: RunSettings
    epochs: int
    alphas: int
    profile: str
    data_dir: str | None
    runs_dir: str  # absolute: a worker's working folder may be another

    @property
    def key(self) -> str:
        """A name unique within a study (Dask's task key)."""
        return "minilinpath-study-" + hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


# ------------------------------------------------------------------------------- data, model, recipe
_DATA: dict = {}  # (dataset, data_dir, profile) -> (train, valid): each worker process loads a data set once


def load_data(dataset: str, data_dir, profile: str):
    key = (dataset, data_dir, profile)
    if key not in _DATA:
        _DATA[key] = load_splits(dataset, data_dir, profile)
    return _DATA[key]


def _per_layer(values, depth: int) -> tuple:
    """A preset's per-layer values (hidden layers, then softmax) for ``depth`` hidden layers: hidden layer i
    takes the preset's hidden value i, or its last one past the preset's depth; the softmax keeps its own."""
    hidden, last = list(values[:-1]), values[-1]
    return tuple(hidden[min(i, len(hidden) - 1)] for i in range(depth)) + (last,)


def build_model(settings: RunSettings, n_in: int, n_classes: int):
    """The MLP of a run: the paper's network (:func:`preset_for`) with the run's activation, ``depth`` hidden
    layers of ``width`` units, init ranges times ``init_scale``, and dropout ``p`` on the hidden layers only
    (include probability 1 - p, scale 1 / (1 - p)); the paper's max column norms are kept. The model keeps
    the preset's name (``relu`` or ``mnist_pi``); its settings say everything else."""
    preset = preset_for(settings.activation)
    base = models.PRESETS[preset]
    p, depth = settings.dropout, settings.depth
    extra = {"batchnorm": True} if settings.batchnorm else {}   # a network without BN: the settings of before
    return models.get(preset, n_in=n_in, n_classes=n_classes, activation=settings.activation,
                      hidden=(settings.width,) * depth,
                      init_ranges=tuple(settings.init_scale * r for r in _per_layer(base["init_ranges"], depth)),
                      max_col_norms=_per_layer(base["max_col_norms"], depth),
                      input_include=1.0, input_scale=1.0, hidden_include=1.0 - p, hidden_scale=1.0 / (1.0 - p), **extra)


def recipe_of(settings: RunSettings, epochs: int) -> Recipe:
    """Plain SGD with constant learning rate and momentum (or Adam or RMSProp with their defaults at the run's
    constant learning rate), minibatches of 100, exactly ``epochs`` epochs."""
    optimizer = {"sgd": None, "adam": Adam(), "rmsprop": RMSProp()}[settings.optimizer]
    return Recipe(batch_size=BATCH_SIZE, learning_rate=settings.learning_rate, lr_schedule=None,
                  momentum=settings.momentum, momentum_schedule=None, max_epochs=epochs, patience=None,
                  optimizer=optimizer)


def n_classes_of(train_set, valid_set) -> int:
    """The number of classes the training labels name (labels 0..K-1), at least 2; validation labels outside
    0..K-1 are an error (a network cannot learn a class it never sees)."""
    from ..data import DataError

    n_classes = max(2, int(backend.to_float(train_set[1].max())) + 1)
    high = int(backend.to_float(valid_set[1].max())) if valid_set[1].size else 0
    if high >= n_classes:
        raise DataError(f"the validation labels run up to {high}, but the training labels only to {n_classes - 1}: "
                        "every class must appear in the training set (labels 0..K-1 in both); renumber them.")
    return n_classes


# ------------------------------------------------------------------------------- the line record
def line_settings(task: Task) -> dict:
    """What a line's numbers depend on, besides the run itself."""
    line = {"format": LINE_FORMAT, "alphas": task.alphas, "grid": "linspace(0, 1, alphas)",
            "solution": "theta after the last epoch", "network": "deterministic (no dropout masks)",
            "sets": "the whole training and validation sets",
            "gauss_length": f"softmax outputs, mean over the first {GAUSS_INPUTS} validation inputs"}
    if task.settings.batchnorm:
        line["statistics"] = "recomputed at every alpha on the whole training set"
    return line


def line_key(run_fingerprint: str, settings: dict) -> str:
    return hashlib.sha256(json.dumps({"run": run_fingerprint, "line": settings}, sort_keys=True).encode()).hexdigest()


def content_digest(record: dict) -> str:
    """SHA-256 of a record's content as canonical JSON, the ``digest`` entry left out."""
    body = {k: v for k, v in record.items() if k != "digest"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def record_path(run_dir: Path, key: str) -> Path:
    return Path(run_dir) / f"line-{key[:16]}.json"


def read_line_record(path: Path, key: str, n_alphas: int):
    """``(record, problem)``: the record if it is intact and for this run and line, else None and why
    (``problem`` is None when there is simply no record yet)."""
    if not path.exists():
        return None, None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(record, dict):
            return None, "not a line record"
        if record.get("key") != key:
            return None, "it belongs to another run or other line settings"
        if record.get("digest") != content_digest(record):
            return None, "its content does not match its digest (edited or damaged)"
        curve = record["curve"]
        lengths = {len(curve[name]) for name in ("alphas", "J_train", "J_valid", "error_train", "error_valid")}
        if lengths != {n_alphas}:
            return None, f"its curves do not have {n_alphas} points"
        if not np.isfinite(record["gauss_length"]):
            return None, "its Gauss length is not finite"
        if not all(np.isfinite(curve[name]).all() for name in ("alphas", "J_train", "J_valid")):
            return None, "it holds NaN or infinite values"
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        return None, f"unreadable ({type(exc).__name__}: {exc})"
    return record, None


def compute_line(task: Task, model, run, train_set, valid_set, key: str, run_fingerprint: str) -> dict:
    """Sweep the line of a trained run and return its record (not yet written)."""
    alphas = np.linspace(0.0, 1.0, task.alphas)
    result = linear_path(model, run.theta_init, run.theta_last, train_set, alphas, valid_set, progress=False)
    start = np.asarray(backend.to_numpy(run.theta_init), dtype=np.float64)
    end = np.asarray(backend.to_numpy(run.theta_last), dtype=np.float64)
    length, _ = distance_travelled(run.trajectory_rows())
    outputs = output_path(model, run.theta_init, run.theta_last, valid_set[0][:GAUSS_INPUTS], alphas,
                          statistics_data=train_set[0] if task.settings.batchnorm else None)
    record = {"format": LINE_FORMAT, "key": key, "run_fingerprint": run_fingerprint, "line": line_settings(task),
              "curve": {name: [float(v) for v in getattr(result, name)]
                        for name in ("alphas", "J_train", "J_valid", "error_train", "error_valid")},
              "distance": float(np.linalg.norm(end - start)), "path_length": float(length),
              "gauss_length": gauss_length(alphas, outputs),
              "epochs": int(run.history[-1]["epoch"]), "stopped": run.stopped}
    record["digest"] = content_digest(record)
    return record


def table_row(settings: RunSettings, record: dict, run_name: str) -> dict:
    """One row of the study's table, from the stored line record (metrics: :mod:`minilinpath.path.metrics`).

    ``monotone``: J_train never rises along the line by more than 1e-4 of its range; ``largest_bump``: the
    largest rise of J_train between an alpha and a later one, max over alpha < alpha' of J(alpha') - J(alpha)
    (Lucas et al. 2021's non-monotonicity; 0 for a monotone curve); ``bump_alpha``: where that rise peaks.
    """
    curve = record["curve"]
    alphas, J = np.asarray(curve["alphas"]), np.asarray(curve["J_train"])
    metrics = summarize(alphas, J, MONOTONE_TOL)
    return {**asdict(settings), "monotone": metrics["monotone"], "largest_bump": metrics["largest_bump"],
            "bump_alpha": metrics["bump_alpha"], "J_init": float(J[0]), "J_final": float(J[-1]),
            "distance": record["distance"], "path_length": record["path_length"],
            "gauss_length": record["gauss_length"],
            "train_error": curve["error_train"][-1], "valid_error": curve["error_valid"][-1],
            "epochs": record["epochs"], "run": run_name}


# ------------------------------------------------------------------------------- the task
def check_run(run_dir: Path, description: dict, model, epochs: int) -> None:
    """Read back every file of the run a stored line belongs to (:meth:`minilinpath.runs.RunFolder.resume`,
    under the folder's lock, as :func:`minilinpath.train.train` does before it reuses a run): a line is
    reused only beside a run that still checks out and has the line's ``epochs``; DamagedRunError otherwise."""
    with RunFolder(run_dir, description, model.layout, log=None) as folder:
        if not folder.started:
            raise folder.damaged("state.npz", "missing, while a line of this run is stored")
        recorded = folder.resume().meta.get("epoch")
        if recorded != epochs:
            raise folder.damaged("state.npz", f"records epoch {recorded}, while the stored line is of epoch {epochs}")


def run_task(task: Task) -> dict:
    """Do one task (see the module docstring), with one BLAS thread wherever it runs (the same bits on every
    executor, :func:`~minilinpath.study.executors.one_blas_thread`). Returns ``{"row", "trained_epochs",
    "line", "problem"}``: the table row, the epochs trained by this call, and ``line`` = ``"reused"``,
    ``"computed"`` or ``"redone"`` (a stored record was refused; ``problem`` says why)."""
    from .executors import one_blas_thread

    with one_blas_thread():
        return _run_task(task)


def _run_task(task: Task) -> dict:
    settings = task.settings
    train_set, valid_set = load_data(settings.dataset, task.data_dir, task.profile)
    model = build_model(settings, int(train_set[0].shape[1]), n_classes_of(train_set, valid_set))
    recipe = recipe_of(settings, task.epochs)
    labels = {"dataset": dataset_key(settings.dataset), "profile": task.profile, "study": True}
    description = describe_run(model, recipe, settings.seed, train_set, valid_set,
                               objective_name=_objective_name(settings), labels=labels)
    run_fingerprint = fingerprint(json.loads(json.dumps(description)))  # as RunFolder stores it
    stem = (f"study-{settings.activation}{'-adv' if settings.adversarial else ''}"
            f"{'' if settings.optimizer == 'sgd' else '-' + settings.optimizer}{'-bn' if settings.batchnorm else ''}"
            f"-seed{settings.seed}")
    run_dir = Path(task.runs_dir) / labels["dataset"] / run_folder_name(stem, description)
    key = line_key(run_fingerprint, line_settings(task))
    path = record_path(run_dir, key)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    # one task per run at a time, from its start to its stored line: the same task started elsewhere (two identical
    # studies at once) waits here, then finds the line stored and reuses it (a lock of its own, beside the run
    # folder's, which train() takes inside)
    with filelock.FileLock(run_dir.parent / f".{run_dir.name}.task.lock"):
        record, problem = read_line_record(path, key, task.alphas)
        if record is not None:
            return _reused(settings, record, run_dir, description, model)
        epochs = EpochCounter()  # the epochs trained by THIS call (none when the run was trained before)
        run = train(model, train_set, valid_set, recipe, run_dir, seed=settings.seed,
                    objective=fgsm_objective(model) if settings.adversarial else None,
                    objective_name=_objective_name(settings), progress=False, log=epochs, labels=labels,
                    description=description)
        # written under the run folder's lock: a process that opens the run meanwhile removes the temporaries of
        # writers that do not hold it (minilinpath.runs), which would take this record's half-written file away
        record = compute_line(task, model, run, train_set, valid_set, key, run_fingerprint)
        with filelock.FileLock(run_dir.parent / f".{run_dir.name}.lock"):
            io.write_json(path, record)
        record, reread = read_line_record(path, key, task.alphas)  # the row comes from what was stored
    if record is None:
        raise OSError(f"{path}: the line record just written does not read back ({reread}).")
    return {"row": table_row(settings, record, run_dir.name), "trained_epochs": epochs.trained,
            "line": "redone" if problem else "computed", "problem": problem}


def _objective_name(settings: RunSettings) -> str:
    return ADVERSARIAL_NAME if settings.adversarial else "nll"


def _reused(settings, record: dict, run_dir: Path, description: dict, model) -> dict:
    check_run(run_dir, description, model, int(record["epochs"]))
    return {"row": table_row(settings, record, run_dir.name), "trained_epochs": 0, "line": "reused",
            "problem": None}


class EpochCounter:
    """A ``log`` for :func:`~minilinpath.train.train` that prints nothing and counts the epochs trained (train
    logs one line per epoch it trains, starting with "epoch"; a finished run, reused, logs none)."""

    def __init__(self):
        self.trained = 0

    def __call__(self, line="", *_, **__) -> None:
        self.trained += str(line).startswith("epoch ")
