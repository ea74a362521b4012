"""Planes through parameter space: J on a 2-D slice, and where a trajectory lies relative to it.

A plane is an origin theta_o and two directions d_1, d_2 (flat vectors like theta):

    theta(a, b) = theta_o + a d_1 + b d_2.

Two ways to choose it:

- :func:`plane_through`: the plane through three points (init, solution and a
  second solution, as Garipov et al. 2018 draw it; or any three theta). The
  basis is orthonormal (Gram-Schmidt in float64): d_1 = (theta_b - theta_a) / ||.||,
  d_2 = the part of theta_c - theta_a orthogonal to d_1, normalised; the
  coordinates of the three points are recorded, so the picture shows them where
  they are, at true Euclidean distances.
- :func:`plane_along`: the plane through one point along two given directions
  (not orthogonalised unless asked; a and b are then in units of the directions).

Directions (:func:`random_direction`, :func:`pca_directions`, :func:`paper_plane`):

- Gaussian random, normalised as Li, Xu, Taylor, Studer & Goldstein (NeurIPS
  2018, "Visualizing the loss landscape of neural nets") do. Draw g ~ N(0, I)
  of theta's size; then rescale pieces of g so each piece has the *same norm
  as the matching piece of theta* (the point the plane is drawn around), which
  makes the picture independent of the scale of each filter (a ReLU network
  is unchanged when a filter is multiplied by c > 0 and the next layer's weights
  by 1/c, so a direction that ignored this would mean different things at
  different scales). The pieces are:

  - ``"filter"``: one filter = everything that feeds one output unit or channel;
    here (our layouts store a dense W as (n_in, n_out) and a conv W as
    (F, C, HH, WW)) a column of a 2-D parameter and a slice W[f] of a 4-D one;
  - ``"layer"``: each named parameter array as a whole;
  - ``"model"``: the whole vector (||d|| = ||theta||);
  - ``None``: plain N(0, I), unscaled.

  1-D parameters (biases; Li et al. treat batch-norm parameters alike) are a
  documented option ``one_d``: ``"zero"`` (the default, Li et al.'s
  "ignore biasbn": the direction does not move them), or ``"normalize"``
  (rescaled as one piece to the norm of that parameter vector). A piece of
  theta with norm 0 (e.g. a softmax layer that starts at zero) gives a zero
  direction there.
- the two leading principal directions of a recorded trajectory theta_0 ... theta_T
  around the solution (Li et al.'s Section 7): the rows theta_t - theta_T,
  centred on their mean as a PCA does, and the two leading right singular
  vectors (computed from the small T x T Gram matrix, the "snapshot" method);
  the share of the variance each explains is returned.
- the paper's own pair (its Figure 7's "extreme components"): the init ->
  solution line and the direction towards the epoch farthest from that line.

Grid evaluation (:func:`evaluate_plane`) computes J (train and validation) and
the error rate on the *whole* given sets, in chunks. When the model starts
with a linear layer the first-layer trick of the linear path extends to planes:

    X W(a, b) = X W_o + a X D_1 + b X D_2,

so for each chunk the three products are computed once for the *whole* grid
(kept in memory up to a budget), and only the rest of the network runs per
grid point. The products and the per-point evaluation are the one fast path the
line uses too (:mod:`.first_layer`); the model has it when it declares the
``FirstLayerSweep`` ability (:mod:`minilinpath.contract`), asked once by
:func:`~minilinpath.path.checks.check_plane` with ``ErrorRate`` (error rates
beside J) and ``EvaluationChunks`` (the default chunk).

The grid is cut into blocks of consecutive rows (``block_rows``), the tasks of
an executor of :mod:`minilinpath.study.executors`: this process (the default),
or Dask workers (a LocalCluster, or a running cluster), which get the model,
plane and data once and keep their first-layer products from block to block.
Every finished block is written to the ``store`` at once, so an interrupted
evaluation resumes where it stopped, redoing no finished block. Every row is
computed on its own in the same way, so the numbers do not depend on the
executor, the block size or the order in which blocks finish.

Where the contour picture lies (:func:`trajectory_on_plane`): a trajectory
point theta_t is generally *not* in the plane. Its projection
theta_o + a_t d_1 + b_t d_2 (least squares) is; the residual
r_t = ||theta_t - projection|| says how far off it is, and J(theta_t) beside
J(projection) says how wrong it would be to read the trajectory's loss off the
contours (the most common complaint about 2-D pictures of training: the loss
drawn at a trajectory point is the loss of its projection).
"""
from __future__ import annotations

import hashlib
import json
import numbers
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .. import backend
from ..checks import is_whole_number
from ..contract import check_model, checked_loss, model_name
from ..io import write_npz
from ..progress import progress_bar
from .checks import PlaneSettings, check_plane
from .first_layer import FirstLayer, ProductChunks, evaluate_from_first_output

CACHE_BYTES = 1 << 30  # the first-layer products of every chunk are kept across grid rows up to this size


