"""The MLP presets and models: parameter counts, gradient checks along random directions, CPU = GPU."""
import numpy as np
import pytest

from minilinpath import models
from minilinpath.gradcheck import directional_check, rel_error
from minilinpath.models import MLP, DeepLinear, Moments
from minilinpath.params import LayoutMismatchError


def small_mlp(activation, dropout=True, pieces=None):
    kw = dict(n_in=7, hidden=(6, 5), activation=activation, n_classes=4, init_ranges=(0.8, 0.8, 0.8),
              max_col_norms=(1.0, None, 2.0))
    if activation == "maxout":
        kw["pieces"] = pieces or 3
    if dropout:
        kw.update(input_include=0.8, input_scale=1.25, hidden_include=0.5, hidden_scale=2.0)
    return MLP(**kw)


def batch(rng, n=9, d=7, c=4):
    return rng.standard_normal((n, d)), rng.integers(0, c, size=n)


# Parameter counts stated in the issue and docs/CONFIGS.md sections 1-2 (derived there), not computed by our code.
@pytest.mark.parametrize("name, count", [("mnist_pi", 1_233_610), ("mnist_valid", 2_097_528),
                                         ("relu", 2_097_528), ("sigmoid", 2_097_528)])
def test_preset_parameter_counts(name, count):
    assert models.get(name).size == count


def test_mnist_pi_matches_the_yaml():
    m = models.get("mnist_pi")
    assert m.layout["h0.W"].shape == (784, 1200) and m.layout["h1.W"].shape == (240, 1200)
    assert m.layout["y.W"].shape == (240, 10)
    assert (m.input_include, m.input_scale, m.hidden_include, m.hidden_scale) == (0.8, 1.0, 0.5, 2.0)
    theta = m.init(seed=0)
    p = m.unflatten(theta)
    for name in ("h0.W", "h1.W", "y.W"):
        assert np.abs(p[name]).max() <= 0.005 and np.abs(p[name]).max() > 0.0049
    for name in ("h0.b", "h1.b", "y.b"):
        assert not p[name].any()


def test_mnist_valid_softmax_starts_at_zero_and_relu_has_no_dropout():
    m = models.get("mnist_valid")
    p = m.unflatten(m.init(seed=0))
    assert not p["y.W"].any()
    assert np.abs(p["h0.W"]).max() <= 0.00891030471479
    assert not models.get("relu").uses_dropout and models.get("sigmoid").activation == "sigmoid"


def test_unknown_and_planned_models():
    with pytest.raises(KeyError, match="available"):
        models.get("resnet")
    with pytest.raises(TypeError, match="unknown settings"):
        models.get("relu", hiden=(3,))


def test_constructor_validation():
    with pytest.raises(ValueError, match="activation"):
        MLP(activation="softplus")
    with pytest.raises(ValueError, match="pieces"):
        MLP(activation="relu", pieces=2)
    with pytest.raises(ValueError, match="3 entries"):
        MLP(hidden=(4, 4), init_ranges=(0.1, 0.1))


@pytest.mark.parametrize("activation", ["maxout", "relu", "sigmoid", "tanh", "linear"])
@pytest.mark.parametrize("dropout", [False, True])
def test_mlp_gradient_along_random_directions(rng, activation, dropout):
    model = small_mlp(activation, dropout)
    theta = model.init(seed=3, dtype=np.float64)
    theta += 0.1 * rng.standard_normal(theta.shape)  # nonzero biases too
    X, y = batch(rng)
    masks = model.draw_masks(np.random.default_rng(9), X.shape[0], np.float64) if dropout else None
    loss, grad = model.loss_and_grad(theta, (X, y), masks=masks)

    def objective(t):
        return model.loss_and_grad(t, (X, y), masks=masks)[0]

    assert loss == pytest.approx(objective(theta), rel=1e-14)
    for numerical, analytic, err in directional_check(objective, grad, theta, rng, n_directions=6, h=1e-6):
        assert err < 1e-7, (numerical, analytic)


def test_input_gradient(rng):
    model = small_mlp("maxout", dropout=False)
    theta = model.init(seed=1, dtype=np.float64)
    X, y = batch(rng)
    _, _, dX = model.loss_and_grad(theta, (X, y), want_input_grad=True)
    v = rng.standard_normal(X.shape)
    h = 1e-6
    numerical = (model.loss(theta, (X + h * v, y)) - model.loss(theta, (X - h * v, y))) / (2 * h)
    assert abs(numerical - float((dX * v).sum())) / abs(numerical) < 1e-7


