"""Training on the flat parameter vector: SGD + momentum, schedules, max-norm, early stopping.

One call, :func:`train`, runs a recipe and keeps everything in a run folder
(:class:`minilinpath.runs.RunFolder`: locked, fingerprinted, checked on reuse)::

    run.json        what was trained: model settings, layout, recipe, seed, data content hashes, ...
    init.npz        theta at initialisation (the start of every linear path)
    best.npz        theta with the lowest validation error so far (pylearn2's *_best.pkl)
    state.npz       the state at the end of the last finished epoch (theta, velocity, counters; with Adam or
                    RMSProp their moments ``adam_m``, ``adam_v`` / ``rmsprop_v``; for a batch-normalized model its
                    running means and variances as ``statistics:h0.mean``, ...: state beside theta, not in it)
    best_statistics.npz  (batch-normalized models) the running statistics of the best epoch, beside best.npz
    history.json    per epoch: train objective, validation error, ``valid_nll`` (model.loss on the validation
                    set: the NLL for classifiers, the multi-prediction objective for the MP-DBM), lr,
                    momentum, seconds, and the digest of the epoch's trajectory row
    trajectory.bin  theta after every epoch, row 0 = init (Appendix B needs it)

Randomness is a function of (seed, data seed, epoch): the initial theta is ``model.init(seed)``; epoch e
shuffles with ``default_rng([data_seed, 1, e])`` and draws dropout masks from ``rng([data_seed, 2, e])``,
where the data seed is ``seed`` unless one is given (so a run that names none is the same run, with the
same fingerprint, as before the data seed existed). So an interrupted run resumed from ``state.npz`` gives
the same parameters as an uninterrupted one, bit for bit on the same machine.

A run may also start from another run's :class:`TrainState` at the end of its epoch k (a branch): theta,
momentum velocity and the epoch and update counters, so the schedules continue where the other run was
(Frankle, Dziugaite, Roy & Carbin 2020, "Linear Mode Connectivity and the Lottery Ticket Hypothesis";
:mod:`minilinpath.path.instability`).

How :func:`train` reads: it checks every argument once (:class:`TrainingSettings`), opens the run folder, and
runs the recipe (:func:`_train_in`): pick the run up where it stands (:func:`_begin` or :func:`_resume`), then
per epoch :func:`_train_one_epoch` (one update per minibatch: momentum SGD, or the recipe's Adam or RMSProp),
:func:`_evaluate` on the validation set, the early-stopping bookkeeping (:meth:`Standing.record_validation`), the
checkpoint (``folder.end_epoch``) and :func:`_stop_reason`. What a model may offer beyond the contract's three
names (a constraint, learning-rate scales, a one-pass evaluation, running statistics) is asked through
:mod:`minilinpath.contract`.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from . import backend
from .checks import whole_number
from . import io
from .contract import Constrained, EvaluatesInOnePass, RunningStatistics, ScaledLearningRates
from .optim import momentum_step
from .optim import (ExponentialDecay, LinearDecayOverEpoch, MomentumAdjustor, schedule_from_dict,  # noqa: F401
                    schedule_to_dict)  # (the recipes' parts, importable from here as before recipes.py)
from .data import DataError
from .progress import progress_bar
from .runs import RUN_FORMAT, DamagedRunError, RunFolder, RunMismatchError, array_digest, data_description
from .trajfile import TrajectoryFile
# the recipes live in their own module; their names stay importable from here, where users have always found them
from .recipes import (CIFAR10_RECIPE, MNIST_PI_RECIPE, MNIST_VALID_RECIPE, MPDBM_RECIPE, QUICK_DEFAULT,  # noqa: F401
                      QUICK_RECIPES, RECIPES, Recipe)

__all__ = ["DamagedRunError", "Recipe", "RunMismatchError", "TrainResult", "TrainState", "TrainingDiverged",
           "TrainingSettings", "describe_run", "recipe_for", "train"]


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite; the last good state is kept on disk."""


QUICK = {}  # settings put on top of every quick recipe (none here; tests shrink runs with it)


