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
"""
from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import backend
from ..contract import check_model
from ..io import write_npz
from ..memory import eval_memory_budget
from ..params import point_on_line
from ..progress import progress_bar
from ..checks import is_whole_number

DEFAULT_CHUNK = 10_000


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


def _is_classifier(model) -> bool:
    return hasattr(model, "error_rate")


def _sweep_plain(model, theta0, theta1, batch, alphas, progress, desc):
    """Set theta(alpha) and evaluate the whole model at every alpha (loss and error in one pass)."""
    J, err = [], []
    classifier = _is_classifier(model) and hasattr(model, "evaluate")
    for a in progress_bar(alphas, desc=desc, enabled=progress, unit="alpha"):
        a = float(a)  # a Python float keeps theta's dtype (a NumPy float64 would promote float32 to float64)
        theta = (1.0 - a) * theta0 + a * theta1
        if classifier:
            loss, error = model.evaluate(theta, batch)
            J.append(loss)
            err.append(error)
        else:
            J.append(model.loss(theta, batch))
            if _is_classifier(model):
                err.append(model.error_rate(theta, batch))
    return np.array(J), (np.array(err) if err else None)


def _sweep_fast(model, theta0, theta1, batch, alphas, chunk_size, progress, desc, masks_rng_seed=None,
                mc_samples=0):
    """Reuse the first layer's outputs at both ends for every alpha; sum the loss and the errors chunk by chunk.

    Per chunk: Z0 = X W0 + b0 and Z1 = X W1 + b1 (the expensive products, once); per alpha
    z = (1 - alpha) Z0 + alpha Z1 = X W(alpha) + b(alpha), written into one reused buffer (exactly Z0 at
    alpha = 0 and Z1 at alpha = 1), then the rest of the network. A model with ``evaluate_line_chunk`` (the
    MLP and the conv net) runs the deterministic loop over alpha itself, in its own layout; this generic loop
    remains for Monte Carlo dropout masks and for models without one. A model with ``line_parameters`` (the
    MLP) gets its later layers at every alpha built once for all chunks, when they fit the memory budget.
    """
    X, y = batch
    xp = backend.get_xp(theta0, X)
    n = X.shape[0]
    w_name = model.first_layer_weights
    W0, W1 = model.unflatten(theta0)[w_name], model.unflatten(theta1)[w_name]
    alphas = [float(a) for a in alphas]  # Python floats keep theta's dtype
    nll_sum, wrong = np.zeros(len(alphas)), np.zeros(len(alphas))
    chunks = range(0, n, chunk_size)
    # theta(alpha) = (1 - alpha) theta0 + alpha theta1 in one reused buffer, all but the first layer's weights:
    # the rest of the network starts from z, so those (most of an MLP's parameters) are never read
    entry = model.layout[w_name]
    rest = [part for part in (slice(0, entry.offset), slice(entry.offset + entry.size, theta0.shape[0]))
            if part.stop > part.start]
    theta, scaled_theta = xp.array(theta0, copy=True), xp.empty_like(theta0)

    def theta_at(a):
        for part in rest:
            point_on_line(theta0[part], theta1[part], a, theta[part], scaled_theta[part])

    samples = max(mc_samples, 1)
    on_line = _later_layers_on_line(model, theta0, theta1, alphas, chunk_size) if not mc_samples else None
    for start in progress_bar(chunks, desc=desc, enabled=progress, unit="chunk"):
        Xc, yc = X[start:start + chunk_size], y[start:start + chunk_size]
        for s in range(samples):
            masks = None
            if mc_samples:
                rng = backend.rng([masks_rng_seed, start, s], xp)
                masks = model.draw_masks(rng, Xc.shape[0], dtype=theta0.dtype)
            Xin = model.drop_input(Xc, masks)
            A, B = first_linear_pair(model, Xin, W0, W1)  # the two expensive products
            Z0, Z1 = model.first_bias(theta0, A), model.first_bias(theta1, B)
            del A, B
            if masks is None and hasattr(model, "evaluate_line_chunk"):  # the model's own loop over alpha
                nll, errors = (model.evaluate_line_chunk(theta0, theta1, Z0, Z1, alphas, yc) if on_line is None else
                               model.evaluate_line_chunk(theta0, theta1, Z0, Z1, alphas, yc, on_line=on_line))
                nll_sum += nll / samples
                wrong += errors / samples
                continue
            z, scaled = xp.empty_like(Z0), xp.empty_like(Z0)
            for i, a in enumerate(alphas):
                # theta(alpha) is rebuilt per chunk rather than kept for every alpha: memory stays
                # bounded by the chunk, whatever the number of alphas
                theta_at(a)
                point_on_line(Z0, Z1, a, z, scaled)  # the first layer's output at theta(alpha); the model may overwrite z
                nll, errors = model.evaluate_from_first_output(theta, z, yc, masks)
                nll_sum[i] += nll / samples
                wrong[i] += errors / samples
    return nll_sum / n, wrong / n


def _later_layers_on_line(model, theta0, theta1, alphas, chunk_size):
    """The model's :meth:`line_parameters` (every layer after the first at each alpha, built once for all
    chunks) when it has them, its ``evaluate_line_chunk`` takes them (a subclass may override it with the
    older signature, without ``on_line``) and they fit in what the memory budget leaves beside one chunk's
    temporaries; else None, and each chunk builds them again (the same numbers either way)."""
    evaluate_chunk = getattr(model, "evaluate_line_chunk", None)
    if (not hasattr(model, "line_parameters") or evaluate_chunk is None
            or not _takes_keyword(evaluate_chunk, "on_line")):
        return None
    dtype = theta0.dtype
    spare = (eval_memory_budget() - chunk_size * int(model.eval_bytes_per_example(dtype))
             - getattr(model, "eval_fixed_bytes", 0))
    needed = model.line_parameter_bytes(len(alphas), dtype)
    if needed == 0 or needed > spare:   # no later layers (nothing to build), or no room
        return None
    return model.line_parameters(theta0, theta1, alphas)


def _takes_keyword(function, name: str) -> bool:
    """Whether ``function`` accepts the keyword argument ``name`` (by name, or through ``**kwargs``).

    Both the function's own signature and the one ``functools.wraps`` copied from the function it wraps must
    accept it: a wrapper of MLP's method that passes on ``*args`` only reports MLP's signature when
    followed, and its own ``*args`` when not."""
    def accepts(follow_wrapped):
        try:
            parameters = inspect.signature(function, follow_wrapped=follow_wrapped).parameters.values()
        except (TypeError, ValueError):   # no signature to read (a builtin): do not guess
            return False
        return any(p.name == name and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                   or p.kind == p.VAR_KEYWORD for p in parameters)
    return accepts(follow_wrapped=False) and accepts(follow_wrapped=True)


def check_sweep_batch(model, theta, batch, split: str) -> None:
    """Refuse, before any computing, a batch the fast sweep cannot read, with the message ``model.loss`` gives.

    The fast sweep never calls ``model.loss``, so it asks the model's own batch check: the
    ``_check_batch(theta, X, y)`` that every :class:`~minilinpath.models.classifier.SoftmaxClassifier`
    provides (the one ``loss`` runs: X's shape and dtype against theta, one label per row). A model of your
    own without it gets the check the sweep itself needs (one label in y per row of X) and then
    ``model.loss`` on the first example, which raises whatever else that model refuses.
    """
    X, y = batch
    try:
        if hasattr(model, "_check_batch"):
            model._check_batch(theta, X, y)
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


def first_linear_pair(model, X, W0, W1):
    """``(X W0, X W1)``, the first layer's linear part at both ends of the line (the model's own
    ``first_linear_pair`` when it has one, e.g. one convolution with both kernels stacked)."""
    if hasattr(model, "first_linear_pair"):
        return model.first_linear_pair(X, W0, W1)
    return model.first_linear(X, W0), model.first_linear(X, W1)


def linear_path(model, theta0, theta1, train, alphas, valid=None, chunk_size: int | None = None,
                mc_samples: int = 0, seed: int = 0, fast: bool = True, progress: bool = True) -> PathResult:
    """Evaluate the model along theta(alpha) = (1 - alpha) theta0 + alpha theta1.

    Parameters
    ----------
    model : a model with ``loss`` (and ``error_rate`` for classifiers).
    theta0, theta1 : flat parameter vectors (e.g. init and solution, two solutions,
        a random point and a solution).
    train, valid : batches such as ``(X, y)``; ``valid`` is optional.
    alphas : any real values (outside [0, 1] too), e.g. ``np.linspace(0, 1, 200)``.
    chunk_size : examples per forward pass (bounds memory). By default the
        model's own ``evaluation_chunk`` (the chunks of ``model.loss``, as many
        as ``$MINILINPATH_EVAL_MEMORY_MB`` allows), so the values
        at alpha = 0 and 1 are exactly ``model.loss(theta0)`` and
        ``model.loss(theta1)``; other sizes agree to rounding.
    mc_samples : a whole number: 0 for the deterministic network; k > 0 averages the dropout
        objective over k mask sets, the same sets at every alpha (needs a dropout model);
        a negative or fractional value is refused.
    seed : seed of those masks.
    fast : use the first-layer reuse when the model supports it (same numbers as the
        plain sweep up to rounding). The fast sweep never calls ``model.loss``, so it
        first checks each set with :func:`check_sweep_batch` (the model's own batch
        check): a malformed batch is refused, with the model's message, before any computing.
    """
    check_model(model, "linear_path")  # one line naming what a user's model lacks, before any computing
    alphas = np.asarray(alphas, dtype=np.float64)
    if alphas.ndim != 1 or alphas.size == 0 or not np.all(np.isfinite(alphas)):
        raise ValueError("alphas must be a non-empty 1-D array of finite numbers.")
    model.layout.check(theta0)
    model.layout.check(theta1)
    if theta0.dtype != theta1.dtype:
        raise TypeError(f"theta0 is {theta0.dtype} but theta1 is {theta1.dtype}; cast one of them.")
    if chunk_size is None:  # the model's own evaluation chunk, bounded by the memory budget
        chunk_size = (model.evaluation_chunk(theta0.dtype) if hasattr(model, "evaluation_chunk")
                      else getattr(model, "eval_chunk", DEFAULT_CHUNK))
    if not is_whole_number(chunk_size) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a whole number >= 1 (examples per pass), got {chunk_size!r}.")
    chunk_size = int(chunk_size)
    if isinstance(mc_samples, bool) or not isinstance(mc_samples, (int, np.integer)) or mc_samples < 0:
        raise ValueError(f"mc_samples must be a whole number (an int) >= 0 (0: the deterministic network, k > 0: the "
                         f"mean over k dropout mask sets), got {mc_samples!r}.")
    mc_samples = int(mc_samples)
    if mc_samples and not getattr(model, "uses_dropout", False):
        raise ValueError("mc_samples > 0 averages over dropout masks, but this model has no dropout.")
    can_fast = hasattr(model, "first_layer_weights") and _is_classifier(model)
    if mc_samples and not can_fast:
        raise ValueError("Monte Carlo dropout sweeps need a model that starts with a linear layer (an MLP or a "
                         "convolutional network).")
    sweep_fast = can_fast and (fast or mc_samples)
    sets = [(split, batch) for split, batch in (("train", train), ("valid", valid)) if batch is not None]
    for split, batch in sets:   # both sets, before the first alpha is computed
        if batch[0].shape[0] == 0:   # a mean over no examples: there is no curve to draw
            raise ValueError(f"the {split} set holds no examples; give at least one.")
        if sweep_fast:   # the plain sweep calls model.loss, which checks the batch itself
            check_sweep_batch(model, theta0, batch, split)
    result = {}
    for split, batch in sets:
        desc = f"linear path ({split})"
        if sweep_fast:
            J, err = _sweep_fast(model, theta0, theta1, batch, alphas, chunk_size, progress, desc, seed, mc_samples)
        else:
            J, err = _sweep_plain(model, theta0, theta1, batch, alphas, progress, desc)
        result[f"J_{split}"], result[f"error_{split}"] = J, err
    settings = {"model": getattr(model, "name", type(model).__name__), "n_train": int(train[0].shape[0]),
                "n_valid": None if valid is None else int(valid[0].shape[0]), "mc_samples": mc_samples,
                "seed": seed, "chunk_size": chunk_size}
    return PathResult(alphas, result["J_train"], result.get("J_valid"), result.get("error_train"),
                      result.get("error_valid"), settings)


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
