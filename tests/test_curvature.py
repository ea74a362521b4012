"""Curvature: the central-difference HVP against the deep linear model's closed-form Hessian, Lanczos
eigenvalues, Hutchinson's trace, d2J/dalpha2 along a line, and an HVP check for every model."""
import numpy as np
import pytest

from analytic import deep_linear_hessian, matrix_path_polynomial, toy_hessian
from minilinpath.models import MLP, MPDBM, ConvMaxout, ConvSpec, DeepLinear, LSTMLanguageModel, Moments
from minilinpath.path import HessianOperator, hessian_eigenvalues, hutchinson_trace, hvp, line_curvature


def problem(rng, dims, n=11):
    model = DeepLinear(dims)
    theta = 0.7 * rng.standard_normal(model.size)
    return model, theta, rng.standard_normal((n, dims[0])), rng.standard_normal((n, dims[-1]))


@pytest.mark.parametrize("dims", [(1, 1, 1), (3, 4, 2), (2, 3, 3, 2), (3, 2, 4, 2, 2)])
def test_hvp_is_the_closed_form_hessian(rng, dims):
    model, theta, X, Y = problem(rng, dims)
    H = deep_linear_hessian(model.weights(theta), X=X, Y=Y)
    assert np.abs(H - H.T).max() == 0.0 or np.abs(H - H.T).max() < 1e-14 * np.abs(H).max()
    op = HessianOperator(model, theta, (X, Y))
    columns = np.stack([op.matvec(e) for e in np.eye(model.size)], axis=1)
    np.testing.assert_allclose(columns, H, rtol=0, atol=1e-9 * np.abs(H).max())
    assert op.matvecs == model.size
    v = rng.standard_normal(model.size)  # also with moments instead of examples, and a float32 theta
    tol = 1e-8 * np.linalg.norm(H, 2) * np.linalg.norm(v)  # the O(eps^2) truncation error of the difference
    assert np.linalg.norm(hvp(model, theta, Moments.from_data(X, Y), v) - H @ v) < tol
    H32 = deep_linear_hessian(model.weights(theta.astype(np.float32)), X=X, Y=Y)
    assert np.linalg.norm(hvp(model, theta.astype(np.float32), (X, Y), v) - H32 @ v) < tol


def test_the_closed_form_is_a_real_hessian(rng):
    """Independent of the HVP: second differences of J (float64) against v^T H v and u^T H v."""
    model, theta, X, Y = problem(rng, (2, 3, 2, 2))
    H = deep_linear_hessian(model.weights(theta), X=X, Y=Y)
    J = lambda t: model.loss(t, (X, Y))  # noqa: E731

    def mixed(u, v, h):  # (J(+u+v) - J(+u-v) - J(-u+v) + J(-u-v)) / 4h^2 = u^T H v + O(h^2)
        return (J(theta + h * u + h * v) - J(theta + h * u - h * v) - J(theta - h * u + h * v)
                + J(theta - h * u - h * v)) / (4 * h * h)

    for _ in range(3):
        u, v = rng.standard_normal(model.size), rng.standard_normal(model.size)
        richardson = (4 * mixed(u, v, 5e-4) - mixed(u, v, 1e-3)) / 3  # cancels the h^2 term: error O(h^4)
        assert richardson == pytest.approx(u @ H @ v, rel=1e-7, abs=1e-8)
    gn, res = deep_linear_hessian(model.weights(theta), X=X, Y=Y, parts=True)
    assert np.linalg.eigvalsh(gn).min() > -1e-12  # the Gauss-Newton part is positive semi-definite
    assert np.abs(res[:6, :6]).max() == 0.0       # no residual part within a layer


def test_toy_problem_origin_is_a_saddle():
    model = DeepLinear((1, 1, 1))
    X, Y = np.ones((1, 1)), np.ones((1, 1))
    np.testing.assert_array_equal(toy_hessian(0.0, 0.0), [[0.0, -2.0], [-2.0, 0.0]])
    np.testing.assert_allclose(deep_linear_hessian([[[0.3]], [[-0.5]]], X=X, Y=Y), toy_hessian(0.3, -0.5), rtol=1e-15)
    op = HessianOperator(model, np.zeros(2), (X, Y))
    H = np.stack([op.matvec(e) for e in np.eye(2)], axis=1)
    np.testing.assert_allclose(np.linalg.eigvalsh(H), [-2.0, 2.0], rtol=1e-9)


@pytest.mark.parametrize("dims", [(3, 4, 2), (2, 3, 3, 2)])
def test_lanczos_finds_the_extreme_eigenvalues(rng, dims):
    model, theta, X, Y = problem(rng, dims)
    exact = np.linalg.eigvalsh(deep_linear_hessian(model.weights(theta), X=X, Y=Y))
    top = hessian_eigenvalues(model, theta, (X, Y), k=3, which="LA", tol=1e-10)
    bottom = hessian_eigenvalues(model, theta, (X, Y), k=2, which="SA", tol=1e-10)
    np.testing.assert_allclose(top.values, exact[::-1][:3], rtol=1e-7)
    np.testing.assert_allclose(bottom.values, exact[:2], rtol=1e-7)
    assert bottom.values[0] < 0 < top.values[0] and top.matvecs > 0
    again = hessian_eigenvalues(model, theta, (X, Y), k=3, which="LA", tol=1e-10)
    np.testing.assert_array_equal(again.values, top.values)  # the start vector comes from the seed
    with pytest.raises(ValueError, match="which"):
        hessian_eigenvalues(model, theta, (X, Y), which="LM")