def recipe_for(model_name: str) -> Recipe:
    """The training recipe of a model preset; ``*_quick`` presets get their quick version (the quick recipes: :mod:`minilinpath.recipes`)."""
    quick = model_name.endswith("_quick")
    base = model_name[:-len("_quick")] if quick else model_name
    if base not in RECIPES:
        raise KeyError(f"no training recipe for {model_name!r}; known: {sorted(RECIPES)} (+ _quick).")
    if not quick:
        return RECIPES[base]
    return replace(RECIPES[base], **{**QUICK_RECIPES.get(base, QUICK_DEFAULT), **QUICK})


@dataclass(frozen=True)
class TrainState:
    """The optimiser's whole state at the end of an epoch: where a run stands, and where a branch starts.

    ``theta`` and ``velocity``: flat arrays of shape (n_params,); ``epoch``: the epochs of the schedules done
    so far; ``updates``: the minibatch updates done so far (``ExponentialDecay`` reads this count).

    A branch (``train(..., start=state)``) starts with the state's theta AND its momentum velocity, and its
    epoch and update counters go on from the state's, so the learning-rate and momentum schedules, the epoch's
    data order (``[data_seed, 1, k + 1]``, ...) and ``recipe.max_epochs`` (a schedule epoch: the branch trains
    max_epochs - k epochs) continue where that run was. Why copy the velocity: then a branch whose data seed is
    the run's own is exactly the run's continuation, bit for bit, and two branches differ in nothing but the
    data order and masks after k. Frankle et al. speak of copying the network (rewinding the weights); a zero
    velocity would add a restart of the momentum to the branch, a perturbation that is not SGD noise (small at
    momentum 0.5, whose memory is about two updates). The branch's folder counts its own epochs: its
    trajectory row 0 is the state's theta, row j the parameters after schedule epoch k + j. The state's digests
    and counters are part of the branch's fingerprint.
    """
    theta: object
    velocity: object
    epoch: int
    updates: int

    def describe(self, dtype) -> dict:
        """What a run started from this state depends on: theta and velocity (SHA-256 of their values in the
        run's dtype) and the two counters."""
        def digest(a):
            return array_digest(backend.to_numpy(a).astype(np.dtype(dtype), copy=False))
        return {"theta sha256": digest(self.theta), "velocity sha256": digest(self.velocity),
                "epoch": int(self.epoch), "updates": int(self.updates)}


@dataclass
class TrainResult:
    """What a training run left. ``best_valid_error`` is the classification error of the best epoch
    (None for language models, whose best epoch is chosen by ``best_valid_nll``). ``state``: the state at
    the end of the last epoch (branch a new run from it with ``train(..., start=result.state)``)."""
    run_dir: Path
    theta_init: object
    theta_best: object
    theta_last: object
    best_epoch: int
    best_valid_error: float | None
    best_valid_nll: float
    history: list = field(default_factory=list)
    stopped: str = ""
    rows: object = None  # the trajectory, (epochs + 1, n_params), memory-mapped while the run was locked
    state: TrainState | None = None
    statistics: dict | None = None  # a RunningStatistics model's running statistics after the last epoch

    def trajectory(self) -> TrajectoryFile:
        return TrajectoryFile(self.run_dir / "trajectory")

    def trajectory_rows(self):
        """The recorded trajectory as it was when training returned: a memory map opened under the run's lock,
        so it stays this run's even if another process later moves the folder aside (``--retrain``)."""
        return self.rows if self.rows is not None else self.trajectory().rows()


# ====================================================================== what a run depends on
def _refuse_two_start_points(theta_start, start) -> None:
    """A run starts from ``init(seed)``, from ``theta_start`` or from a start state: at most one is given."""
    if theta_start is not None and start is not None:
        raise ValueError("give theta_start (new counters, zero velocity) or start (a TrainState), not both.")


