"""Hostile checks of the analysis functions of minilinpath.path with degenerate but plausible inputs.

A zero-length line, three (nearly) collinear points, a plane with parallel directions, grids and alphas with NaN,
unsorted or repeated values, a single point, integer or mixed-dtype parameter vectors, non-contiguous views,
trajectories of one point or on a straight line, files of another kind, seeds. Every value is checked against the
math of the module docstrings, computed here independently on a tiny float64 MLP (the loss along a line by calling
``model.loss`` at theta(alpha), a curvature by central differences, a plane by evaluating its grid points).

Each case must either work correctly or refuse with one clear error saying what was wrong; never a NumPy error from
deep inside (a broadcast or matmul shape error, "Singular matrix", an argmax of nothing), never a silent NaN, inf or
wrong number. The tests commented "was a bug (mended)" describe the right behaviour of a case that failed when this
file was written; the comment names the failure seen then.
"""
import math
import re
import warnings

import numpy as np
import pytest

from minilinpath.models import MLP
from minilinpath.path import (PathResult, barrier_height, curve_path, distance_travelled, evaluate_plane,
                              grid_around, hessian_eigenvalues, hutchinson_trace, hvp, line_curvature, line_curve,
                              linear_path, normalize_direction, paper_plane, pca_directions, plane_along,
                              plane_through, project_trajectory, random_direction, random_plane, random_point,
                              random_walk, summarize, train_curve, trajectory_on_plane)
from minilinpath.path.curvature import HessianOperator
from minilinpath.path.curves import Curve, curve_loss_and_grad
from minilinpath.path.instability import instability
from minilinpath.path.trajectory import extreme_components
from minilinpath.train import Recipe

# what a NumPy/Python error from deep inside says (never an acceptable refusal)
CRYPTIC = re.compile(r"broadcast|gufunc|matmul|singular matrix|zero-size array|out of bounds|argmax of an empty|"
                     r"did not converge|not subscriptable|cannot be interpreted|no len\(\)|on_line|pickled|"
                     r"too many indices|boolean index", re.I)

MODEL = MLP(n_in=4, hidden=(5,), n_classes=3, activation="tanh")
P = MODEL.layout.size


def problem(dtype=np.float64, n=7):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((n, 4)).astype(dtype), rng.integers(0, 3, n)
    theta0 = MODEL.init(0, dtype=dtype)
    theta1 = (MODEL.init(1, dtype=np.float64) + 0.3 * rng.standard_normal(P)).astype(dtype)
    return (X, y), theta0, theta1


BATCH, T0, T1 = problem()
T2 = T0 + 0.2 * np.random.default_rng(5).standard_normal(P)


def on_line(alpha, theta0=T0, theta1=T1, batch=BATCH):
    """J(theta(alpha)) computed here, directly from the model."""
    return MODEL.loss((1.0 - alpha) * theta0 + alpha * theta1, batch)


def clear_refusal(call, *words, errors=(ValueError, TypeError)):
    """``call()`` must raise one of ``errors`` whose message names one of ``words`` and is not a NumPy internal."""
    with pytest.raises(errors) as info:
        call()
    message = str(info.value)
    assert not CRYPTIC.search(message), f"cryptic refusal: {type(info.value).__name__}: {message!r}"
    if words:
        assert re.search("|".join(words), message, re.I), f"the refusal does not say what was wrong: {message!r}"
    return message


def dense_hessian(theta, batch=BATCH, eps=1e-5):
    """H by central differences of the gradient along every unit vector (symmetrised)."""
    grad = lambda t: MODEL.loss_and_grad(t, batch)[1]  # noqa: E731
    H = np.stack([(grad(theta + eps * e) - grad(theta - eps * e)) / (2 * eps) for e in np.eye(P)])
    return 0.5 * (H + H.T)


# =============================================================================================== the linear path
def test_linear_path_matches_the_loss_at_unsorted_repeated_and_outside_alphas_on_views_and_leaves_theta_alone():
    alphas = [1.0, -1.0, 0.5, 0.5, 0.0, 2.0, 1.7]
    wide0, wide1 = np.zeros(2 * P), np.zeros(2 * P)
    wide0[::2], wide1[::2] = T0, T1
    view0, view1 = wide0[::2], wide1[::2]                 # non-contiguous views
    before0, before1 = view0.copy(), view1.copy()
    expected = np.array([on_line(a) for a in alphas])
    for fast in (True, False):
        for chunk in (None, 3, 1):
            result = linear_path(MODEL, view0, view1, BATCH, alphas, fast=fast, chunk_size=chunk, progress=False)
            np.testing.assert_allclose(result.J_train, expected, rtol=1e-13, atol=1e-14)
            np.testing.assert_array_equal(result.alphas, alphas)
    assert np.array_equal(view0, before0) and np.array_equal(view1, before1)


def test_linear_path_of_a_zero_length_line_is_the_loss_at_that_point():
    result = linear_path(MODEL, T0, T0.copy(), BATCH, [0.0, 0.3, 5.0], progress=False)
    np.testing.assert_allclose(result.J_train, MODEL.loss(T0, BATCH), rtol=1e-14)


@pytest.mark.parametrize("alphas", [[0.0, np.nan], [np.inf], [], 0.5, [[0.0, 1.0]]])
def test_linear_path_refuses_alphas_that_are_not_a_finite_vector(alphas):
    clear_refusal(lambda: linear_path(MODEL, T0, T1, BATCH, alphas, progress=False), "alpha")


def test_linear_path_refuses_mixed_dtypes_wrong_lengths_and_integer_thetas():
    clear_refusal(lambda: linear_path(MODEL, T0.astype(np.float32), T1, BATCH, [0], progress=False), "float32")
    clear_refusal(lambda: linear_path(MODEL, T0[:-1], T1[:-1], BATCH, [0], progress=False), "entries|layout")
    clear_refusal(lambda: linear_path(MODEL, T0.astype(int), T1.astype(int), BATCH, [0], progress=False), "float")


