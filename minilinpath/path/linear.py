"""The linear path experiment: J along theta(alpha) = (1 - alpha) theta0 + alpha theta1.

:func:`linear_path` evaluates, at every alpha of a grid (any real values, both
endpoints included when the grid has them):

- ``J_train``, ``J_valid``: the model's mean loss on the *whole* given set,
  computed in chunks of ``chunk_size`` examples (never one minibatch);
- ``error_train``, ``error_valid``: the error rate, for classifiers.

Dropout models are evaluated deterministically by default (``model.loss``,
pylearn2's test-time network). With ``mc_samples=k`` the dropout objective is
averaged over k sets of masks instead; the *same* masks are used at every
alpha (common random numbers), so the curve is smooth in alpha.

Fast sweep. When the model starts with a linear layer (dense or
convolutional), the first layer's linear part is affine in alpha:

    X W(alpha) = (1 - alpha) X W0 + alpha X W1        (and conv(X, W(alpha)) likewise),

so for each chunk of data the two products X W0 and X W1 are computed once
and reused for every alpha; only the (much cheaper) rest of the network runs
per alpha, with the evaluation forward (no training caches). Memory stays
bounded by ``chunk_size``, which by default follows the evaluation memory budget.
The products and the per-point evaluation are the fast path the planes use too
(:mod:`.first_layer`).

What the sweep may ask of a model is declared in :mod:`minilinpath.contract`,
and asked once (:func:`~minilinpath.path.checks.check_line` and the sweep
below): ``FirstLayerSweep`` for the fast sweep at all, ``DropoutMasks`` for
``mc_samples``, ``LineChunkSweep`` (the model's own loop over alpha per chunk)
and ``LineParameters`` (the later layers built once per sweep), ``ErrorRate``
and ``EvaluatesInOnePass`` for the plain sweep.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import backend
from ..contract import (EvaluatesInOnePass, LineChunkSweep, LineParameters, PairedFirstLinear, RunningStatistics,
                        checked_loss, fixed_evaluation_bytes, model_name)
from ..io import write_npz
from ..memory import eval_memory_budget
from ..params import point_on_line
from ..progress import progress_bar
from .checks import LineSettings, check_line, check_sweep_batch  # noqa: F401 (check_sweep_batch: its older home)
from .statistics import StatisticsOnLine, check_statistics_choice, sweep_with_statistics
from .first_layer import DEFAULT_CHUNK, FirstLayer, evaluate_from_first_output  # noqa: F401 (DEFAULT_CHUNK: older home)


def _json_value(value):
    """A setting JSON cannot write as it is: a NumPy number or array as the Python number or list it holds
    (so it loads back as a number, not its text), anything else as its text."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    return str(value)


@dataclass
class PathResult:
    """J (and error rates) along a line; ``None`` where a quantity is not defined."""
    alphas: np.ndarray
    J_train: np.ndarray
    J_valid: np.ndarray | None = None
    error_train: np.ndarray | None = None
    error_valid: np.ndarray | None = None
    settings: dict = field(default_factory=dict)

    FIELDS = ("alphas", "J_train", "J_valid", "error_train", "error_valid")

    def arrays(self, prefix: str = "") -> dict:
        """The curves as ``{prefix + name: array}``, leaving out the undefined ones."""
        return {prefix + k: getattr(self, k) for k in self.FIELDS if getattr(self, k) is not None}

    @classmethod
    def from_arrays(cls, arrays: dict, prefix: str = "", settings=None) -> "PathResult":
        return cls(**{k: arrays.get(prefix + k) for k in cls.FIELDS}, settings=settings or {})

    def save(self, path, overwrite: bool = False) -> Path:
        """Write ``path`` (.npz, no pickle) with the curves and the settings as JSON text."""
        path = Path(path).with_suffix(".npz")
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it.")
        return write_npz(path, settings=np.array(json.dumps(self.settings, default=_json_value)), **self.arrays())

    @classmethod
    def load(cls, path) -> "PathResult":
        """Read a file written by :meth:`save`; refuse an .npz of another kind (one without the curve's
        ``alphas`` and ``J_train``) rather than return a result of ``None`` curves."""
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        missing = [name for name in ("alphas", "J_train") if name not in arrays]
        if missing:
            raise ValueError(f"{path} is not a path result written by PathResult.save: it has no "
                             f"{' or '.join(missing)} (it holds {sorted(arrays) or 'nothing'}); give a file that "
                             "PathResult.save wrote.")
        return cls.from_arrays(arrays, settings=json.loads(str(arrays.pop("settings", "{}"))))


