"""Training the LSTM language model: truncated backpropagation through time, as Zaremba et al.

Per epoch, the training stream (batch-major, see ``data.ptb``) is read window by
window of ``steps`` tokens, the LSTM state carried from one window to the next
(and reset to zero at the start of each epoch). Per window:

    g = steps * dJ/dtheta         J = mean per-token NLL of the window, so g is the gradient of
                                  sum over t of the batch-mean NLL, the quantity Zaremba's code uses
    if ||g|| > max_grad_norm: g <- g * max_grad_norm / ||g||       (global norm clipping)
    theta <- theta - lr * g       (plain SGD, no momentum)

Learning rate of epoch e (1-based): lr0 / decay^max(e - max_epoch, 0), i.e.
max_epoch epochs at lr0, then divided by ``decay`` every epoch (the paper's
wording and TensorFlow's schedule; Zaremba's Torch loop starts the decay one
epoch later). Runs for ``max_max_epoch`` epochs, no early stopping.

The run folder is a :class:`minilinpath.runs.RunFolder` with the same files as
:func:`minilinpath.train.train`'s (run.json, init.npz, best.npz, state.npz, history.json, trajectory.bin);
dropout masks of epoch e come from ``rng([seed, 2, e])``, so a resumed run
equals an uninterrupted one.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from . import backend
from .checks import real_number, whole_number
from .data.ptb import stream_pairs, windows
from .data import DataError
from .progress import progress_bar
from .runs import RUN_FORMAT, RunFolder, data_description
from .train import TrainingDiverged, TrainResult


@dataclass(frozen=True)
class LMRecipe:
    """Zaremba et al.'s recipe (see the module docstring): ``batch_size`` rows of the stream, SGD at
    ``learning_rate`` for ``max_epoch`` epochs, then divided by ``decay`` every epoch, ``max_max_epoch`` epochs in
    all, the gradient's global norm clipped at ``max_grad_norm``."""
    batch_size: int = 20
    learning_rate: float = 1.0
    decay: float = 2.0
    max_epoch: int = 4
    max_max_epoch: int = 13
    max_grad_norm: float = 5.0

    def __post_init__(self):
        """Refuse a recipe that cannot train (ValueError, one line); NumPy scalars and whole floats (3.0) become
        Python numbers (run.json holds them: a recipe of 3.0 epochs is the run of 3)."""
        settings = {"batch_size": whole_number(self.batch_size, "batch_size", least=1),
                    "learning_rate": real_number(self.learning_rate, "learning_rate", lambda v: 0 < v < math.inf,
                                                 "a finite number > 0"),
                    "decay": real_number(self.decay, "decay", lambda v: 1 <= v < math.inf,
                                         "a finite number >= 1 (the learning rate is divided by it every epoch)"),
                    "max_epoch": whole_number(self.max_epoch, "max_epoch", least=0),
                    "max_max_epoch": whole_number(self.max_max_epoch, "max_max_epoch", least=1),
                    "max_grad_norm": real_number(self.max_grad_norm, "max_grad_norm", lambda v: 0 < v < math.inf,
                                                 "a finite number > 0")}
        for name, value in settings.items():  # a NumPy scalar or 3.0 -> the same Python number (else unchanged)
            object.__setattr__(self, name, value)

    def lr(self, epoch: int) -> float:
        """lr0 / decay^max(epoch - max_epoch, 0) in epoch ``epoch`` (1-based)."""
        return self.learning_rate / self.decay ** max(epoch - self.max_epoch, 0)


# docs/CONFIGS.md sections 6a, 6c and 6d: the paper, TensorFlow's configs, and what the package chose
LM_RECIPES = {
    "ptb_small": LMRecipe(20, 1.0, 2.0, 4, 13, 5.0),
    "ptb_medium": LMRecipe(20, 1.0, 1.2, 6, 39, 5.0),
    "ptb_large": LMRecipe(20, 1.0, 1.15, 14, 55, 10.0),
}


