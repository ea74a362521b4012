"""Hostile inputs for the closed-form deep linear curves (analytic/), DeepLinear and the MP-DBM.

Each refusal test names an input that used to crash with a cryptic error, hang or give a silent NaN/wrong
number; the gradient and closed-form tests check degenerate-but-valid sizes against independent computations
(central differences in float64, the model's own loss along the line).
"""
import numpy as np
import pytest
from numpy.polynomial import Polynomial

import analytic
from minilinpath.models import MPDBM, DeepLinear, Moments
from minilinpath.models import mpdbm as mpdbm_module


def central_gradient(f, theta, h=1e-6):
    """dJ/dtheta by central differences, coordinate by coordinate (tiny models only)."""
    grad = np.zeros_like(theta)
    for i in range(theta.size):
        step = np.zeros_like(theta)
        step[i] = h
        grad[i] = (f(theta + step) - f(theta - step)) / (2 * h)
    return grad


def rank_deficient_data(rng, n, d_in, d_out):
    X = rng.standard_normal((n, d_in))
    X[:, -1] = X[:, 0]  # two equal columns: Sxx is singular
    return X, rng.standard_normal((n, d_out))


# ------------------------------------------------------------------ DeepLinear
@pytest.mark.parametrize("dims", [(2, 1.5, 1), (2, "3", 1), (2, float("nan"), 1), (True, 1)])
def test_deep_linear_refuses_widths_that_are_not_whole_numbers(dims):
    with pytest.raises(ValueError, match="whole number"):
        DeepLinear(dims)


@pytest.mark.parametrize("init_std", [-0.1, float("nan"), float("inf")])
def test_deep_linear_refuses_a_bad_init_std(init_std):
    with pytest.raises(ValueError, match="init_std"):
        DeepLinear((2, 1), init_std=init_std)


def test_deep_linear_refuses_an_empty_batch():
    model = DeepLinear((2, 3, 1))
    theta = model.init(0, dtype=np.float64)
    X, Y = np.zeros((0, 2)), np.zeros((0, 1))
    for call in (model.loss, model.loss_and_grad):
        with pytest.raises(ValueError, match="no examples"):
            call(theta, (X, Y))
    with pytest.raises(ValueError, match="no examples"):
        Moments.from_data(X, Y)


def test_deep_linear_refuses_moments_and_batches_of_the_wrong_shape():
    model = DeepLinear((2, 3, 1))
    theta = model.init(0, dtype=np.float64)
    wrong = Moments(np.eye(3), np.zeros((3, 1)), 1.0)
    for call in (model.loss, model.loss_and_grad):
        with pytest.raises(ValueError, match=r"Sxx \(2, 2\)"):
            call(theta, wrong)
    with pytest.raises(ValueError, match="need arrays X"):
        model.loss(theta, ([[1.0, 2.0]], [[1.0]]))  # lists, not arrays


def test_deep_linear_refuses_a_dtype_mix():
    model = DeepLinear((2, 1))
    X, Y = np.ones((3, 2)), np.ones((3, 1))
    with pytest.raises(TypeError, match="dtype"):
        model.loss_and_grad(model.init(0, dtype=np.float32), (X, Y))


@pytest.mark.parametrize("dims", [(1, 1), (3, 1), (2, 1, 1, 1), (3, 2, 4, 2)])
def test_deep_linear_gradient_on_degenerate_sizes_and_singular_data(rng, dims):
    model = DeepLinear(dims, init_std=0.7)
    theta = model.init(3, dtype=np.float64)
    X, Y = rank_deficient_data(rng, 6, dims[0], dims[-1])
    for batch in ((X, Y), Moments.from_data(X, Y)):
        J, grad = model.loss_and_grad(theta, batch)
        numerical = central_gradient(lambda t: model.loss(t, (X, Y)), theta)
        assert J == pytest.approx(np.mean(np.sum((X @ model.end_to_end(theta) - Y) ** 2, axis=1)), rel=1e-12)
        np.testing.assert_allclose(grad, numerical, rtol=1e-7, atol=1e-8)