def linear_path(model, theta0, theta1, train, alphas, valid=None, chunk_size: int | None = None,
                mc_samples: int = 0, seed: int = 0, fast: bool = True, progress: bool = True,
                statistics: str = "recompute", statistics_data=None, end_statistics=None) -> PathResult:
    """Evaluate the model along theta(alpha) = (1 - alpha) theta0 + alpha theta1.

    Parameters
    ----------
    model : a model with ``loss`` (and ``error_rate`` for classifiers).
    theta0, theta1 : flat parameter vectors (e.g. init and solution, two solutions,
        a random point and a solution).
    train, valid : batches such as ``(X, y)``; ``valid`` is optional.
    alphas : any real values (outside [0, 1] too), e.g. ``np.linspace(0, 1, 200)``.
    chunk_size : examples per forward pass (bounds memory), a whole number >= 1. By default the
        model's own ``evaluation_chunk`` (the chunks of ``model.loss``, as many
        as ``$MINILINPATH_EVAL_MEMORY_MB`` allows), so the values
        at alpha = 0 and 1 are exactly ``model.loss(theta0)`` and
        ``model.loss(theta1)``; other sizes agree to rounding.
    mc_samples : a whole number: 0 for the deterministic network; k > 0 averages the dropout
        objective over k mask sets, the same sets at every alpha (needs a dropout model);
        a negative or fractional value is refused.
    seed : seed of those masks (a whole number >= 0 when mc_samples > 0).
    fast : use the first-layer reuse when the model supports it (same numbers as the
        plain sweep up to rounding). The fast sweep never calls ``model.loss``, so it
        first checks each set with :func:`check_sweep_batch` (the model's own batch
        check): a malformed batch is refused, with the model's message, before any computing.
    statistics, statistics_data, end_statistics : for a model with running statistics (batch
        normalization) only: which means and variances theta(alpha) is evaluated with, ``"recompute"``
        (default; on ``statistics_data``, default the training inputs) or ``"interpolate"`` (between
        ``end_statistics``): see :mod:`minilinpath.path.statistics`.
    """
    settings = check_line(model, theta0, theta1, train, alphas, valid, chunk_size, mc_samples, seed, fast)
    check_statistics_choice(model, statistics, statistics_data, end_statistics)
    if isinstance(model, RunningStatistics):
        return _line_with_statistics(model, theta0, theta1, train, valid, settings, progress, statistics,
                                     statistics_data, end_statistics)
    curves = {}
    for split, batch in settings.sets:
        desc = f"linear path ({split})"
        if settings.fast:
            J, err = _sweep_fast(model, theta0, theta1, batch, settings.alphas, settings.chunk_size, progress, desc,
                                 settings.seed, settings.mc_samples)
        else:
            J, err = _sweep_plain(model, theta0, theta1, batch, settings.alphas, progress, desc, settings.classifier)
        curves[f"J_{split}"], curves[f"error_{split}"] = J, err
    return PathResult(settings.alphas, curves["J_train"], curves.get("J_valid"), curves.get("error_train"),
                      curves.get("error_valid"), _recorded(model, train, valid, settings))


def _line_with_statistics(model, theta0, theta1, train, valid, settings: LineSettings, progress, statistics,
                          statistics_data, end_statistics) -> PathResult:
    """The line of a model with running statistics: the plain sweep, each alpha evaluated with the statistics
    ``statistics`` chooses (:mod:`minilinpath.path.statistics`)."""
    data = train[0] if statistics_data is None else statistics_data
    on_line = StatisticsOnLine(model, theta0, theta1, data, statistics, end_statistics)
    curves = sweep_with_statistics(model, theta0, theta1, settings.sets, settings.alphas, on_line, progress)
    recorded = {**_recorded(model, train, valid, settings), "statistics": statistics, "n_statistics": int(data.shape[0])}
    return PathResult(settings.alphas, curves["J_train"], curves.get("J_valid"), curves["error_train"],
                      curves.get("error_valid"), recorded)