# was a bug (mended): the fast sweep never checks the batch: y of 6 labels for 7 rows gives 'matmul: Output operand
#   0 has a mismatch in its core dimension', X with 5 columns a matmul gufunc error, a 1-D X (one example, 4
#   features) is silently read as 4 examples (J = 0.2747), and float64 X with float32 theta says 'on_line holds
#   float32 parameters ... build it from theta0 and theta1' (model.loss says each clearly)
@pytest.mark.parametrize("case", ["short y", "wide X", "1-D X", "float64 X for float32 theta"])
def test_linear_path_refuses_a_malformed_batch_as_clearly_as_the_model_does(case):
    X, y = BATCH
    theta0, theta1 = T0, T1
    if case == "short y":
        batch = (X, y[:-1])
    elif case == "wide X":
        batch = (np.ones((7, 5)), y)
    elif case == "1-D X":
        batch = (X[0], y[:1])
    else:
        batch, theta0, theta1 = BATCH, T0.astype(np.float32), T1.astype(np.float32)
    clear_refusal(lambda: linear_path(MODEL, theta0, theta1, batch, [0.0, 0.5], progress=False),
                  r"\by\b|label|\bX\b|shape|dtype")


# was a bug (mended): mc_samples=-1 on a dropout model silently runs one Monte Carlo sample (J = [1.09861, 1.02208]
#   instead of a refusal); without dropout the refusal says 'mc_samples > 0 averages over dropout masks' for -1
def test_linear_path_refuses_a_negative_number_of_monte_carlo_samples():
    dropout = MLP(n_in=4, hidden=(5,), n_classes=3, activation="tanh", input_include=0.8, hidden_include=0.5)
    clear_refusal(lambda: linear_path(dropout, T0, T1, BATCH, [0, 0.5], mc_samples=-1, progress=False),
                  r"mc_samples.*(>= ?0|negative|whole)")


def test_path_result_round_trip_and_no_silent_overwrite(tmp_path):
    result = linear_path(MODEL, T0, T1, BATCH, [0.0, 0.5, 1.0], valid=BATCH, progress=False)
    path = result.save(tmp_path / "line.npz")
    loaded = PathResult.load(path)
    for name in PathResult.FIELDS:
        np.testing.assert_array_equal(getattr(loaded, name), getattr(result, name))
    assert loaded.settings == result.settings
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        result.save(tmp_path / "line")
    assert path.read_bytes() == before


# was a bug (mended): PathResult.load of an .npz written by something else (np.savez(a=...)) returns
#   PathResult(alphas=None, J_train=None, ...) silently
def test_path_result_load_refuses_a_file_of_another_kind(tmp_path):
    np.savez(tmp_path / "other.npz", a=np.arange(3))
    clear_refusal(lambda: PathResult.load(tmp_path / "other.npz"), "alphas|J_train|path result|not a",
                  errors=(ValueError, KeyError))


def test_random_point_is_reproducible_from_its_seed_alone():
    np.random.seed(1)  # the global state must not matter
    first = random_point(MODEL, 3, dtype=np.float64)
    np.random.seed(2)
    again = random_point(MODEL, 3, dtype=np.float64)
    assert np.array_equal(first, again) and not np.array_equal(first, random_point(MODEL, 4, dtype=np.float64))
    np.random.seed(None)


# was a bug (mended): seed=None is accepted and gives a different vector every call (random_point and
#   random_direction), against 'every random choice flows from an explicit seed'
def test_random_point_and_direction_refuse_a_missing_seed():
    clear_refusal(lambda: random_point(MODEL, None), "seed")
    clear_refusal(lambda: random_direction(MODEL, T1, None), "seed")


# ======================================================================================================= planes
def test_plane_through_three_points_is_orthonormal_and_puts_them_where_they_are():
    copies = [T0.copy(), T1.copy(), T2.copy()]
    plane = plane_through(T0, T1, T2)
    np.testing.assert_allclose(plane.gram(), np.eye(2), atol=1e-14)
    for (a, b), theta in zip(plane.points.values(), (T0, T1, T2)):
        np.testing.assert_allclose(plane.point(a, b), theta, atol=1e-14)
    assert plane.points["B"] == (pytest.approx(np.linalg.norm(T1 - T0), rel=1e-14), 0.0)
    plane.origin[0] = 99.0  # the plane holds copies
    assert all(np.array_equal(c, t) for c, t in zip(copies, (T0, T1, T2)))


def test_plane_through_refuses_repeated_and_collinear_points():
    clear_refusal(lambda: plane_through(T0, T0.copy(), T2), "same point")
    clear_refusal(lambda: plane_through(T0, T1, T0.copy()), "line")
    clear_refusal(lambda: plane_through(T0, T1, T0 + 2.0 * (T1 - T0)), "line")
    clear_refusal(lambda: plane_through(T0, T1[:-1], T2), "length")


# was a bug (mended): the Gram-Schmidt step is done once: for C 1e-10 off the line through A and B (not refused:
#   the test is height <= 1e-12 |AC|) the basis has d1 . d2 = 1.6e-7 (1e-7 to 1e-5 by the noise drawn), not 0
def test_plane_through_nearly_collinear_points_is_still_orthonormal_or_refused():
    far = T0 + 2.0 * (T1 - T0) + 1e-10 * np.random.default_rng(8).standard_normal(P)
    try:
        plane = plane_through(T0, T1, far)
    except ValueError as error:
        assert "line" in str(error)
        return
    np.testing.assert_allclose(plane.gram(), np.eye(2), atol=1e-12)


# was a bug (mended): integer points give integer directions: d1 = (b - a) / |b - a| cast to int64 is all zeros,
#   silently
def test_plane_through_integer_points_is_a_float_orthonormal_plane_or_refused():
    ints = [np.arange(P), np.arange(P)[::-1].copy(), (np.arange(P) % 3) * 7]
    try:
        plane = plane_through(*ints)
    except (ValueError, TypeError) as error:
        assert not CRYPTIC.search(str(error)) and re.search("float|integer|dtype", str(error))
        return
    np.testing.assert_allclose(plane.gram(), np.eye(2), atol=1e-12)


# was a bug (mended): a NaN (or inf) point gives a plane of NaN directions without a word (the collinearity test
#   height <= ... is False for NaN)
def test_plane_through_refuses_non_finite_points():
    clear_refusal(lambda: plane_through(T0, T1, np.full(P, np.nan)), "finite|nan")