def describe_run(model, recipe, seed, train_set, valid_set, dtype=np.float32, trajectory_dtype="float32",
                 objective_name="nll", theta_start=None, labels=None, data_seed=None, start=None) -> dict:
    """Everything a run's result depends on (see :mod:`minilinpath.runs`): its fingerprint is this dict's hash.

    ``labels``: names that tell runs apart for people (data set name, profile); part of the fingerprint too.
    ``data_seed`` (of the data order and dropout masks) enters only when it differs from ``seed``, so a run
    that uses the seed for both has the description it had before the data seed existed. ``start``: a
    :class:`TrainState` the run branches from (its digests and counters replace ``init(seed)``). The seeds
    enter as ints (3.0 and ``np.int64(3)`` are the seed 3, the same run).
    """
    seed = whole_number(seed, "seed", least=0)
    data_seed = None if data_seed is None else whole_number(data_seed, "data_seed", least=0)
    _refuse_two_start_points(theta_start, start)
    start_point = "init(seed)"
    if theta_start is not None:
        start_point = "theta sha256 " + array_digest(theta_start)
    if start is not None:
        start_point = {"state": start.describe(dtype)}
    xp = backend.get_xp(train_set[0])
    description = {"format": RUN_FORMAT, "model": model.settings(), "layout": model.layout.table(),
                   "recipe": recipe.to_dict(), "seed": seed, "objective": objective_name, "start": start_point,
                   "dtype": str(np.dtype(dtype)), "trajectory_dtype": trajectory_dtype,
                   "device": "cpu" if xp is np else "gpu",
                   "data": data_description(X_train=train_set[0], y_train=train_set[1], X_valid=valid_set[0],
                                            y_valid=valid_set[1]),
                   "labels": dict(labels or {})}
    if data_seed is not None and data_seed != seed:
        description["data_seed"] = data_seed
    return description


# ====================================================================== checks of train()'s inputs
def check_training_data(train_set, valid_set, recipe: Recipe, dtype) -> None:
    """Refuse data a run cannot train on, before anything is written (DataError, one line)."""
    (X, y), (Xv, yv) = train_set, valid_set
    for name, (A, b) in (("training", train_set), ("validation", valid_set)):
        if A.shape[0] != b.shape[0]:
            raise DataError(f"the {name} set has {A.shape[0]} inputs but {b.shape[0]} targets.")
        if A.dtype != np.dtype(dtype):
            raise DataError(f"the {name} inputs are {A.dtype}, the run computes in {np.dtype(dtype)}; "
                            f"convert them with .astype(np.{np.dtype(dtype).name}).")
    need = recipe.batch_size if recipe.drop_last else 1
    if X.shape[0] < need:
        raise DataError(f"the training set has {X.shape[0]} examples, too few to train on "
                        f"(the recipe needs at least {need}).")
    if Xv.shape[0] < 1:
        raise DataError("the validation set is empty; early stopping and the best checkpoint need it.")


def check_start(model, start: TrainState, recipe: Recipe) -> TrainState:
    """Refuse a branch start that does not fit the model or leaves nothing to train (ValueError, one line).
    Returns the state with its counters as ints (a whole 3.0 becomes 3)."""
    for name, array in (("theta", start.theta), ("velocity", start.velocity)):
        if tuple(array.shape) != (model.layout.size,):
            raise ValueError(f"the start state's {name} has shape {tuple(array.shape)}, but {model.name} has "
                             f"{model.layout.size} parameters; branch from a run of this model.")
    start = replace(start, epoch=whole_number(start.epoch, "the start state's epoch"),
                    updates=whole_number(start.updates, "the start state's update count"))
    if not 0 <= start.epoch < recipe.max_epochs or start.updates < 0:
        raise ValueError(f"the start state is at epoch {start.epoch} (update {start.updates}); a branch needs "
                         f"0 <= epoch < max_epochs = {recipe.max_epochs} and updates >= 0.")
    return start


