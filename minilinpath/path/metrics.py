"""Metrics of a sampled curve J(alpha), with their definitions.

All take the samples ``J`` at increasing ``alphas`` (the grid of a
:class:`~minilinpath.path.linear.PathResult`) and look only at the samples:
a feature narrower than the grid spacing is invisible to them. Those that are
given the alphas too refuse alphas that are not finite or not one per sample;
:func:`summarize` sorts the samples by alpha first (a grid may be given in any
order, as :func:`~minilinpath.path.linear.linear_path` accepts), while
:func:`barrier_height` reads them in any order.

- :func:`is_monotone`: J never rises by more than ``tol`` from one sample to
  the next (J[i+1] <= J[i] + tol for all i).
- :func:`largest_bump`: the largest rise above the running minimum,
  max_i (J[i] - min_{j <= i} J[j]); 0 for a non-increasing curve. This is the
  "bump height" used by Lucas et al. (2021) to test monotonic linear interpolation.
- :func:`local_minima`: samples that are the lowest point of their basin (the
  last sample counts, since the end of the grid, e.g. the solution at
  alpha = 1, is where the search is expected to end; the first does not).
  Rises smaller than ``tol`` are ignored.
- :func:`barrier_height`: on the samples with 0 <= alpha <= 1, either
  ``"mean"``: max J - (J(0) + J(1)) / 2 (Frankle et al. 2020's "sup minus mean
  of the endpoints"), or ``"chord"``: max [J(alpha) - ((1 - alpha) J(0) + alpha J(1))],
  the height above the straight line joining the ends (never below 0).
- :func:`gauss_length`: the length of the curve a network's outputs trace along the line, averaged
  over inputs: for outputs f(x_n; theta(alpha)) (softmax probabilities or logits) sampled at
  alpha_0 < ... < alpha_K, (1/N) sum_n sum_k ||f(x_n; theta(alpha_{k+1})) - f(x_n; theta(alpha_k))||_2,
  the polygon approximation of (1/N) sum_n integral_0^1 ||d f(x_n; theta(alpha)) / d alpha|| d alpha
  (Lucas et al. 2021 relate this length in function space to monotonicity).
- :func:`distance_travelled`: the length of a trajectory, sum_t ||theta_{t+1} - theta_t||,
  and its ratio to the straight distance ||theta_T - theta_0|| (1 for a straight path;
  inf for one that moved and came back to its start; NaN, the undefined 0/0, for one
  that never moved: a single point or identical points).
"""
from __future__ import annotations

import numpy as np

from .. import backend


ENDPOINT_TOL = 1e-9  # a grid value this close to 0 or 1 counts as the endpoint (np.linspace rounding)


def _samples(J):
    J = np.asarray(J, dtype=np.float64)
    if J.ndim != 1 or J.size < 2 or not np.all(np.isfinite(J)):
        raise ValueError("J must be a 1-D array of at least two finite samples.")
    return J


def _alphas_for(alphas, J):
    """``alphas`` as a float64 vector, after checking it holds one finite alpha per sample of ``J``."""
    alphas = np.asarray(alphas, dtype=np.float64)
    if alphas.ndim != 1 or not np.all(np.isfinite(alphas)):
        raise ValueError("alphas must be a 1-D array of finite numbers (no NaN or inf), one per sample of J.")
    if alphas.size != J.size:
        raise ValueError(f"alphas and J must have the same length (one alpha per sample), got {alphas.size} "
                         f"alphas and {J.size} samples.")
    return alphas


def is_monotone(J, tol: float = 0.0) -> bool:
    """True if J is non-increasing within ``tol`` between consecutive samples."""
    return bool(np.all(np.diff(_samples(J)) <= tol))


def largest_bump(J) -> tuple:
    """``(height, index)``: the largest rise above the running minimum and where it peaks."""
    J = _samples(J)
    rise = J - np.minimum.accumulate(J)
    i = int(np.argmax(rise))
    return float(rise[i]), i


def local_minima(J, tol: float = 0.0) -> list:
    """Indices of the local minima of the samples.

    Sample i (i >= 1; the first sample is where the search starts, never a
    found minimum) is a local minimum if it is the lowest point of its basin:
    on each side, until J rises more than ``tol`` above J[i] or the grid ends,
    no sample is lower (on the left, none is lower or equal, so a plateau of
    equal values counts once). With tol = 0 this is "lower than its
    neighbours"; a larger tol ignores wiggles smaller than tol.
    """
    J = _samples(J)
    minima = []
    for i in range(1, J.size):
        lowest = True
        k = i - 1
        while lowest and k >= 0 and J[k] <= J[i] + tol:
            lowest = J[k] > J[i]
            k -= 1
        k = i + 1
        while lowest and k < J.size and J[k] <= J[i] + tol:
            lowest = J[k] >= J[i]
            k += 1
        if lowest:
            minima.append(i)
    return minima