# ---------------------------------------------------------------------------------------------------- planes
@dataclass
class Plane:
    """theta(a, b) = origin + a d1 + b d2; ``points`` maps names to their (a, b) coordinates."""
    origin: object
    d1: object
    d2: object
    kind: str = "plane"
    points: dict = field(default_factory=dict)

    def point(self, a: float, b: float):
        """theta(a, b), a new array of the origin's dtype and device."""
        a, b = float(a), float(b)  # Python floats keep float32 vectors float32
        return self.origin + a * self.d1 + b * self.d2

    def gram(self) -> np.ndarray:
        """The 2 x 2 matrix of inner products of d1 and d2 (float64); the identity for an orthonormal basis."""
        xp = backend.get_xp(self.d1)
        u, v = xp.asarray(self.d1, dtype=np.float64), xp.asarray(self.d2, dtype=np.float64)
        return np.array([[backend.to_float(u @ u), backend.to_float(u @ v)],
                         [backend.to_float(v @ u), backend.to_float(v @ v)]])

    def coordinates(self, theta) -> tuple:
        """``(a, b, residual)``: the least-squares coordinates of ``theta`` in the plane and its distance from it.

        (a, b) solves G [a, b] = [d1 . (theta - o), d2 . (theta - o)] with G the Gram
        matrix; the residual is ||theta - o - a d1 - b d2|| (Euclidean, not squared).
        ``theta`` must be a flat vector as long as the origin; a plane whose directions
        are parallel or zero (G singular) has no coordinates and is refused.
        """
        xp = backend.get_xp(self.origin)
        shape, want = tuple(np.shape(theta)), tuple(self.origin.shape)
        if shape != want:
            raise ValueError(f"theta has shape {shape} but the plane's vectors have shape {want} "
                             f"({want[0] if want else 0} entries); is it the parameter vector of another model?")
        d = xp.asarray(theta, dtype=np.float64) - xp.asarray(self.origin, dtype=np.float64)
        u, v = xp.asarray(self.d1, dtype=np.float64), xp.asarray(self.d2, dtype=np.float64)
        rhs = np.array([backend.to_float(u @ d), backend.to_float(v @ d)])
        try:
            a, b = np.linalg.solve(self.gram(), rhs)
        except np.linalg.LinAlgError:
            raise ValueError("the plane's directions d1 and d2 are parallel or zero: they do not span a plane, so "
                             "a point has no coordinates in it; build it with plane_through or plane_along.") from None
        residual = backend.to_float(xp.linalg.norm(d - a * u - b * v))
        return float(a), float(b), residual

    def arrays(self, prefix: str = "plane/") -> dict:
        """origin, d1, d2 and the named points' coordinates as NumPy arrays (for a figure's .npz)."""
        names = list(self.points)
        return {f"{prefix}origin": backend.to_numpy(self.origin), f"{prefix}d1": backend.to_numpy(self.d1),
                f"{prefix}d2": backend.to_numpy(self.d2), f"{prefix}point_names": np.array(names, dtype=str),
                f"{prefix}point_coords": np.array([self.points[n] for n in names], dtype=np.float64).reshape(-1, 2)}


def _as64(theta):
    return backend.get_xp(theta).asarray(theta, dtype=np.float64)


def _check_point(theta, name: str) -> None:
    """Refuse a point that is not a finite floating-point vector (integer points would give integer directions)."""
    dtype = getattr(theta, "dtype", None)
    if dtype is None or dtype.kind != "f":
        raise TypeError(f"{name} must be a floating-point parameter vector, got dtype {dtype}; cast it with "
                        f".astype(np.float64).")
    if not bool(backend.to_numpy(backend.get_xp(theta).isfinite(theta).all())):
        raise ValueError(f"{name} holds NaN or inf (a diverged run?): a plane needs finite points.")


# Gram-Schmidt in float64 keeps d1 . d2 near 1e-16 unless c - a lies nearly along d1: the subtraction then cancels
# most digits and leaves a part along d1. Above this tolerance a second pass removes it; one more pass is all it
# takes (Kahan's "twice is enough", in Parlett 1980, "The Symmetric Eigenvalue Problem").
ORTHOGONALITY_TOL = 1e-13


def _orthogonal_part(v, u, xp):
    """``(w, along)``: w = v - (v . u) u for a unit vector u, orthogonalised twice when the first pass leaves
    |w . u| > ORTHOGONALITY_TOL ||w||; ``along`` is the whole part of v along u (so v = along u + w)."""
    along = backend.to_float(v @ u)
    w = v - along * u
    left = backend.to_float(w @ u)
    if abs(left) > ORTHOGONALITY_TOL * backend.to_float(xp.linalg.norm(w)):
        w = w - left * u
        along += left
    return w, along