def check_start_point(model, recipe: Recipe, theta_start, start: TrainState | None) -> TrainState | None:
    """Refuse a start point a run cannot train from (ValueError, one line): both ``theta_start`` and ``start``,
    a start state that does not fit (:func:`check_start`), NaN or infinite values. Returns ``start`` checked."""
    _refuse_two_start_points(theta_start, start)
    points = {"theta_start": theta_start}
    if start is not None:
        start = check_start(model, start, recipe)
        points = {"the start state's theta": start.theta, "the start state's velocity": start.velocity}
    for name, point in points.items():
        if point is not None and not bool(backend.get_xp(point).isfinite(point).all()):
            raise ValueError(f"{name} holds NaN or infinite values; start from finite parameters.")
    return start


# ====================================================================== the settings of one call
def _silent(*args, **kwargs) -> None:
    """The log of a run that says nothing (``log=None``)."""


@dataclass(frozen=True, eq=False)
class TrainingSettings:
    """Everything one call of :func:`train` is given, checked once, when made (ValueError or DataError in one
    line, before anything is written). The steps of training read it and nothing else.

    what to train on   ``model``; ``train_set = (X, y)`` and ``valid_set``, NumPy or CuPy, in theta's ``dtype``
    how                ``recipe``; ``seed`` (initial theta) and ``data_seed`` (data order and dropout masks;
                       default: ``seed``); ``objective`` (default ``model.loss_and_grad``) named by
                       ``objective_name``; ``theta_start`` or ``start`` (default ``model.init(seed)``);
                       ``stop_when(history_entry) -> reason or None``
    where it is kept   ``run_dir``, with a trajectory of ``trajectory_dtype``; ``retrain`` moves an old folder
                       aside; ``labels`` and ``description`` (see :func:`describe_run`)
    what it says       ``progress`` (a bar per epoch), ``log`` (a line per epoch; None: nothing)

    The seeds become ints and a start state's counters too (3.0 -> 3: the same run as 3).
    """
    model: object
    train_set: tuple
    valid_set: tuple
    recipe: Recipe
    run_dir: object
    seed: int = 0
    objective: Callable | None = None
    objective_name: str = "nll"
    theta_start: object = None
    stop_when: Callable | None = None
    dtype: object = np.float32
    trajectory_dtype: str = "float32"
    progress: bool = True
    log: Callable | None = print
    labels: dict | None = None
    retrain: bool = False
    description: dict | None = None
    data_seed: int | None = None
    start: TrainState | None = None

    def __post_init__(self):
        """Check every input, in this order: seeds, start point, data (the settings are frozen: the checked
        values are put in with ``object.__setattr__``)."""
        object.__setattr__(self, "seed", whole_number(self.seed, "seed", least=0))
        if self.data_seed is not None:
            object.__setattr__(self, "data_seed", whole_number(self.data_seed, "data_seed", least=0))
        object.__setattr__(self, "start", check_start_point(self.model, self.recipe, self.theta_start, self.start))
        if self.objective is not None and isinstance(self.model, RunningStatistics):
            raise ValueError("a model with running statistics (batch normalization) trains on its own objective "
                             "only; leave objective out, or use a model without batchnorm.")
        if self.start is not None and (self.recipe.optimizer is not None or isinstance(self.model, RunningStatistics)):
            raise ValueError("branching (start=) carries the momentum velocity only; train SGD runs of models "
                             "without batchnorm, or start a fresh run.")
        check_training_data(self.train_set, self.valid_set, self.recipe, self.dtype)
        object.__setattr__(self, "log", self.log or _silent)

    @property
    def xp(self):
        """numpy or cupy: training runs where the training inputs live."""
        return backend.get_xp(self.train_set[0])

    @property
    def data_order_seed(self) -> int:
        """The seed of the data order and the dropout masks: ``data_seed``, or ``seed`` when none is given."""
        return self.seed if self.data_seed is None else self.data_seed

    @property
    def epoch_offset(self) -> int:
        """Schedule epochs done before this run's epoch 1: the start state's (0 without one)."""
        return 0 if self.start is None else self.start.epoch

    def describe(self) -> dict:
        """The run's description (its hash names the run): the one the caller gave, else :func:`describe_run`."""
        if self.description is not None:  # a caller that named the folder from it passes it (the data are hashed once)
            return self.description
        return describe_run(self.model, self.recipe, self.seed, self.train_set, self.valid_set, self.dtype,
                            self.trajectory_dtype, self.objective_name, self.theta_start, self.labels,
                            self.data_seed, self.start)


