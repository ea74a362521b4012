"""A second, independent test for three spots that rested on one test each (issue 25): the Monte Carlo dropout
sweep's input scale, the linear learning-rate decay's first epoch, and the MP-DBM's mean-field top-down terms.

Each expectation is computed here by a hand-written formula (NumPy, float64), not by the code under test, and
each test also shows that the term matters: leaving it out moves the result far beyond the tolerance (checked by
hand as well: deleting the term in the package makes the test fail).
"""
import numpy as np
import pytest

from minilinpath.models import MLP, MPDBM
from minilinpath.optim import LinearDecayOverEpoch
from minilinpath.path import linear_path
from minilinpath.train import Recipe, train


def softmax_nll(z, y):
    """Mean over rows of -log softmax(z)[label], written out: log sum exp(z - max) + max - z[label]."""
    top = z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z - top).sum(axis=1)) + top[:, 0]
    return float(np.mean(log_norm - z[np.arange(len(y)), y]))


# ---------------------------------------------------------------- 1. the Monte Carlo dropout sweep's input scale
def relu_net_nll(model, theta, X, y):
    """A one-hidden-layer ReLU network's mean NLL, by hand from the named parameter blocks."""
    p = model.layout.unflatten(theta)
    h = np.maximum(X @ p["h0.W"] + p["h0.b"], 0.0)
    return softmax_nll(h @ p["y.W"] + p["y.b"], y)


def test_the_monte_carlo_sweep_scales_the_input_as_dropout_does():
    """Input dropout with include probability 1 and scale 2 keeps every pixel and doubles it: every Monte Carlo
    sample is then the network on 2 X, whatever masks are drawn. The sweep must give exactly that J(alpha)."""
    rng = np.random.default_rng(11)
    X, y = rng.standard_normal((17, 5)), rng.integers(0, 3, 17)
    model = MLP(n_in=5, hidden=(4,), activation="relu", n_classes=3, init_ranges=(0.6, 0.6),
                input_include=1.0, input_scale=2.0)
    theta0, theta1 = model.init(0, dtype=np.float64), model.init(1, dtype=np.float64)
    alphas = np.array([0.0, 0.3, 0.7, 1.0])
    mc = linear_path(model, theta0, theta1, (X, y), alphas, mc_samples=3, seed=5, progress=False)
    expected = [relu_net_nll(model, (1 - a) * theta0 + a * theta1, 2.0 * X, y) for a in alphas]
    np.testing.assert_allclose(mc.J_train, expected, rtol=1e-12, atol=0)
    unscaled = [relu_net_nll(model, (1 - a) * theta0 + a * theta1, X, y) for a in alphas]
    assert np.min(np.abs(np.subtract(expected, unscaled))) > 1e-3  # a sweep that forgot the scale would fail


# ---------------------------------------------------------------- 2. the linear learning-rate decay's first epoch
def test_the_first_epoch_of_a_linear_decay_already_steps_down_in_training(tmp_path):
    """pylearn2's LinearDecayOverEpoch(start=1, saturate=4, decay_factor=0.1) from lr0 = 0.1: its monitor runs
    once before the first epoch, so the first epoch already trains at lr0 - (lr0 - 0.1 lr0) / 4 = 0.0775, not at
    0.1. With one minibatch of the whole set and no momentum, the first epoch is one step theta - 0.0775 grad."""
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((12, 4)), rng.integers(0, 3, 12)
    model = MLP(n_in=4, hidden=(3,), activation="relu", n_classes=3, init_ranges=(0.5, 0.5))
    recipe = Recipe(batch_size=12, learning_rate=0.1, lr_schedule=LinearDecayOverEpoch(1, 4, 0.1), momentum=0.0,
                    momentum_schedule=None, max_epochs=1, patience=None)
    run = train(model, (X, y), (X[:4], y[:4]), recipe, tmp_path / "run", seed=2, dtype=np.float64, progress=False,
                log=None)
    first_lr = 0.0775  # by hand: 0.1 - 0.09 / 4
    assert run.history[1]["lr"] == pytest.approx(first_lr, rel=1e-15)
    theta0 = np.asarray(run.theta_init, dtype=np.float64)
    _, grad = model.loss_and_grad(theta0, (X, y))
    np.testing.assert_allclose(run.theta_last, theta0 - first_lr * grad, rtol=1e-12, atol=1e-15)
    assert np.abs(0.1 * grad - first_lr * grad).max() > 1e-4  # at lr0 the step would be visibly longer