def test_loss_is_the_deterministic_network(rng):
    """model.loss = NLL of the net without masks; equals loss_and_grad without rng."""
    model = small_mlp("relu", dropout=True)
    theta = model.init(seed=2, dtype=np.float64)
    X, y = batch(rng)
    p = model.unflatten(theta)
    h0 = np.maximum(X @ p["h0.W"] + p["h0.b"], 0)
    h1 = np.maximum(h0 @ p["h1.W"] + p["h1.b"], 0)
    z = h1 @ p["y.W"] + p["y.b"]
    z -= z.max(axis=1, keepdims=True)
    nll = -np.mean(z[np.arange(len(y)), y] - np.log(np.exp(z).sum(axis=1)))
    assert model.loss(theta, (X, y)) == pytest.approx(nll, rel=1e-12)
    assert model.loss_and_grad(theta, (X, y))[0] == pytest.approx(nll, rel=1e-12)
    dropped = model.loss_and_grad(theta, (X, y), rng=np.random.default_rng(0))[0]
    assert dropped != pytest.approx(nll, rel=1e-6)


def test_predict_and_error_rate(rng):
    model = small_mlp("relu", dropout=False)
    theta = model.init(seed=2, dtype=np.float64)
    X, y = batch(rng)
    logits, _ = model.forward(theta, X)
    np.testing.assert_array_equal(model.predict(theta, X), logits.argmax(axis=1))
    assert model.error_rate(theta, (X, y)) == pytest.approx(np.mean(logits.argmax(axis=1) != y))