# ====================================================================== train(): check, then the recipe
def train(model, train_set, valid_set, recipe: Recipe, run_dir, seed: int = 0, objective=None,
          objective_name: str = "nll", theta_start=None, stop_when=None, dtype=np.float32,
          trajectory_dtype: str = "float32", progress: bool = True, log=print, labels=None,
          retrain: bool = False, description: dict | None = None, data_seed: int | None = None,
          start: TrainState | None = None) -> TrainResult:
    """Train ``model`` on ``train_set = (X, y)`` with early stopping on ``valid_set``.

    The arrays may be NumPy or CuPy (training runs where they live) and must
    have theta's dtype. ``objective(theta, batch, rng) -> (loss, grad)``
    replaces the default ``model.loss_and_grad(theta, batch, rng=rng)`` (used
    for adversarial training; name it with ``objective_name`` so that run
    folders of different objectives are told apart). ``theta_start`` starts
    from given parameters instead of ``model.init(seed)`` (a second training
    stage). ``stop_when(history_entry) -> str | None`` may end training after
    any epoch, with the returned reason.

    ``seed`` draws the initial theta; ``data_seed`` (default: ``seed``) the
    order of the examples and the dropout masks of every epoch. Two runs with
    one seed and two data seeds start at the same point and see different
    minibatches: the SGD noise of Frankle et al. (2020).

    ``start``: a :class:`TrainState` to branch from, e.g. ``result.state`` of a
    run stopped at the end of its epoch k: the branch goes on with that run's
    theta, momentum velocity, schedules and data order (see :class:`TrainState`).

    ``run_dir`` is a :class:`minilinpath.runs.RunFolder`: locked while this
    runs, checked when it already holds this run (then training resumes after
    its last finished epoch, or returns at once if it finished), refused when
    it holds another run. ``retrain`` moves an existing folder aside first.
    ``description``: :func:`describe_run` of exactly these arguments, when the
    caller has already computed it (to name the folder); computed here otherwise.
    Every argument is checked first (:class:`TrainingSettings`), before anything is written.
    """
    settings = TrainingSettings(
        model=model, train_set=train_set, valid_set=valid_set, recipe=recipe, run_dir=run_dir, seed=seed,
        objective=objective, objective_name=objective_name, theta_start=theta_start, stop_when=stop_when,
        dtype=dtype, trajectory_dtype=trajectory_dtype, progress=progress, log=log, labels=labels,
        retrain=retrain, description=description, data_seed=data_seed, start=start)
    with RunFolder(settings.run_dir, settings.describe(), model.layout, trajectory_dtype, retrain=retrain,
                   log=settings.log) as folder:
        return _train_in(settings, folder)


def _train_in(settings: TrainingSettings, folder: RunFolder) -> TrainResult:
    """The recipe, in the open run folder: pick the run up where it stands, then epoch after epoch (train,
    validate, checkpoint) until there is a reason to stop."""
    run = _resume(settings, folder) if folder.started else _begin(settings, folder)
    update = _update_rule(settings, run.theta, run)
    recipe = settings.recipe
    while not run.stopped:
        run.epoch += 1
        epoch = settings.epoch_offset + run.epoch  # the schedules' epoch (= run.epoch unless the run is a branch)
        started = time.perf_counter()
        lr, mu = recipe.lr(run.updates, epoch), recipe.mu(epoch)  # recorded: the rates at the epoch's start
        train_objective = _train_one_epoch(settings, folder, run, update, epoch)
        error, nll = _evaluate(_evaluated(settings.model, run), run.theta, settings.valid_set)
        run.history.append({"epoch": run.epoch, "train_objective": train_objective, "valid_error": error,
                            "valid_nll": nll, "lr": lr, "momentum": mu,
                            "seconds": round(time.perf_counter() - started, 3)})
        new_best = run.record_validation(error)
        run.stopped = _stop_reason(settings, run, epoch)
        _save_best_statistics(folder, run, new_best)
        folder.end_epoch(run.theta, run.history, run.meta(), new_best=new_best, **run.arrays())
        settings.log(f"epoch {epoch:4d}  train objective {train_objective:.4f}  valid error {error:.4f}  "
                     f"valid nll {nll:.4f}  ({run.history[-1]['seconds']:.1f}s)")
    theta_best = folder.load_best(settings.xp).astype(settings.dtype)
    return TrainResult(folder.path, run.theta_init, theta_best, run.theta, run.best_epoch, run.best_error,
                       run.history[run.best_epoch]["valid_nll"], run.history, run.stopped, folder.trajectory.rows(),
                       TrainState(run.theta, run.velocity, settings.epoch_offset + run.epoch, run.updates),
                       run.statistics)


