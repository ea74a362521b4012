"""Linear mode connectivity and instability to SGD noise.

Frankle, Dziugaite, Roy & Carbin (2020), "Linear Mode Connectivity and the
Lottery Ticket Hypothesis" (ICML): train a network from theta_0 to epoch k,
copy it, and train the two copies to the end with different SGD noise (here:
different data orders and dropout masks, ``data_seed``). If the straight line
between the two solutions has no barrier, the network was already *stable* at
k: the noise after k no longer decides which basin SGD ends in.

The procedure (:func:`instability`), for every k in ``ks``:

1. **The parent's state at epoch k.** A parent run trains from
   ``model.init(seed)`` with the seed's own data order. A run folder keeps theta
   after every epoch (the trajectory) but the momentum velocity only of its last
   epoch (``state.npz``), and the children need both. The simplest correct way
   is to train the parent *to k*: the same run with ``max_epochs = k`` (and no
   early stopping), a run of its own in the cache, whose end state is the
   parent's state at k (theta, velocity, epoch and update counters). The
   schedules read only the epoch and update counts, never ``max_epochs``, so
   these runs are prefixes of one another; the procedure checks that each one's
   end theta equals, bit for bit, row k of the trajectory of the longest one
   (to ``max(ks)``), and warns when it does not. Cost: sum(ks) extra epochs.
   k = 0 is the initial point itself (zero velocity, no update): its two
   children are two ordinary runs from one init with different data orders.
2. **Two children** start from that state (:class:`minilinpath.train.TrainState`,
   velocity copied: see :func:`minilinpath.train.train`) and train to the
   schedule epoch ``recipe.max_epochs`` = T, each with its own data seed. Their
   solutions theta_1, theta_2 are the parameters after epoch T (a fixed budget,
   no early stopping, as Frankle et al. train to the end).
3. **The barrier** between them on theta(a) = (1 - a) theta_1 + a theta_2,
   a on a grid of [0, 1] with both ends:

       B = max_a [ J(theta(a)) - ((1 - a) J(theta_1) + a J(theta_2)) ]     (>= 0)

   the height above the chord (:func:`minilinpath.path.barrier_height`,
   variant ``"chord"``), for J = the mean loss and J = the error rate, on the
   training set and on the validation set: four numbers per k. Frankle et al.
   call the error barrier the *instability* (they subtract the mean of the two
   ends, which differs from the chord only when the ends differ; they call a
   network stable when it is below 2%).

Every run goes through the run cache: a rerun reuses the finished runs and
resumes an interrupted one. A child's fingerprint holds the digests of its
start state (theta and velocity) and its counters, so a child is reused only
with the same parent state, data seed, recipe and data.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .. import backend
from ..runs import fingerprint
from ..train import TrainState, check_training_data, describe_run, train
from ..checks import is_whole_number
from .linear import PathResult, linear_path
from .metrics import ENDPOINT_TOL, barrier_height

QUANTITIES = (("J_train", "loss_train"), ("J_valid", "loss_valid"), ("error_train", "error_train"),
              ("error_valid", "error_valid"))  # (field of a PathResult, name of its barrier in the table)


@dataclass
class Branch:
    """The two children branched at epoch ``k``, and the line between their solutions."""
    k: int
    children: tuple      # two TrainResults
    line: PathResult     # along theta(a) = (1 - a) theta_1 + a theta_2
    barriers: dict       # {"loss_train", "loss_valid", "error_train", "error_valid"}: B (see the module docstring)

    def row(self) -> dict:
        """One row of the instability table."""
        first, second = self.children
        d = backend.get_xp(first.theta_last).linalg.norm(second.theta_last - first.theta_last)
        return {"k": self.k, **{f"barrier_{name}": value for name, value in self.barriers.items()},
                "child_valid_errors": [float(c.history[-1]["valid_error"]) for c in self.children],
                "distance": backend.to_float(d)}


@dataclass
class InstabilityResult:
    """Every k's branch, in the order asked, and plain statements about anything doubtful."""
    branches: list
    data_seeds: tuple
    warnings: list = field(default_factory=list)

    def table(self) -> list:
        """Rows ``{"k", "barrier_loss_train", "barrier_loss_valid", "barrier_error_train", "barrier_error_valid",
        "child_valid_errors", "distance"}``, one per k."""
        return [b.row() for b in self.branches]


def _as_list(values):
    """``values`` (a list, tuple, set, range, generator or 1-D array) as a list; None for a single number or a
    string."""
    if isinstance(values, (str, bytes)):
        return None
    try:
        return list(values)
    except TypeError:
        return None


def barriers(line: PathResult) -> dict:
    """The four barriers (chord variant) of a line between two solutions."""
    return {name: barrier_height(line.alphas, getattr(line, key), "chord")[0] for key, name in QUANTITIES}


def _cached_train(model, train_set, valid_set, recipe, seed, runs_dir: Path, stem: str, labels, data_seed=None,
                  start=None, progress=True, log=print, retrain=False):
    """Train (or reuse) one run in ``runs_dir/<stem>-<first 12 hex digits of its fingerprint>``."""
    description = describe_run(model, recipe, seed, train_set, valid_set, labels=labels, data_seed=data_seed,
                               start=start)
    run_dir = Path(runs_dir) / f"{stem}-{fingerprint(description)[:12]}"
    log(f"{stem}: {run_dir}")
    return train(model, train_set, valid_set, recipe, run_dir, seed=seed, data_seed=data_seed, start=start,
                 progress=progress, log=log, labels=labels, retrain=retrain, description=description)