# ------------------------------------------------------------------ analytic: polynomials along a line
@pytest.mark.parametrize("dims", [(1, 1), (3, 1), (1, 1, 1, 1, 1)])
def test_matrix_path_polynomial_on_degenerate_sizes_matches_the_model(rng, dims):
    model = DeepLinear(dims, init_std=0.7)
    start, end = model.init(1, dtype=np.float64), 3 * model.init(2, dtype=np.float64)
    X, Y = rank_deficient_data(rng, 5, dims[0], dims[-1])
    J = analytic.matrix_path_polynomial(model.weights(start), model.weights(end), X=X, Y=Y)
    alphas = np.linspace(-1.0, 2.0, 7)
    direct = [model.loss((1 - a) * start + a * end, (X, Y)) for a in alphas]
    assert J.degree() == 2 * model.depth
    np.testing.assert_allclose(J(alphas), direct, rtol=1e-11, atol=1e-12)


def test_matrix_path_polynomial_takes_any_iterable_of_weights():
    """Generators used to fail with "object of type 'generator' has no len()"."""
    W0, W1 = [np.ones((2, 1))], [2 * np.ones((2, 1))]
    X, Y = np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[1.0], [0.0]])
    J = analytic.matrix_path_polynomial(iter(W0), (w for w in W1), X=X, Y=Y)
    # y_hat = (1 + a) x . (1, 1): residuals a and 1 + a, so J = (a^2 + (1 + a)^2) / 2
    np.testing.assert_allclose(J.coef, [0.5, 1.0, 1.0], atol=1e-15)


def test_matrix_path_polynomial_refuses_bad_data_and_weights():
    W = [np.ones((2, 1))]
    X, Y = np.ones((5, 2)), np.ones((5, 1))
    cases = [(dict(X=X[:0], Y=Y[:0]), "no examples"), (dict(X=X), "targets Y"), (dict(X=X, Y=Y[:, 0]), r"Y\[:, None\]"),
             (dict(Sxx=np.eye(2), Sxy=np.ones((2, 1)), syy=np.ones(2)), "scalar")]
    for data, message in cases:
        with pytest.raises(ValueError, match=message):
            analytic.matrix_path_polynomial(W, W, **data)
    unchained = [np.ones((2, 3)), np.ones((2, 1))]
    with pytest.raises(ValueError, match="chain"):
        analytic.matrix_path_polynomial(unchained, unchained, X=X, Y=Y)


def test_scalar_path_polynomial_refuses_no_layers_and_mismatched_examples():
    with pytest.raises(ValueError, match="at least one layer"):
        analytic.scalar_path_polynomial([], [])
    for x, y in (([1.0, 2.0, 3.0], [1.0, 2.0]), ([], [])):
        with pytest.raises(ValueError, match="examples"):
            analytic.scalar_path_polynomial([1.0, 1.0], [2.0, 2.0], x=x, y=y)
    # depth 1: J = (1 - w)^2 with w from 0.5 to 2.0, i.e. (0.5 - 1.5 a)^2
    np.testing.assert_allclose(analytic.scalar_path_polynomial([0.5], [2.0]).coef, [0.25, -1.5, 2.25], atol=1e-15)


@pytest.mark.parametrize("coef", [[1.0, np.nan, 1.0], [1.0, np.inf, 1.0]])
def test_stationary_points_refuse_non_finite_coefficients(coef):
    """A NaN polynomial used to report "no stationary points" (or one at alpha = -inf) instead of failing."""
    with pytest.raises(ValueError, match="NaN or infinite"):
        analytic.stationary_points(Polynomial(coef))


@pytest.mark.parametrize("lo, hi", [(1.0, -1.0), (np.nan, 1.0), (0.0, np.nan)])
def test_stationary_points_refuse_a_bad_interval(lo, hi):
    with pytest.raises(ValueError, match="lo <= hi"):
        analytic.stationary_points(Polynomial([1, 0, -2, 0, 1]), lo, hi)