def _recorded(model, train, valid, settings: LineSettings) -> dict:
    """The settings a :class:`PathResult` records (and saves as JSON)."""
    return {"model": model_name(model), "n_train": int(train[0].shape[0]),
            "n_valid": None if valid is None else int(valid[0].shape[0]), "mc_samples": settings.mc_samples,
            "seed": settings.seed, "chunk_size": settings.chunk_size}


def _sweep_plain(model, theta0, theta1, batch, alphas, progress, desc, classifier: bool):
    """Set theta(alpha) and evaluate the whole model at every alpha (loss and error in one pass when it can)."""
    J, err = [], []
    one_pass = classifier and isinstance(model, EvaluatesInOnePass)
    for a in progress_bar(alphas, desc=desc, enabled=progress, unit="alpha"):
        a = float(a)  # a Python float keeps theta's dtype (a NumPy float64 would promote float32 to float64)
        theta = (1.0 - a) * theta0 + a * theta1
        if one_pass:
            loss, error = model.evaluate(theta, batch)
            J.append(checked_loss(loss, model, "evaluate"))
            err.append(error)
        else:
            J.append(checked_loss(model.loss(theta, batch), model))
            if classifier:
                err.append(model.error_rate(theta, batch))
    return np.array(J), (np.array(err) if err else None)


def _sweep_fast(model, theta0, theta1, batch, alphas, chunk_size, progress, desc, masks_rng_seed=None,
                mc_samples=0):
    """Reuse the first layer's outputs at both ends for every alpha; sum the loss and the errors chunk by chunk.

    Per chunk: Z0 = X W0 + b0 and Z1 = X W1 + b1 (the expensive products, once); per alpha
    z = (1 - alpha) Z0 + alpha Z1 = X W(alpha) + b(alpha), then the rest of the network. A model with
    ``evaluate_line_chunk`` (:class:`~minilinpath.contract.LineChunkSweep`: the MLP and the conv net) runs the
    deterministic loop over alpha itself, in its own layout; :func:`_generic_line_chunk` remains for Monte
    Carlo dropout masks and for models without one. A model with ``line_parameters`` (the MLP) gets its later
    layers at every alpha built once for all chunks, when they fit the memory budget.
    """
    X, y = batch
    xp = backend.get_xp(theta0, X)
    first = FirstLayer(model, (theta0, theta1))   # W0, W1 and their products with a chunk
    alphas = [float(a) for a in alphas]  # Python floats keep theta's dtype
    nll_sum, wrong = np.zeros(len(alphas)), np.zeros(len(alphas))
    samples = max(mc_samples, 1)
    own_loop = not mc_samples and isinstance(model, LineChunkSweep)
    on_line = _later_layers_on_line(model, theta0, theta1, alphas, chunk_size) if not mc_samples else None
    theta_on_line = None if own_loop else _ThetaOnLine(model, theta0, theta1)
    for start in progress_bar(range(0, X.shape[0], chunk_size), desc=desc, enabled=progress, unit="chunk"):
        Xc, yc = X[start:start + chunk_size], y[start:start + chunk_size]
        for s in range(samples):
            masks = None
            if mc_samples:   # the same masks at every alpha: drawn from (seed, chunk, sample) alone
                masks = model.draw_masks(backend.rng([masks_rng_seed, start, s], xp), Xc.shape[0], dtype=theta0.dtype)
            A, B = first.products(Xc, masks)  # the two expensive products
            Z0, Z1 = model.first_bias(theta0, A), model.first_bias(theta1, B)
            del A, B
            if own_loop:   # the model's own loop over alpha
                nll, errors = (model.evaluate_line_chunk(theta0, theta1, Z0, Z1, alphas, yc) if on_line is None else
                               model.evaluate_line_chunk(theta0, theta1, Z0, Z1, alphas, yc, on_line=on_line))
                nll_sum += nll / samples
                wrong += errors / samples
                continue
            for i, (nll, errors) in enumerate(_generic_line_chunk(model, theta_on_line, Z0, Z1, alphas, yc, masks)):
                nll_sum[i] += nll / samples
                wrong[i] += errors / samples
    return nll_sum / X.shape[0], wrong / X.shape[0]


