"""Training on the flat parameter vector: SGD + momentum, schedules, max-norm, early stopping.

One call, :func:`train`, runs a recipe and keeps everything in a run folder
(:class:`minilinpath.runs.RunFolder`: locked, fingerprinted, checked on reuse)::

    run.json        what was trained: model settings, layout, recipe, seed, data content hashes, ...
    init.npz        theta at initialisation (the start of every linear path)
    best.npz        theta with the lowest validation error so far (pylearn2's *_best.pkl)
    state.npz       the state at the end of the last finished epoch (theta, velocity, counters)
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
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from . import backend
from .optim import (ExponentialDecay, LinearDecayOverEpoch, MomentumAdjustor, check_real, check_whole, momentum_step,
                    schedule_from_dict, schedule_to_dict)
from .data import DataError
from .progress import progress_bar
from .runs import RUN_FORMAT, DamagedRunError, RunFolder, RunMismatchError, array_digest, data_description
from .trajfile import TrajectoryFile

__all__ = ["DamagedRunError", "Recipe", "RunMismatchError", "TrainResult", "TrainState", "TrainingDiverged",
           "describe_run", "recipe_for", "train"]


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite; the last good state is kept on disk."""


@dataclass(frozen=True)
class Recipe:
    """How to train: minibatch SGD with momentum, schedules and early stopping.

    ``patience``: stop after this many epochs without a new best validation
    error (pylearn2 ``MonitorBased`` with ``prop_decrease=0``); ``None`` trains
    for ``max_epochs``. ``drop_last``: only full minibatches.
    """
    batch_size: int = 100
    learning_rate: float = 0.1
    lr_schedule: object = None
    momentum: float = 0.5
    momentum_schedule: object = None
    max_epochs: int = 1000
    patience: int | None = 100
    drop_last: bool = False  # skip the last, smaller minibatch of an epoch (pylearn2's "even" iteration modes)

    def __post_init__(self):
        """Refuse a recipe that cannot train (ValueError, one line); NumPy scalars become Python numbers (run.json)."""
        settings = {"batch_size": check_whole("batch_size", self.batch_size, 1),
                    "max_epochs": check_whole("max_epochs", self.max_epochs, 1),
                    "patience": None if self.patience is None else check_whole("patience", self.patience, 1),
                    "learning_rate": check_real("learning_rate", self.learning_rate, lambda v: 0 < v < math.inf,
                                                "a finite number > 0"),
                    "momentum": check_real("momentum", self.momentum, lambda v: 0 <= v < 1, "in [0, 1)")}
        if not isinstance(self.drop_last, bool):
            raise ValueError(f"drop_last must be True or False, got {self.drop_last!r}.")
        if self.lr_schedule is not None and not isinstance(self.lr_schedule, (ExponentialDecay, LinearDecayOverEpoch)):
            raise ValueError(f"lr_schedule must be None, an ExponentialDecay or a LinearDecayOverEpoch, "
                             f"got {self.lr_schedule!r}.")
        if self.momentum_schedule is not None and not isinstance(self.momentum_schedule, MomentumAdjustor):
            raise ValueError(f"momentum_schedule must be None or a MomentumAdjustor, got {self.momentum_schedule!r}.")
        for name, value in settings.items():  # a NumPy scalar -> the same Python number (else unchanged)
            object.__setattr__(self, name, value)

    def lr(self, update: int, epoch: int) -> float:
        return self.learning_rate if self.lr_schedule is None else self.lr_schedule.lr(self.learning_rate, update, epoch)

    def mu(self, epoch: int) -> float:
        return self.momentum if self.momentum_schedule is None else self.momentum_schedule.momentum(self.momentum, epoch)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["lr_schedule"] = schedule_to_dict(self.lr_schedule)
        d["momentum_schedule"] = schedule_to_dict(self.momentum_schedule)
        return d

    @classmethod
    def from_dict(cls, d) -> "Recipe":
        d = dict(d)
        d["lr_schedule"] = schedule_from_dict(d["lr_schedule"])
        d["momentum_schedule"] = schedule_from_dict(d["momentum_schedule"])
        return cls(**d)