# ====================================================================== the steps
@dataclass
class Standing:
    """Where a run stands at the end of an epoch: the optimiser's arrays (flat, (n_params,)), the run's own
    epoch and the updates done, the early-stopping bookkeeping, the history so far and why it stopped
    ("" while it goes on)."""
    theta: object
    velocity: object
    theta_init: object
    history: list
    epoch: int
    updates: int
    best_error: float
    best_epoch: int
    since_best: int
    stopped: str = ""
    optimizer_state: dict = field(default_factory=dict)   # Adam's or RMSProp's moments, by name
    statistics: dict | None = None                        # a RunningStatistics model's running statistics

    def arrays(self) -> dict:
        """The arrays saved beside theta in ``state.npz``: the velocity, the optimiser's moments and the
        running statistics (``statistics:<name>``; never in theta)."""
        return {"velocity": self.velocity, **self.optimizer_state,
                **{STATISTICS_PREFIX + k: v for k, v in (self.statistics or {}).items()}}

    def record_validation(self, error: float) -> bool:
        """After an epoch: a lower validation error is the new best (True), else one more epoch without one."""
        if error < self.best_error:
            self.best_error, self.best_epoch, self.since_best = error, self.epoch, 0
            return True
        self.since_best += 1
        return False

    def meta(self) -> dict:
        """The counters saved beside theta in ``state.npz``: what resuming needs besides the arrays."""
        return {"epoch": self.epoch, "updates": self.updates, "best_error": self.best_error,
                "best_epoch": self.best_epoch, "since_best": self.since_best, "stopped": self.stopped}


def _begin(settings: TrainingSettings, folder: RunFolder) -> Standing:
    """A fresh run: epoch 0 is the initial point (``init(seed)``, ``theta_start`` or the start state's),
    validated as pylearn2 does, and committed to the folder."""
    model, xp, dtype, start = settings.model, settings.xp, settings.dtype, settings.start
    if start is not None:  # a branch: the other run's parameters, velocity and update count
        theta = xp.array(start.theta, dtype=dtype, copy=True)  # never update the caller's arrays
        velocity = xp.array(start.velocity, dtype=dtype, copy=True)
        updates = start.updates
    else:
        theta = (model.init(settings.seed, xp=xp, dtype=dtype) if settings.theta_start is None
                 else xp.array(settings.theta_start, dtype=dtype, copy=True))
        velocity, updates = xp.zeros_like(theta), 0
    optimizer = settings.recipe.optimizer
    run = Standing(theta=theta, velocity=velocity, theta_init=theta.copy(), history=[], epoch=0, updates=updates,
                   best_error=math.inf, best_epoch=0, since_best=0,
                   optimizer_state={} if optimizer is None else {k: xp.zeros_like(theta) for k in optimizer.state_names},
                   statistics=model.fresh_statistics(xp, dtype) if isinstance(model, RunningStatistics) else None)
    error, nll = _evaluate(_evaluated(model, run), theta, settings.valid_set)
    run.best_error = error
    _save_best_statistics(folder, run, True)
    run.history = folder.begin(run.theta_init, {"epoch": 0, "train_objective": None, "valid_error": error,
                                                "valid_nll": nll, "lr": None, "momentum": None, "seconds": 0.0},
                               run.meta(), **run.arrays())
    return run


