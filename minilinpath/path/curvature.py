"""Curvature: Hessian-vector products, d2J/dalpha2 along a line, top and bottom eigenvalues, the trace.

Two Hessian-vector products:

- ``"exact"`` for the multilayer perceptrons (:class:`~minilinpath.models.MLP`,
  deterministic network): Pearlmutter's R-operator, a forward pass of
  tangents followed by the backward pass differentiated once more
  (forward-over-reverse), written by hand in :func:`minilinpath.models.mlp_hvp.mlp_hvp` and declared by
  the model as ``hessian_vector_product`` (:class:`minilinpath.contract.ExactHessian`). It is the
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
from ..contract import ExactHessian, check_model
from ..progress import progress_bar
from ..checks import is_whole_number
from .checks import grid_values

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
        exact = isinstance(model, ExactHessian)
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
            return self.model.hessian_vector_product(self.theta, self.batch, v)
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
    alphas = grid_values(alphas, "alphas")
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


# ------------------------------------------------------------------------ names kept for older code
def has_exact_hvp(model) -> bool:
    """True when the model declares an exact Hessian-vector product (:class:`minilinpath.contract.ExactHessian`)."""
    return isinstance(model, ExactHessian)


def mlp_hvp(model, theta, batch, v):
    """H v by the model's own exact product (the MLP's: :func:`minilinpath.models.mlp_hvp.mlp_hvp`)."""
    if not isinstance(model, ExactHessian):
        raise ValueError(f"{type(model).__name__} has no exact Hessian-vector product; use hvp(..., method='central').")
    return model.hessian_vector_product(theta, batch, v)
