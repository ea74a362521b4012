"""Closed forms against independent numerical computations."""
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import analytic
from analytic.interpolation import matmul_polynomials
from minilinpath.models import DeepLinear, Moments
from minilinpath.optim import momentum_step

ALPHAS = np.linspace(-1.5, 2.5, 81)


def direct_J(model, theta0, theta1, batch, alphas=ALPHAS):
    """J evaluated point by point with the numerical model: the independent computation."""
    return np.array([model.loss((1 - a) * theta0 + a * theta1, batch) for a in alphas])


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5, 6])
def test_scalar_closed_form_equals_direct_evaluation(depth):
    rng = np.random.default_rng(depth)
    model = DeepLinear((1,) * (depth + 1), init_std=1.0)
    theta0, theta1 = rng.standard_normal(depth), rng.standard_normal(depth)
    x, y = rng.standard_normal(7), rng.standard_normal(7)
    J = analytic.scalar_path_polynomial(theta0, theta1, x, y)
    assert J.degree() == 2 * depth
    direct = direct_J(model, theta0, theta1, (x[:, None], y[:, None]))
    # both sides round at the scale of the largest terms (J reaches ~1e5 here), hence the absolute part
    np.testing.assert_allclose(J(ALPHAS), direct, rtol=1e-11, atol=1e-13 * np.abs(direct).max())


@pytest.mark.parametrize("trial", range(8))
def test_matrix_closed_form_equals_direct_evaluation(trial):
    rng = np.random.default_rng(100 + trial)
    depth = int(rng.integers(1, 7))
    dims = tuple(int(d) for d in rng.integers(1, 6, size=depth + 1))
    model = DeepLinear(dims, init_std=0.6)
    theta0, theta1 = model.init(1, dtype=np.float64), model.init(2, dtype=np.float64)
    X, Y = rng.standard_normal((13, dims[0])), rng.standard_normal((13, dims[-1]))
    J = analytic.matrix_path_polynomial(model.weights(theta0), model.weights(theta1), X=X, Y=Y)
    direct = direct_J(model, theta0, theta1, (X, Y))
    np.testing.assert_allclose(J(ALPHAS), direct, rtol=1e-10, atol=1e-12 * np.abs(direct).max())
    # the same polynomial from the data's moments
    m = Moments.from_data(X, Y)
    J2 = analytic.matrix_path_polynomial(model.weights(theta0), model.weights(theta1), m.Sxx, m.Sxy, m.syy)
    np.testing.assert_allclose(J2.coef, J.coef, rtol=1e-10, atol=1e-12 * np.abs(J.coef).max())


def test_matrix_polynomial_product_matches_pointwise_products(rng):
    A, B = rng.standard_normal((3, 2, 4)), rng.standard_normal((2, 4, 3))
    C = matmul_polynomials(A, B)
    for a in (-0.7, 0.3, 1.9):
        at = lambda P: sum(P[k] * a ** k for k in range(P.shape[0]))  # noqa: E731
        np.testing.assert_allclose(at(C), at(A) @ at(B), rtol=1e-12)


def test_toy_problem_curve_from_small_init():
    J = analytic.scalar_path_polynomial([0.0, 0.0], [1.0, 1.0])
    # by hand: p(a) = a^2, J = (1 - a^2)^2 = 1 - 2a^2 + a^4
    np.testing.assert_allclose(J.coef, [1, 0, -2, 0, 1], atol=1e-15)
    kinds = [(round(p.alpha, 12), p.kind) for p in analytic.stationary_points(J)]
    assert kinds == [(-1.0, "minimum"), (0.0, "maximum"), (1.0, "minimum")]
    assert [round(p.alpha, 12) for p in analytic.minima(J, 0, 1.5)] == [1.0]


def test_stationary_points_against_a_dense_grid():
    rng = np.random.default_rng(7)
    for _ in range(20):
        J = analytic.scalar_path_polynomial(rng.standard_normal(3), rng.standard_normal(3), rng.standard_normal(5),
                                            rng.standard_normal(5))
        grid = np.linspace(-3, 3, 600_001)
        v = J(grid)
        grid_minima = grid[1:-1][(v[1:-1] < v[:-2]) & (v[1:-1] < v[2:])]
        found = [p.alpha for p in analytic.minima(J, -3, 3)]
        assert len(found) == len(grid_minima)
        np.testing.assert_allclose(found, grid_minima, atol=2e-5)
        for p in analytic.stationary_points(J, -3, 3):
            assert abs(J.deriv()(p.alpha)) < 1e-9 * max(1, np.abs(J.coef).max())