def _resume(settings: TrainingSettings, folder: RunFolder) -> Standing:
    """A started run: the state after its last finished epoch, read back and checked by the folder."""
    point, dtype = folder.resume(settings.xp), settings.dtype
    meta = point.meta
    run = Standing(theta=point.theta.astype(dtype), velocity=point.arrays["velocity"].astype(dtype),
                   theta_init=point.theta_init.astype(dtype), history=point.history, epoch=meta["epoch"],
                   updates=meta["updates"], best_error=meta["best_error"], best_epoch=meta["best_epoch"],
                   since_best=meta["since_best"], stopped=meta.get("stopped", ""))
    optimizer = settings.recipe.optimizer
    run.optimizer_state = {} if optimizer is None else {k: point.arrays[k].astype(dtype) for k in optimizer.state_names}
    if isinstance(settings.model, RunningStatistics):
        run.statistics = {k[len(STATISTICS_PREFIX):]: v.astype(dtype) for k, v in point.arrays.items()
                          if k.startswith(STATISTICS_PREFIX)}
    settings.log(f"{folder.path}: already trained ({run.stopped}); reusing it." if run.stopped
                 else f"{folder.path}: resuming after epoch {run.epoch}.")
    return run


@dataclass(frozen=True)
class UpdateRule:
    """What every minibatch update uses besides the schedules: ``gradient(theta, batch, rng) -> (loss, grad)``,
    the model's per-parameter learning-rate multipliers (None: all ones) and its constraint (None: none)."""
    gradient: Callable
    lr_scales: object = None
    constrain: Callable | None = None


STATISTICS_PREFIX = "statistics:"   # the running statistics' arrays in state.npz


def _evaluated(model, run: Standing):
    """The model as validation sees it: with the run's running statistics when it has some."""
    return model if run.statistics is None else model.with_statistics(run.statistics)


def _save_best_statistics(folder: RunFolder, run: Standing, new_best: bool) -> None:
    """Beside ``best.npz``: ``best_statistics.npz``, the running statistics of the best epoch (written first)."""
    if new_best and run.statistics is not None:
        io.write_npz(folder.file("best_statistics.npz"), **{k: backend.to_numpy(v) for k, v in run.statistics.items()})


def load_statistics(run_dir, which: str = "best") -> dict:
    """A run's running statistics: ``"best"`` (of the best epoch, beside best.npz) or ``"last"`` (state.npz)."""
    path = Path(run_dir) / ("best_statistics.npz" if which == "best" else "state.npz")
    with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as f:
        if which == "best":
            return {k: f[k] for k in f.files}
        return {k[len(STATISTICS_PREFIX):]: f[k] for k in f.files if k.startswith(STATISTICS_PREFIX)}


def _update_rule(settings: TrainingSettings, theta, run: Standing | None = None) -> UpdateRule:
    """The run's :class:`UpdateRule`: the given objective or ``model.loss_and_grad``, and what the model declares
    in the contract (:class:`~minilinpath.contract.ScaledLearningRates`, :class:`~minilinpath.contract.Constrained`)."""
    model, gradient = settings.model, settings.objective
    if gradient is None:
        grad_buffer = settings.xp.empty_like(theta)  # reused by every update

        def gradient(theta, batch, rng):
            return model.loss_and_grad(theta, batch, rng=rng, out=grad_buffer)

        if run is not None and run.statistics is not None:   # batch normalization: fold the batch's statistics in
            def gradient(theta, batch, rng):
                loss, grad, batch_statistics = model.loss_grad_and_statistics(theta, batch, rng=rng, out=grad_buffer)
                model.update_statistics(run.statistics, batch_statistics)
                return loss, grad
    # per-parameter learning-rate multipliers (pylearn2's W_lr_scale / b_lr_scale), if the model has any
    lr_scales = model.lr_scales(settings.xp, theta.dtype) if isinstance(model, ScaledLearningRates) else None
    return UpdateRule(gradient, lr_scales, model.constrain if isinstance(model, Constrained) else None)