def plane_through(theta_a, theta_b, theta_c, names=("A", "B", "C")) -> Plane:
    """The plane through three points, origin ``theta_a``, with an orthonormal basis (Gram-Schmidt in float64).

    d1 = (b - a) / ||b - a||;  d2 = w / ||w|| with w = (c - a) - ((c - a) . d1) d1.
    The points get coordinates (0, 0), (||b - a||, 0) and ((c - a) . d1, ||w||).
    When c lies so close to the line through a and b that this one pass leaves
    |d1 . d2| > 1e-13 (rounding), w is orthogonalised against d1 a second time
    (and c's first coordinate takes up the part removed), so the basis is
    orthonormal to rounding whatever the angle; c within 1e-12 ||c - a|| of the
    line is refused. The points must be finite floating-point vectors of one length.
    """
    xp = backend.get_xp(theta_a, theta_b, theta_c)
    for theta, name in zip((theta_a, theta_b, theta_c), names):
        _check_point(theta, name)
    a, b, c = _as64(theta_a), _as64(theta_b), _as64(theta_c)
    if not (a.shape == b.shape == c.shape) or a.ndim != 1:
        raise ValueError(f"the three points must be flat vectors of one length, got {a.shape}, {b.shape}, {c.shape}.")
    ab = b - a
    length = backend.to_float(xp.linalg.norm(ab))
    if length == 0.0:
        raise ValueError(f"{names[0]} and {names[1]} are the same point: they do not span a line.")
    d1 = ab / length
    ac = c - a
    w, along = _orthogonal_part(ac, d1, xp)
    height = backend.to_float(xp.linalg.norm(w))
    if height <= 1e-12 * max(length, backend.to_float(xp.linalg.norm(ac))):
        raise ValueError(f"{names[2]} lies on the line through {names[0]} and {names[1]}: the three points do not "
                         "span a plane.")
    d2 = w / height
    dtype = theta_a.dtype
    return Plane(xp.asarray(theta_a).copy(), d1.astype(dtype), d2.astype(dtype), kind="three points",
                 points={names[0]: (0.0, 0.0), names[1]: (length, 0.0), names[2]: (along, height)})


def plane_along(theta, d1, d2, name: str = "center", orthonormalize: bool = False) -> Plane:
    """The plane through ``theta`` along ``d1`` and ``d2`` (a and b in units of the directions).

    With ``orthonormalize`` the directions are first made orthonormal by Gram-Schmidt
    (then a and b are Euclidean distances). Either way the directions must span a
    plane: a zero direction, or d2 whose part orthogonal to d1 is at most 1e-12
    ||d2|| (parallel, to rounding), is refused, as are vectors of different lengths
    and a ``theta`` that is not a finite floating-point vector.
    """
    xp = backend.get_xp(theta)
    _check_point(theta, name)
    if not (np.shape(d1) == np.shape(d2) == theta.shape) or theta.ndim != 1:
        raise ValueError(f"theta, d1 and d2 must be flat vectors of one length, got {theta.shape}, "
                         f"{np.shape(d1)}, {np.shape(d2)}.")
    u, v = _as64(d1), _as64(d2)
    n1, n2 = backend.to_float(xp.linalg.norm(u)), backend.to_float(xp.linalg.norm(v))
    if not (np.isfinite(n1) and np.isfinite(n2)):
        raise ValueError(f"{'d1' if not np.isfinite(n1) else 'd2'} holds NaN or inf: a plane needs finite "
                         "directions.")
    if n1 == 0.0 or n2 == 0.0:
        raise ValueError(f"{'d1' if n1 == 0.0 else 'd2'} is zero: a zero direction does not span a plane; give two "
                         "nonzero directions.")
    u = u / n1
    v = v - backend.to_float(v @ u) * u     # the part of d2 orthogonal to d1
    n_orth = backend.to_float(xp.linalg.norm(v))
    if not n_orth > 1e-12 * n2:
        raise ValueError("d2 is parallel to d1: they do not span a plane; give two directions that are not "
                         "multiples of each other.")
    if orthonormalize:
        d1, d2 = u, v / n_orth
    return Plane(xp.asarray(theta).copy(), xp.asarray(d1).astype(theta.dtype), xp.asarray(d2).astype(theta.dtype),
                 kind="point and two directions", points={name: (0.0, 0.0)})


# ------------------------------------------------------------------------------------------------ directions
NORMALIZATIONS = ("filter", "layer", "model", None)


def _pieces(array, norm: str):
    """Views of the pieces of one parameter array that are normalised together."""
    if norm == "layer" or array.ndim == 1:
        return [array.reshape(-1)]
    if array.ndim == 2:  # dense (n_in, n_out): a filter is a column, everything that feeds one output unit
        return [array[:, j] for j in range(array.shape[1])]
    return [array[f] for f in range(array.shape[0])]  # conv (F, C, HH, WW): a filter is one output channel


def normalize_direction(model, direction, theta, norm: str | None = "filter", one_d: str = "zero"):
    """Rescale ``direction`` (in place, and returned) piece by piece to the norms of ``theta``'s pieces.

    See the module docstring for ``norm`` ("filter", "layer", "model" or None) and
    ``one_d`` ("zero" or "normalize", for 1-D parameters such as biases).
    ``direction`` and ``theta`` must both fit ``model.layout`` (checked for every ``norm``).
    """
    check_model(model, "normalize_direction", needs=())
    if norm not in NORMALIZATIONS:
        raise ValueError(f"norm must be one of {NORMALIZATIONS}, got {norm!r}.")
    if one_d not in ("zero", "normalize"):
        raise ValueError(f"one_d must be 'zero' or 'normalize', got {one_d!r}.")
    model.layout.check(direction, "direction")
    model.layout.check(theta)
    xp = backend.get_xp(direction)
    if norm is None:
        return direction
    if norm == "model":
        scale = backend.to_float(xp.linalg.norm(theta)) / max(backend.to_float(xp.linalg.norm(direction)), 1e-300)
        direction *= scale
        return direction
    d_views, t_views = model.layout.unflatten(direction), model.layout.unflatten(theta)
    for name in model.layout.names:
        d, t = d_views[name], t_views[name]
        if d.ndim <= 1 and one_d == "zero":
            d[...] = 0
            continue
        for dp, tp in zip(_pieces(d, norm), _pieces(t, norm)):
            dn = backend.to_float(xp.linalg.norm(dp))
            dp *= backend.to_float(xp.linalg.norm(tp)) / dn if dn > 0 else 0.0
    return direction