@pytest.mark.parametrize("variant", ["mean", "chord"])
@pytest.mark.parametrize("lo, hi", [(1.0, 0.0), (0.5, 0.5), (np.nan, 1.0), (0.0, np.inf)])
def test_barrier_height_refuses_a_bad_segment(variant, lo, hi):
    """lo > hi used to miss the interior maximum and return (0.5, 0.0) for the toy curve; lo = hi crashed in roots."""
    with pytest.raises(ValueError, match="lo < hi"):
        analytic.barrier_height(Polynomial([1, 0, -2, 0, 1]), variant, lo, hi)


# ------------------------------------------------------------------ analytic: Hessian
def test_hessian_refuses_empty_data_instead_of_returning_nan():
    with pytest.raises(ValueError, match="no examples"):
        analytic.deep_linear_hessian([np.ones((2, 1))], X=np.zeros((0, 2)), Y=np.zeros((0, 1)))
    with pytest.raises(ValueError, match="targets Y"):
        analytic.deep_linear_hessian([np.ones((2, 1))], X=np.ones((5, 2)))
    with pytest.raises(ValueError, match="matrices"):
        analytic.deep_linear_hessian([np.ones((2, 1, 1))], X=np.ones((5, 2)), Y=np.ones((5, 1)))


@pytest.mark.parametrize("dims", [(1, 1), (3, 1), (2, 1, 1, 1)])
def test_hessian_on_degenerate_sizes_matches_differences_of_the_model_gradient(rng, dims):
    model = DeepLinear(dims, init_std=0.7)
    theta = model.init(5, dtype=np.float64)
    X, Y = rank_deficient_data(rng, 6, dims[0], dims[-1])
    H = analytic.deep_linear_hessian(model.weights(theta), X=X, Y=Y)
    numerical = np.stack([central_gradient(lambda t: model.loss_and_grad(t, (X, Y))[1][i], theta, 1e-5)
                          for i in range(model.size)])
    np.testing.assert_allclose(H, numerical, rtol=1e-7, atol=1e-8)


# ------------------------------------------------------------------ analytic: Saxe et al.
@pytest.mark.parametrize("kwargs", [dict(tau=0.0), dict(tau=-1.0), dict(tau=np.nan), dict(s=np.nan), dict(u0=np.nan),
                                    dict(t=np.array([0.0, np.nan]))])
def test_mode_strength_refuses_bad_numbers(kwargs):
    """tau <= 0 used to give u = s or a decaying mode silently; NaN s or u0 gave NaN."""
    args = dict(t=1.0, s=1.0, u0=0.1, tau=1.0)
    args.update(kwargs)
    with pytest.raises(ValueError):
        analytic.mode_strength(**args)


def test_mode_strength_takes_lists_and_time_to_learn_checks_its_arguments():
    np.testing.assert_allclose(analytic.mode_strength(0.0, [1.0, 2.0], [0.1, 0.3]), [0.1, 0.3], rtol=1e-15)
    with pytest.raises(ValueError, match="tau"):
        analytic.time_to_learn(1.0, 0.1, 0.5, tau=0.0)
    with pytest.raises(ValueError, match="scalar"):
        analytic.time_to_learn(np.array([1.0, 2.0]), 0.1, 0.5)
    for lr in (0.0, -0.1, np.nan):
        with pytest.raises(ValueError, match="learning rate"):
            analytic.tau_for_learning_rate(lr)


# ------------------------------------------------------------------ MP-DBM
def tiny_mpdbm(**overrides):
    settings = dict(n_visible=5, hidden=(3, 2), n_classes=3, iterations=2, h0_sparse_init=2, c_sparse_init=2)
    settings.update(overrides)
    return MPDBM(**settings)


@pytest.mark.parametrize("overrides", [dict(iterations=1.5), dict(iterations="3"), dict(iterations=float("nan")),
                                       dict(hidden=(3, 2.5)), dict(n_visible=4.5), dict(n_classes=2.2)])
def test_mpdbm_refuses_sizes_that_are_not_whole_numbers(overrides):
    """iterations=1.5 used to run 1 iteration silently."""
    with pytest.raises(ValueError, match="whole number"):
        tiny_mpdbm(**overrides)