# ---------------------------------------------------------------- 3. the MP-DBM's mean-field top-down terms
def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def mpdbm_cost_by_hand(p, X, labels, m_v, m_y, iterations, n_classes, top_down=True):
    """J of the MP-DBM written out update by update (Goodfellow et al. 2013; pylearn2's do_inpainting order).

    Start: masked v at sigma(bv), masked y at softmax(bc); then bottom-up with doubled weights; then each later
    iteration h0, y, v, h1, where h0 hears h1 from above (h1 W1^T) and h1 hears y from above (y Wc^T): the
    top-down terms. ``top_down=False`` leaves both out (the mutation the test must notice)."""
    N, D = X.shape
    onehot = np.eye(n_classes)[labels]
    m_y = m_y[:, None]
    v = m_v * sigmoid(np.broadcast_to(p["v.b"], X.shape)) + (1 - m_v) * X
    h0 = sigmoid(2 * v @ p["h0.W"] + p["h0.b"])
    h1 = sigmoid(2 * h0 @ p["h1.W"] + p["h1.b"])
    z_y = h1 @ p["c.W"] + p["c.b"]
    y = m_y * softmax(z_y) + (1 - m_y) * onehot
    z_v = None
    for _ in range(iterations - 1):
        h0 = sigmoid(v @ p["h0.W"] + (h1 @ p["h1.W"].T if top_down else 0.0) + p["h0.b"])
        z_y = h1 @ p["c.W"] + p["c.b"]
        y = m_y * softmax(z_y) + (1 - m_y) * onehot
        z_v = h0 @ p["h0.W"].T + p["v.b"]
        v = m_v * sigmoid(z_v) + (1 - m_v) * X
        h1 = sigmoid(h0 @ p["h1.W"] + (y @ p["c.W"].T if top_down else 0.0) + p["h1.b"])
    bce = np.sum(m_v * (np.logaddexp(0.0, z_v) - X * z_v)) / (N * D)
    log_p = z_y - z_y.max(axis=1, keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    nll = -np.sum(m_y[:, 0] * log_p[np.arange(N), labels]) / (N * D)
    return bce + nll


def test_the_mpdbm_mean_field_hears_the_layers_above():
    rng = np.random.default_rng(8)
    model = MPDBM(n_visible=6, hidden=(5, 4), n_classes=3, iterations=4, h0_sparse_init=3, c_sparse_init=2,
                  h1_init_range=0.5, biases=(-0.2, 0.1), max_col_norms=(10.0, 10.0, 10.0))
    theta = model.init(0, dtype=np.float64) + 0.4 * rng.standard_normal(model.size)  # every weight non-zero
    X, labels = rng.random((9, 6)), rng.integers(0, 3, 9)
    m_v, m_y = model.fixed_masks(9, dtype=np.float64)  # the masks are inputs of J, not the term under test
    p = {name: np.asarray(block) for name, block in model.layout.unflatten(theta).items()}
    expected = mpdbm_cost_by_hand(p, X, labels, m_v, m_y, iterations=4, n_classes=3)
    assert model.loss(theta, (X, labels)) == pytest.approx(expected, rel=1e-12, abs=0)
    J, _ = model.loss_and_grad(theta, (X, labels))
    assert J == pytest.approx(expected, rel=1e-12, abs=0)
    without = mpdbm_cost_by_hand(p, X, labels, m_v, m_y, iterations=4, n_classes=3, top_down=False)
    assert abs(without - expected) > 1e-4 * abs(expected)  # the top-down terms change J far beyond rounding