def test_plane_along_refuses_parallel_directions_when_orthonormalising():
    clear_refusal(lambda: plane_along(T0, T1, 2.0 * T1, orthonormalize=True), "parallel")
    clear_refusal(lambda: plane_along(T0, np.zeros(P), T1, orthonormalize=True), "zero")
    plane = plane_along(T0, T1, T2, orthonormalize=True)
    np.testing.assert_allclose(plane.gram(), np.eye(2), atol=1e-14)


# was a bug (mended): a plane of parallel (or zero) directions is accepted by plane_along, and by random_plane at
#   theta = 0; its coordinates() then raise numpy's LinAlgError 'Singular matrix'
@pytest.mark.parametrize("case", ["parallel", "zero direction", "random plane at zero"])
def test_a_degenerate_plane_is_refused_clearly(case):
    def build_and_project():
        if case == "parallel":
            plane = plane_along(T0, T1, 2.0 * T1)
        elif case == "zero direction":
            plane = plane_along(T0, np.zeros(P), T1)
        else:
            plane = random_plane(MODEL, np.zeros(P), 3)
        return plane.coordinates(T2)
    clear_refusal(build_and_project, "parallel|zero|span|degenerate")


# was a bug (mended): coordinates() of a theta of the wrong length: 'operands could not be broadcast together with
#   shapes (42,) (43,)' (also through trajectory_on_plane)
def test_plane_coordinates_refuse_a_theta_of_the_wrong_length():
    plane = plane_through(T0, T1, T2)
    clear_refusal(lambda: plane.coordinates(T2[:-1]), "length|entries|shape|parameters")
    clear_refusal(lambda: trajectory_on_plane([T2[:-1]], plane), "length|entries|shape|parameters")


def test_evaluate_plane_matches_the_loss_at_every_grid_point_unsorted_and_repeated():
    plane = plane_through(T0, T1, T2)
    a_values, b_values = [0.7, -0.5, 0.7], [1.3, 0.0]
    expected = np.array([[MODEL.loss(plane.origin + a * plane.d1 + b * plane.d2, BATCH) for a in a_values]
                         for b in b_values])
    expected_error = np.array([[MODEL.error_rate(plane.origin + a * plane.d1 + b * plane.d2, BATCH)
                                for a in a_values] for b in b_values])
    for fast in (True, False):
        result = evaluate_plane(MODEL, plane, BATCH, a_values, b_values, fast=fast, progress=False, chunk_size=3)
        np.testing.assert_allclose(result.J_train, expected, rtol=1e-13)
        np.testing.assert_array_equal(result.error_train, expected_error)
        assert result.rows_done.all()


@pytest.mark.parametrize("grid", [[0.0, np.nan], [], 0.0, [[0.0]]])
def test_evaluate_plane_refuses_a_grid_that_is_not_a_finite_vector(grid):
    plane = plane_through(T0, T1, T2)
    clear_refusal(lambda: evaluate_plane(MODEL, plane, BATCH, grid, [0.0], progress=False), "a_values")


def test_evaluate_plane_store_resumes_and_refuses_a_store_of_other_settings(tmp_path):
    plane = plane_through(T0, T1, T2)
    first = evaluate_plane(MODEL, plane, BATCH, [0.0, 0.5], [0.0, 1.0], progress=False, store=tmp_path / "s")
    again = evaluate_plane(MODEL, plane, BATCH, [0.0, 0.5], [0.0, 1.0], progress=False, store=tmp_path / "s")
    np.testing.assert_array_equal(first.J_train, again.J_train)
    before = (tmp_path / "s.npz").read_bytes()
    with pytest.raises(FileExistsError):
        evaluate_plane(MODEL, plane, BATCH, [0.0, 0.5], [0.0, 2.0], progress=False, store=tmp_path / "s")
    assert (tmp_path / "s.npz").read_bytes() == before
    np.savez(tmp_path / "other.npz", a=np.arange(3))
    with pytest.raises(FileExistsError):
        evaluate_plane(MODEL, plane, BATCH, [0.0], [0.0], progress=False, store=tmp_path / "other.npz")
    assert list(np.load(tmp_path / "other.npz").files) == ["a"]


# was a bug (mended): a store path holding a text file gives numpy's 'This file contains pickled (object) data. If
#   you trust the file you can load it unsafely ...'
def test_evaluate_plane_refuses_a_store_that_is_not_an_npz_clearly(tmp_path):
    (tmp_path / "notes.npz").write_text("my notes")
    plane = plane_through(T0, T1, T2)
    clear_refusal(lambda: evaluate_plane(MODEL, plane, BATCH, [0.0], [0.0], progress=False,
                                         store=tmp_path / "notes.npz"), "store|plane evaluation|notes.npz",
                  errors=(ValueError, FileExistsError, OSError))
    assert (tmp_path / "notes.npz").read_text() == "my notes"


