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

The run folder holds the same files as :func:`minilinpath.train.train`'s
(run.json, init.npz, best.npz, state.npz, history.json, trajectory.bin);
dropout masks of epoch e come from ``rng([seed, 2, e])``, so a resumed run
equals an uninterrupted one.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from . import backend
from .data.ptb import stream_pairs, windows
from .params import _atomic_savez, load_checkpoint, save_checkpoint
from .progress import progress_bar
from .train import TrainingDiverged, TrainResult, _write_json, claim_run_folder
from .trajfile import TrajectoryFile


@dataclass(frozen=True)
class LMRecipe:
    batch_size: int = 20
    learning_rate: float = 1.0
    decay: float = 2.0
    max_epoch: int = 4
    max_max_epoch: int = 13
    max_grad_norm: float = 5.0

    def lr(self, epoch: int) -> float:
        return self.learning_rate / self.decay ** max(epoch - self.max_epoch, 0)


# CONFIGS.md section 6a (the paper) and 6c (TensorFlow's configs)
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
    xp = backend.get_xp(grad)
    norm = backend.to_float(xp.linalg.norm(grad))
    if norm > max_norm:
        grad *= max_norm / norm
    return norm


def train_language_model(model, train_data, valid_data, recipe: LMRecipe, run_dir, seed: int = 0,
                         dtype=np.float32, progress: bool = True, log=print) -> TrainResult:
    """Train on batch-major streams ``train_data`` and ``valid_data`` (integer arrays (batch, length)).

    The validation stream may use any number of rows. ``best`` is the epoch of
    the lowest validation perplexity; the paper's model is the last epoch's.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    xp = backend.get_xp(train_data)
    log = log or (lambda *a, **k: None)
    if train_data.shape[0] != recipe.batch_size:
        raise ValueError(f"train_data has {train_data.shape[0]} rows; the recipe's batch size is {recipe.batch_size}.")
    description = {
        "model": model.settings(), "layout": model.layout.table(), "recipe": asdict(recipe), "seed": seed,
        "train_shape": list(train_data.shape), "valid_shape": list(valid_data.shape), "dtype": str(np.dtype(dtype))}
    paths = {k: run_dir / f"{k}.npz" for k in ("init", "best", "state")}
    claim_run_folder(run_dir, description)
    trajectory = TrajectoryFile(run_dir / "trajectory", model.layout.size, "float32")
    valid_pairs = stream_pairs(valid_data)

    if paths["state"].exists():
        theta, _, meta = load_checkpoint(paths["state"], model.layout, xp=xp)
        theta = theta.astype(dtype)
        theta_init = load_checkpoint(paths["init"], model.layout, xp=xp)[0].astype(dtype)
        epoch, best, best_epoch = meta["epoch"], meta["best"], meta["best_epoch"]
        history = json.loads((run_dir / "history.json").read_text())[:epoch + 1]
        trajectory.truncate(epoch + 1)
        log(f"{run_dir}: {'already trained; reusing it' if epoch >= recipe.max_max_epoch else f'resuming after epoch {epoch}'}.")
    else:
        theta = model.init(seed, xp=xp, dtype=dtype)
        theta_init = theta.copy()
        save_checkpoint(paths["init"], theta_init, model.layout, {"seed": seed}, overwrite=True)
        trajectory.truncate(0)
        trajectory.append(theta)
        nll = model.loss(theta, valid_pairs)
        history = [{"epoch": 0, "train_perplexity": None, "valid_nll": nll, "valid_perplexity": math.exp(nll),
                    "lr": None, "seconds": 0.0}]
        epoch, best, best_epoch = 0, nll, 0
        save_checkpoint(paths["best"], theta, model.layout, {"epoch": 0, "valid_nll": nll}, overwrite=True)
        _write_json(run_dir / "history.json", history)

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
                                       f"(end of epoch {epoch - 1}) is in {paths['state']}.")
            grad *= batch[0].shape[1]  # gradient of the sum over time steps of the batch-mean NLL
            clip_global_norm(grad, recipe.max_grad_norm)
            grad *= lr
            theta -= grad
            total += loss * batch[0].size
            count += batch[0].size
        nll = model.loss(theta, valid_pairs)
        history.append({"epoch": epoch, "train_perplexity": math.exp(total / count), "valid_nll": nll,
                        "valid_perplexity": math.exp(nll), "lr": lr, "seconds": round(time.perf_counter() - started, 3)})
        if nll < best:
            best, best_epoch = nll, epoch
            save_checkpoint(paths["best"], theta, model.layout, {"epoch": epoch, "valid_nll": nll}, overwrite=True)
        trajectory.append(theta)
        _write_json(run_dir / "history.json", history)
        _atomic_savez(paths["state"], theta=backend.to_numpy(theta), layout=np.array(json.dumps(model.layout.table())),
                      meta=np.array(json.dumps({"epoch": epoch, "best": best, "best_epoch": best_epoch})))
        log(f"epoch {epoch:3d}  lr {lr:.4g}  train perplexity {history[-1]['train_perplexity']:.1f}  "
            f"valid perplexity {history[-1]['valid_perplexity']:.1f}  ({history[-1]['seconds']:.1f}s)")

    theta_best = load_checkpoint(paths["best"], model.layout, xp=xp)[0].astype(dtype)
    return TrainResult(run_dir, theta_init, theta_best, theta, best_epoch, math.exp(best), history,
                       f"trained {recipe.max_max_epoch} epochs")