def parent_states(model, train_set, valid_set, recipe, seed, ks, runs_dir, stem, labels, progress=True,
                  log=print, retrain=False):
    """``({k: TrainState}, warnings)``: the parent's state at the end of each epoch k (see the module docstring).

    ``recipe`` is the children's (its ``max_epochs`` is T); the parent to k trains
    the same recipe with ``max_epochs = k`` and no early stopping.
    """
    xp = backend.get_xp(train_set[0])
    init = model.init(seed, xp=xp, dtype=train_set[0].dtype)
    states, warnings = {0: TrainState(init, xp.zeros_like(init), 0, 0)}, []
    runs = {}
    for k in sorted(set(ks) - {0}):
        runs[k] = _cached_train(model, train_set, valid_set, replace(recipe, max_epochs=k, patience=None), seed,
                                runs_dir, f"{stem}-parent-to{k}", labels, progress=progress, log=log,
                                retrain=retrain)
        states[k] = runs[k].state
    if runs:  # every parent to k must be the start of the longest one
        longest = runs[max(runs)].trajectory_rows()
        for k, run in runs.items():
            if not np.array_equal(backend.to_numpy(run.theta_last).astype(longest.dtype), longest[k]):
                warnings.append(f"the parent trained to epoch {k} is not row {k} of the parent trained to epoch "
                                f"{max(runs)} (training is not reproducible bit for bit here); the children of "
                                f"k = {k} start from the former.")
    return states, warnings


def instability(model, train_set, valid_set, recipe, seed, data_seeds, ks, runs_dir, stem="run", labels=None,
                alphas=None, chunk_size=None, progress=True, log=print, retrain=False) -> InstabilityResult:
    """Branch two children at every epoch k of ``ks`` and measure the barrier between them.

    Parameters
    ----------
    model : a classifier (``loss``, ``error_rate``); train_set, valid_set : ``(X, y)`` in theta's dtype.
    recipe : the children's recipe; they train to its ``max_epochs`` T (early stopping is switched off).
    seed : the initial theta and the parent's data order; data_seeds : the two children's (different).
    ks : epochs to branch at, whole numbers each in 0 .. T - 1 (taken in increasing order, each once).
    runs_dir : the folder of the cached runs; ``stem`` begins their names, ``labels`` go into their fingerprints.
    alphas : the grid of the line (default 25 points on [0, 1]): finite numbers that include 0 and 1 (the two
        solutions, the ends of the chord); chunk_size : see :func:`linear_path`.

    Everything is checked before any run is trained (runs of real models take hours): the data seeds (two
    different whole numbers >= 0), ks, alphas, and both data sets (``valid_set`` is required: the barriers
    are measured on it too, and training reports its error).
    """
    seeds = _as_list(data_seeds)
    if seeds is None or len(seeds) != 2 or not all(is_whole_number(d) and d >= 0 for d in seeds):
        raise ValueError(f"data_seeds must be two whole numbers >= 0 (one per child), got {data_seeds!r}.")
    d1, d2 = (int(d) for d in seeds)
    if d1 == d2:
        raise ValueError(f"the two children need different data seeds, got {d1} twice.")
    epochs = _as_list(ks)
    if epochs is None or not all(is_whole_number(k) for k in epochs):
        raise ValueError(f"ks must be a list of whole numbers of epochs (every k in 0 .. {recipe.max_epochs - 1}), "
                         f"got {ks!r}.")
    ks = sorted({int(k) for k in epochs})
    if not ks or min(ks) < 0 or max(ks) >= recipe.max_epochs:
        raise ValueError(f"every k must be in 0 .. {recipe.max_epochs - 1} (the children train to epoch "
                         f"{recipe.max_epochs}), got {ks}.")
    alphas = np.linspace(0.0, 1.0, 25) if alphas is None else np.asarray(alphas, dtype=np.float64)
    if alphas.ndim != 1 or alphas.size == 0 or not np.all(np.isfinite(alphas)):
        raise ValueError("alphas must be a non-empty 1-D array of finite numbers (e.g. np.linspace(0, 1, 25)).")
    if not (np.any(np.abs(alphas) <= ENDPOINT_TOL) and np.any(np.abs(alphas - 1.0) <= ENDPOINT_TOL)):
        raise ValueError("alphas must include 0 and 1 (the two children's solutions): the barrier is measured "
                         "above the chord between them, e.g. np.linspace(0, 1, 25).")
    if valid_set is None:
        raise ValueError("instability needs a validation set (valid_set = (X, y)): the barriers are measured on it "
                         "too, and training reports its error.")
    check_training_data(train_set, valid_set, recipe, train_set[0].dtype)
    recipe = replace(recipe, patience=None)
    labels, log = dict(labels or {}), log or (lambda *a, **k: None)
    states, warnings = parent_states(model, train_set, valid_set, recipe, seed, ks, runs_dir, stem, labels,
                                     progress, log, retrain)
    branches = []
    for k in ks:
        children = tuple(_cached_train(model, train_set, valid_set, recipe, seed, runs_dir,
                                       f"{stem}-k{k}-data{d}", labels, data_seed=d, start=states[k],
                                       progress=progress, log=log, retrain=retrain) for d in (d1, d2))
        log(f"k = {k}: the line between the children (data seeds {d1}, {d2})")
        line = linear_path(model, children[0].theta_last, children[1].theta_last, train_set, alphas, valid_set,
                           chunk_size=chunk_size, progress=progress)
        branches.append(Branch(k, children, line, barriers(line)))
    return InstabilityResult(branches, (d1, d2), warnings)