# was a bug (mended): an empty training set gives J = [[nan]] with RuntimeWarnings 'invalid value encountered in
#   divide' (linear_path refuses it: 'the train set holds no examples')
def test_evaluate_plane_refuses_an_empty_set():
    plane = plane_through(T0, T1, T2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clear_refusal(lambda: evaluate_plane(MODEL, plane, (BATCH[0][:0], BATCH[1][:0]), [0.0], [0.0],
                                             progress=False), "no examples|empty|at least one")


# was a bug (mended): a malformed batch (6 labels for 7 rows; a 1-D X) fails inside every block and is reported as
#   PlaneIncomplete '... run again to compute only the rows not done' (for the 1-D X: 'IndexError: tuple index out
#   of range'); running again cannot help
@pytest.mark.parametrize("case", ["short y", "1-D X"])
def test_evaluate_plane_refuses_a_malformed_batch_before_computing(case):
    plane = plane_through(T0, T1, T2)
    batch = (BATCH[0], BATCH[1][:-1]) if case == "short y" else (BATCH[0][0], BATCH[1][:1])
    clear_refusal(lambda: evaluate_plane(MODEL, plane, batch, [0.0], [0.0], progress=False),
                  r"\by\b|label|\bX\b|shape", errors=(ValueError, TypeError))


def test_grid_around_three_points_contains_them_with_the_margin():
    plane = plane_through(T0, T1, T2)
    a_values, b_values = grid_around(plane, n=5, margin=0.25)
    coords = np.array(list(plane.points.values()))
    size = coords.max(axis=0) - coords.min(axis=0)
    np.testing.assert_allclose([a_values[0], a_values[-1]], [coords[:, 0].min() - 0.25 * size[0],
                                                             coords[:, 0].max() + 0.25 * size[0]], rtol=1e-14)
    np.testing.assert_allclose([b_values[0], b_values[-1]], [coords[:, 1].min() - 0.25 * size[1],
                                                             coords[:, 1].max() + 0.25 * size[1]], rtol=1e-14)
    np.testing.assert_array_equal(grid_around(plane, n=3, span=2.0)[0], [-2.0, 0.0, 2.0])
    clear_refusal(lambda: grid_around(plane, n=1), "at least 2")


# was a bug (mended): grid_around of a plane with one named point (plane_along, random_plane, pca_plane) silently
#   returns a grid of width 5e-13 ([-2.5e-13, 0, 2.5e-13]): one point
def test_grid_around_a_single_point_is_refused_or_a_real_grid():
    plane = random_plane(MODEL, T1, 3)
    try:
        a_values, b_values = grid_around(plane, n=3)
    except ValueError as error:
        assert "span" in str(error) and not CRYPTIC.search(str(error))
        return
    assert a_values[-1] - a_values[0] > 1e-3 and b_values[-1] - b_values[0] > 1e-3


# was a bug (mended): span=0 gives a grid of one repeated point, span=-1 a reversed one and span=nan (or
#   margin=nan) a grid of NaN, all accepted; a plane without named points gives 'zero-size array to reduction
#   operation minimum which has no identity'
@pytest.mark.parametrize("case", ["span 0", "span -1", "span nan", "margin nan", "no points"])
def test_grid_around_refuses_a_meaningless_box(case):
    plane = plane_through(T0, T1, T2)
    kwargs = {"span 0": {"span": 0.0}, "span -1": {"span": -1.0}, "span nan": {"span": float("nan")},
              "margin nan": {"margin": float("nan")}, "no points": {}}[case]
    if case == "no points":
        plane.points = {}
    clear_refusal(lambda: grid_around(plane, n=3, **kwargs), "span|margin|point")


def test_trajectory_on_plane_coordinates_residuals_and_losses():
    plane = plane_through(T0, T1, T2)
    inside = plane.origin + 0.3 * plane.d1 - 0.7 * plane.d2
    off = inside + 0.5 * np.linalg.svd(np.stack([plane.d1, plane.d2, np.ones(P)]))[2][3]  # orthogonal to d1, d2
    result = trajectory_on_plane([inside, off], plane, MODEL, BATCH)
    np.testing.assert_allclose(result.a, [0.3, 0.3], atol=1e-13)
    np.testing.assert_allclose(result.b, [-0.7, -0.7], atol=1e-13)
    np.testing.assert_allclose(result.residual, [0.0, 0.5], atol=1e-13)
    np.testing.assert_allclose(result.J_true, [MODEL.loss(inside, BATCH), MODEL.loss(off, BATCH)], rtol=1e-14)
    np.testing.assert_allclose(result.J_projected, MODEL.loss(inside, BATCH), rtol=1e-12)


# was a bug (mended): trajectory_on_plane(rows, plane, model) without a batch silently skips the losses (J_true =
#   J_projected = None)
def test_trajectory_on_plane_refuses_a_model_without_a_batch():
    clear_refusal(lambda: trajectory_on_plane([T2], plane_through(T0, T1, T2), MODEL), "batch")


# =================================================================================================== directions
def test_random_direction_has_the_filter_norms_of_theta_is_reproducible_and_leaves_theta_alone():
    theta = T1.copy()
    np.random.seed(3)
    direction = random_direction(MODEL, theta, 7)
    np.random.seed(4)
    assert np.array_equal(direction, random_direction(MODEL, theta, 7))
    np.random.seed(None)
    assert not np.array_equal(direction, random_direction(MODEL, theta, 8))
    assert np.array_equal(theta, T1)
    d, t = MODEL.layout.unflatten(direction), MODEL.layout.unflatten(theta)
    for name in MODEL.layout.names:
        if t[name].ndim == 2:   # a column (everything feeding one unit) has theta's column norm
            np.testing.assert_allclose(np.linalg.norm(d[name], axis=0), np.linalg.norm(t[name], axis=0), rtol=1e-13)
        else:                   # biases: one_d="zero"
            assert not d[name].any()
    whole = random_direction(MODEL, theta, 7, norm="model")
    assert np.linalg.norm(whole) == pytest.approx(np.linalg.norm(theta), rel=1e-14)


def test_normalize_direction_works_in_place_on_a_non_contiguous_view():
    wide = np.zeros(2 * P)
    wide[::2] = np.random.default_rng(2).standard_normal(P)
    view = wide[::2]
    out = normalize_direction(MODEL, view, T1, norm="layer", one_d="normalize")
    assert out is view
    d, t = MODEL.layout.unflatten(view.copy()), MODEL.layout.unflatten(T1)
    for name in MODEL.layout.names:
        assert np.linalg.norm(d[name]) == pytest.approx(np.linalg.norm(t[name]), rel=1e-13)


# was a bug (mended): an integer theta gives an integer direction (the normalised float64 direction truncated by
#   astype(int64): mostly 0, some -1 and 1); pca_directions with an integer theta_final likewise returns directions
#   of zeros
def test_directions_for_integer_vectors_are_float_or_refused():
    ints = np.arange(P) % 5 + 1
    rows = [ints + np.random.default_rng(k).standard_normal(P) for k in range(5)]
    for call in (lambda: random_direction(MODEL, ints, 7), lambda: pca_directions(rows, ints).d1):
        try:
            direction = call()
        except (ValueError, TypeError) as error:
            assert re.search("float|integer|dtype", str(error)) and not CRYPTIC.search(str(error))
            continue
        assert direction.dtype.kind == "f" and np.linalg.norm(direction) > 0.5


# was a bug (mended): normalize_direction with norm='model' (or None) never checks the direction against the
#   layout: a direction of 46 entries for a 43-parameter model is scaled and returned
def test_normalize_direction_refuses_a_direction_of_another_model():
    wrong = np.random.default_rng(2).standard_normal(P + 3)
    clear_refusal(lambda: normalize_direction(MODEL, wrong, T1, norm="model"), "entries|layout|length")


def test_pca_directions_are_the_leading_right_singular_vectors():
    rng = np.random.default_rng(5)
    rows = [T1 + 0.5 * rng.standard_normal(P) * 0.9 ** k for k in range(6)] + [T1]
    copies = [r.copy() for r in rows]
    pca = pca_directions(iter(rows), T1)
    D = np.stack(rows) - T1
    D -= D.mean(axis=0)
    _, s, vt = np.linalg.svd(D, full_matrices=False)
    assert abs(pca.d1 @ vt[0]) == pytest.approx(1.0, abs=1e-12)
    assert abs(pca.d2 @ vt[1]) == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(pca.explained, s[:2] ** 2 / (s ** 2).sum(), rtol=1e-12)
    assert all(np.array_equal(a, b) for a, b in zip(rows, copies))
    clear_refusal(lambda: pca_directions(rows[:2], T1), "at least 3")
    clear_refusal(lambda: pca_directions([T1 + k * (T0 - T1) for k in range(5)], T1), "two directions")


# was a bug (mended): a NaN row (a diverged run's last epoch) gives numpy's LinAlgError 'Eigenvalues did not
#   converge'; a row of the wrong length 'all input arrays must have the same shape'
@pytest.mark.parametrize("case", ["nan row", "short row"])
def test_pca_directions_refuse_bad_rows_clearly(case):
    rows = [T1 + np.random.default_rng(k).standard_normal(P) for k in range(4)]
    rows.append(np.full(P, np.nan) if case == "nan row" else T1[:-1])
    clear_refusal(lambda: pca_directions(rows, T1), "finite|nan|length|entries|row")


def test_paper_plane_takes_the_farthest_epoch():
    middle = 0.5 * (T0 + T1) + 0.3 * np.random.default_rng(1).standard_normal(P)
    trajectory = [T0, 0.5 * (T0 + T1), middle, T1]
    plane, epoch = paper_plane(lambda: iter(trajectory), T0, T1)
    assert epoch == 2
    np.testing.assert_allclose(plane.point(*plane.points["farthest epoch (2)"]), middle, atol=1e-13)
    clear_refusal(lambda: paper_plane(lambda: iter([T0, T1]), T0, T1), "line")


# was a bug (mended): an empty trajectory: 'attempt to get argmax of an empty sequence'; a factory that returns the
#   same (spent) iterator: a bare StopIteration
@pytest.mark.parametrize("case", ["empty", "one-shot iterator"])
def test_paper_plane_refuses_a_trajectory_it_cannot_read_twice_or_at_all(case):
    if case == "empty":
        factory = lambda: iter([])  # noqa: E731
    else:
        once = iter([T0, T2, T1])
        factory = lambda: once  # noqa: E731
    clear_refusal(lambda: paper_plane(factory, T0, T1), "empty|no points|fresh|iterator|factory|twice")


# ===================================================================================================== curvature
def test_line_curvature_both_methods_match_second_differences_of_the_loss():
    alphas = [0.0, 0.5, 1.0, 1.5]

    def second_difference(a, h):
        return (on_line(a + h) - 2.0 * on_line(a) + on_line(a - h)) / h ** 2

    # Richardson: error O(h^4) ~ 1e-9 here, rounding ~ 1e-16 / 2.5e-5
    expected = np.array([(4.0 * second_difference(a, 5e-3) - second_difference(a, 1e-2)) / 3.0 for a in alphas])
    np.testing.assert_allclose(line_curvature(MODEL, T0, T1, BATCH, alphas), expected, rtol=0, atol=2e-6)
    for hvp_method in ("exact", "central"):
        got = line_curvature(MODEL, T0, T1, BATCH, alphas, method="hvp", hvp_method=hvp_method)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-7)
    np.testing.assert_array_equal(line_curvature(MODEL, T0, T0.copy(), BATCH, alphas, method="hvp"), 0.0)
    clear_refusal(lambda: line_curvature(MODEL, T0, T1, BATCH, alphas, h=0.0), "h must")