def test_flat_stationary_point_is_not_a_minimum():
    from numpy.polynomial import Polynomial
    points = analytic.stationary_points(Polynomial([1, 0, 0, -1]))  # 1 - a^3
    assert [(round(p.alpha, 9), p.kind) for p in points] == [(0.0, "flat")]


def test_barrier_between_two_solutions_of_the_toy_problem():
    # (w1, w2) = (2, 1/2) -> (1/2, 2): by hand p(1/2) = 1.25 * 1.25 = 1.5625, J = 0.5625^2
    J = analytic.scalar_path_polynomial([2.0, 0.5], [0.5, 2.0])
    height, where = analytic.barrier_height(J, "mean")
    assert height == pytest.approx(0.31640625, rel=1e-13) and where == pytest.approx(0.5)
    assert analytic.barrier_height(J, "chord")[0] == pytest.approx(0.31640625, rel=1e-13)
    grid = np.linspace(0, 1, 100_001)
    assert height == pytest.approx(J(grid).max(), rel=1e-9)


def test_chord_and_mean_variants_differ_when_endpoints_differ():
    from numpy.polynomial import Polynomial
    J = Polynomial([0.0, 1.0])  # a straight line from 0 to 1: no barrier above the chord
    assert analytic.barrier_height(J, "chord")[0] == pytest.approx(0.0, abs=1e-15)
    assert analytic.barrier_height(J, "mean") == pytest.approx((0.5, 1.0))
    with pytest.raises(ValueError, match="variant"):
        analytic.barrier_height(J, "max")


# ----------------------------------------------------------------- Saxe dynamics
def test_mode_strength_solves_the_ode():
    s, u0, tau = 3.0, 1e-3, 2.0
    t = np.linspace(0, 8, 50)
    sol = solve_ivp(lambda _t, u: 2 * u * (s - u) / tau, (0, 8), [u0], t_eval=t, rtol=1e-12, atol=1e-15,
                    method="DOP853")
    np.testing.assert_allclose(analytic.mode_strength(t, s, u0, tau), sol.y[0], rtol=1e-9)


def test_time_to_learn_inverts_mode_strength():
    s, u0, tau = 2.0, 1e-4, 0.5
    t = analytic.time_to_learn(s, u0, 0.5 * s, tau)
    assert analytic.mode_strength(t, s, u0, tau) == pytest.approx(0.5 * s, rel=1e-12)
    with pytest.raises(ValueError):
        analytic.time_to_learn(s, u0, 1.5 * s)


def test_mode_strength_matches_gradient_descent_on_a_deep_linear_network():
    """Small-step gradient descent on the numerical model follows the closed form, mode by mode."""
    rng = np.random.default_rng(0)
    d0, d1, d2 = 4, 5, 3
    U, _ = np.linalg.qr(rng.standard_normal((d0, d2)))
    V, _ = np.linalg.qr(rng.standard_normal((d2, d2)))
    R, _ = np.linalg.qr(rng.standard_normal((d1, d1)))
    s = np.array([3.0, 2.0, 1.0])
    moments = Moments(np.eye(d0), U @ np.diag(s) @ V.T, float((s ** 2).sum()))
    u0 = 1e-3
    model = DeepLinear((d0, d1, d2))
    # decoupled, balanced start: W1 = U sqrt(u0) R^T, W2 = R sqrt(u0) V^T
    W1 = U @ np.diag(np.full(3, np.sqrt(u0))) @ R[:, :3].T
    W2 = R[:, :3] @ np.diag(np.full(3, np.sqrt(u0))) @ V.T
    theta = model.layout.flatten({"h0.W": W1, "h1.W": W2}, dtype=np.float64)
    lr, steps = 1e-3, 4000
    tau = analytic.tau_for_learning_rate(lr)
    velocity = np.zeros_like(theta)
    worst = 0.0
    for step in range(1, steps + 1):
        _, grad = model.loss_and_grad(theta, moments)
        momentum_step(theta, velocity, grad, lr, 0.0)
        if step % 400 == 0:
            strengths = np.diag(U.T @ model.end_to_end(theta) @ V)
            expected = analytic.mode_strength(step, s, u0, tau)
            worst = max(worst, np.max(np.abs(strengths - expected) / s))
    # discrete steps differ from the flow by O(lr * s): here about 1e-3 of s at most
    assert worst < 5 * lr * s.max()
