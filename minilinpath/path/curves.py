"""Curves between two solutions: a Bézier curve and a polygonal chain whose bend points are trained.

The paper's Figure 5 finds a barrier on the *straight* line between two
solutions. Is there a *curved* path between the same two solutions along which
J stays low? Garipov, Izmailov, Podoprikhin, Vetrov & Wilson (2018), "Loss
Surfaces, Mode Connectivity, and Fast Ensembling of DNNs", and Draxler,
Veschgini, Salmhofer & Hamprecht (2018), "Essentially No Barriers in Neural
Network Energy Landscape", found that there is: a simple curve with one or a
few trained bend points connects two solutions at nearly constant loss.

The curves
----------
Both curves are weighted sums of control points, theta_a and theta_b fixed at
the ends and K trainable bends p_1 .. p_K in between (p_0 = theta_a,
p_{K+1} = theta_b; every p_i a flat vector of P parameters)::

    phi(t) = sum_{i=0}^{K+1} w_i(t) p_i,       t in [0, 1],   phi(0) = theta_a,  phi(1) = theta_b

- Bézier curve of degree n = K + 1 (Garipov et al. 2018, section 3.2; K = 1 is
  their quadratic curve): the Bernstein weights w_i(t) = C(n, i) t^i (1 - t)^(n - i).
  With one bend b: phi(t) = (1 - t)^2 theta_a + 2 t (1 - t) b + t^2 theta_b.
- Polygonal chain (Garipov et al. 2018's "polygonal chain"; Draxler et al.
  2018's paths are chains of pivot points too): K bends at t = k / (K + 1), a
  straight segment between neighbours. On segment k (k / (K+1) <= t <= (k+1) / (K+1)),
  with s = (K + 1) t - k: phi(t) = (1 - s) p_k + s p_{k+1}. The weights are
  "hat" functions. With one bend b: theta_a -> b for t < 1/2, b -> theta_b after.

In both, the weights are >= 0 and sum to 1, so phi(t) is a convex combination
of the control points. Two consequences used here: (1) a model's column-norm
limits (max-norm, a convex set) hold all along the curve as soon as they hold
at every control point, so training keeps each bend inside them with the
model's own ``constrain``; (2) bends placed evenly *on* the line, p_k = theta_a
+ k / (K + 1) (theta_b - theta_a), give phi(t) = (1 - t) theta_a + t theta_b for
both kinds (the Bernstein basis reproduces linear functions), so training starts
from the straight line itself (:func:`line_curve`). At t = 0 and t = 1 only one
weight is non-zero and equals 1, so phi(0) and phi(1) are the end points
exactly, in any precision.

Training (Garipov et al. 2018, eq. 2-3)
---------------------------------------
The bends minimise the loss averaged uniformly over the curve's parameter::

    L(p_1 .. p_K) = E_{t ~ U(0, 1)} J(phi(t)).

The chain rule through phi (d phi(t) / d p_i = w_i(t) I) gives, for one t::

    d J(phi(t)) / d p_i = w_i(t) grad J(phi(t))                 (a vector of P numbers)

so one step of stochastic gradient descent draws a minibatch and one t,
computes g = grad J(phi(t)) once with the model's own ``loss_and_grad`` (with
its dropout masks, i.e. the model's training objective), and moves every bend
by w_i(t) g with momentum (:func:`~minilinpath.optim.momentum_step`). This is an
unbiased estimate of grad L. The ends are never updated. Every random choice
(the minibatch order, the t's, the masks) comes from ``seed``.

Along the trained curve (:func:`curve_path`) the model is evaluated
deterministically (dropout models: the test-time network), on the whole given
sets, like :func:`~minilinpath.path.linear_path` does along the line; the
barrier is :func:`~minilinpath.path.metrics.barrier_height` of the samples.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .. import backend
from ..checks import is_whole_number
from ..contract import ErrorRate, EvaluatesInOnePass, checked_loss, model_name
from ..optim import momentum_step
from ..progress import progress_bar
from .checks import CurveTrainingSettings, check_curve_path, check_curve_training
from .linear import PathResult

KINDS = ("bezier", "chain")


def bernstein_weights(degree: int, t: float) -> np.ndarray:
    """The Bernstein weights (degree + 1,) at t: w_i = C(degree, i) t^i (1 - t)^(degree - i).

    At t = 0 this is exactly (1, 0, ..., 0) and at t = 1 exactly (0, ..., 0, 1).
    """
    i = np.arange(degree + 1)
    binomial = np.array([math.comb(degree, k) for k in i], dtype=np.float64)
    return binomial * t ** i * (1.0 - t) ** (degree - i)


def chain_weights(segments: int, t: float) -> np.ndarray:
    """The hat weights (segments + 1,) of a polygonal chain at t: two neighbours (1 - s, s) on the segment
    that holds t (s = segments * t - k on segment k), zero elsewhere; a knot t = k / segments gives
    exactly 1 at point k (t = 1 belongs to the last segment)."""
    w = np.zeros(segments + 1)
    position = segments * t
    k = min(int(math.floor(position)), segments - 1)
    s = position - k
    w[k], w[k + 1] = 1.0 - s, s
    return w


@dataclass
class Curve:
    """phi(t) = sum_i w_i(t) p_i through the control points ``points = [theta_a, bend_1, ..., bend_K, theta_b]``
    (flat vectors of one dtype and device); ``kind`` is ``"bezier"`` or ``"chain"`` (see the module docstring)."""
    kind: str
    points: list

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"curve kind must be one of {KINDS}, got {self.kind!r}.")
        if len(self.points) < 3:
            raise ValueError("a curve needs its two ends and at least one bend point.")
        first = self.points[0]
        for p in self.points:
            if p.shape != first.shape or p.dtype != first.dtype or p.ndim != 1:
                raise ValueError("every control point must be a flat vector of one shape and dtype; got "
                                 f"{[(tuple(q.shape), str(q.dtype)) for q in self.points]}.")

    @property
    def n_bends(self) -> int:
        return len(self.points) - 2

    @property
    def bends(self) -> list:
        """The trainable control points p_1 .. p_K (the arrays themselves: updating them changes the curve)."""
        return self.points[1:-1]

    @property
    def ends(self) -> tuple:
        return self.points[0], self.points[-1]

    def weights(self, t: float) -> np.ndarray:
        """w_i(t) for every control point, ends included: (K + 2,) non-negative numbers that sum to 1."""
        t = float(t)
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"t must lie in [0, 1], got {t}.")
        if self.kind == "bezier":
            return bernstein_weights(self.n_bends + 1, t)
        return chain_weights(self.n_bends + 1, t)

    def point(self, t: float):
        """phi(t), a new flat vector of the control points' dtype (terms with weight 0 are skipped, so
        phi(0) and phi(1) are the end points bit for bit)."""
        xp = backend.get_xp(self.points[0])
        theta, term = None, None
        for w, p in zip(self.weights(t), self.points):
            if w == 0.0:
                continue
            if theta is None:
                theta = p * float(w)  # a Python float keeps p's dtype
                term = xp.empty_like(theta)
            else:
                xp.multiply(p, float(w), out=term)
                theta += term
        return theta

    def copy(self) -> "Curve":
        xp = backend.get_xp(self.points[0])
        return Curve(self.kind, [xp.array(p, copy=True) for p in self.points])

    def arrays(self, prefix: str = "") -> dict:
        """The control points as NumPy arrays ``{prefix + "points": (K + 2, P)}`` (to save with a figure)."""
        return {prefix + "points": np.stack([backend.to_numpy(p) for p in self.points])}

    @classmethod
    def from_arrays(cls, kind: str, arrays: dict, prefix: str = "") -> "Curve":
        return cls(kind, list(arrays[prefix + "points"]))


def line_curve(kind: str, theta_a, theta_b, bends: int = 1) -> Curve:
    """A curve of ``kind`` whose ``bends`` bend points lie evenly on the straight line, p_k = theta_a + k / (K + 1)
    (theta_b - theta_a) (one bend: the midpoint). For both kinds phi(t) is then the line (1 - t) theta_a + t theta_b.

    The ends are copies, so training never touches the caller's arrays.
    """
    if not is_whole_number(bends) or bends < 1:
        raise ValueError(f"a curve needs at least one bend point (a whole number), got bends={bends!r}.")
    if theta_a.shape != theta_b.shape or theta_a.dtype != theta_b.dtype:
        raise ValueError(f"the ends differ: {theta_a.shape} {theta_a.dtype} and {theta_b.shape} {theta_b.dtype}.")
    xp = backend.get_xp(theta_a)
    K = int(bends)
    points = [xp.array(theta_a, copy=True)]
    for k in range(1, K + 1):
        s = k / (K + 1)
        points.append((1.0 - s) * theta_a + s * theta_b)
    points.append(xp.array(theta_b, copy=True))
    return Curve(kind, points)


def curve_loss_and_grad(model, curve: Curve, t: float, batch, rng=None):
    """``(J(phi(t)), [dJ/dp_1, ..., dJ/dp_K])`` on ``batch``: one gradient of the model at phi(t), then the
    chain rule dJ/dp_i = w_i(t) grad J(phi(t)). ``rng`` goes to ``model.loss_and_grad`` (dropout masks)."""
    theta = curve.point(t)
    loss, grad = model.loss_and_grad(theta, batch, rng=rng)
    return loss, [grad * float(w) for w in curve.weights(t)[1:-1]]


def expected_loss_and_grad(model, curve: Curve, samples):
    """The Monte-Carlo estimate of L = E_t J(phi(t)) over ``samples`` = [(t, batch, seed), ...] and its gradient
    with respect to every bend: (1/m) sum_k J(phi(t_k); batch_k, masks from seed_k) and (1/m) sum_k w_i(t_k) g_k.

    ``seed`` None evaluates the model without random masks; otherwise the model's ``rng`` is rebuilt from
    the seed, so calling this twice gives the same function of the bends (what a finite-difference check needs).
    """
    xp = backend.get_xp(curve.points[0])
    total, grads = 0.0, [xp.zeros_like(p) for p in curve.bends]
    for t, batch, seed in samples:
        rng = None if seed is None else backend.rng(seed, xp)
        loss, bend_grads = curve_loss_and_grad(model, curve, t, batch, rng)
        total += loss
        for g, gk in zip(grads, bend_grads):
            g += gk
    m = len(samples)
    return total / m, [g / m for g in grads]


@dataclass
class CurveFit:
    """A trained curve and how training went: ``history`` has, per epoch, the mean training objective
    J(phi(t)) over its minibatches (each at its own t)."""
    curve: Curve
    history: list = field(default_factory=list)
    settings: dict = field(default_factory=dict)


def minibatch(data, idx):
    """The rows ``idx`` of every array of a batch tuple (``(X, y)``, or a language model's ``(inputs, targets)``
    windows), or of a single array (the MP-DBM's X)."""
    if isinstance(data, tuple):
        return tuple(a[idx] for a in data)
    return data[idx]


def train_curve(model, curve: Curve, train_set, epochs: int = 5, batch_size: int = 100, lr: float = 0.05,
                momentum: float = 0.9, seed: int = 0, progress: bool = True, log=None) -> CurveFit:
    """Train the bends of (a copy of) ``curve`` by SGD with momentum on L = E_{t ~ U(0, 1)} J(phi(t)).

    Parameters
    ----------
    model : keeps the contract and has ``loss_and_grad(theta, batch, rng)``; its ``constrain`` (if any,
        :class:`~minilinpath.contract.Constrained`) is applied to every bend after every step, its
        ``lr_scales`` (if any, :class:`~minilinpath.contract.ScaledLearningRates`) scale the step as in training.
    curve : the start, e.g. :func:`line_curve`; it is not changed.
    train_set : a batch tuple whose arrays have one row per example (``(X, y)``; a language model's
        ``(inputs, targets)`` with one window of ``steps`` tokens per row, each started from a zero state),
        or a single array (the MP-DBM's X). Checked first (:func:`~minilinpath.path.checks.example_count`):
        at least one example, and the same number of rows in every array.
    epochs, batch_size : passes over ``train_set`` in minibatches (the last one may be smaller); whole numbers >= 1.
    lr, momentum : v <- momentum v - lr g; p <- p + v, per bend.
    seed : a whole number >= 0: epoch e shuffles with ``default_rng([seed, 1, e])``, draws its t's (one per
        minibatch, uniform on [0, 1)) from ``default_rng([seed, 3, e])`` and its dropout masks from
        ``rng([seed, 2, e])``.
    """
    settings = check_curve_training(model, curve, train_set, epochs, batch_size, lr, momentum, seed)
    curve = curve.copy()
    xp = backend.get_xp(curve.points[0])
    velocities = [xp.zeros_like(p) for p in curve.bends]
    lr_scales = model.lr_scales(xp, curve.points[0].dtype) if settings.scaled_lr else None
    history = []
    for epoch in range(1, settings.epochs + 1):
        mean = _train_epoch(model, curve, velocities, lr_scales, train_set, settings, epoch, progress)
        history.append({"epoch": epoch, "train_objective": mean})
        if log is not None:
            log(f"{curve.kind} curve, epoch {epoch}: mean J(phi(t)) over its minibatches {mean:.4f}")
    recorded = {"kind": curve.kind, "bends": curve.n_bends, "epochs": settings.epochs,
                "batch_size": settings.batch_size, "lr": lr, "momentum": momentum, "seed": settings.seed}
    return CurveFit(curve, history, recorded)


def _train_epoch(model, curve: Curve, velocities, lr_scales, train_set, settings: CurveTrainingSettings,
                 epoch: int, progress: bool) -> float:
    """One pass over ``train_set`` in shuffled minibatches, each at its own t; the mean J(phi(t)) of the pass."""
    from ..train import TrainingDiverged

    xp = backend.get_xp(curve.points[0])
    starts = range(0, settings.n, settings.batch_size)
    order = np.random.default_rng([settings.seed, 1, epoch]).permutation(settings.n)
    ts = np.random.default_rng([settings.seed, 3, epoch]).random(len(starts))
    masks_rng = backend.rng([settings.seed, 2, epoch], xp)
    losses = []
    for start, t in progress_bar(list(zip(starts, ts)), desc=f"curve epoch {epoch}", enabled=progress, unit="batch"):
        idx = order[start:start + settings.batch_size]
        batch = minibatch(train_set, idx if xp is np else xp.asarray(idx))
        loss, bend_grads = curve_loss_and_grad(model, curve, float(t), batch, masks_rng)
        if not math.isfinite(loss):
            raise TrainingDiverged(f"the curve's training loss became {loss} in epoch {epoch} (at t = {t:.3f});"
                                   " lower the curve's learning rate.")
        for bend, velocity, g in zip(curve.bends, velocities, bend_grads):
            if lr_scales is not None:
                g *= lr_scales
            momentum_step(bend, velocity, g, settings.lr, settings.momentum)
            if settings.constrained:
                model.constrain(bend)
        losses.append(loss)
    return float(np.mean(losses))


def _evaluate(model, theta, batch, one_pass: bool, classifier: bool):
    """``(J, error or None)`` of the deterministic model at theta on a whole set, in one pass where it can."""
    if one_pass:
        return model.evaluate(theta, batch)
    error = model.error_rate(theta, batch) if classifier else None
    return checked_loss(model.loss(theta, batch), model), error


def curve_path(model, curve: Curve, train, ts, valid=None, progress: bool = True) -> PathResult:
    """J (and the error rate, for classifiers) of the deterministic model at phi(t) for every t of ``ts``, on
    the whole of ``train`` (and ``valid``): a :class:`~minilinpath.path.linear.PathResult` whose ``alphas``
    are the t's, so the metrics of :mod:`minilinpath.path.metrics` apply as to a line. Like
    :func:`~minilinpath.path.linear_path`, a set with no examples is refused (its mean is undefined)."""
    ts = check_curve_path(model, ts, train, valid)
    one_pass, classifier = isinstance(model, EvaluatesInOnePass), isinstance(model, ErrorRate)
    values = {}
    for split, batch in (("train", train), ("valid", valid)):
        if batch is None:
            continue
        J, errors = [], []
        for t in progress_bar(ts, desc=f"{curve.kind} curve ({split})", enabled=progress, unit="t"):
            loss, error = _evaluate(model, curve.point(float(t)), batch, one_pass, classifier)
            J.append(loss)
            errors.append(error)
        values[f"J_{split}"] = np.array(J)
        values[f"error_{split}"] = None if errors[0] is None else np.array(errors)
    settings = {"model": model_name(model), "kind": curve.kind, "bends": curve.n_bends}
    return PathResult(ts, values["J_train"], values.get("J_valid"), values.get("error_train"),
                      values.get("error_valid"), settings)