# was a bug (mended): alphas are checked only by the 'loss' method (via linear_path): with method='hvp' [nan] gives
#   [nan] and [] gives []; a scalar alpha gives 'AxisError: axis 1 is out of bounds' (loss) or 'iteration over a
#   0-d array' (hvp); a theta1 one entry short gives 'operands could not be broadcast together with shapes (42,)
#   (43,)' with method='hvp'
@pytest.mark.parametrize("case", ["nan", "empty", "scalar loss", "scalar hvp", "short theta1 hvp"])
def test_line_curvature_checks_its_inputs_for_both_methods(case):
    alphas = {"nan": [np.nan], "empty": []}.get(case, 0.5 if "scalar" in case else [0.5])
    method = "loss" if case == "scalar loss" else "hvp"
    theta1 = T1[:-1] if "short" in case else T1
    clear_refusal(lambda: line_curvature(MODEL, T0, theta1, BATCH, alphas, method=method),
                  "alpha|entries|layout")


def test_hvp_matches_central_differences_and_leaves_its_inputs_alone():
    v = np.random.default_rng(3).standard_normal(P)
    theta, v_before = T1.copy(), v.copy()
    grad = lambda t: MODEL.loss_and_grad(t, BATCH)[1]  # noqa: E731
    expected = (grad(T1 + 1e-5 * v) - grad(T1 - 1e-5 * v)) / 2e-5
    for method in ("exact", "central"):
        np.testing.assert_allclose(hvp(MODEL, theta, BATCH, v, method=method), expected, rtol=0, atol=1e-8)
    assert np.array_equal(theta, T1) and np.array_equal(v, v_before)
    np.testing.assert_array_equal(hvp(MODEL, T1, BATCH, np.zeros(P)), 0.0)


