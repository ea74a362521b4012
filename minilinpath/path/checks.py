"""Input checks of :mod:`minilinpath.path`: one clear line before any computing, instead of an error from deep
inside (a reshape, ARPACK, a worker process) or a mean over nothing after all the work.

Each public entry point makes one call here and then reads as its recipe: :func:`check_line` for
:func:`~minilinpath.path.linear_path` and :func:`check_plane` for :func:`~minilinpath.path.evaluate_plane`
return their settings checked, with the model's abilities asked once
(:mod:`minilinpath.contract`). Whole numbers follow the package's one rule (:mod:`minilinpath.checks`:
3 and 3.0 are whole, 2.5, NaN, True and "3" are not).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..checks import whole_number
from ..contract import (ChecksBatch, Constrained, DropoutMasks, ErrorRate, FirstLayerSweep, ScaledLearningRates,
                        check_model)
from .first_layer import sweep_chunk_size


def example_count(data, name: str = "train") -> int:
    """The number of examples of a batch (a tuple or list of arrays, every array's rows, which must agree) or of a
    single array.

    Refuses, in one line, a set with no examples and arrays of different lengths (e.g. 6 labels for 7 rows of
    X): either would otherwise fail deep inside, or give the mean of nothing, NaN, after all the work.
    """
    arrays = tuple(data) if isinstance(data, (tuple, list)) else (data,)
    shapes = [getattr(a, "shape", None) for a in arrays]
    if not arrays or any(shape is None or len(shape) == 0 for shape in shapes):
        raise ValueError(f"the {name} set must be an array or a tuple of arrays with one row per example, such as "
                         f"(X, y); got a {type(data).__name__} of shapes {shapes}.")
    counts = [shape[0] for shape in shapes]
    if len(set(counts)) > 1:
        raise ValueError(f"the {name} set's arrays hold different numbers of rows ({', '.join(map(str, counts))}); "
                         "every array needs one row per example (e.g. one label in y per row of X; a single example "
                         "is X[None], of shape (1, features)).")
    if counts[0] == 0:
        raise ValueError(f"the {name} set holds no examples; give at least one.")
    return int(counts[0])


def grid_values(values, name: str) -> np.ndarray:
    """``values`` as a float64 1-D array: a grid of alphas, or of a plane's a or b; refuses an empty grid, one
    that is not 1-D, and NaN or infinite values."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError(f"{name} must be a non-empty 1-D array of finite numbers.")
    return values


def chunk_size_for(model, chunk_size, dtype) -> int:
    """Examples per pass: ``chunk_size`` when given (a whole number >= 1), else the model's own evaluation
    chunk (:func:`~minilinpath.path.first_layer.sweep_chunk_size`)."""
    if chunk_size is None:
        return sweep_chunk_size(model, dtype)
    return whole_number(chunk_size, "chunk_size", least=1)


def sets_of(train, valid) -> tuple:
    """``(("train", train), ("valid", valid))``, the second only when ``valid`` is given."""
    return (("train", train),) + ((("valid", valid),) if valid is not None else ())


def check_sweep_batch(model, theta, batch, split: str) -> None:
    """Refuse, before any computing, a batch the fast sweep cannot read, with the message ``model.loss`` gives.

    The fast sweep never calls ``model.loss``, so it asks the model's own batch check, ``check_batch(theta, X,
    y)`` (:class:`~minilinpath.contract.ChecksBatch`; every
    :class:`~minilinpath.models.classifier.SoftmaxClassifier` has it: X's shape and dtype against theta, one
    label per row). A model of your own without it gets the check the sweep itself needs (one label in y per
    row of X) and then ``model.loss`` on the first example, which raises whatever else that model refuses.
    """
    X, y = batch
    try:
        if isinstance(model, ChecksBatch):
            model.check_batch(theta, X, y)
            return
        if getattr(X, "ndim", 0) < 2:
            raise ValueError(f"X must hold one row per example (at least 2-D), got shape {getattr(X, 'shape', None)}.")
        rows, labels = X.shape[0], getattr(y, "shape", (None,))[0]
        if getattr(y, "ndim", None) != 1 or labels != rows:
            raise ValueError(f"y must hold one label per row of X: X has {rows} rows, y has shape "
                             f"{getattr(y, 'shape', None)}.")
        model.loss(theta, (X[:1], y[:1]))
    except (ValueError, TypeError) as error:
        if type(error) not in (ValueError, TypeError):   # a subclass of the model's own: pass it on as it is
            raise
        raise type(error)(f"linear_path, the {split} set: {error}") from None


# ------------------------------------------------------------------------------------------------ the line
@dataclass(frozen=True)
class LineSettings:
    """:func:`~minilinpath.path.linear_path`'s inputs, checked, and how the sweep will run."""
    alphas: np.ndarray    # (n,) float64, finite
    sets: tuple           # (("train", batch), ("valid", batch)): valid only when given
    chunk_size: int       # examples per pass of the fast sweep
    mc_samples: int       # 0: the deterministic network; k: the mean over k dropout mask sets
    seed: object          # the masks' seed (a whole number when mc_samples > 0)
    fast: bool            # the first-layer trick (:mod:`.first_layer`); else the whole model at every alpha
    classifier: bool      # the model gives error rates beside J


def check_line(model, theta0, theta1, train, alphas, valid, chunk_size, mc_samples, seed, fast) -> LineSettings:
    """Check every input of :func:`~minilinpath.path.linear_path` (see there) and decide the sweep, before any
    computing: a bad input is one line naming it, not an error from deep inside after the first alphas."""
    check_model(model, "linear_path")  # one line naming what a user's model lacks
    alphas = grid_values(alphas, "alphas")
    model.layout.check(theta0)
    model.layout.check(theta1)
    if theta0.dtype != theta1.dtype:
        raise TypeError(f"theta0 is {theta0.dtype} but theta1 is {theta1.dtype}; cast one of them.")
    chunk_size = chunk_size_for(model, chunk_size, theta0.dtype)
    mc_samples = whole_number(mc_samples, "mc_samples (0: the deterministic network, k > 0: the mean over k "
                                          "dropout mask sets)", least=0)
    can_fast = isinstance(model, FirstLayerSweep)
    if mc_samples:
        if not (isinstance(model, DropoutMasks) and model.uses_dropout):
            raise ValueError("mc_samples > 0 averages over dropout masks, but this model has no dropout.")
        if not can_fast:
            raise ValueError("Monte Carlo dropout sweeps need a model that starts with a linear layer (an MLP or a "
                             "convolutional network).")
        seed = whole_number(seed, "seed (of the dropout masks)", least=0)
    settings = LineSettings(alphas, sets_of(train, valid), chunk_size, mc_samples, seed,
                            fast=can_fast and bool(fast or mc_samples), classifier=isinstance(model, ErrorRate))
    for split, batch in settings.sets:   # both sets, before the first alpha is computed
        if batch[0].shape[0] == 0:   # a mean over no examples: there is no curve to draw
            raise ValueError(f"the {split} set holds no examples; give at least one.")
        if settings.fast:   # the plain sweep calls model.loss, which checks the batch itself
            check_sweep_batch(model, theta0, batch, split)
    return settings


# ----------------------------------------------------------------------------------------------- the plane
@dataclass(frozen=True)
class PlaneSettings:
    """:func:`~minilinpath.path.evaluate_plane`'s inputs, checked, and how the grid will be computed.

    Sent to every worker with the model and the plane (see :class:`~minilinpath.path.plane.PlaneJob`).
    """
    a_values: np.ndarray  # (n_a,) float64: the grid's columns
    b_values: np.ndarray  # (n_b,) float64: the grid's rows
    sets: tuple           # (("train", batch), ("valid", batch)): valid only when given
    chunk_size: int       # examples per pass
    fast: bool            # the first-layer trick (:mod:`.first_layer`); else model.loss at every grid point
    classifier: bool      # the model gives error rates beside J
    cache_bytes: int      # the first-layer products kept across grid rows, at most this many bytes
    block_rows: int       # grid rows per task (and per store write)
    store: Path | None    # the .npz written after every finished block, or None


def check_plane(model, plane, train, a_values, b_values, valid, chunk_size, fast, store, cache_bytes,
                block_rows) -> PlaneSettings:
    """Check every input of :func:`~minilinpath.path.evaluate_plane` (see there) and decide how to compute,
    before any block runs and before a store is read or written: a set of no examples, arrays with different
    numbers of rows, or a batch the model refuses on its first example is an error here, since running again
    could not mend it."""
    check_model(model, "evaluate_plane")
    a_values, b_values = grid_values(a_values, "a_values"), grid_values(b_values, "b_values")
    for v in (plane.origin, plane.d1, plane.d2):
        model.layout.check(v)
    block_rows = whole_number(block_rows, "block_rows", least=1)
    cache_bytes = whole_number(cache_bytes, "cache_bytes", least=0)
    sets = sets_of(train, valid)
    for split, batch in sets:
        check_split(model, plane.origin, split, batch)
    chunk_size = chunk_size_for(model, chunk_size, plane.origin.dtype)
    can_fast = bool(fast) and isinstance(model, FirstLayerSweep) and isinstance(train, tuple)
    store = None if store is None else Path(store).with_suffix(".npz")
    return PlaneSettings(a_values, b_values, sets, chunk_size, can_fast, isinstance(model, ErrorRate), cache_bytes,
                         block_rows, store)


def check_split(model, origin, split: str, batch) -> None:
    """Refuse a ``(X, y, ...)`` batch that no grid row could be computed on, in one line naming the set.

    Its arrays must hold one example per row, the same number each and at least one; then
    ``model.loss`` at the plane's origin on the first example lets the model name anything else it
    refuses (a feature count, a dtype). Batches of other kinds (e.g. moments) are left to the model.
    """
    if not isinstance(batch, (tuple, list)):
        return
    example_count(batch, split)   # one row per example in every array, and at least one
    try:
        model.loss(origin, type(batch)(a[:1] for a in batch))
    except (ValueError, TypeError) as error:
        kind = TypeError if isinstance(error, TypeError) else ValueError
        raise kind(f"the {split} set does not fit the model (checked on its first example at the plane's origin): "
                   f"{error}") from None


# ---------------------------------------------------------------------------------------------- the curves
@dataclass(frozen=True)
class CurveTrainingSettings:
    """:func:`~minilinpath.path.curves.train_curve`'s settings, checked."""
    n: int                # examples in the train set
    epochs: int
    batch_size: int
    lr: float             # as given (its type is kept: the step's rounding follows it)
    momentum: float
    seed: int
    constrained: bool     # the model's ``constrain`` keeps every bend inside its limits after each step
    scaled_lr: bool       # the model's ``lr_scales`` multiply each step, as in training


def check_curve_training(model, curve, train_set, epochs, batch_size, lr, momentum, seed) -> CurveTrainingSettings:
    """Check :func:`~minilinpath.path.curves.train_curve`'s inputs (see there) before any step."""
    check_model(model, "train_curve", needs=("loss_and_grad",))
    n = example_count(train_set, "train")
    for p in curve.points:
        model.layout.check(p)
    epochs = whole_number(epochs, "epochs", least=1)
    batch_size = whole_number(batch_size, "batch_size", least=1)
    if not (lr > 0 and math.isfinite(lr)) or not 0.0 <= momentum < 1.0:
        raise ValueError(f"need lr > 0 and 0 <= momentum < 1, got lr={lr} and momentum={momentum}.")
    seed = whole_number(seed, "seed", least=0)   # every random choice flows from it: shuffles, t's and masks
    return CurveTrainingSettings(n, epochs, batch_size, lr, momentum, seed, isinstance(model, Constrained),
                                 isinstance(model, ScaledLearningRates))


def check_curve_path(model, ts, train, valid) -> np.ndarray:
    """``ts`` as a float64 array, after checking :func:`~minilinpath.path.curves.curve_path`'s inputs: the
    contract, t's in [0, 1], and sets that hold examples (a mean over none is undefined)."""
    check_model(model, "curve_path")
    ts = np.asarray(ts, dtype=np.float64)
    if ts.ndim != 1 or ts.size == 0 or not np.all((ts >= 0) & (ts <= 1)):
        raise ValueError("ts must be a non-empty 1-D array of numbers in [0, 1].")
    for split, batch in sets_of(train, valid):
        if (batch[0] if isinstance(batch, tuple) else batch).shape[0] == 0:
            raise ValueError(f"the {split} set holds no examples; give at least one.")
    return ts
