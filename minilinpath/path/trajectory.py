"""Where a trajectory goes relative to the straight line from its start to its solution (Appendix B).

For a trajectory theta_0, theta_1, ..., theta_T, a start theta_i and a
solution theta_f, with the unit vector u = (theta_f - theta_i) / ||theta_f - theta_i||:

    coord_t    = (theta_t - theta_i) . u                 projection on the line
    residual_t = || theta_t - theta_i - coord_t u ||     distance from the line
    norm_t     = || theta_t ||                           size of the parameters

``residual_t / norm_t`` says how much of theta_t the 1-D subspace misses
(Fig. 13). Points are read one at a time, so a trajectory on disk (a memory
map) or a generator of any length can be projected in O(parameters) memory.
Sums are accumulated in float64 whatever the storage dtype.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import backend
from ..checks import is_whole_number


class Projection(NamedTuple):
    coord: np.ndarray     # (T,) projection on the unit vector from theta_i to theta_f
    residual: np.ndarray  # (T,) norm of the part orthogonal to it
    norm: np.ndarray      # (T,) norm of theta_t itself
    distance: float       # ||theta_f - theta_i||: the coordinate of the solution


def _rows(trajectory):
    if hasattr(trajectory, "ndim") and trajectory.ndim == 2:
        return (trajectory[t] for t in range(trajectory.shape[0]))
    return iter(trajectory)


def project_trajectory(trajectory, theta_init, theta_final) -> Projection:
    """Project every point of ``trajectory`` (2-D array, memory map or iterable of 1-D arrays)."""
    xp = backend.get_xp(theta_init, theta_final)
    start = xp.asarray(theta_init, dtype=np.float64)
    direction = xp.asarray(theta_final, dtype=np.float64) - start
    distance = backend.to_float(xp.linalg.norm(direction))
    if distance == 0.0:
        raise ValueError("theta_init and theta_final are the same point; the line between them is undefined.")
    if direction.ndim != 1:
        raise ValueError(f"theta_init and theta_final must be flat 1-D vectors, got shape {direction.shape}.")
    u = direction / distance
    coords, residuals, norms = [], [], []
    for row in _rows(trajectory):
        theta = xp.asarray(row, dtype=np.float64)
        if theta.shape != u.shape:
            raise ValueError(f"trajectory point of shape {theta.shape} does not match theta_init {u.shape}.")
        d = theta - start
        c = d @ u
        coords.append(backend.to_float(c))
        residuals.append(backend.to_float(xp.linalg.norm(d - c * u)))
        norms.append(backend.to_float(xp.linalg.norm(theta)))
    return Projection(np.array(coords), np.array(residuals), np.array(norms), distance)


def random_walk(dim: int, n_steps: int, seed, xp=np):
    """Yield the points of a Gaussian random walk: theta_0 = 0, theta_t = theta_{t-1} + N(0, I).

    The control of Fig. 11; the same seed gives the same walk, so a walk can be
    replayed (e.g. once to find its "solution" point, once to project it).
    """
    for label, value, lowest in (("dim", dim, 1), ("n_steps", n_steps, 0)):   # checked now, not at the first next()
        if not is_whole_number(value) or value < lowest:
            raise ValueError(f"random_walk: {label} must be a whole number >= {lowest}, got {value!r}.")
    return _walk(int(dim), int(n_steps), backend.rng(seed, xp), xp)


def _walk(dim, n_steps, rng, xp):
    """The points of :func:`random_walk`, its arguments checked."""
    theta = xp.zeros(dim)
    yield theta.copy()
    for _ in range(n_steps):
        theta += rng.standard_normal(dim)
        yield theta.copy()


class Plane(NamedTuple):
    a: np.ndarray       # (T,) coordinate along the unit vector from theta_i to theta_f
    b: np.ndarray       # (T,) coordinate along the second axis (see extreme_components)
    sheep: int          # index of the point that defines the second axis
    distance: float     # ||theta_f - theta_i||


STRAIGHT_TOL = 1e-12  # a largest residual at most this times the scale of the points is rounding: on the line


def extreme_components(trajectory_factory, theta_init, theta_final) -> Plane:
    """Two coordinates that capture the extremes of a trajectory (the paper's Fig. 7, galatea's FindBasis2).

    Axis 1: u = (theta_f - theta_i) / ||theta_f - theta_i||. Axis 2: the
    direction from theta_i to the point of the trajectory farthest from the
    line (the "black sheep"), with its component along u removed and
    normalised. Every point gets a = (theta_t - theta_i) . u and
    b = (theta_t - theta_i) . w.

    A trajectory on the line has no second axis: when the largest residual is
    at most ``STRAIGHT_TOL`` = 1e-12 times the scale of the numbers it came from
    (the largest of ||theta_f - theta_i||, ||theta_i|| and every ||theta_t||), it is
    float64 rounding, not a direction, and every b is 0 (normalising that
    noise would make up a second axis).

    ``trajectory_factory()`` must return a fresh iterable over the points each
    time it is called (up to three passes are made), e.g. ``lambda: iter(rows)``
    or a run's ``trajectory_rows``; an empty trajectory, and a factory that
    hands out one spent iterator again, are refused.
    """
    first = project_trajectory(trajectory_factory(), theta_init, theta_final)
    T = first.coord.size
    if T == 0:
        raise ValueError("the trajectory is empty: trajectory_factory() gave no points; give at least one.")
    sheep = int(np.argmax(first.residual))
    xp = backend.get_xp(theta_init, theta_final)
    start = xp.asarray(theta_init, dtype=np.float64)
    scale = max(first.distance, float(first.norm.max()), backend.to_float(xp.linalg.norm(start)))
    if first.residual[sheep] <= STRAIGHT_TOL * scale:  # the whole trajectory lies on the line: no second direction
        return Plane(first.coord, np.zeros_like(first.coord), sheep, first.distance)
    u = (xp.asarray(theta_final, dtype=np.float64) - start) / first.distance

    def spent(points: int):
        return ValueError(f"trajectory_factory() gave {T} points on its first call but {points} on a later one; "
                          "it must return a fresh iterable each call (e.g. lambda: iter(rows)), not the same "
                          "iterator, which is spent after one pass.")

    w, seen = None, 0
    for t, row in enumerate(trajectory_factory()):
        seen = t + 1
        if t == sheep:
            d = xp.asarray(row, dtype=np.float64) - start
            w = d - (d @ u) * u
            norm = backend.to_float(xp.linalg.norm(w))
            if not norm > 0.0:   # the first pass found this point off the line: the second gave another point
                raise ValueError(f"trajectory_factory() gave another point {sheep} on its second call than on its "
                                 "first; it must return the same points, freshly, each call.")
            w /= norm
            break
    if w is None:
        raise spent(seen)
    b = [backend.to_float((xp.asarray(row, dtype=np.float64) - start) @ w) for row in trajectory_factory()]
    if len(b) != T:
        raise spent(len(b))
    return Plane(first.coord, np.array(b), sheep, first.distance)