def test_hessian_eigenvalues_and_trace_match_the_dense_hessian_and_their_seeds():
    eigenvalues = np.linalg.eigvalsh(dense_hessian(T1))
    top = hessian_eigenvalues(MODEL, T1, BATCH, k=3, tol=1e-10)
    bottom = hessian_eigenvalues(MODEL, T1, BATCH, k=3, which="SA", tol=1e-10)
    np.testing.assert_allclose(top.values, eigenvalues[::-1][:3], atol=1e-8)
    np.testing.assert_allclose(bottom.values, eigenvalues[:3], atol=1e-8)
    trace = hutchinson_trace(MODEL, T1, BATCH, samples=300, seed=1)
    assert abs(trace.estimate - eigenvalues.sum()) < 4 * trace.stderr
    np.random.seed(5)
    again = hutchinson_trace(MODEL, T1, BATCH, samples=3, seed=1)
    np.random.seed(None)
    np.testing.assert_array_equal(again.samples, trace.samples[:3])
    clear_refusal(lambda: hessian_eigenvalues(MODEL, T1, BATCH, k=P), "k must")
    clear_refusal(lambda: hutchinson_trace(MODEL, T1, BATCH, samples=0), "samples")


# was a bug (mended): hessian_eigenvalues(model, theta1, ..., operator=HessianOperator(model, theta0, ...))
#   silently returns the eigenvalues at theta0 (0.5419) for theta1
def test_hessian_eigenvalues_do_not_silently_use_an_operator_at_another_theta():
    operator = HessianOperator(MODEL, T0, BATCH)
    try:
        values = hessian_eigenvalues(MODEL, T1, BATCH, k=1, tol=1e-10, operator=operator).values
    except ValueError as error:
        assert "operator" in str(error) and not CRYPTIC.search(str(error))
        return
    assert values[0] == pytest.approx(np.linalg.eigvalsh(dense_hessian(T1))[-1], abs=1e-8)


# was a bug (mended): k=2.5 reaches ARPACK: 'SystemError: <built-in function dsaupd_wrap> returned NULL without
#   setting an exception'
def test_hessian_eigenvalues_refuse_a_fractional_k():
    clear_refusal(lambda: hessian_eigenvalues(MODEL, T1, BATCH, k=2.5), r"\bk\b")


# was a bug (mended): a NaN theta gives 'ArpackError: ARPACK error -9999: Could not build an Arnoldi factorization'
#   (and LAPACK's DLASCL complaint on stderr); hutchinson_trace returns NaN
def test_curvature_refuses_a_non_finite_theta():
    clear_refusal(lambda: hessian_eigenvalues(MODEL, np.full(P, np.nan), BATCH, k=2), "finite|nan")
    clear_refusal(lambda: hutchinson_trace(MODEL, np.full(P, np.nan), BATCH, samples=2), "finite|nan")


# ======================================================================================================= curves
def test_curves_follow_their_formulas_and_start_on_the_line():
    bend = T0 + np.random.default_rng(4).standard_normal(P)
    bezier, chain = Curve("bezier", [T0, bend, T1]), Curve("chain", [T0, bend, T1])
    t = 0.3
    np.testing.assert_allclose(bezier.point(t), (1 - t) ** 2 * T0 + 2 * t * (1 - t) * bend + t ** 2 * T1, atol=1e-15)
    np.testing.assert_allclose(chain.point(0.3), 0.4 * T0 + 0.6 * bend, atol=1e-15)
    np.testing.assert_allclose(chain.point(0.75), 0.5 * bend + 0.5 * T1, atol=1e-15)
    for curve in (bezier, chain):
        assert np.array_equal(curve.point(0.0), T0) and np.array_equal(curve.point(1.0), T1)
        clear_refusal(lambda: curve.point(float("nan")), r"\bt\b")
    for kind in ("bezier", "chain"):
        line = line_curve(kind, T0, T1, bends=3)
        for s in (0.0, 0.2, 0.5, 0.9, 1.0):
            np.testing.assert_allclose(line.point(s), (1 - s) * T0 + s * T1, atol=1e-15)
    result = curve_path(MODEL, chain, BATCH, [1.0, 0.0, 0.3], progress=False)
    np.testing.assert_allclose(result.J_train, [MODEL.loss(chain.point(s), BATCH) for s in (1.0, 0.0, 0.3)],
                               rtol=1e-14)
    clear_refusal(lambda: curve_path(MODEL, chain, BATCH, [np.nan], progress=False), "ts")
    restored = Curve.from_arrays("chain", chain.arrays("c/"), "c/")
    assert all(np.array_equal(p, q) for p, q in zip(restored.points, chain.points))


def test_curve_gradient_matches_central_differences():
    rng = np.random.default_rng(6)
    curve = Curve("bezier", [T0, T0 + 0.3 * rng.standard_normal(P), T1 + 0.3 * rng.standard_normal(P), T1])
    t = 0.37
    _, grads = curve_loss_and_grad(MODEL, curve, t, BATCH)
    for i in (0, 1):
        v = rng.standard_normal(P)

        def moved(s):
            points = [p.copy() for p in curve.points]
            points[i + 1] = points[i + 1] + s * v
            return MODEL.loss(Curve("bezier", points).point(t), BATCH)
        assert grads[i] @ v == pytest.approx((moved(1e-5) - moved(-1e-5)) / 2e-5, rel=1e-7, abs=1e-10)


def test_train_curve_is_reproducible_and_leaves_the_start_and_ends_alone():
    start = line_curve("bezier", T0, T1, bends=2)
    before = [p.copy() for p in start.points]
    np.random.seed(1)
    first = train_curve(MODEL, start, BATCH, epochs=2, batch_size=3, lr=0.1, seed=4, progress=False)
    np.random.seed(2)
    again = train_curve(MODEL, start, BATCH, epochs=2, batch_size=3, lr=0.1, seed=4, progress=False)
    np.random.seed(None)
    assert all(np.array_equal(p, q) for p, q in zip(first.curve.points, again.curve.points))
    assert all(np.array_equal(p, q) for p, q in zip(start.points, before))
    assert np.array_equal(first.curve.points[0], T0) and np.array_equal(first.curve.points[-1], T1)
    assert not np.array_equal(first.curve.points[1], before[1])