def test_hutchinson_draws_are_exact_and_the_estimate_unbiased(rng):
    model, theta, X, Y = problem(rng, (3, 4, 2))
    H = deep_linear_hessian(model.weights(theta), X=X, Y=Y)
    trace = hutchinson_trace(model, theta, (X, Y), samples=300, seed=7)
    z_rng = np.random.default_rng(7)
    zs = [z_rng.integers(0, 2, size=model.size) * 2.0 - 1.0 for _ in range(300)]
    exact = np.array([z @ H @ z for z in zs])
    np.testing.assert_allclose(trace.samples, exact, rtol=0, atol=1e-9 * np.abs(exact).max())
    assert abs(trace.estimate - np.trace(H)) < 4 * trace.stderr
    assert trace.stderr < 0.15 * abs(np.trace(H))


@pytest.mark.parametrize("method", ["loss", "hvp"])
def test_second_derivative_along_the_line_is_the_polynomial(rng, method):
    model, theta0, X, Y = problem(rng, (2, 3, 2))
    theta1 = 0.7 * rng.standard_normal(model.size)
    alphas = np.linspace(-0.5, 1.5, 9)
    exact = matrix_path_polynomial(model.weights(theta0), model.weights(theta1), X=X, Y=Y).deriv(2)(alphas)
    curvature = line_curvature(model, theta0, theta1, (X, Y), alphas, method=method)
    np.testing.assert_allclose(curvature, exact, rtol=1e-6 if method == "loss" else 1e-8,
                               atol=1e-6 * np.abs(exact).max())


def every_model(rng):
    """Tiny float64 versions of every model family, each with a batch it takes."""
    mlp = lambda act, pieces: MLP(n_in=5, hidden=(4, 3), activation=act, pieces=pieces, n_classes=3,  # noqa: E731
                                  init_ranges=(0.6, 0.6, 0.6))
    conv = ConvMaxout(input_shape=(1, 6, 6), conv=(ConvSpec(2, 2, 3, 1, 2, 2),), dense=(3,), dense_pieces=2,
                      n_classes=3, init_range=0.4)
    lstm = LSTMLanguageModel(vocab_size=7, hidden=3, layers=1, steps=4, init_range=0.5)
    dbm = MPDBM(n_visible=6, hidden=(4, 3), n_classes=3, iterations=2, h0_sparse_init=3, c_sparse_init=2,
                h1_init_range=0.5, pixel_means=np.linspace(0.2, 0.8, 6))
    tokens = rng.integers(0, 7, size=(2, 5))
    labels = rng.integers(0, 3, size=6)
    return [("maxout", mlp("maxout", 2), (rng.standard_normal((6, 5)), labels)),
            ("sigmoid", mlp("sigmoid", 1), (rng.standard_normal((6, 5)), labels)),
            ("tanh", mlp("tanh", 1), (rng.standard_normal((6, 5)), labels)),
            ("conv", conv, (rng.standard_normal((6, 36)), labels)),
            ("lstm", lstm, (tokens[:, :-1], tokens[:, 1:])),
            ("mpdbm", dbm, (rng.random((6, 6)), labels)),
            ("deep_linear", DeepLinear((3, 2, 2)), (rng.standard_normal((6, 3)), rng.standard_normal((6, 2))))]


def test_hvp_is_symmetric_and_matches_second_differences_for_every_model(rng):
    for name, model, batch in every_model(rng):
        theta = model.init(0, dtype=np.float64) + 0.2 * rng.standard_normal(model.size)
        op = HessianOperator(model, theta, batch)
        u, v = rng.standard_normal(model.size), rng.standard_normal(model.size)
        u /= np.linalg.norm(u)
        v /= np.linalg.norm(v)
        Hu, Hv = op.hvp(u), op.hvp(v)
        scale = max(abs(u @ Hu), abs(v @ Hv), 1e-3)
        assert abs(u @ Hv - v @ Hu) < 1e-6 * scale, name
        h = 1e-4
        J = lambda t: model.loss(t, batch)  # noqa: E731
        second = (J(theta + h * v) - 2 * J(theta) + J(theta - h * v)) / (h * h)
        assert second == pytest.approx(v @ Hv, rel=1e-4, abs=1e-5 * scale), name


@pytest.mark.parametrize("activation, pieces", [("maxout", 3), ("relu", 1), ("sigmoid", 1), ("tanh", 1),
                                                ("linear", 1)])
def test_exact_mlp_hvp_equals_central_differences(rng, activation, pieces):
    """The hand-written R-operator against differences of the hand-written gradient (no kink crossed on 7 examples)."""
    model = MLP(n_in=5, hidden=(4, 3), activation=activation, pieces=pieces, n_classes=3, init_ranges=(0.6,) * 3)
    theta = model.init(0, dtype=np.float64) + 0.2 * rng.standard_normal(model.size)
    X, y = rng.standard_normal((7, 5)), rng.integers(0, 3, size=7)
    exact = HessianOperator(model, theta, (X, y))
    assert exact.method == "exact"
    central = HessianOperator(model, theta, (X, y), method="central", eps=1e-5)
    H = np.stack([exact.matvec(e) for e in np.eye(model.size)], axis=1)
    Hc = np.stack([central.matvec(e) for e in np.eye(model.size)], axis=1)
    np.testing.assert_allclose(H, Hc, rtol=0, atol=1e-8 * np.abs(H).max())
    np.testing.assert_allclose(H, H.T, rtol=0, atol=1e-14 * np.abs(H).max())  # exact: symmetric to rounding
    with pytest.raises(ValueError, match="no exact"):
        HessianOperator(DeepLinear((2, 2)), np.zeros(4), (X[:, :2], X[:, :2]), method="exact")