def _batch_starts(n: int, recipe: Recipe) -> range:
    """Where each minibatch starts in the epoch's order of n examples (only full ones with ``drop_last``)."""
    return range(0, n - (n % recipe.batch_size if recipe.drop_last else 0), recipe.batch_size)


def _train_one_epoch(settings: TrainingSettings, folder: RunFolder, run: Standing, update: UpdateRule,
                     epoch: int) -> float:
    """One pass over the training set in schedule epoch ``epoch``; returns the mean training objective.

    The examples in the order ``default_rng([data seed, 1, epoch])``, dropout masks from ``rng([data seed, 2,
    epoch])``; per minibatch of the order (t = the updates done so far):

        (J, g) = gradient(theta, batch);  g <- g * lr_scales;
        v <- mu_epoch v - lr_t g;  theta <- theta + v  (momentum_step);  constrain(theta)

    A NaN/inf loss or parameters stop training (:class:`TrainingDiverged`) before anything of the epoch is saved.
    """
    recipe, (X, y), xp = settings.recipe, settings.train_set, settings.xp
    mu = recipe.mu(epoch)
    order = np.random.default_rng([settings.data_order_seed, 1, epoch]).permutation(X.shape[0])
    dropout_rng = backend.rng([settings.data_order_seed, 2, epoch], xp)
    losses = []
    for first in progress_bar(_batch_starts(X.shape[0], recipe), desc=f"epoch {epoch}", enabled=settings.progress,
                              unit="batch"):
        idx = order[first:first + recipe.batch_size]
        idx = idx if xp is np else xp.asarray(idx)
        loss, grad = update.gradient(run.theta, (X[idx], y[idx]), dropout_rng)
        if not math.isfinite(loss):
            raise TrainingDiverged(
                f"the training loss became {loss} in epoch {epoch} (update {run.updates + 1}). Stopped; "
                f"the last good state (end of epoch {epoch - 1}) is in {folder.file('state.npz')} and "
                f"the best checkpoint in {folder.file('best.npz')}. Lower the learning rate or check the data "
                "for NaN/inf.")
        if update.lr_scales is not None:
            grad *= update.lr_scales
        if recipe.optimizer is None:
            momentum_step(run.theta, run.velocity, grad, recipe.lr(run.updates, epoch), mu)
        else:   # Adam or RMSProp: the (run.updates + 1)-th update
            recipe.optimizer.step(run.theta, run.optimizer_state, grad, recipe.lr(run.updates, epoch), run.updates + 1)
        if update.constrain is not None:
            update.constrain(run.theta)
        run.updates += 1
        losses.append(loss)
    if not bool(xp.isfinite(run.theta).all()):  # a finite loss with a NaN/inf gradient: never save such a state
        raise TrainingDiverged(
            f"the parameters became NaN or infinite in epoch {epoch} (update {run.updates}) while the loss "
            f"was finite. Stopped; the last good state (end of epoch {epoch - 1}) is in "
            f"{folder.file('state.npz')}. Lower the learning rate or check the gradient for NaN/inf.")
    return float(np.mean(losses))


def _evaluate(model, theta, valid_set):
    """``(validation error, validation loss)``, in one pass when the model can
    (:class:`~minilinpath.contract.EvaluatesInOnePass`)."""
    if isinstance(model, EvaluatesInOnePass):
        loss, error = model.evaluate(theta, valid_set)
        return error, loss
    return model.error_rate(theta, valid_set), model.loss(theta, valid_set)


def _stop_reason(settings: TrainingSettings, run: Standing, epoch: int) -> str:
    """Why training ends after schedule epoch ``epoch`` ("" to go on): the caller's ``stop_when``, then the
    recipe's patience, then its ``max_epochs``."""
    recipe = settings.recipe
    reason = settings.stop_when(run.history[-1]) if settings.stop_when is not None else None
    if reason:
        return reason
    if recipe.patience is not None and run.since_best >= recipe.patience:
        return f"early stopping: no better validation error for {recipe.patience} epochs"
    if epoch >= recipe.max_epochs:
        return f"reached max_epochs={recipe.max_epochs}"
    return ""