def lm_recipe_for(name: str) -> LMRecipe:
    base = name[:-len("_quick")] if name.endswith("_quick") else name
    if base not in LM_RECIPES:
        raise KeyError(f"no language-model recipe for {name!r}; known: {sorted(LM_RECIPES)} (+ _quick).")
    recipe = LM_RECIPES[base]
    # quick: the same schedule compressed into 6 epochs (2 at full rate, then decaying)
    return LMRecipe(recipe.batch_size, recipe.learning_rate, recipe.decay, 2, 6, recipe.max_grad_norm) \
        if name.endswith("_quick") else recipe


def clip_global_norm(grad, max_norm: float) -> float:
    """Scale grad in place so that ||grad|| <= max_norm; return the norm before clipping."""
    real_number(max_norm, "max_norm", lambda v: 0 <= v <= math.inf, "a number >= 0")
    xp = backend.get_xp(grad)
    norm = backend.to_float(xp.linalg.norm(grad))
    if norm > max_norm:
        grad *= max_norm / norm
    return norm


def clipped_sgd_step(theta, grad, steps: int, max_norm: float, lr: float) -> float:
    """One update of Zaremba's recipe, in place; returns ||steps * grad|| before clipping.

        g = steps * grad;   g <- g * max_norm / ||g|| if ||g|| > max_norm;   theta <- theta - lr * g

    ``grad`` is overwritten with lr * g. The multiplication by lr is skipped
    when lr is 1 (x * 1.0 is x exactly): one pass fewer over the 4.6 million
    parameters, the same numbers.
    """
    grad *= steps
    norm = clip_global_norm(grad, max_norm)
    if lr != 1.0:
        grad *= lr
    theta -= grad
    return norm


def describe_lm_run(model, recipe: LMRecipe, seed, train_data, valid_data, dtype=np.float32, labels=None) -> dict:
    """Everything a language-model run depends on (its fingerprint is this dict's hash; see minilinpath.runs).
    The seed enters as an int (3.0 and ``np.int64(3)`` are the seed 3, the same run)."""
    seed = whole_number(seed, "seed", least=0)
    xp = backend.get_xp(train_data)
    return {"format": RUN_FORMAT, "model": model.settings(), "layout": model.layout.table(), "recipe": asdict(recipe),
            "seed": seed, "objective": "nll (truncated BPTT)", "start": "init(seed)", "dtype": str(np.dtype(dtype)),
            "trajectory_dtype": "float32", "device": "cpu" if xp is np else "gpu",
            "data": data_description(train_stream=train_data, valid_stream=valid_data), "labels": dict(labels or {})}


def check_lm_data(model, train_data, valid_data, recipe: LMRecipe) -> None:
    """Refuse token streams a run cannot train on, before anything is written (DataError, one line)."""
    if train_data.ndim != 2 or train_data.shape[0] != recipe.batch_size:
        raise DataError(f"train_data has shape {train_data.shape}; the recipe needs {recipe.batch_size} rows "
                        "(batchify the token stream with the recipe's batch size).")
    if train_data.shape[1] <= model.steps:
        raise DataError(f"the training stream has {train_data.shape[1]} tokens per row, too few for one window "
                        f"of {model.steps} steps plus its targets.")
    if valid_data.ndim != 2 or valid_data.shape[1] < 2:
        raise DataError(f"the validation stream has shape {valid_data.shape}; it needs at least 2 tokens per row.")


def _silent(*args, **kwargs) -> None:
    """The log of a run that says nothing (``log=None``)."""