def random_direction(model, theta, seed, norm: str | None = "filter", one_d: str = "zero"):
    """A Gaussian direction N(0, I) drawn from ``seed`` (NumPy's generator, so the same on CPU and GPU),
    normalised to ``theta`` as Li et al. define it (module docstring). Same dtype and device as theta.

    ``seed`` is required (an int, or a sequence of ints such as ``[seed, 1]``): None is refused, since every
    random choice flows from an explicit seed. ``theta`` must fit ``model.layout`` (floating point)."""
    if seed is None:
        raise ValueError("random_direction needs an explicit seed (e.g. seed=0), got None: every random choice "
                         "flows from a seed, so the same seed gives the same direction.")
    model.layout.check(theta)
    g = np.random.default_rng(seed).standard_normal(model.layout.size)
    xp = backend.get_xp(theta)
    direction = xp.asarray(g, dtype=np.float64)
    return normalize_direction(model, direction, _as64(theta), norm, one_d).astype(theta.dtype)


def random_plane(model, theta, seed, norm: str | None = "filter", one_d: str = "zero", name="solution") -> Plane:
    """The plane through ``theta`` along two independent normalised random directions (Li et al.'s picture).

    The directions are drawn from ``[seed, 1]`` and ``[seed, 2]`` (``seed`` required). Where every piece the
    normalisation scales has norm 0 in ``theta`` (e.g. theta = 0) the directions are zero: that is refused."""
    if seed is None:
        raise ValueError("random_plane needs an explicit seed (e.g. seed=0), got None: every random choice "
                         "flows from a seed, so the same seed gives the same plane.")
    d1 = random_direction(model, theta, [seed, 1], norm, one_d)
    d2 = random_direction(model, theta, [seed, 2], norm, one_d)
    if not bool(backend.to_numpy((d1 != 0).any())):
        raise ValueError(f"the random directions are zero: norm={norm!r} scales each piece to the norm of theta's "
                         f"piece, and those the directions move (one_d={one_d!r}) are all zero in theta; draw the "
                         "plane around a nonzero theta, or use norm=None.")
    plane = plane_along(theta, d1, d2, name=name)
    plane.kind = f"random directions, {norm or 'no'} normalisation"
    return plane


class PCA(NamedTuple):
    d1: object                # the leading principal direction (unit norm)
    d2: object                # the second one (unit norm, orthogonal to d1)
    explained: np.ndarray     # share of the variance of the centred rows along each of them


def _stack_rows(rows, shape: tuple):
    """The trajectory as a (T, P) float64 array on the CPU; every row must be finite and of ``shape``."""
    stacked = []
    for t, row in enumerate(rows):
        row = np.asarray(backend.to_numpy(row), dtype=np.float64)
        if row.shape != shape:
            raise ValueError(f"trajectory row {t} has shape {row.shape} but theta_final has {shape}: every row "
                             "must be a parameter vector of the same model.")
        if not np.isfinite(row).all():
            raise ValueError(f"trajectory row {t} holds NaN or inf (a diverged epoch?); drop it, or end the "
                             "trajectory before it.")
        stacked.append(row)
    return np.stack(stacked) if stacked else np.zeros((0,) + shape)


def pca_directions(rows, theta_final, center: bool = True) -> PCA:
    """The two leading principal directions of the trajectory ``rows`` around ``theta_final``.

    D has rows theta_t - theta_final (centred on their mean when ``center``,
    as a PCA does). The principal directions are D's leading right singular
    vectors; with T rows and P >> T parameters they come from the T x T Gram
    matrix K = D D^T = U S^2 U^T as v_k = D^T u_k / s_k (the "snapshot method").
    The rows are held in memory on the CPU (T x P float64); they and ``theta_final``
    must be finite, and theta_final a floating-point vector (the directions get its dtype).
    """
    _check_point(theta_final, "theta_final")
    D = _stack_rows(rows, tuple(theta_final.shape)) - np.asarray(backend.to_numpy(theta_final), dtype=np.float64)
    if D.shape[0] < 3:
        raise ValueError(f"a PCA plane needs at least 3 trajectory points, got {D.shape[0]}.")
    if center:
        D -= D.mean(axis=0)
    K = D @ D.T
    s2, U = np.linalg.eigh(K)
    order = np.argsort(s2)[::-1]
    s2, U = s2[order], U[:, order]
    if s2[1] <= 1e-12 * max(s2[0], 1e-300):
        raise ValueError("the trajectory spans fewer than two directions: no PCA plane.")
    xp = backend.get_xp(theta_final)
    dirs = [xp.asarray(D.T @ U[:, k] / np.sqrt(s2[k])).astype(theta_final.dtype) for k in (0, 1)]
    return PCA(dirs[0], dirs[1], s2[:2] / s2.sum())


def pca_plane(rows, theta_final, center: bool = True, name="solution") -> tuple:
    """``(plane, pca)``: the plane through ``theta_final`` along the trajectory's two leading principal directions."""
    pca = pca_directions(rows, theta_final, center)
    plane = plane_along(theta_final, pca.d1, pca.d2, name=name)
    plane.kind = "PCA of the trajectory"
    return plane, pca


