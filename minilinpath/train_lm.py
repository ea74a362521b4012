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
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from . import backend
from .data.ptb import stream_pairs, windows
from .data import DataError
from .optim import check_real, check_whole
from .progress import progress_bar
from .runs import RUN_FORMAT, RunFolder, data_description
from .train import TrainingDiverged, TrainResult


@dataclass(frozen=True)
class LMRecipe:
    batch_size: int = 20
    learning_rate: float = 1.0
    decay: float = 2.0
    max_epoch: int = 4
    max_max_epoch: int = 13
    max_grad_norm: float = 5.0

    def __post_init__(self):
        """Refuse a recipe that cannot train (ValueError, one line); NumPy scalars become Python numbers (run.json)."""
        settings = {"batch_size": check_whole("batch_size", self.batch_size, 1),
                    "learning_rate": check_real("learning_rate", self.learning_rate, lambda v: 0 < v < math.inf,
                                                "a finite number > 0"),
                    "decay": check_real("decay", self.decay, lambda v: 1 <= v < math.inf,
                                        "a finite number >= 1 (the learning rate is divided by it every epoch)"),
                    "max_epoch": check_whole("max_epoch", self.max_epoch, 0),
                    "max_max_epoch": check_whole("max_max_epoch", self.max_max_epoch, 1),
                    "max_grad_norm": check_real("max_grad_norm", self.max_grad_norm, lambda v: 0 < v < math.inf,
                                                "a finite number > 0")}
        for name, value in settings.items():  # a NumPy scalar -> the same Python number (else unchanged)
            object.__setattr__(self, name, value)

    def lr(self, epoch: int) -> float:
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
    check_real("max_norm", max_norm, lambda v: 0 <= v <= math.inf, "a number >= 0")
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
    """Everything a language-model run depends on (its fingerprint is this dict's hash; see minilinpath.runs)."""
    xp = backend.get_xp(train_data)
    return {"format": RUN_FORMAT, "model": model.settings(), "layout": model.layout.table(), "recipe": asdict(recipe),
            "seed": seed, "objective": "nll (truncated BPTT)", "start": "init(seed)", "dtype": str(np.dtype(dtype)),
            "trajectory_dtype": "float32", "device": "cpu" if xp is np else "gpu",
            "data": data_description(train_stream=train_data, valid_stream=valid_data), "labels": dict(labels or {})}


def train_language_model(model, train_data, valid_data, recipe: LMRecipe, run_dir, seed: int = 0,
                         dtype=np.float32, progress: bool = True, log=print, labels=None,
                         retrain: bool = False, description: dict | None = None) -> TrainResult:
    """Train on batch-major streams ``train_data`` and ``valid_data`` (integer arrays (batch, length)).

    The validation stream may use any number of rows. ``best`` is the epoch of
    the lowest validation NLL (``best_valid_nll``; ``best_valid_error`` is None);
    the paper's model is the last epoch's. ``run_dir`` is a locked, checked
    :class:`minilinpath.runs.RunFolder`, as for :func:`minilinpath.train.train`.
    """
    seed = check_whole("seed", seed, 0)  # a NumPy integer becomes a Python int (run.json holds it)
    if train_data.ndim != 2 or train_data.shape[0] != recipe.batch_size:
        raise DataError(f"train_data has shape {train_data.shape}; the recipe needs {recipe.batch_size} rows "
                        "(batchify the token stream with the recipe's batch size).")
    if train_data.shape[1] <= model.steps:
        raise DataError(f"the training stream has {train_data.shape[1]} tokens per row, too few for one window "
                        f"of {model.steps} steps plus its targets.")
    if valid_data.ndim != 2 or valid_data.shape[1] < 2:
        raise DataError(f"the validation stream has shape {valid_data.shape}; it needs at least 2 tokens per row.")
    xp = backend.get_xp(train_data)
    log = log or (lambda *a, **k: None)
    if description is None:  # a caller that named the folder from it passes it (the data are hashed once)
        description = describe_lm_run(model, recipe, seed, train_data, valid_data, dtype, labels)
    with RunFolder(run_dir, description, model.layout, "float32", retrain=retrain, log=log) as folder:
        return _train_lm_in(folder, model, train_data, valid_data, recipe, seed, dtype, progress, log, xp)