# docs/CONFIGS.md section 1: mnist_pi.yaml (stage 1, early stopping on 50k/10k)
MNIST_PI_RECIPE = Recipe(batch_size=100, learning_rate=0.1, lr_schedule=ExponentialDecay(1.000004, 1e-6),
                         momentum=0.5, momentum_schedule=MomentumAdjustor(1, 250, 0.7), max_epochs=10_000,
                         patience=100)
# docs/CONFIGS.md section 3: cifar10_no_aug_valid.yaml (batch 128; Dec 2014: 312 full batches per epoch)
CIFAR10_RECIPE = Recipe(batch_size=128, learning_rate=0.17, lr_schedule=LinearDecayOverEpoch(1, 500, 0.01),
                        momentum=0.5, momentum_schedule=MomentumAdjustor(1, 250, 0.6), max_epochs=10_000,
                        patience=100, drop_last=True)
# docs/CONFIGS.md section 4: mpdbm.yaml (the learning rate is large because the cost is a per-pixel mean)
MPDBM_RECIPE = Recipe(batch_size=100, learning_rate=15.146493, lr_schedule=LinearDecayOverEpoch(1, 868, 0.020379),
                      momentum=0.5, momentum_schedule=MomentumAdjustor(1, 2, 0.732716), max_epochs=10_000,
                      patience=100)
# docs/CONFIGS.md section 2: mnist_valid.yaml
MNIST_VALID_RECIPE = Recipe(batch_size=100, learning_rate=0.097259, lr_schedule=LinearDecayOverEpoch(1, 560, 0.022292),
                            momentum=0.5, momentum_schedule=MomentumAdjustor(1, 698, 0.699217), max_epochs=10_000,
                            patience=100)
RECIPES = {"mnist_pi": MNIST_PI_RECIPE, "mnist_valid": MNIST_VALID_RECIPE, "relu": MNIST_VALID_RECIPE,
           "sigmoid": MNIST_VALID_RECIPE, "cifar10_maxout": CIFAR10_RECIPE, "mpdbm": MPDBM_RECIPE}
# ---- The quick profile (the *_quick presets on 8,000-10,000 examples, 80-100 updates per epoch).
# The MLPs get the paper's recipe with its schedules *compressed in time*, so that the learning rate really
# decays within a quick run and early stopping (patience 20) ends it well before the cap. With the paper's
# schedules cut at 30 epochs (the former quick profile) the learning rate had barely moved (maxout: 0.1 -> 0.099,
# ReLU: 0.097 -> 0.092) and the runs were stopped, not converged: measured on mnist-test, the best validation
# epoch was 26-30 of 30 for most runs and the init -> solution lines kept falling past alpha = 1.
# - maxout (mnist_pi): ExponentialDecay per update, lr / 1.0003^t instead of lr / 1.000004^t, i.e. lr / 11 after
#   8,000 updates (epoch 100 of mnist-test) instead of after 600,000; the momentum ramp 0.5 -> 0.7 over 25 epochs
#   instead of 250. Its tiny init U(+-0.005) sits on the plateau around theta = 0 for ~6 epochs (~480 updates),
#   so the decay must stay slow at first: with 1.0007 per update the plateau lasted 10 epochs and the run ended
#   at 3.95% (best epoch 68); with 1.0003: 2.8% validation error, best epoch 72 of 92 run.
# - ReLU with and without dropout (mnist_valid, relu): LinearDecayOverEpoch saturating at epoch 40 instead of
#   560 (same final factor 0.022292), momentum 0.5 -> 0.699 over 50 epochs instead of 698. ReLU-dropout on
#   mnist-test: best epoch 45 of 65 run, 3.35% validation error.
# - sigmoid: learning rate 0.25 instead of 0.097259, both schedules saturating at epoch 100. Sigmoid units pass
#   at most 1/4 of the gradient a ReLU passes, and at the paper's rate the net learns too slowly for a quick run.
#   Measured with this recipe, only the rate changed (docs/experiments/sigmoid_rise.py, mnist-test, seed 0; rise =
#   max J - J(0) on alpha in [0, 0.25]): lr 0.097259: 8.60% validation error (117 epochs run), rise 0.020 at
#   alpha 0.09; lr 0.25: 5.70% (104 run, best epoch 84), rise 0.013 at 0.06; lr 1.0: 3.45% (96 run), rise 0.127 at
#   0.11. 0.25 trains well within the cap with the smallest rise. Near alpha = 0 every sigmoid unit sits at 1/2
#   whatever the input, so the logits there are alpha s, s = W_out (1/2) + b_out: class scores that do not depend
#   on the input; J(alpha) ~ log 10 + alpha^2 var(s)/2 at first (within 25% at alpha = 0.01 in every run), until
#   the input-dependent part takes over (std(s): 4.6, 5.3, 9.6 for the three rates).
# Other quick presets (convolutional maxout, MP-DBM) keep the paper's schedules, cut at 30 epochs (patience 10).
QUICK_DEFAULT = dict(max_epochs=30, patience=10)
_QUICK_RELU = dict(lr_schedule=LinearDecayOverEpoch(1, 40, 0.022292),
                   momentum_schedule=MomentumAdjustor(1, 50, 0.699217), max_epochs=150, patience=20)