def paper_plane(trajectory_factory, theta_init, theta_final, names=("init", "solution", "farthest epoch")) -> tuple:
    """``(plane, epoch)``: the paper's pair of directions (its Fig. 7): the init -> solution line, and the
    direction towards the trajectory point farthest from that line (orthogonalised); ``epoch`` is that point.

    ``trajectory_factory()`` must return a fresh iterable over the trajectory each call (two passes
    are made), e.g. ``lambda: iter(rows)``; an empty trajectory, or a factory that hands back the
    same (then spent) iterator, is refused.
    """
    from .trajectory import project_trajectory

    projection = project_trajectory(trajectory_factory(), theta_init, theta_final)
    if projection.residual.size == 0:
        raise ValueError("the trajectory is empty (trajectory_factory() gave no points): the paper's plane needs "
                         "the trajectory's points.")
    epoch = int(np.argmax(projection.residual))
    far = next((row for t, row in enumerate(trajectory_factory()) if t == epoch), None)
    if far is None:
        raise ValueError(f"the second pass over the trajectory did not reach point {epoch} (of "
                         f"{projection.residual.size} in the first): the trajectory factory must return a fresh "
                         "iterable each call, e.g. lambda: iter(rows), not the same iterator twice.")
    xp = backend.get_xp(theta_init)
    plane = plane_through(theta_init, theta_final, xp.asarray(far, dtype=theta_init.dtype),
                          names=(names[0], names[1], f"{names[2]} ({epoch})"))
    plane.kind = "init -> solution and the farthest epoch"
    return plane, epoch


def grid_around(plane: Plane, n: int = 41, margin: float = 0.25, span: float | None = None) -> tuple:
    """``(a_values, b_values)``, n each: ``span`` given: [-span, span] on both axes; else the box of the
    plane's named points widened by ``margin`` times its size on every side (the points lie on the grid
    only by chance: use an odd n and margins that make them fall on it when that matters).

    ``n`` is a whole number >= 2, ``span`` a finite number > 0, ``margin`` a finite number >= 0. Without
    ``span`` the plane needs named points that are not all in one place: a plane with a single point
    (:func:`plane_along`, :func:`random_plane`, :func:`pca_plane`) or none has no box, and is refused."""
    if not is_whole_number(n) or n < 2:
        raise ValueError(f"a grid needs at least 2 values per axis (a whole number), got n={n!r}.")
    n = int(n)
    if not (isinstance(margin, numbers.Real) and np.isfinite(margin) and margin >= 0):
        raise ValueError(f"margin must be a finite number >= 0 (the share of the box added on each side), "
                         f"got {margin!r}.")
    if span is not None:
        if not (isinstance(span, numbers.Real) and np.isfinite(span) and span > 0):
            raise ValueError(f"span must be a finite number > 0 (the grid is [-span, span] on both axes), "
                             f"got {span!r}.")
        return np.linspace(-span, span, n), np.linspace(-span, span, n)
    coords = np.array(list(plane.points.values()), dtype=np.float64).reshape(-1, 2)
    if coords.shape[0] == 0:
        raise ValueError("the plane has no named points to put a box around; give span= (the grid is then "
                         "[-span, span] on both axes).")
    if not np.all(np.isfinite(coords)):
        raise ValueError(f"the plane's named points {plane.points} include NaN or inf coordinates; give finite "
                         "points, or span= (the grid is then [-span, span] on both axes).")
    lo, hi = coords.min(axis=0), coords.max(axis=0)
    if (hi - lo).max() == 0.0:
        raise ValueError(f"the plane's named points ({', '.join(map(str, plane.points))}) are all at one place "
                         f"(a, b) = ({lo[0]:.4g}, {lo[1]:.4g}): there is no box to put a grid around; give span= "
                         "(the grid is then [-span, span] on both axes).")
    size = np.maximum(hi - lo, 1e-12)
    size = np.maximum(size, 0.25 * size.max())  # a thin box gets some height
    lo, hi = lo - margin * size, hi + margin * size
    return np.linspace(lo[0], hi[0], n), np.linspace(lo[1], hi[1], n)


# -------------------------------------------------------------------------------------------- grid evaluation
@dataclass
class PlaneResult:
    """J (and error) on a grid: arrays of shape (len(b_values), len(a_values)); row j is b = b_values[j].

    ``None`` where a quantity is not defined; NaN in rows not computed yet.
    """
    a_values: np.ndarray
    b_values: np.ndarray
    J_train: np.ndarray
    J_valid: np.ndarray | None = None
    error_train: np.ndarray | None = None
    error_valid: np.ndarray | None = None
    rows_done: np.ndarray | None = None
    settings: dict = field(default_factory=dict)

    FIELDS = ("a_values", "b_values", "J_train", "J_valid", "error_train", "error_valid", "rows_done")

    def arrays(self, prefix: str = "") -> dict:
        return {prefix + k: getattr(self, k) for k in self.FIELDS if getattr(self, k) is not None}

    @classmethod
    def from_arrays(cls, arrays: dict, prefix: str = "", settings=None) -> "PlaneResult":
        return cls(**{k: arrays.get(prefix + k) for k in cls.FIELDS}, settings=settings or {})