class _ThetaOnLine:
    """theta(alpha) = (1 - alpha) theta0 + alpha theta1 in one reused buffer, all but the first layer's weights:
    the rest of the network starts from the first layer's output, so those (most of an MLP's parameters) are
    never read."""

    def __init__(self, model, theta0, theta1):
        xp = backend.get_xp(theta0)
        entry = model.layout[model.first_layer_weights]
        self.parts = [part for part in (slice(0, entry.offset), slice(entry.offset + entry.size, theta0.shape[0]))
                      if part.stop > part.start]
        self.theta0, self.theta1 = theta0, theta1
        self.theta, self.scratch = xp.array(theta0, copy=True), xp.empty_like(theta0)

    def at(self, a: float):
        for part in self.parts:
            point_on_line(self.theta0[part], self.theta1[part], a, self.theta[part], self.scratch[part])
        return self.theta


def _generic_line_chunk(model, theta_on_line: _ThetaOnLine, Z0, Z1, alphas, y, masks):
    """``[(NLL sum, error count) per alpha]`` of one chunk, from the first layer's outputs Z0 and Z1 at the ends.

    theta(alpha) is rebuilt per chunk rather than kept for every alpha: memory stays bounded by the chunk,
    whatever the number of alphas.
    """
    xp = backend.get_xp(Z0)
    z, scaled = xp.empty_like(Z0), xp.empty_like(Z0)
    values = []
    for a in alphas:
        theta = theta_on_line.at(a)
        point_on_line(Z0, Z1, a, z, scaled)  # the first layer's output at theta(alpha); the model may overwrite z
        values.append(evaluate_from_first_output(model, theta, z, y, masks))
    return values


def _later_layers_on_line(model, theta0, theta1, alphas, chunk_size):
    """The model's :meth:`line_parameters` (every layer after the first at each alpha, built once for all
    chunks) when it has them (:class:`~minilinpath.contract.LineParameters`) and they fit in what the memory
    budget leaves beside one chunk's temporaries; else None, and each chunk builds them again (the same numbers
    either way)."""
    if not isinstance(model, LineParameters):
        return None
    dtype = theta0.dtype
    spare = (eval_memory_budget() - chunk_size * int(model.eval_bytes_per_example(dtype))
             - fixed_evaluation_bytes(model))
    needed = model.line_parameter_bytes(len(alphas), dtype)
    if needed == 0 or needed > spare:   # no later layers (nothing to build), or no room
        return None
    return model.line_parameters(theta0, theta1, alphas)


def random_point(model, seed, xp=np, dtype=np.float32, scale: float = 1.0):
    """A random point of parameter space: every coordinate N(0, scale^2) (as galatea's
    ``lin_interp_random.py`` draws its start, with scale 1).

    ``seed`` (an int or a list of ints) is required: the same seed gives the same point; None is refused,
    since it would give a different point on every call."""
    if seed is None:
        raise ValueError("random_point needs an explicit seed (an int or a list of ints), got None; pass e.g. "
                         "seed=0, so that the point can be drawn again.")
    theta = np.random.default_rng(seed).normal(0.0, scale, size=model.layout.size)
    return backend.to_device(theta, "gpu" if xp is not np else "cpu", dtype=dtype)


def alpha_grid(kind: str = "paper"):
    """Named alpha grids: ``paper`` = i/9 for i = 0..19 (0 to 2.11, galatea's lin_interp.py),
    ``fine`` = 200 points on [0, 1], ``start`` = 200 points on [0, 0.01], ``end`` = 200 points on [0.99, 1]."""
    grids = {"paper": np.arange(20) / 9.0, "fine": np.linspace(0.0, 1.0, 200),
             "start": np.linspace(0.0, 0.01, 200), "end": np.linspace(0.99, 1.0, 200)}
    if kind not in grids:
        raise ValueError(f"unknown alpha grid {kind!r}; choose one of {sorted(grids)}.")
    return grids[kind]


# ------------------------------------------------------------------------ names kept for older code
def first_linear_pair(model, X, W0, W1):
    """``(X W0, X W1)``, the first layer's linear part at both ends of the line (the model's own
    ``first_linear_pair`` when it has one). The sweep itself asks :class:`~.first_layer.FirstLayer`."""
    if isinstance(model, PairedFirstLinear):
        return model.first_linear_pair(X, W0, W1)
    return model.first_linear(X, W0), model.first_linear(X, W1)