QUICK_RECIPES = {
    "mnist_pi": dict(lr_schedule=ExponentialDecay(1.0003, 1e-6), momentum_schedule=MomentumAdjustor(1, 25, 0.7),
                     max_epochs=150, patience=20),
    "mnist_valid": _QUICK_RELU,
    "relu": _QUICK_RELU,
    "sigmoid": dict(learning_rate=0.25, lr_schedule=LinearDecayOverEpoch(1, 100, 0.022292),
                    momentum_schedule=MomentumAdjustor(1, 100, 0.699217), max_epochs=200, patience=20),
}
QUICK = {}  # settings put on top of every quick recipe (none here; tests shrink runs with it)


def recipe_for(model_name: str) -> Recipe:
    """The training recipe of a model preset; ``*_quick`` presets get their quick version (see above)."""
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

    def trajectory(self) -> TrajectoryFile:
        return TrajectoryFile(self.run_dir / "trajectory")

    def trajectory_rows(self):
        """The recorded trajectory as it was when training returned: a memory map opened under the run's lock,
        so it stays this run's even if another process later moves the folder aside (``--retrain``)."""
        return self.rows if self.rows is not None else self.trajectory().rows()


def describe_run(model, recipe, seed, train_set, valid_set, dtype=np.float32, trajectory_dtype="float32",
                 objective_name="nll", theta_start=None, labels=None, data_seed=None, start=None) -> dict:
    """Everything a run's result depends on (see :mod:`minilinpath.runs`): its fingerprint is this dict's hash.

    ``labels``: names that tell runs apart for people (data set name, profile); part of the fingerprint too.
    ``data_seed`` (of the data order and dropout masks) enters only when it differs from ``seed``, so a run
    that uses the seed for both has the description it had before the data seed existed. ``start``: a
    :class:`TrainState` the run branches from (its digests and counters replace ``init(seed)``).
    """
    if theta_start is not None and start is not None:
        raise ValueError("give theta_start (new counters, zero velocity) or start (a TrainState), not both.")
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
    run stopped at the end of its epoch k. The branch starts with the state's
    theta AND its momentum velocity, and its epoch and update counters go on
    from k and the state's update count, so the learning-rate and momentum
    schedules, the epoch's data order (``[data_seed, 1, k + 1]``, ...) and
    ``recipe.max_epochs`` (a schedule epoch: the branch trains max_epochs - k
    epochs) continue where that run was. Why copy the velocity: then a branch
    whose data seed is the run's own is exactly the run's continuation, bit for
    bit, and two branches differ in nothing but the data order and masks after
    k. Frankle et al. speak of copying the network (rewinding the weights); a
    zero velocity would add a restart of the momentum to the branch, a
    perturbation that is not SGD noise (small at momentum 0.5, whose memory
    is about two updates). The branch's folder counts its own epochs: its
    trajectory row 0 is the state's theta, row j the parameters after schedule
    epoch k + j. The state's digests and counters are part of the branch's
    fingerprint.

    ``run_dir`` is a :class:`minilinpath.runs.RunFolder`: locked while this
    runs, checked when it already holds this run (then training resumes after
    its last finished epoch, or returns at once if it finished), refused when
    it holds another run. ``retrain`` moves an existing folder aside first.
    ``description``: :func:`describe_run` of exactly these arguments, when the
    caller has already computed it (to name the folder); computed here otherwise.
    """
    seed = check_whole("seed", seed, 0)  # a NumPy integer becomes a Python int (run.json holds it)
    data_seed = None if data_seed is None else check_whole("data_seed", data_seed, 0)
    if start is not None:
        check_start(model, start, recipe)
    start_points = {"theta_start": theta_start}
    if start is not None:
        start_points.update({"the start state's theta": start.theta, "the start state's velocity": start.velocity})
    for name, point in start_points.items():
        if point is not None and not bool(backend.get_xp(point).isfinite(point).all()):
            raise ValueError(f"{name} holds NaN or infinite values; start from finite parameters.")
    check_training_data(train_set, valid_set, recipe, dtype)
    xp = backend.get_xp(train_set[0])
    log = log or (lambda *a, **k: None)
    if description is None:  # a caller that named the folder from it passes it (the data are hashed once)
        description = describe_run(model, recipe, seed, train_set, valid_set, dtype, trajectory_dtype,
                                   objective_name, theta_start, labels, data_seed, start)
    data_seed = seed if data_seed is None else data_seed
    with RunFolder(run_dir, description, model.layout, trajectory_dtype, retrain=retrain, log=log) as folder:
        return _train_in(folder, model, train_set, valid_set, recipe, seed, objective, theta_start, stop_when,
                         dtype, progress, log, xp, data_seed, start_state=start)


def check_start(model, start: TrainState, recipe: Recipe) -> None:
    """Refuse a branch start that does not fit the model or leaves nothing to train (ValueError, one line)."""
    for name in ("theta", "velocity"):
        shape = tuple(getattr(start, name).shape)
        if shape != (model.layout.size,):
            raise ValueError(f"the start state's {name} has shape {shape}, but {model.name} has "
                             f"{model.layout.size} parameters; branch from a run of this model.")
    if not 0 <= start.epoch < recipe.max_epochs or start.updates < 0:
        raise ValueError(f"the start state is at epoch {start.epoch} (update {start.updates}); a branch needs "
                         f"0 <= epoch < max_epochs = {recipe.max_epochs} and updates >= 0.")


def _train_in(folder, model, train_set, valid_set, recipe, seed, objective, theta_start, stop_when, dtype,
              progress, log, xp, data_seed, start_state) -> TrainResult:
    offset = 0 if start_state is None else start_state.epoch  # a schedule epoch = offset + the run's own epoch
    if folder.started:  # resume, or reuse a finished run
        point = folder.resume(xp)
        theta, velocity = point.theta.astype(dtype), point.arrays["velocity"].astype(dtype)
        theta_init, history, meta = point.theta_init.astype(dtype), point.history, point.meta
        epoch, updates = meta["epoch"], meta["updates"]
        best_error, best_epoch, since_best = meta["best_error"], meta["best_epoch"], meta["since_best"]
        stopped = meta.get("stopped", "")
        log(f"{folder.path}: already trained ({stopped}); reusing it." if stopped
            else f"{folder.path}: resuming after epoch {epoch}.")
    else:  # fresh start: epoch 0 is the initial point, monitored like pylearn2 does
        if start_state is not None:  # a branch: the other run's parameters, velocity and update count
            theta = xp.array(start_state.theta, dtype=dtype, copy=True)  # never update the caller's arrays
            velocity = xp.array(start_state.velocity, dtype=dtype, copy=True)
            updates = start_state.updates
        else:
            theta = (model.init(seed, xp=xp, dtype=dtype) if theta_start is None
                     else xp.array(theta_start, dtype=dtype, copy=True))
            velocity, updates = xp.zeros_like(theta), 0
        theta_init = theta.copy()
        error, nll = _evaluate(model, theta, valid_set)
        epoch, best_error, best_epoch, since_best, stopped = 0, error, 0, 0, ""
        history = folder.begin(theta_init, {"epoch": 0, "train_objective": None, "valid_error": error,
                                            "valid_nll": nll, "lr": None, "momentum": None, "seconds": 0.0},
                               _state_meta(epoch, updates, best_error, best_epoch, since_best, ""), velocity=velocity)

    X, y = train_set
    n = X.shape[0]
    grad_buffer = xp.empty_like(theta)  # reused by every update
    # per-parameter learning-rate multipliers (pylearn2's W_lr_scale / b_lr_scale), if the model has any
    lr_scales = model.lr_scales(xp, theta.dtype) if hasattr(model, "lr_scales") else None
    if objective is None:
        def objective(theta, batch, rng):
            return model.loss_and_grad(theta, batch, rng=rng, out=grad_buffer)
    while not stopped:
        epoch += 1
        schedule_epoch = offset + epoch  # = epoch, unless the run branched from another one's epoch offset
        lr_epoch, mu = recipe.lr(updates, schedule_epoch), recipe.mu(schedule_epoch)
        order = np.random.default_rng([data_seed, 1, schedule_epoch]).permutation(n)
        dropout_rng = backend.rng([data_seed, 2, schedule_epoch], xp)
        started, losses = time.perf_counter(), []
        batches = range(0, n - (n % recipe.batch_size if recipe.drop_last else 0), recipe.batch_size)
        for start in progress_bar(batches, desc=f"epoch {schedule_epoch}", enabled=progress, unit="batch"):
            idx = order[start:start + recipe.batch_size]
            idx = idx if xp is np else xp.asarray(idx)
            loss, grad = objective(theta, (X[idx], y[idx]), dropout_rng)
            if not math.isfinite(loss):
                raise TrainingDiverged(
                    f"the training loss became {loss} in epoch {schedule_epoch} (update {updates + 1}). Stopped; "
                    f"the last good state (end of epoch {schedule_epoch - 1}) is in {folder.file('state.npz')} and "
                    f"the best checkpoint in {folder.file('best.npz')}. Lower the learning rate or check the data "
                    "for NaN/inf."
                )
            if lr_scales is not None:
                grad *= lr_scales
            momentum_step(theta, velocity, grad, recipe.lr(updates, schedule_epoch), mu)
            model.constrain(theta)
            updates += 1
            losses.append(loss)
        if not bool(xp.isfinite(theta).all()):  # a finite loss with a NaN/inf gradient: never save such a state
            raise TrainingDiverged(
                f"the parameters became NaN or infinite in epoch {schedule_epoch} (update {updates}) while the loss "
                f"was finite. Stopped; the last good state (end of epoch {schedule_epoch - 1}) is in "
                f"{folder.file('state.npz')}. Lower the learning rate or check the gradient for NaN/inf."
            )
        error, nll = _evaluate(model, theta, valid_set)
        history.append({"epoch": epoch, "train_objective": float(np.mean(losses)), "valid_error": error,
                        "valid_nll": nll, "lr": lr_epoch, "momentum": mu,
                        "seconds": round(time.perf_counter() - started, 3)})
        new_best = error < best_error
        if new_best:
            best_error, best_epoch, since_best = error, epoch, 0
        else:
            since_best += 1
        reason = stop_when(history[-1]) if stop_when is not None else None
        if reason:
            stopped = reason
        elif recipe.patience is not None and since_best >= recipe.patience:
            stopped = f"early stopping: no better validation error for {recipe.patience} epochs"
        elif schedule_epoch >= recipe.max_epochs:
            stopped = f"reached max_epochs={recipe.max_epochs}"
        folder.end_epoch(theta, history, _state_meta(epoch, updates, best_error, best_epoch, since_best, stopped),
                         new_best=new_best, velocity=velocity)
        log(f"epoch {schedule_epoch:4d}  train objective {history[-1]['train_objective']:.4f}  "
            f"valid error {error:.4f}  valid nll {nll:.4f}  ({history[-1]['seconds']:.1f}s)")

    theta_best = folder.load_best(xp).astype(dtype)
    return TrainResult(folder.path, theta_init, theta_best, theta, best_epoch, best_error,
                       history[best_epoch]["valid_nll"], history, stopped, folder.trajectory.rows(),
                       TrainState(theta, velocity, offset + epoch, updates))


def _evaluate(model, theta, valid_set):
    """``(validation error, validation loss)``, in one pass when the model offers ``evaluate``."""
    if hasattr(model, "evaluate"):
        loss, error = model.evaluate(theta, valid_set)
        return error, loss
    return model.error_rate(theta, valid_set), model.loss(theta, valid_set)


def _state_meta(epoch, updates, best_error, best_epoch, since_best, stopped) -> dict:
    return {"epoch": epoch, "updates": updates, "best_error": best_error, "best_epoch": best_epoch,
            "since_best": since_best, "stopped": stopped}