def _train_lm_in(folder, model, train_data, valid_data, recipe, seed, dtype, progress, log, xp) -> TrainResult:
    valid_pairs = stream_pairs(valid_data)
    if folder.started:
        point = folder.resume(xp)
        theta, theta_init, history = point.theta.astype(dtype), point.theta_init.astype(dtype), point.history
        epoch, best, best_epoch = point.meta["epoch"], point.meta["best"], point.meta["best_epoch"]
        log(f"{folder.path}: {'already trained; reusing it' if epoch >= recipe.max_max_epoch else f'resuming after epoch {epoch}'}.")
    else:
        theta = model.init(seed, xp=xp, dtype=dtype)
        theta_init = theta.copy()
        nll = model.loss(theta, valid_pairs)
        epoch, best, best_epoch = 0, nll, 0
        history = folder.begin(theta_init, {"epoch": 0, "train_perplexity": None, "valid_nll": nll,
                                            "valid_perplexity": math.exp(nll), "lr": None, "seconds": 0.0},
                               _lm_meta(epoch, best, best_epoch, recipe))

    while epoch < recipe.max_max_epoch:
        epoch += 1
        lr = recipe.lr(epoch)
        rng = backend.rng([seed, 2, epoch], xp)
        state, total, count, started = None, 0.0, 0, time.perf_counter()
        for batch in progress_bar(list(windows(train_data, model.steps)), desc=f"epoch {epoch}", enabled=progress,
                                  unit="window"):
            loss, grad, state = model.loss_and_grad(theta, batch, rng=rng, state=state, return_state=True)
            if not math.isfinite(loss):
                raise TrainingDiverged(f"the training loss became {loss} in epoch {epoch}; the last good state "
                                       f"(end of epoch {epoch - 1}) is in {folder.file('state.npz')}.")
            # the gradient of the sum over time steps of the batch-mean NLL, clipped, one SGD step
            norm = clipped_sgd_step(theta, grad, batch[0].shape[1], recipe.max_grad_norm, lr)
            if not math.isfinite(norm):  # a NaN/inf gradient under a finite loss: theta is spoilt, save nothing
                raise TrainingDiverged(f"the gradient became {norm} in epoch {epoch} while the loss was finite; the "
                                       f"last good state (end of epoch {epoch - 1}) is in {folder.file('state.npz')}.")
            total += loss * batch[0].size
            count += batch[0].size
        nll = model.loss(theta, valid_pairs)
        history.append({"epoch": epoch, "train_perplexity": math.exp(total / count), "valid_nll": nll,
                        "valid_perplexity": math.exp(nll), "lr": lr, "seconds": round(time.perf_counter() - started, 3)})
        new_best = nll < best
        if new_best:
            best, best_epoch = nll, epoch
        folder.end_epoch(theta, history, _lm_meta(epoch, best, best_epoch, recipe), new_best=new_best)
        log(f"epoch {epoch:3d}  lr {lr:.4g}  train perplexity {history[-1]['train_perplexity']:.1f}  "
            f"valid perplexity {history[-1]['valid_perplexity']:.1f}  ({history[-1]['seconds']:.1f}s)")

    theta_best = folder.load_best(xp).astype(dtype)
    return TrainResult(folder.path, theta_init, theta_best, theta, best_epoch, None, best, history,
                       f"trained {recipe.max_max_epoch} epochs", folder.trajectory.rows())


def _lm_meta(epoch, best, best_epoch, recipe) -> dict:
    return {"epoch": epoch, "best": best, "best_epoch": best_epoch,
            "stopped": f"trained {recipe.max_max_epoch} epochs" if epoch >= recipe.max_max_epoch else ""}
