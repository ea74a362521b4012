"""Curvature: Hessian-vector products, d2J/dalpha2 along a line, top and bottom eigenvalues, the trace.

Two Hessian-vector products:

- ``"exact"`` for the multilayer perceptrons (:class:`~minilinpath.models.MLP`,
  deterministic network): Pearlmutter's R-operator, a forward pass of
  tangents followed by the backward pass differentiated once more
  (forward-over-reverse), written by hand in :func:`mlp_hvp`. It is the
  Hessian of the smooth piece of J that theta lies on (ReLU'' = 0, the maxout
  winners fixed), with no step size.
- ``"central"`` for every model that keeps the contract: needs only
  ``loss_and_grad``, a **central difference of our own gradients, in float64**:

    H v  ~  (g(theta + eps u) - g(theta - eps u)) / (2 eps) * ||v||,      u = v / ||v||,

with g = grad J. Its error is O(eps^2) (the third derivative of J) plus
O(machine eps * ||g|| / eps) from rounding; in float64 with eps = 1e-4 both
are far below the digits an eigenvalue plot shows, and on deep linear
regression (J a polynomial) it matches the closed-form Hessian of
:mod:`analytic.hessian` to about 1e-9 (tested). theta and the data are cast to
float64 for this (computation follows theta's dtype), so an HVP costs two
float64 gradients of the whole given batch.

Why the exact product matters for ReLU and maxout networks: J is smooth only
between the places where some pre-activation changes sign (or a maxout winner
changes). A difference of gradients at theta +- eps u counts every kink it
crosses, each with a jump of the gradient divided by 2 eps: the expected number
of kinks crossed grows like eps, so this noise does *not* shrink as eps -> 0.
Measured on the quick maxout network at its initial point (near-tied pieces,
1,000 examples): central differences with eps from 1e-6 to 1e-2 disagree with
each other by ~100%. ``method="auto"`` therefore uses the exact product where
there is one. Along a whole line the kinks are dense (thousands of examples
times hundreds of units), so the second difference of J over a step h in
alpha (:func:`line_curvature`'s ``"loss"`` method) is a curvature averaged over
that step, kinks included: what the paper's curves show when looked at closely.

What is computed from it:

- :func:`line_curvature`: d2J/dalpha2 along theta(alpha) = (1 - alpha) theta0 + alpha theta1,
  i.e. d^T H(theta(alpha)) d with d = theta1 - theta0. ``method="loss"``: the
  second difference (J(alpha + h) - 2 J(alpha) + J(alpha - h)) / h^2 of float64
  losses, evaluated with the linear path's fast sweep (cheap: no gradients);
  ``method="hvp"``: d . (H d) from the HVP.
- :func:`hessian_eigenvalues`: the k largest ("LA") or k smallest, most negative
  ("SA") eigenvalues by Lanczos (ARPACK's implicitly restarted Lanczos,
  ``scipy.sparse.linalg.eigsh``, on a ``LinearOperator`` whose matvec is the
  HVP), from a start vector drawn from an explicit seed.
- :func:`hutchinson_trace`: tr(H) = E[z^T H z] for z with independent +-1
  entries (Rademacher); the mean over m draws and its standard error.

Negative eigenvalues mean J curves down along some direction: at a point where
the gradient is also small, a saddle. The paper's "flat start" near
initialisation is checked this way in the ``minilinpath curvature`` command.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import backend
from ..contract import check_model
from ..progress import progress_bar
from ..checks import is_whole_number

DEFAULT_EPS = 1e-4  # the HVP's finite-difference step (in parameter units, along a unit vector)


def _cast_batch(batch, dtype):
    if isinstance(batch, (tuple, list)) and not hasattr(batch, "_fields"):
        return type(batch)(_cast_batch(b, dtype) for b in batch)
    if hasattr(batch, "dtype") and getattr(batch.dtype, "kind", "") == "f":
        return batch.astype(dtype, copy=False)
    return batch


def as_float64_batch(batch):
    """The batch with every floating array cast to float64 (integer labels and tokens unchanged).

    Tuples, lists and named tuples (e.g. ``DeepLinear``'s ``Moments``) are cast field by field.
    """
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(as_float64_batch(b) for b in batch))
    if isinstance(batch, (tuple, list)):
        return type(batch)(as_float64_batch(b) for b in batch)
    if hasattr(batch, "dtype") and getattr(batch.dtype, "kind", "") == "f":
        return batch.astype(np.float64, copy=False)
    return batch


def check_finite(theta) -> None:
    """Refuse a theta with NaN or infinite entries (the Hessian there is undefined; Lanczos would fail deep
    inside ARPACK and the trace would come out NaN)."""
    xp = backend.get_xp(theta)
    if not bool(xp.all(xp.isfinite(theta))):
        raise ValueError("theta holds NaN or infinite values; the Hessian there is undefined. Check where theta "
                         "came from (a diverged run?) and give a finite parameter vector.")


class HessianOperator:
    """theta -> H(theta) v by central differences of ``model.loss_and_grad`` in float64 (see the module docstring).

    ``matvec`` takes and returns NumPy float64 vectors (what SciPy's Lanczos
    passes), whatever the device of theta; ``hvp`` works on theta's device.
    ``matvecs`` counts the products made (each costs two gradients). theta must
    be finite (a NaN or inf theta is refused: every product would be NaN).
    """

    def __init__(self, model, theta, batch, eps: float = DEFAULT_EPS, method: str = "auto", dtype=np.float64):
        check_model(model, "HessianOperator", needs=("loss", "loss_and_grad"))
        model.layout.check(theta)
        check_finite(theta)
        if not eps > 0:
            raise ValueError(f"eps must be > 0, got {eps}.")
        if method not in ("auto", "exact", "central"):
            raise ValueError(f"method must be 'auto', 'exact' or 'central', got {method!r}.")
        exact = has_exact_hvp(model)
        if method == "exact" and not exact:
            raise ValueError(f"{type(model).__name__} has no exact Hessian-vector product here; use method='central'.")
        self.method = "exact" if method == "auto" and exact else method if method != "auto" else "central"
        self.model, self.eps = model, float(eps)
        # central differences need float64 (module docstring); the exact product may run in float32 (faster,
        # about 7 correct digits, plenty for eigenvalues to a relative 1e-3)
        self.dtype = np.dtype(np.float64 if self.method == "central" else dtype)
        self.xp = backend.get_xp(theta)
        self.theta = self.xp.asarray(theta, dtype=self.dtype)
        self.batch = as_float64_batch(batch) if self.dtype == np.float64 else _cast_batch(batch, self.dtype)
        self.size = int(self.theta.shape[0])
        self.matvecs = 0

    def gradient(self, theta):
        return self.model.loss_and_grad(theta, self.batch)[1]

    def hvp(self, v):
        """H v for a vector ``v`` on theta's device (float64)."""
        v = self.xp.asarray(v, dtype=self.dtype)
        norm = backend.to_float(self.xp.linalg.norm(v))
        self.matvecs += 1
        if norm == 0.0:
            return self.xp.zeros_like(v)
        if self.method == "exact":
            return mlp_hvp(self.model, self.theta, self.batch, v)
        step = (self.eps / norm) * v
        plus = self.xp.asarray(self.gradient(self.theta + step), dtype=np.float64)
        minus = self.xp.asarray(self.gradient(self.theta - step), dtype=np.float64)
        return (plus - minus) * (norm / (2.0 * self.eps))

    def matvec(self, v):
        device = "gpu" if self.xp is not np else "cpu"
        out = self.hvp(backend.to_device(np.ascontiguousarray(np.ravel(v), dtype=self.dtype), device))
        return np.asarray(backend.to_numpy(out), dtype=np.float64)

    def linear_operator(self):
        """A ``scipy.sparse.linalg.LinearOperator`` (symmetric: rmatvec = matvec)."""
        from scipy.sparse.linalg import LinearOperator

        return LinearOperator((self.size, self.size), matvec=self.matvec, rmatvec=self.matvec, dtype=np.float64)


def hvp(model, theta, batch, v, eps: float = DEFAULT_EPS, method: str = "auto"):
    """One Hessian-vector product H(theta) v (float64, theta's device)."""
    return HessianOperator(model, theta, batch, eps, method).hvp(v)


def _operator_at(model, theta, batch, eps, method, operator):
    """The Hessian operator at theta: ``operator`` when given (it must have been built at this very theta,
    else the numbers would silently belong to another point), else a new one."""
    if operator is None:
        return HessianOperator(model, theta, batch, eps, method)
    if not isinstance(operator, HessianOperator):
        raise TypeError(f"operator must be a HessianOperator, got {type(operator).__name__}.")
    if operator.model is not model:
        raise ValueError("the operator was built for another model than the one given; build it with this model "
                         "or leave operator=None.")
    if theta is not None:
        model.layout.check(theta)
        check_finite(theta)
        here = operator.xp.asarray(theta, dtype=operator.dtype)
        if here.shape != operator.theta.shape or not bool(operator.xp.array_equal(here, operator.theta)):
            raise ValueError("the operator was built at another theta than the one given; build it at this theta "
                             "(HessianOperator(model, theta, batch)) or leave operator=None.")
    return operator


class Eigenvalues(NamedTuple):
    values: np.ndarray    # (k,) in decreasing order for "LA", increasing (most negative first) for "SA"
    which: str            # "LA" (largest algebraic) or "SA" (smallest algebraic)
    matvecs: int          # Hessian-vector products used


def hessian_eigenvalues(model, theta, batch, k: int = 5, which: str = "LA", tol: float = 1e-3, seed=0,
                        eps: float = DEFAULT_EPS, maxiter: int | None = None, ncv: int | None = None,
                        operator: HessianOperator | None = None, method: str = "auto") -> Eigenvalues:
    """The ``k`` largest (``which="LA"``) or smallest (``"SA"``) eigenvalues of the Hessian of J at theta.

    Lanczos (``scipy.sparse.linalg.eigsh``) on the HVP operator; ``tol`` is
    ARPACK's relative accuracy of each eigenvalue; the start vector is
    N(0, I) from ``seed`` (so the same call gives the same numbers). ``k`` is a
    whole number from 1 to P - 1; theta must be finite. ``operator``: a
    :class:`HessianOperator` to reuse (its product count goes on), built at
    this same theta (one built at another theta is refused).
    """
    from scipy.sparse.linalg import eigsh

    if which not in ("LA", "SA"):
        raise ValueError(f"which must be 'LA' (largest) or 'SA' (smallest, most negative), got {which!r}.")
    op = _operator_at(model, theta, batch, eps, method, operator)
    if not is_whole_number(k) or not 1 <= int(k) < op.size:
        raise ValueError(f"k must be a whole number between 1 and {op.size - 1} (the number of parameters - 1), "
                         f"got {k!r}.")
    k = int(k)
    before = op.matvecs
    v0 = np.random.default_rng(seed).standard_normal(op.size)
    values = eigsh(op.linear_operator(), k=k, which=which, tol=tol, v0=v0, maxiter=maxiter, ncv=ncv,
                   return_eigenvectors=False)
    values = np.sort(values)
    return Eigenvalues(values[::-1] if which == "LA" else values, which, op.matvecs - before)


class Trace(NamedTuple):
    estimate: float       # mean of z^T H z over the draws
    stderr: float         # its standard error (sample standard deviation / sqrt(m))
    samples: np.ndarray   # (m,) the draws z^T H z


def hutchinson_trace(model, theta, batch, samples: int = 10, seed=0, eps: float = DEFAULT_EPS,
                     operator: HessianOperator | None = None, method: str = "auto") -> Trace:
    """Hutchinson's estimate of tr(H): the mean of z^T H z over ``samples`` Rademacher vectors z from ``seed``.

    Unbiased, since E[z z^T] = I; its variance is 2 (||H||_F^2 - sum_i H_ii^2) / m. ``samples`` is a whole
    number >= 1; theta must be finite; ``operator`` as in :func:`hessian_eigenvalues` (built at this theta).
    """
    if not is_whole_number(samples) or int(samples) < 1:
        raise ValueError(f"samples must be a whole number >= 1, got {samples!r}.")
    samples = int(samples)
    op = _operator_at(model, theta, batch, eps, method, operator)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(samples):
        z = rng.integers(0, 2, size=op.size).astype(np.float64) * 2.0 - 1.0
        draws.append(float(z @ op.matvec(z)))
    draws = np.array(draws)
    stderr = float(draws.std(ddof=1) / np.sqrt(samples)) if samples > 1 else float("nan")
    return Trace(float(draws.mean()), stderr, draws)


def line_curvature(model, theta0, theta1, batch, alphas, h: float = 1e-3, method: str = "loss",
                   eps: float = DEFAULT_EPS, progress: bool = False, hvp_method: str = "auto") -> np.ndarray:
    """d2J/dalpha2 = d^T H(theta(alpha)) d, d = theta1 - theta0, at every alpha (float64 throughout).

    ``method="loss"``: the second difference of J with step ``h`` in alpha
    (error O(h^2) plus rounding ~1e-16 J / h^2), from one linear-path sweep
    over the 3 x len(alphas) values alpha - h, alpha, alpha + h;
    ``method="hvp"``: d . H d from one HVP per alpha.

    For both methods, checked before any computing: ``alphas`` a non-empty 1-D
    array of finite numbers (one alpha: pass ``[alpha]``; a bare number is
    refused, since the result is one value per alpha), theta0 and theta1 flat
    vectors of the model's ``layout.size`` parameters (any floating dtype: both
    are cast to float64).
    """
    from .linear import linear_path

    check_model(model, "line_curvature")
    if method not in ("loss", "hvp"):
        raise ValueError(f"method must be 'loss' or 'hvp', got {method!r}.")
    if np.ndim(alphas) == 0:
        raise ValueError(f"alphas must be a 1-D array of finite numbers, got the single number {alphas!r}; "
                         "for one alpha pass [alpha].")
    alphas = np.asarray(alphas, dtype=np.float64)
    if alphas.ndim != 1 or alphas.size == 0 or not np.all(np.isfinite(alphas)):
        raise ValueError("alphas must be a non-empty 1-D array of finite numbers.")
    xp = backend.get_xp(theta0)
    t0, t1 = xp.asarray(theta0, dtype=np.float64), xp.asarray(theta1, dtype=np.float64)
    model.layout.check(t0)
    model.layout.check(t1)
    batch64 = as_float64_batch(batch)
    if method == "loss":
        if not h > 0:
            raise ValueError(f"h must be > 0, got {h}.")
        grid = np.stack([alphas - h, alphas, alphas + h], axis=1).reshape(-1)
        J = linear_path(model, t0, t1, batch64, grid, progress=progress).J_train.reshape(-1, 3)
        return (J[:, 0] - 2.0 * J[:, 1] + J[:, 2]) / (h * h)
    if method == "hvp":
        d = t1 - t0
        out = []
        for a in progress_bar(alphas, desc="d2J/dalpha2", enabled=progress, unit="alpha"):
            a = float(a)
            op = HessianOperator(model, (1.0 - a) * t0 + a * t1, batch64, eps, hvp_method)
            out.append(backend.to_float(d @ op.hvp(d)))
        return np.array(out)


# ------------------------------------------------------------------------ the exact product for the MLPs
def has_exact_hvp(model) -> bool:
    """True for the multilayer perceptrons, whose exact Hessian-vector product :func:`mlp_hvp` computes."""
    from ..models.mlp import MLP

    return isinstance(model, MLP)


def _act_derivatives(activation, z):
    """(f'(z), f''(z)) of an element-wise activation (f'' = 0 for ReLU and the identity, a.e.)."""
    xp = backend.get_xp(z)
    if activation == "relu":
        return (z > 0).astype(z.dtype), None
    if activation == "linear":
        return xp.ones_like(z), None
    if activation == "sigmoid":
        s = 0.5 * (1.0 + xp.tanh(0.5 * z))
        d1 = s * (1.0 - s)
        return d1, d1 * (1.0 - 2.0 * s)
    if activation == "tanh":
        t = xp.tanh(z)
        d1 = 1.0 - t * t
        return d1, -2.0 * t * d1
    raise ValueError(f"no exact Hessian-vector product for activation {activation!r}.")


def mlp_hvp(model, theta, batch, v):
    """H v for an :class:`~minilinpath.models.MLP`'s deterministic network, exactly (Pearlmutter's R-operator).

    With R{.} the directional derivative along v (the tangent), for layers
    i = 0 .. L (the last is the softmax layer), h_0 = X:

    forward:      z_i = h_i W_i + b_i,                 h_{i+1} = f(z_i)
    tangents:     Rz_i = Rh_i W_i + h_i V_i + c_i,     Rh_{i+1} = f'(z_i) Rz_i     (Rh_0 = 0)
    loss:         p = softmax(z_L), delta_L = (p - onehot(y)) / N,
                  R delta_L = p * (Rz_L - sum_c p Rz_L) / N
    backward:     g_W_i = h_i^T delta_i,  g_b_i = sum_n delta_i,   e_i = delta_i W_i^T,
                  delta_{i-1} = f'(z_{i-1}) e_i
    R-backward:   R g_W_i = Rh_i^T delta_i + h_i^T R delta_i,  R g_b_i = sum_n R delta_i,
                  R e_i = R delta_i W_i^T + delta_i V_i^T,
                  R delta_{i-1} = f'(z_{i-1}) R e_i + f''(z_{i-1}) Rz_{i-1} e_i

    where (V_i, c_i) are v's pieces for (W_i, b_i). For maxout, f picks the
    winning piece of each unit (the first maximum, as the model does), f' routes
    to it and f'' = 0. The result, (R g_W_i, R g_b_i) flattened, is H v.
    """
    from ..layers import softmax_cross_entropy

    X, y = batch
    model._check_batch(theta, X, y)
    xp = backend.get_xp(theta)
    v = xp.asarray(v, dtype=theta.dtype)
    P, V = model.layout.unflatten(theta), model.layout.unflatten(v)
    names, k = model.layer_names, model.pieces
    n = X.shape[0]
    hs, Rhs, zs, Rzs, gates = [X], [None], [], [], []
    h, Rh = X, None
    for i, name in enumerate(names):
        W, b, VW, Vb = P[f"{name}.W"], P[f"{name}.b"], V[f"{name}.W"], V[f"{name}.b"]
        z = h @ W + b
        Rz = h @ VW + Vb if Rh is None else Rh @ W + h @ VW + Vb
        zs.append(z)
        Rzs.append(Rz)
        if name == "y":
            break
        if model.activation == "maxout":
            grouped = z.reshape(n, -1, k)
            win = grouped.argmax(axis=2)[..., None]                     # (N, U, 1): the first maximum
            h = xp.take_along_axis(grouped, win, axis=2)[..., 0]
            Rh = xp.take_along_axis(Rz.reshape(n, -1, k), win, axis=2)[..., 0]
            gates.append(win)
        else:
            d1, d2 = _act_derivatives(model.activation, z)
            h = (ACT_VALUES[model.activation])(z)
            Rh = d1 * Rz
            gates.append((d1, d2))
        hs.append(h)
        Rhs.append(Rh)
    logits, Rlogits = zs[-1], Rzs[-1]
    _, delta = softmax_cross_entropy(logits, y)                          # (p - onehot) / N
    shifted = logits - logits.max(axis=1, keepdims=True)
    p = xp.exp(shifted)
    p /= p.sum(axis=1, keepdims=True)
    Rdelta = p * (Rlogits - (p * Rlogits).sum(axis=1, keepdims=True)) / n
    out = xp.empty_like(theta)
    R = model.layout.unflatten(out)
    for i in reversed(range(len(names))):
        name = names[i]
        h, Rh = hs[i], Rhs[i]
        R[f"{name}.W"][...] = h.T @ Rdelta if Rh is None else Rh.T @ delta + h.T @ Rdelta
        R[f"{name}.b"][...] = Rdelta.sum(axis=0)
        if i == 0:
            break
        W, VW = P[f"{name}.W"], V[f"{name}.W"]
        e, Re = delta @ W.T, Rdelta @ W.T + delta @ VW.T
        if model.activation == "maxout":
            win = gates[i - 1]
            units = e.shape[1]
            delta = xp.zeros((n, units, k), dtype=e.dtype)
            Rdelta_new = xp.zeros((n, units, k), dtype=e.dtype)
            xp.put_along_axis(delta, win, e[..., None], axis=2)
            xp.put_along_axis(Rdelta_new, win, Re[..., None], axis=2)
            delta, Rdelta = delta.reshape(n, -1), Rdelta_new.reshape(n, -1)
        else:
            d1, d2 = gates[i - 1]
            new_delta = d1 * e
            Rdelta = d1 * Re + (d2 * Rzs[i - 1] * e if d2 is not None else 0.0)
            delta = new_delta
    return out


ACT_VALUES = {"relu": lambda z: z * (z > 0), "linear": lambda z: z,
              "sigmoid": lambda z: 0.5 * (1.0 + backend.get_xp(z).tanh(0.5 * z)),
              "tanh": lambda z: backend.get_xp(z).tanh(z)}
