"""Numerical gradient checks (central differences), for layers and whole models.

Use float64 everywhere here: with h ~ 1e-6 the truncation error of a central
difference is O(h^2) and the rounding error O(eps / h), so float64 gives about
10 correct digits and float32 fewer than 3.

- :func:`rel_error`: max |a - b| / max(|a| + |b|), the CS231n comparison;
- :func:`numerical_vjp`: the vector-Jacobian product sum(df * dF/dx) of an
  array function, one input element at a time (for layers, with a random
  upstream gradient ``df``);
- :func:`directional_check`: for a scalar function of a flat vector theta, the
  directional derivative along random unit directions v, numerically
  (J(theta + h v) - J(theta - h v)) / 2h against grad . v (for whole models).
"""
from __future__ import annotations

import numpy as np

from . import backend


def rel_error(a, b, floor: float = 1e-12) -> float:
    """max |a - b| / max(floor, max(|a| + |b|)) over all entries."""
    a, b = backend.to_numpy(a).astype(np.float64), backend.to_numpy(b).astype(np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error: shapes differ, {a.shape} vs {b.shape}.")
    return float(np.max(np.abs(a - b)) / max(floor, float(np.max(np.abs(a) + np.abs(b)))))


def numerical_vjp(f, x, df, h: float = 1e-6):
    """sum over outputs of df * d f(x) / d x, for every element of x (x is restored afterwards).

    ``f`` maps the array ``x`` (changed in place between calls) to an array of
    ``df``'s shape.
    """
    if x.dtype != np.float64:
        raise TypeError(f"numerical_vjp needs a float64 x for accurate differences, got {x.dtype}.")
    xp = backend.get_xp(x)
    grad = xp.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = float(flat[i])
        flat[i] = old + h
        plus = f(x)
        flat[i] = old - h
        minus = f(x)
        flat[i] = old
        gflat[i] = ((plus - minus) * df).sum() / (2 * h)
    return grad


def directional_check(loss, grad, theta, rng, n_directions: int = 5, h: float = 1e-5):
    """Relative errors between numerical and analytic directional derivatives.

    ``loss(theta) -> float``; ``grad``: the analytic gradient at theta (flat).
    Returns a list of ``(numerical, analytic, rel_error)`` per random unit direction.
    """
    if theta.dtype != np.float64:
        raise TypeError(f"directional_check needs a float64 theta, got {theta.dtype}.")
    xp = backend.get_xp(theta)
    results = []
    for _ in range(n_directions):
        v = xp.asarray(rng.standard_normal(theta.shape[0]))
        v /= xp.linalg.norm(v)
        numerical = (loss(theta + h * v) - loss(theta - h * v)) / (2 * h)
        analytic = backend.to_float(grad @ v)
        results.append((numerical, analytic, abs(numerical - analytic) / max(1e-12, abs(numerical) + abs(analytic))))
    return results