# was a bug (mended): train_curve on an empty set returns history [{'train_objective': nan}] with 'Mean of empty
#   slice'; with 6 labels for 7 rows it fails with 'IndexError: index 6 is out of bounds for axis 0 with size 6'
@pytest.mark.parametrize("case", ["empty", "short y"])
def test_train_curve_refuses_a_bad_training_set(case):
    X, y = BATCH
    data = (X[:0], y[:0]) if case == "empty" else (X, y[:-1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clear_refusal(lambda: train_curve(MODEL, line_curve("chain", T0, T1), data, epochs=1, batch_size=3,
                                          progress=False), r"empty|no examples|at least one|\by\b|label|rows")


# was a bug (mended): curve_path on an empty set returns J_train = [0.] (linear_path, which it claims to mirror,
#   refuses: 'the train set holds no examples')
def test_curve_path_refuses_an_empty_set_like_linear_path():
    curve = line_curve("chain", T0, T1)
    clear_refusal(lambda: curve_path(MODEL, curve, (BATCH[0][:0], BATCH[1][:0]), [0.5], progress=False),
                  "no examples|empty|at least one")


# ======================================================================================================= metrics
def test_metrics_on_hand_computed_curves():
    alphas = np.linspace(0.0, 1.0, 5)
    J = [0.0, 1.0, 3.0, 1.0, 2.0]
    assert barrier_height(alphas, J, "mean") == (2.0, 0.5)
    assert barrier_height(alphas, J, "chord") == (2.0, 0.5)      # 3 - (0.5 * 0 + 0.5 * 2)
    assert barrier_height(alphas[::-1], J[::-1], "chord") == (2.0, 0.5)
    assert barrier_height([-1.0, 0.0, 1.0, 2.0], [100.0, 0.0, 0.0, 100.0]) == (0.0, 0.0)
    assert summarize(alphas, J) == {"monotone": False, "largest_bump": 3.0, "bump_alpha": 0.5, "local_minima": [0.75]}
    assert distance_travelled([np.zeros(2), np.array([3.0, 4.0]), np.array([6.0, 8.0])]) == (10.0, 1.0)
    clear_refusal(lambda: distance_travelled([]), "empty")
    clear_refusal(lambda: barrier_height([0.0, 0.5], [0.0, 1.0]), "alpha = 1")


# was a bug (mended): barrier_height silently drops a NaN alpha and its sample ([0, nan, 1], [0, 5, 1] -> (0.0,
#   0.0)); 4 alphas for 5 samples say 'needs samples at alpha = 0 and alpha = 1' and 5 alphas for 4 samples give
#   'IndexError: boolean index did not match'
@pytest.mark.parametrize("case", ["nan alpha", "fewer alphas", "fewer samples"])
def test_barrier_height_refuses_alphas_that_do_not_match_the_samples(case):
    alphas, J = {"nan alpha": ([0.0, np.nan, 1.0], [0.0, 5.0, 1.0]),
                 "fewer alphas": (np.linspace(0, 1, 5)[:4], [0.0, 1.0, 3.0, 1.0, 2.0]),
                 "fewer samples": (np.linspace(0, 1, 5), [0.0, 1.0, 3.0, 1.0])}[case]
    clear_refusal(lambda: barrier_height(alphas, J, "chord"), "finite|nan|length|same number|match")


# was a bug (mended): summarize reads the samples in the order given: for alphas [1, 0.5, 0] and J [0, 1, 3] (J
#   falls as alpha grows) it says monotone False, largest_bump 3.0 at alpha 0; 3 alphas for 5 samples give
#   'IndexError: boolean index did not match'
@pytest.mark.parametrize("case", ["unsorted", "length mismatch"])
def test_summarize_sorts_or_refuses_alphas_it_cannot_read_in_order(case):
    if case == "length mismatch":
        clear_refusal(lambda: summarize([0.0, 0.5, 1.0], [0.0, 1.0, 3.0, 1.0, 2.0]), "length|same number|match")
        return
    try:
        result = summarize([1.0, 0.5, 0.0], [0.0, 1.0, 3.0])
    except ValueError as error:
        assert re.search("increasing|sorted|order", str(error)) and not CRYPTIC.search(str(error))
        return
    assert result["monotone"] is True and result["largest_bump"] == 0.0


# was a bug (mended): a trajectory of one point (or of identical points) has length 0 and straight distance 0, and
#   distance_travelled returns the ratio inf for that 0/0
def test_distance_travelled_of_a_trajectory_that_never_moves_is_not_infinitely_winding():
    for trajectory in ([np.ones(3)], [np.ones(3)] * 4):
        try:
            length, ratio = distance_travelled(trajectory)
        except ValueError as error:
            assert not CRYPTIC.search(str(error))
            continue
        assert length == 0.0 and not math.isinf(ratio)
    assert distance_travelled([np.zeros(2), np.ones(2), np.zeros(2)])[1] == math.inf  # moved and came back


# ================================================================================================== trajectories
def test_project_trajectory_matches_the_definitions():
    rng = np.random.default_rng(5)
    start, end = rng.standard_normal(6), rng.standard_normal(6)
    u = (end - start) / np.linalg.norm(end - start)
    trajectory = [start, 0.5 * (start + end) + np.array([1.0, 0, 0, 0, 0, 0]), end, 2.0 * end]
    result = project_trajectory(np.stack(trajectory), start, end)
    np.testing.assert_allclose(result.coord, [(t - start) @ u for t in trajectory], atol=1e-14)
    np.testing.assert_allclose(result.residual, [np.linalg.norm((t - start) - ((t - start) @ u) * u)
                                                 for t in trajectory], atol=1e-14)
    np.testing.assert_allclose(result.norm, [np.linalg.norm(t) for t in trajectory], rtol=1e-15)
    clear_refusal(lambda: project_trajectory(trajectory, start, start.copy()), "same point")
    clear_refusal(lambda: project_trajectory([start[:-1]], start, end), "shape")


def test_random_walk_is_reproducible_from_its_seed_alone():
    np.random.seed(1)
    first = list(random_walk(4, 3, 7))
    np.random.seed(2)
    again = list(random_walk(4, 3, 7))
    np.random.seed(None)
    assert len(first) == 4 and not first[0].any()
    assert all(np.array_equal(a, b) for a, b in zip(first, again))


# was a bug (mended): for a trajectory on the line (here just [theta_i, theta_f]) the farthest point's residual is
#   rounding (~5e-16), not exactly 0, so that noise is normalised into the second axis: b = [0, -2.25] instead of
#   [0, 0]
def test_extreme_components_of_a_straight_trajectory_has_no_second_coordinate():
    rng = np.random.default_rng(5)
    start, end = rng.standard_normal(6), rng.standard_normal(6)
    for trajectory in ([start, end], [start, 0.25 * start + 0.75 * end, end]):
        plane = extreme_components(lambda: iter(trajectory), start, end)
        np.testing.assert_allclose(plane.b, 0.0, atol=1e-12 * plane.distance)


# was a bug (mended): a factory that returns the same iterator each time: the second pass reads nothing and b = []
#   beside a of 3 points, silently; an empty trajectory: 'attempt to get argmax of an empty sequence'
@pytest.mark.parametrize("case", ["one-shot iterator", "empty"])
def test_extreme_components_refuses_a_trajectory_it_cannot_read_twice_or_at_all(case):
    rng = np.random.default_rng(5)
    start, end = rng.standard_normal(6), rng.standard_normal(6)
    if case == "empty":
        factory = lambda: iter([])  # noqa: E731
    else:
        once = iter([start, 0.5 * (start + end) + 1.0, end])
        factory = lambda: once  # noqa: E731
    clear_refusal(lambda: extreme_components(factory, start, end), "empty|no points|fresh|iterator|factory|twice")


# =================================================================================================== instability
def _blobs():
    (X, y), _, _ = problem(np.float32, n=12)
    return X, y


RECIPE = Recipe(batch_size=4, learning_rate=0.1, max_epochs=2, patience=None)


# was a bug (mended): alphas are checked only after both children are trained: alphas [0, 0.5] (no alpha = 1) and
#   [0, nan, 1] are refused by barrier_height / linear_path once the runs are in runs_dir (with real models: hours
#   later)
@pytest.mark.parametrize("alphas", [[0.0, 0.5], [0.0, np.nan, 1.0]])
def test_instability_refuses_a_bad_alpha_grid_before_training(tmp_path, alphas):
    data = _blobs()
    clear_refusal(lambda: instability(MODEL, data, data, RECIPE, 0, (1, 2), [0], tmp_path / "runs", alphas=alphas,
                                      progress=False, log=None), "alpha")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


# was a bug (mended): ks=[0.5] was truncated by int() to k = 0 and branched there silently; valid_set=None failed
#   with "TypeError: 'NoneType' object is not subscriptable"
@pytest.mark.parametrize("case", ["fractional k", "no validation set"])
def test_instability_refuses_fractional_epochs_and_a_missing_validation_set(tmp_path, case):
    data = _blobs()
    ks, valid = ([0.5], data) if case == "fractional k" else ([0], None)
    clear_refusal(lambda: instability(MODEL, data, valid, RECIPE, 0, (1, 2), ks, tmp_path / "runs", progress=False,
                                      log=None), r"\bk\b|whole|integer|valid")


# ====================================================================== the minor cases the report listed, mended after
def test_linear_path_refuses_a_fractional_chunk_size_and_takes_a_whole_float():
    X, y = np.random.default_rng(0).standard_normal((7, 4)), np.random.default_rng(1).integers(0, 3, 7)
    model = MLP(n_in=4, hidden=(5,), n_classes=3, activation="tanh", init_ranges=(0.5, 0.5))
    t0, t1 = model.init(0, dtype=np.float64), model.init(1, dtype=np.float64)
    with pytest.raises(ValueError, match="chunk_size must be a whole number"):
        linear_path(model, t0, t1, (X, y), [0.0, 1.0], chunk_size=2.5, progress=False)
    whole = linear_path(model, t0, t1, (X, y), [0.0, 1.0], chunk_size=3.0, progress=False)
    three = linear_path(model, t0, t1, (X, y), [0.0, 1.0], chunk_size=3, progress=False)
    np.testing.assert_array_equal(whole.J_train, three.J_train)


def test_random_walk_refuses_negative_or_fractional_sizes_when_called():
    for dim, steps in ((5, -3), (5, 2.5), (0, 3), (2.5, 3)):
        with pytest.raises(ValueError, match="random_walk: (dim|n_steps) must be a whole number"):
            random_walk(dim, steps, seed=0)          # refused at the call, before any point is asked for
    assert len(list(random_walk(3, 0, seed=0))) == 1


def test_normalize_direction_names_the_direction_it_refuses():
    model = MLP(n_in=4, hidden=(5,), n_classes=3, activation="tanh", init_ranges=(0.5, 0.5))
    with pytest.raises(ValueError, match="direction has 5 entries"):
        normalize_direction(model, np.ones(5), model.init(0, dtype=np.float64))


def test_path_result_settings_keep_numpy_numbers_as_numbers(tmp_path):
    model = MLP(n_in=4, hidden=(5,), n_classes=3, activation="tanh", init_ranges=(0.5, 0.5))
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((7, 4)), rng.integers(0, 3, 7)
    result = linear_path(model, model.init(0, dtype=np.float64), model.init(1, dtype=np.float64), (X, y), [0.0, 1.0],
                         progress=False)
    result.settings.update(k=np.int64(3), scale=np.float32(0.5), grid=np.arange(3))
    loaded = PathResult.load(result.save(tmp_path / "r.npz"))
    assert loaded.settings["k"] == 3 and isinstance(loaded.settings["k"], int)
    assert loaded.settings["scale"] == 0.5 and loaded.settings["grid"] == [0, 1, 2]


def test_train_curve_refuses_a_missing_or_negative_seed():
    model = MLP(n_in=4, hidden=(5,), n_classes=3, activation="tanh", init_ranges=(0.5, 0.5))
    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((7, 4)), rng.integers(0, 3, 7)
    curve = line_curve("bezier", model.init(0, dtype=np.float64), model.init(1, dtype=np.float64))
    for seed in (None, -1, 0.5):
        with pytest.raises(ValueError, match="seed must be a whole number"):
            train_curve(model, curve, (X, y), epochs=1, seed=seed, progress=False)