def test_mpdbm_refuses_absurd_iteration_counts_before_building_the_schedule():
    """10**8 iterations used to build a 4 * 10**8-step schedule until the process was killed for memory."""
    for iterations in (0, -3):
        with pytest.raises(ValueError, match="iterations >= 1"):
            tiny_mpdbm(iterations=iterations)
    with pytest.raises(ValueError, match="the paper uses 14"):
        tiny_mpdbm(iterations=mpdbm_module.MAX_ITERATIONS + 1)


@pytest.mark.parametrize("overrides, message", [
    (dict(mask_prob=1.5), "mask_prob"), (dict(mask_prob=-0.1), "mask_prob"), (dict(mask_prob=float("nan")), "mask_prob"),
    (dict(max_col_norms=(1.0, 2.0)), "max_col_norms"), (dict(biases=(0.0,)), "biases"),
    (dict(pixel_means=np.full(4, 0.5)), "pixel_means"), (dict(pixel_means=np.full(5, np.nan)), "pixel_means"),
    (dict(h0_sparse_init=-1), "sparse_init")])
def test_mpdbm_refuses_bad_settings(overrides, message):
    """A 2-long max_col_norms used to leave c.W unconstrained silently; NaN pixel_means gave a NaN theta."""
    with pytest.raises(ValueError, match=message):
        tiny_mpdbm(**overrides)


def test_mpdbm_refuses_empty_batches_bad_labels_and_bad_pixels(rng):
    model = tiny_mpdbm()
    theta = model.init(0, dtype=np.float64)
    X, y = rng.random((4, 5)), np.array([0, 1, 2, 0])
    for call in (model.loss, model.loss_and_grad, model.error_rate):
        with pytest.raises(ValueError, match="no examples"):  # used to be 0.0 (loss) or NaN (loss_and_grad)
            call(theta, (X[:0], y[:0]))
        for labels in (np.array([0, 1, 3, 0]), np.array([0, -1, 2, 0])):  # -1 used to wrap to the last class
            with pytest.raises(ValueError, match="labels must lie in 0 .. 2"):
                call(theta, (X, labels))
        for pixels in (X * 3, X - 1, np.where(X > 0.5, np.nan, X)):
            with pytest.raises(ValueError, match=r"\[0, 1\]"):
                call(theta, (pixels, y))
    with pytest.raises(ValueError, match="dtype float64"):
        model.loss(theta, (X, y.astype(np.float64)))


def test_mpdbm_refuses_masks_binarisation_and_out_of_the_wrong_shape(rng):
    model = tiny_mpdbm()
    theta = model.init(0, dtype=np.float64)
    X, y = rng.random((4, 5)), np.array([0, 1, 2, 0])
    with pytest.raises(ValueError, match=r"masks\[0\]"):
        model.loss_and_grad(theta, (X, y), masks=(np.ones((4, 4)), np.ones(4)))
    with pytest.raises(ValueError, match=r"masks\[1\]"):
        model.loss_and_grad(theta, (X, y), masks=(np.ones((4, 5)), np.ones(3)))
    with pytest.raises(ValueError, match="binarize"):
        model.loss_and_grad(theta, (X, y), binarize=np.ones((4, 4)))
    with pytest.raises(ValueError, match="out has 3 entries"):
        model.loss_and_grad(theta, (X, y), out=np.empty(3))
    with pytest.raises(TypeError, match="out has dtype float32"):
        model.loss_and_grad(theta, (X, y), out=np.empty(model.size, np.float32))


@pytest.mark.parametrize("iterations", [1, 3])
def test_mpdbm_gradient_against_central_differences_on_a_tiny_model(rng, iterations):
    model = tiny_mpdbm(iterations=iterations)
    theta = model.init(0, dtype=np.float64) + 0.3 * rng.standard_normal(model.size)
    X, y = rng.random((4, 5)), np.array([0, 1, 2, 1])
    J, grad = model.loss_and_grad(theta, (X, y))
    assert J == model.loss(theta, (X, y))
    numerical = central_gradient(lambda t: model.loss(t, (X, y)), theta)
    np.testing.assert_allclose(grad, numerical, rtol=1e-6, atol=1e-10)