def _batch_digest(batch) -> str:
    """SHA-256 of a batch's arrays (shape, dtype and bytes): a store is resumed only for the same data."""
    h = hashlib.sha256()
    for a in (batch if isinstance(batch, (tuple, list)) else [batch]):
        a = np.ascontiguousarray(backend.to_numpy(a))
        h.update(f"{a.shape}{a.dtype}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def plane_fingerprint(model, plane, a_values, b_values, train, valid) -> str:
    """SHA-256 of everything a grid evaluation depends on: layout, plane, grid and the data's content."""
    h = hashlib.sha256()
    h.update(json.dumps(model.layout.table()).encode())
    for v in (plane.origin, plane.d1, plane.d2):
        h.update(np.ascontiguousarray(backend.to_numpy(v)).tobytes())
    h.update(np.asarray(a_values, dtype=np.float64).tobytes() + b"|" + np.asarray(b_values, dtype=np.float64).tobytes())
    h.update(_batch_digest(train).encode())
    h.update(b"-" if valid is None else _batch_digest(valid).encode())
    return h.hexdigest()


def _row_fast(model, plane, first: ProductChunks, a_values, b):
    """J and error at (a, b) for every a of one grid row, from the chunks' first-layer products.

    Per chunk: X W(a, b) = X W_o + a X D_1 + b X D_2 (the products A, B, C), then the bias at theta(a, b) and
    the rest of the network (:mod:`.first_layer`)."""
    n = first.batch[0].shape[0]
    nll, wrong = np.zeros(len(a_values)), np.zeros(len(a_values))
    for (A, B, C), yc in first.chunks():
        base = A + b * C                       # X W_o + b X D_2, once per chunk and row
        for i, a in enumerate(a_values):
            z = base + a * B                   # X W(a, b): the first layer's linear part on this chunk
            theta = plane.point(a, b)
            s, e = evaluate_from_first_output(model, theta, model.first_bias(theta, z), yc)
            nll[i] += s
            wrong[i] += e
    return nll / n, wrong / n


def _row_plain(model, plane, batch, a_values, b, classifier):
    J, err = [], []
    for a in a_values:
        theta = plane.point(a, b)
        J.append(checked_loss(model.loss(theta, batch), model))
        if classifier:
            err.append(model.error_rate(theta, batch))
    return np.array(J), (np.array(err) if classifier else None)


def _load_store(store: Path, fingerprint: str):
    """The arrays of the store at ``store`` if it was written for ``fingerprint``; anything else is refused
    (FileExistsError) and left as it is."""
    not_a_store = (f"{store} is not a plane store (an .npz that evaluate_plane wrote); it is left as it is: move it "
                   "away or choose another store path.")
    if store.is_dir():
        raise FileExistsError(f"{store} is a folder, not a plane store; choose another store path.")
    if not zipfile.is_zipfile(store):  # an .npz is a zip archive; text, a pickle or an .npy file is not
        raise FileExistsError(not_a_store)
    try:
        with open(store, "rb") as fh, np.load(fh, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile):  # a zip archive of something else
        raise FileExistsError(not_a_store) from None
    if "fingerprint" not in arrays or "rows_done" not in arrays:
        raise FileExistsError(not_a_store)
    saved = str(arrays.pop("fingerprint"))
    if saved != fingerprint:
        raise FileExistsError(f"{store} holds a plane evaluation with other settings (plane, grid, data or model); "
                              "it is left as it is: remove it or choose another store to start afresh.")
    return arrays


# ------------------------------------------------------------------------------ grid rows as executor tasks
@dataclass(frozen=True)
class PlaneJob:
    """Everything a block of grid rows needs; sent once to every worker (the data included, in ``settings``).

    ``token`` names this evaluation, so a worker keeps its first-layer products
    (:class:`~minilinpath.path.first_layer.ProductChunks`) from one block to the next of the same evaluation only.
    """
    model: object
    plane: Plane
    settings: PlaneSettings
    token: str


@dataclass(frozen=True)
class RowBlock:
    """One task: the grid rows ``rows`` (indices into ``b_values``, consecutive) of one evaluation."""
    rows: tuple
    key: str  # the task's name on Dask, unique within a session

    def label(self) -> str:
        return f"rows {self.rows[0]}-{self.rows[-1]}" if len(self.rows) > 1 else f"row {self.rows[0]}"


_FIRST_LAYERS: dict = {}  # token -> {split: ProductChunks}: this process's products for the evaluation it works on


def _first_layers(job: PlaneJob) -> dict:
    if job.token not in _FIRST_LAYERS:
        _FIRST_LAYERS.clear()  # one evaluation at a time: the products of an earlier one are dropped
        first = FirstLayer(job.model, (job.plane.origin, job.plane.d1, job.plane.d2))  # W_o, D_1, D_2
        sets = job.settings.sets
        _FIRST_LAYERS[job.token] = {s: ProductChunks(first, batch, job.settings.chunk_size,
                                                     job.settings.cache_bytes // len(sets)) for s, batch in sets}
    return _FIRST_LAYERS[job.token]


def evaluate_rows(block: RowBlock, job: PlaneJob) -> dict:
    """J (and the error rate) on the grid rows of ``block``: ``{"J_train": (len(rows), len(a_values)), ...}``.

    What an executor runs, in this process or on a Dask worker. A row's numbers are the
    same whichever block it is in and whichever process computes it: every row is
    computed on its own, from the same first-layer products (kept or recomputed, the
    same bytes either way).
    """
    settings = job.settings
    first = _first_layers(job) if settings.fast else {}
    a_list = [float(a) for a in settings.a_values]
    out = {}
    for s, batch in settings.sets:
        J_rows, err_rows = [], []
        for j in block.rows:
            b = float(settings.b_values[j])
            if settings.fast:
                J, err = _row_fast(job.model, job.plane, first[s], a_list, b)
            else:
                J, err = _row_plain(job.model, job.plane, batch, settings.a_values, b, settings.classifier)
            J_rows.append(J)
            err_rows.append(err)
        out[f"J_{s}"] = np.array(J_rows, dtype=np.float64)
        if settings.classifier:
            out[f"error_{s}"] = np.array(err_rows, dtype=np.float64)
    return out


def row_blocks(rows_done: np.ndarray, block_rows: int, token: str) -> list:
    """The rows not done yet, in order, cut into blocks of at most ``block_rows`` consecutive rows."""
    blocks = []
    for j in np.flatnonzero(~rows_done):
        if blocks and j == blocks[-1][-1] + 1 and len(blocks[-1]) < block_rows:
            blocks[-1].append(int(j))
        else:
            blocks.append([int(j)])
    return [RowBlock(tuple(rows), f"minilinpath-plane-{token}-rows-{rows[0]}-{rows[-1]}") for rows in blocks]


class PlaneIncomplete(RuntimeError):
    """Blocks of grid rows raised; the rows that finished are in the store. ``.result`` holds them (NaN elsewhere)."""

    def __init__(self, message: str, result: "PlaneResult"):
        super().__init__(message)
        self.result = result


def evaluate_plane(model, plane: Plane, train, a_values, b_values, valid=None, chunk_size: int | None = None,
                   fast: bool = True, progress: bool = True, store=None, cache_bytes: int = CACHE_BYTES,
                   executor="local", scheduler: str | None = None, n_workers: int = 2,
                   block_rows: int = 1) -> PlaneResult:
    """J (train, validation) and the error rate at every grid point theta(a, b) of ``plane``.

    Parameters
    ----------
    model : keeps the model contract (:mod:`minilinpath.contract`).
    train, valid : batches such as ``(X, y)``, evaluated whole, in chunks.
    a_values, b_values : the grid; the result's arrays have shape (len(b_values), len(a_values)).
    chunk_size : examples per pass, a whole number >= 1 (default: the model's own evaluation chunk).
    fast : use the first-layer trick when the model starts with a linear layer
        (the same numbers as the plain evaluation, to rounding).
    store : a ``.npz`` path written (atomically) after every finished block of
        grid rows; a later call with the same model, plane, grid and data resumes
        from it, computing only the rows not stored. A store written for other
        settings is an error, never overwritten.
    cache_bytes : the first-layer products kept across grid rows, at most this many bytes (a whole number).
    executor : where the blocks of rows run (:mod:`minilinpath.study.executors`):
        ``"local"`` (this process, one block after another; the default),
        ``"dask"`` (a LocalCluster of ``n_workers`` processes with one BLAS thread
        each, or the running cluster at ``scheduler``), or an executor object (not
        closed here). The model, plane and data are sent to each worker once.
        The numbers are the same, bit for bit, whichever executor computes them
        (on workers with the same NumPy/BLAS and environment as this process).
    block_rows : grid rows per task (and per store write), a whole number >= 1.

    A block that raises does not stop the others: every finished block is stored,
    then :class:`PlaneIncomplete` says which failed (run again to do only those).
    Before any block runs (and before a store is read or written) the sets are
    checked (:func:`~minilinpath.path.checks.check_plane`): a set of no examples,
    arrays with different numbers of rows, or a batch the model refuses on its
    first example (``model.loss`` at the origin) is an error there, since running
    again could not mend it.
    """
    settings = check_plane(model, plane, train, a_values, b_values, valid, chunk_size, fast, store, cache_bytes,
                           block_rows)
    grid = _start_or_resume(model, plane, train, valid, settings)
    # the token only names this evaluation: a block run again in the same Dask session is a new task
    job = PlaneJob(model, plane, settings, uuid.uuid4().hex[:12])
    blocks = row_blocks(grid.rows_done, settings.block_rows, job.token)
    runner, owned = _executor(executor, scheduler, n_workers, plane)
    try:
        failures = _run_blocks(runner, job, blocks, grid, progress)
    finally:
        _FIRST_LAYERS.pop(job.token, None)  # this process's products (the in-process executor's)
        if owned:
            runner.close()
    result = PlaneResult(settings.a_values, settings.b_values, grid.arrays["J_train"], grid.arrays.get("J_valid"),
                         grid.arrays.get("error_train"), grid.arrays.get("error_valid"), grid.rows_done,
                         _recorded(model, plane, train, valid, settings, runner.name))
    if failures:
        raise PlaneIncomplete(_incomplete_message(failures, len(blocks), grid.rows_done, settings.store), result)
    return result


@dataclass
class _Grid:
    """The grid's arrays (NaN where not computed yet), the rows done, and the store's fingerprint (or None)."""
    arrays: dict
    rows_done: np.ndarray
    fingerprint: str | None


def _start_or_resume(model, plane, train, valid, settings: PlaneSettings) -> _Grid:
    """An empty grid, or the rows a store written for the same model, plane, grid and data already holds."""
    shape = (settings.b_values.size, settings.a_values.size)
    names = [f"J_{s}" for s, _ in settings.sets] + ([f"error_{s}" for s, _ in settings.sets]
                                                    if settings.classifier else [])
    grid = _Grid({name: np.full(shape, np.nan) for name in names}, np.zeros(settings.b_values.size, dtype=bool), None)
    if settings.store is None:
        return grid
    grid.fingerprint = plane_fingerprint(model, plane, settings.a_values, settings.b_values, train, valid)
    if settings.store.exists():
        saved = _load_store(settings.store, grid.fingerprint)
        grid.rows_done = saved["rows_done"].astype(bool)
        grid.arrays.update({k: saved[k] for k in grid.arrays if k in saved})
    return grid


def _executor(executor, scheduler, n_workers, plane) -> tuple:
    """``(runner, owned)``: the executor that runs the blocks, and whether this call made it (and closes it)."""
    from ..study.executors import make_executor  # here: minilinpath.study imports minilinpath.path

    owned = isinstance(executor, str)
    kind = executor if owned else getattr(executor, "name", None)   # an executor object, not a model
    if kind == "dask" and backend.is_cupy_array(plane.origin):
        raise ValueError("the Dask executor runs the grid on CPU worker processes; a plane on the GPU is "
                         "evaluated in this process (executor='local').")
    return (make_executor(executor, scheduler, n_workers) if owned else executor), owned


def _run_blocks(runner, job: PlaneJob, blocks: list, grid: _Grid, progress: bool) -> list:
    """Run every block on ``runner``, put each finished block into ``grid`` and the store at once; return the
    failed blocks as ``[(label, one-line error)]``."""
    settings, failures = job.settings, []
    outcomes = runner.run(evaluate_rows, blocks, job) if blocks else iter(())
    for block, rows, error in progress_bar(outcomes, desc="plane", enabled=progress, total=len(blocks),
                                           unit="block"):
        if error is not None:
            failures.append((block.label(), f"{type(error).__name__}: {'; '.join(str(error).splitlines())}"))
            continue
        for name, values in rows.items():
            grid.arrays[name][list(block.rows)] = values
        grid.rows_done[list(block.rows)] = True
        if settings.store is not None:
            write_npz(settings.store, fingerprint=np.array(grid.fingerprint), rows_done=grid.rows_done,
                      a_values=settings.a_values, b_values=settings.b_values, **grid.arrays)
    return failures


def _recorded(model, plane, train, valid, settings: PlaneSettings, executor_name: str) -> dict:
    """The settings a :class:`PlaneResult` records."""
    return {"model": model_name(model), "plane": plane.kind, "n_train": _n(train),
            "n_valid": None if valid is None else _n(valid), "chunk_size": settings.chunk_size,
            "fast": settings.fast, "block_rows": settings.block_rows, "executor": executor_name}


def _incomplete_message(failures: list, n_blocks: int, rows_done, store) -> str:
    kept = f"the {int(rows_done.sum())} rows done are kept in {store}" if store is not None else \
        "no store was given, so nothing is kept"
    return (f"{len(failures)} of {n_blocks} blocks of grid rows failed (first: {failures[0][0]}: {failures[0][1]}); "
            f"{kept}: run again to compute only the rows not done.")


def _n(batch):
    first = batch[0] if isinstance(batch, (tuple, list)) else batch
    return int(first.shape[0]) if hasattr(first, "shape") else None   # a batch, not a model


# --------------------------------------------------------------------------------- trajectories on the plane
class TrajectoryOnPlane(NamedTuple):
    a: np.ndarray            # (T,) least-squares coordinates of theta_t in the plane
    b: np.ndarray
    residual: np.ndarray     # (T,) ||theta_t - its projection||: how far the point is from the plane
    J_true: np.ndarray       # (T,) J(theta_t), what training actually saw (None when not asked)
    J_projected: np.ndarray  # (T,) J(projection), what the contour picture shows at (a_t, b_t)


def trajectory_on_plane(rows, plane: Plane, model=None, batch=None, progress: bool = False) -> TrajectoryOnPlane:
    """Project every trajectory point onto ``plane``; with ``model`` and ``batch`` also J at the point and at
    its projection (both on the whole batch). Rows are read one at a time; each must be as long as the
    plane's vectors. ``model`` and ``batch`` go together: one without the other is refused."""
    if (model is None) != (batch is None):
        raise ValueError("trajectory_on_plane computes J only with both model and batch: give the batch to "
                         "evaluate the loss on, or leave out both for the coordinates alone.")
    if model is not None:
        check_model(model, "trajectory_on_plane")
    a, b, r, J, Jp = [], [], [], [], []
    xp = backend.get_xp(plane.origin)
    for t, row in enumerate(progress_bar(rows, desc="trajectory", enabled=progress, unit="point")):
        theta = xp.asarray(row, dtype=plane.origin.dtype)
        if theta.shape != plane.origin.shape:
            raise ValueError(f"trajectory row {t} has shape {theta.shape} but the plane's vectors have shape "
                             f"{plane.origin.shape}: is it a parameter vector of another model?")
        ca, cb, res = plane.coordinates(theta)
        a.append(ca)
        b.append(cb)
        r.append(res)
        if model is not None:
            J.append(model.loss(theta, batch))
            Jp.append(model.loss(plane.point(ca, cb), batch))
    arr = lambda v: np.array(v) if v else None  # noqa: E731
    return TrajectoryOnPlane(np.array(a), np.array(b), np.array(r), arr(J), arr(Jp))