def test_constrain_caps_column_norms(rng):
    model = small_mlp("relu", dropout=False)
    theta = 10 * rng.standard_normal(model.size)
    before = model.unflatten(theta.copy())
    model.constrain(theta)
    after = model.unflatten(theta)
    np.testing.assert_allclose(np.linalg.norm(after["h0.W"], axis=0), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(after["h1.W"], before["h1.W"])  # no limit on h1
    np.testing.assert_allclose(np.linalg.norm(after["y.W"], axis=0), 2.0, rtol=1e-12)
    short = np.full(model.size, 1e-3)
    model.constrain(short)
    assert np.all(short == 1e-3)  # short columns are left alone


def test_bad_batches_are_clear_errors(rng):
    model = small_mlp("relu", dropout=False)
    theta = model.init(seed=0)
    with pytest.raises(ValueError, match=r"X must have shape \(N, 7\)"):
        model.loss(theta, (np.zeros((3, 8), np.float32), np.zeros(3, int)))
    with pytest.raises(TypeError, match="astype"):
        model.loss(theta, (np.zeros((3, 7), np.float64), np.zeros(3, int)))
    with pytest.raises(LayoutMismatchError, match="another model"):
        model.loss(np.zeros(5, np.float32), (np.zeros((3, 7), np.float32), np.zeros(3, int)))
    with pytest.raises(ValueError, match=r"y must have shape \(3,\)"):
        model.loss(theta, (np.zeros((3, 7), np.float32), np.zeros(4, int)))


def test_float64_theta_computes_in_float64(rng):
    model = small_mlp("maxout", dropout=False)
    theta = model.init(seed=0, dtype=np.float64)
    X, y = batch(rng)
    _, grad = model.loss_and_grad(theta, (X, y))
    assert grad.dtype == np.float64 and model.forward(theta, X)[0].dtype == np.float64


def test_init_is_reproducible():
    m = models.get("mnist_pi_quick")
    np.testing.assert_array_equal(m.init(5), m.init(5))
    assert not np.array_equal(m.init(5), m.init(6))


# ------------------------------------------------------------------ deep linear
@pytest.mark.parametrize("dims", [(1, 1, 1), (3, 4, 2), (2, 3, 3, 1), (4, 2, 3, 2, 3)])
def test_deep_linear_gradient(rng, dims):
    model = DeepLinear(dims, init_std=0.7)
    theta = model.init(seed=1, dtype=np.float64)
    X, Y = rng.standard_normal((11, dims[0])), rng.standard_normal((11, dims[-1]))
    loss, grad = model.loss_and_grad(theta, (X, Y))
    checks = directional_check(lambda t: model.loss(t, (X, Y)), grad, theta, rng, n_directions=4, h=1e-6)
    assert max(c[2] for c in checks) < 1e-8
    m = Moments.from_data(X, Y)
    loss_m, grad_m = model.loss_and_grad(theta, m)
    assert loss_m == pytest.approx(loss, rel=1e-12)
    assert rel_error(grad_m, grad) < 1e-12


def test_toy_problem_loss():
    model = models.get("deep_linear")
    theta = np.array([2.0, 0.25])
    X, Y = np.ones((1, 1)), np.ones((1, 1))
    assert model.loss(theta, (X, Y)) == pytest.approx((1 - 0.5) ** 2)


# ------------------------------------------------------------------ CuPy = NumPy
@pytest.mark.gpu
@pytest.mark.parametrize("activation", ["maxout", "relu", "sigmoid"])
def test_mlp_on_gpu_matches_numpy(cupy, rng, activation):
    model = small_mlp(activation, dropout=True)
    theta = model.init(seed=3, dtype=np.float64)
    X, y = batch(rng)
    masks = model.draw_masks(np.random.default_rng(9), X.shape[0], np.float64)
    loss, grad = model.loss_and_grad(theta, (X, y), masks=masks)
    g = cupy.asarray
    loss_g, grad_g = model.loss_and_grad(g(theta), (g(X), g(y)), masks={k: g(v) for k, v in masks.items()})
    assert loss_g == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(grad_g.get(), grad, rtol=1e-9, atol=1e-13)
    assert model.loss(g(theta), (g(X), g(y))) == pytest.approx(model.loss(theta, (X, y)), rel=1e-12)
    np.testing.assert_array_equal(model.predict(g(theta), g(X)).get(), model.predict(theta, X))
    np.testing.assert_array_equal(model.init(3, xp=cupy, dtype=np.float64).get(), theta)
    t_cpu, t_gpu = 10 * theta, g(10 * theta)
    model.constrain(t_cpu)
    model.constrain(t_gpu)
    np.testing.assert_allclose(t_gpu.get(), t_cpu, rtol=1e-12)


@pytest.mark.gpu
def test_mlp_sweep_and_momentum_on_gpu_match_numpy(cupy, rng):
    """The fast sweep with its later layers built once per sweep (MLP.line_parameters), and the momentum update
    (blocks over threads on the CPU, one call on CuPy), give NumPy's numbers on the GPU."""
    from minilinpath.optim import momentum_step
    from minilinpath.path import linear_path
    model = small_mlp("maxout")
    theta0, theta1 = model.init(seed=3, dtype=np.float64), model.init(seed=4, dtype=np.float64)
    X, y = batch(rng)
    alphas = np.linspace(-0.5, 1.5, 5)
    g = cupy.asarray
    cpu = linear_path(model, theta0, theta1, (X, y), alphas, progress=False)
    gpu = linear_path(model, g(theta0), g(theta1), (g(X), g(y)), alphas, progress=False)
    np.testing.assert_allclose(gpu.J_train, cpu.J_train, rtol=1e-12)
    np.testing.assert_array_equal(gpu.error_train, cpu.error_train)
    on_line = model.line_parameters(g(theta0), g(theta1), alphas)
    assert all(isinstance(a, cupy.ndarray) and a.shape[0] == 5 for pair in on_line.layers for a in pair)
    state = [rng.standard_normal(model.size) for _ in range(3)]
    on_gpu = [g(a) for a in state]
    momentum_step(*state, lr=0.01, mu=0.5)
    momentum_step(*on_gpu, lr=0.01, mu=0.5)
    for a, b in zip(on_gpu, state):
        np.testing.assert_allclose(a.get(), b, rtol=1e-14)


@pytest.mark.gpu
def test_deep_linear_on_gpu_matches_numpy(cupy, rng):
    model = DeepLinear((3, 4, 2), init_std=0.5)
    theta = model.init(seed=0, dtype=np.float64)
    X, Y = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    loss, grad = model.loss_and_grad(theta, (X, Y))
    loss_g, grad_g = model.loss_and_grad(cupy.asarray(theta), (cupy.asarray(X), cupy.asarray(Y)))
    assert loss_g == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(grad_g.get(), grad, rtol=1e-10)