@dataclass(frozen=True, eq=False)
class LMTrainingSettings:
    """Everything one call of :func:`train_language_model` is given, checked once, when made (ValueError or
    DataError in one line, before anything is written): the model, the batch-major token streams
    ``train_data`` (``recipe.batch_size`` rows) and ``valid_data`` (any number of rows), the recipe, the run
    folder, the seed (initial theta and dropout masks; becomes an int), the dtype, what it says (``progress``,
    ``log``; None: nothing) and how the run is named (``labels``, ``description``; see :func:`describe_lm_run`).
    """
    model: object
    train_data: object
    valid_data: object
    recipe: LMRecipe
    run_dir: object
    seed: int = 0
    dtype: object = np.float32
    progress: bool = True
    log: Callable | None = print
    labels: dict | None = None
    retrain: bool = False
    description: dict | None = None

    def __post_init__(self):
        """Check every input: the seed, then the streams (frozen: checked values go in with object.__setattr__)."""
        object.__setattr__(self, "seed", whole_number(self.seed, "seed", least=0))
        check_lm_data(self.model, self.train_data, self.valid_data, self.recipe)
        object.__setattr__(self, "log", self.log or _silent)

    @property
    def xp(self):
        """numpy or cupy: training runs where the training stream lives."""
        return backend.get_xp(self.train_data)

    def describe(self) -> dict:
        """The run's description (its hash names the run): the one the caller gave, else :func:`describe_lm_run`."""
        if self.description is not None:  # a caller that named the folder from it passes it (the data are hashed once)
            return self.description
        return describe_lm_run(self.model, self.recipe, self.seed, self.train_data, self.valid_data, self.dtype,
                               self.labels)


def train_language_model(model, train_data, valid_data, recipe: LMRecipe, run_dir, seed: int = 0,
                         dtype=np.float32, progress: bool = True, log=print, labels=None,
                         retrain: bool = False, description: dict | None = None) -> TrainResult:
    """Train on batch-major streams ``train_data`` and ``valid_data`` (integer arrays (batch, length)).

    The validation stream may use any number of rows. ``best`` is the epoch of
    the lowest validation NLL (``best_valid_nll``; ``best_valid_error`` is None);
    the paper's model is the last epoch's. ``run_dir`` is a locked, checked
    :class:`minilinpath.runs.RunFolder`, as for :func:`minilinpath.train.train`.
    Every argument is checked first (:class:`LMTrainingSettings`), before anything is written.
    """
    settings = LMTrainingSettings(model=model, train_data=train_data, valid_data=valid_data, recipe=recipe,
                                  run_dir=run_dir, seed=seed, dtype=dtype, progress=progress, log=log, labels=labels,
                                  retrain=retrain, description=description)
    with RunFolder(settings.run_dir, settings.describe(), model.layout, "float32", retrain=retrain,
                   log=settings.log) as folder:
        return _train_lm_in(settings, folder)


@dataclass
class LMStanding:
    """Where a language-model run stands at the end of an epoch: theta (flat, (n_params,)), the epoch, the
    lowest validation NLL so far and its epoch, and the history so far."""
    theta: object
    theta_init: object
    history: list
    epoch: int
    best: float
    best_epoch: int

    def meta(self, recipe: LMRecipe) -> dict:
        """The counters saved beside theta in ``state.npz``: what resuming needs besides theta."""
        return {"epoch": self.epoch, "best": self.best, "best_epoch": self.best_epoch,
                "stopped": f"trained {recipe.max_max_epoch} epochs" if self.epoch >= recipe.max_max_epoch else ""}


def _train_lm_in(settings: LMTrainingSettings, folder: RunFolder) -> TrainResult:
    """The recipe, in the open run folder: pick the run up where it stands, then ``max_max_epoch`` epochs in all
    (train, validate, checkpoint), no early stopping."""
    model, recipe = settings.model, settings.recipe
    valid_pairs = stream_pairs(settings.valid_data)
    run = _resume_lm(settings, folder) if folder.started else _begin_lm(settings, folder, valid_pairs)
    while run.epoch < recipe.max_max_epoch:
        run.epoch += 1
        lr = recipe.lr(run.epoch)
        started = time.perf_counter()
        train_perplexity = _train_lm_epoch(settings, folder, run.theta, run.epoch, lr)
        nll = model.loss(run.theta, valid_pairs)
        run.history.append({"epoch": run.epoch, "train_perplexity": train_perplexity, "valid_nll": nll,
                            "valid_perplexity": math.exp(nll), "lr": lr,
                            "seconds": round(time.perf_counter() - started, 3)})
        new_best = nll < run.best
        if new_best:
            run.best, run.best_epoch = nll, run.epoch
        folder.end_epoch(run.theta, run.history, run.meta(recipe), new_best=new_best)
        settings.log(f"epoch {run.epoch:3d}  lr {lr:.4g}  train perplexity {train_perplexity:.1f}  "
                     f"valid perplexity {run.history[-1]['valid_perplexity']:.1f}  ({run.history[-1]['seconds']:.1f}s)")
    theta_best = folder.load_best(settings.xp).astype(settings.dtype)
    return TrainResult(folder.path, run.theta_init, theta_best, run.theta, run.best_epoch, None, run.best,
                       run.history, f"trained {recipe.max_max_epoch} epochs", folder.trajectory.rows())