def barrier_height(alphas, J, variant: str = "mean") -> tuple:
    """``(height, alpha)`` of the barrier on the samples with 0 <= alpha <= 1 (see the module docstring).

    ``alphas`` (any order) and ``J`` must have one finite alpha per sample."""
    J = _samples(J)
    alphas = _alphas_for(alphas, J)
    at0, at1 = np.abs(alphas) <= ENDPOINT_TOL, np.abs(alphas - 1.0) <= ENDPOINT_TOL
    if not (at0.any() and at1.any()):
        raise ValueError("barrier_height needs samples at alpha = 0 and alpha = 1.")
    inside = (alphas >= -ENDPOINT_TOL) & (alphas <= 1.0 + ENDPOINT_TOL)
    a, j = alphas[inside], J[inside]
    j0, j1 = J[at0][0], J[at1][0]
    if variant == "mean":
        excess = j - 0.5 * (j0 + j1)
    elif variant == "chord":
        excess = j - ((1.0 - a) * j0 + a * j1)
    else:
        raise ValueError(f"variant must be 'mean' or 'chord', got {variant!r}.")
    i = int(np.argmax(excess))
    return float(excess[i]), float(a[i])


def gauss_length(alphas, outputs) -> float:
    """The Gauss length of sampled outputs (K, N, C): the mean over the N inputs of the length of the polygon
    through each input's K output vectors, taken in increasing alpha (definition: module docstring).

    Exact for outputs linear in alpha (the polygon is the segment); for a curved path it is a lower bound
    that grows to the curve's length as the grid is refined.
    """
    outputs = np.asarray(outputs, dtype=np.float64)
    if outputs.ndim != 3 or outputs.shape[0] < 2 or not np.all(np.isfinite(outputs)):
        raise ValueError("outputs must be a finite (K, N, C) array: K >= 2 alphas, N inputs, C outputs each; "
                         f"got shape {outputs.shape}.")
    alphas = np.asarray(alphas, dtype=np.float64)
    if alphas.shape != (outputs.shape[0],) or not np.all(np.isfinite(alphas)):
        raise ValueError(f"alphas must be {outputs.shape[0]} finite numbers, one per row of outputs.")
    steps = np.diff(outputs[np.argsort(alphas, kind="stable")], axis=0)        # (K - 1, N, C)
    return float(np.linalg.norm(steps, axis=2).sum(axis=0).mean())


def distance_travelled(trajectory) -> tuple:
    """``(length, length / straight distance)`` of a trajectory of flat vectors (streamed row by row).

    The ratio is inf when the trajectory moved but ended where it started, and NaN (0/0, undefined) when
    it never moved (one point, or identical points); the length, 0, is valid then."""
    length, first, previous = 0.0, None, None
    for row in trajectory:
        row = np.asarray(backend.to_numpy(row), dtype=np.float64)
        if previous is None:
            first = row
        else:
            length += float(np.linalg.norm(row - previous))
        previous = row
    if previous is None:
        raise ValueError("the trajectory is empty.")
    straight = float(np.linalg.norm(previous - first))
    if straight > 0:
        return length, length / straight
    return length, (float("inf") if length > 0 else float("nan"))


def summarize(alphas, J, tol: float = 1e-4) -> dict:
    """The metrics of one curve, as printed in the figures' tables (tol relative to J's range).

    ``alphas`` may come in any order: the samples are first sorted by alpha, each keeping its own alpha
    (a stable sort, so repeated alphas keep their order), since the metrics read J from alpha's low end
    to its high end. ``alphas`` must hold one finite alpha per sample of ``J``. ``monotone``,
    ``largest_bump`` and ``bump_alpha`` look at the samples with 0 <= alpha <= 1, ``local_minima`` (their
    alphas) at all of them."""
    J = _samples(J)
    alphas = _alphas_for(alphas, J)
    order = np.argsort(alphas, kind="stable")
    alphas, J = alphas[order], J[order]
    scale = max(float(J.max() - J.min()), 1e-12)
    inside = (alphas >= 0) & (alphas <= 1)
    bump, at = largest_bump(J[inside])
    return {"monotone": is_monotone(J[inside], tol * scale), "largest_bump": bump,
            "bump_alpha": float(alphas[inside][at]),
            "local_minima": [float(alphas[i]) for i in local_minima(J, tol * scale)]}