def _begin_lm(settings: LMTrainingSettings, folder: RunFolder, valid_pairs) -> LMStanding:
    """A fresh run: epoch 0 is ``init(seed)``, validated, and committed to the folder."""
    theta = settings.model.init(settings.seed, xp=settings.xp, dtype=settings.dtype)
    theta_init = theta.copy()
    nll = settings.model.loss(theta, valid_pairs)
    run = LMStanding(theta=theta, theta_init=theta_init, history=[], epoch=0, best=nll, best_epoch=0)
    run.history = folder.begin(theta_init, {"epoch": 0, "train_perplexity": None, "valid_nll": nll,
                                            "valid_perplexity": math.exp(nll), "lr": None, "seconds": 0.0},
                               run.meta(settings.recipe))
    return run


def _resume_lm(settings: LMTrainingSettings, folder: RunFolder) -> LMStanding:
    """A started run: theta after its last finished epoch, read back and checked by the folder."""
    point, dtype = folder.resume(settings.xp), settings.dtype
    run = LMStanding(theta=point.theta.astype(dtype), theta_init=point.theta_init.astype(dtype),
                     history=point.history, epoch=point.meta["epoch"], best=point.meta["best"],
                     best_epoch=point.meta["best_epoch"])
    settings.log(f"{folder.path}: already trained; reusing it." if run.epoch >= settings.recipe.max_max_epoch
                 else f"{folder.path}: resuming after epoch {run.epoch}.")
    return run


def _train_lm_epoch(settings: LMTrainingSettings, folder: RunFolder, theta, epoch: int, lr: float) -> float:
    """One pass over the training stream, window by window, the LSTM state carried across windows (zero at the
    start); one clipped SGD step per window (:func:`clipped_sgd_step`), theta updated in place. Dropout masks
    from ``rng([seed, 2, epoch])``. Returns the epoch's training perplexity, exp(mean per-token NLL)."""
    model = settings.model
    rng = backend.rng([settings.seed, 2, epoch], settings.xp)
    state, total, count = None, 0.0, 0
    for batch in progress_bar(list(windows(settings.train_data, model.steps)), desc=f"epoch {epoch}",
                              enabled=settings.progress, unit="window"):
        loss, grad, state = model.loss_and_grad(theta, batch, rng=rng, state=state, return_state=True)
        if not math.isfinite(loss):
            raise TrainingDiverged(f"the training loss became {loss} in epoch {epoch}; the last good state "
                                   f"(end of epoch {epoch - 1}) is in {folder.file('state.npz')}.")
        # the gradient of the sum over time steps of the batch-mean NLL, clipped, one SGD step
        norm = clipped_sgd_step(theta, grad, batch[0].shape[1], settings.recipe.max_grad_norm, lr)
        if not math.isfinite(norm):  # a NaN/inf gradient under a finite loss: theta is spoilt, save nothing
            raise TrainingDiverged(f"the gradient became {norm} in epoch {epoch} while the loss was finite; the "
                                   f"last good state (end of epoch {epoch - 1}) is in {folder.file('state.npz')}.")
        total += loss * batch[0].size
        count += batch[0].size
    return math.exp(total / count)
