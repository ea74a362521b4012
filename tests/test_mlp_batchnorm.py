"""The batch-normalized MLP: its gradient through every BN layer, its layout, its abilities, its statistics."""
from __future__ import annotations

import numpy as np
import pytest

from minilinpath.contract import FirstLayerSweep, LineChunkSweep, RunningStatistics, ExactHessian
from minilinpath.models import MLP
from minilinpath.models.mlp_batchnorm import BatchNormMLP


def small(activation="relu", **kw):
    return MLP(n_in=5, hidden=(4, 3), activation=activation, n_classes=3, init_ranges=(0.8, 0.8, 0.8),
               batchnorm=True, **kw)


def batch(rng, n=7):
    return rng.standard_normal((n, 5)), rng.integers(0, 3, n)


@pytest.mark.parametrize("activation, pieces, tol", [("tanh", 1, 1e-8), ("sigmoid", 1, 1e-8), ("maxout", 2, 1e-7)])
def test_gradient_of_every_parameter_and_the_input(activation, pieces, tol):
    """Central differences of the training-mode objective (batch statistics) in float64, every entry of theta,
    gamma and beta included, and of X."""
    rng = np.random.default_rng(3)
    model = small(activation, pieces=pieces)
    theta = model.init(0, dtype=np.float64)
    theta += 0.3 * rng.standard_normal(theta.shape)   # gamma away from 1, beta away from 0
    X, y = batch(rng)
    loss, grad, dX = model.loss_and_grad(theta, (X, y), want_input_grad=True)
    h = 1e-6
    for arg, got in ((theta, grad), (X, dX)):
        want = np.zeros_like(arg)
        for i in range(arg.size):
            keep = arg.flat[i]
            arg.flat[i] = keep + h
            plus = model.loss_and_grad(theta, (X, y))[0]
            arg.flat[i] = keep - h
            minus = model.loss_and_grad(theta, (X, y))[0]
            arg.flat[i] = keep
            want.flat[i] = (plus - minus) / (2 * h)
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    # b before a BN layer cancels with the mean: its gradient is zero
    np.testing.assert_allclose(model.unflatten(grad)["h0.b"], 0.0, atol=1e-12)


def test_layout_init_and_settings():
    model = small()
    assert isinstance(model, BatchNormMLP) and isinstance(model, MLP)
    assert model.layout.names == ["h0.W", "h0.b", "h0.gamma", "h0.beta", "h1.W", "h1.b", "h1.gamma", "h1.beta",
                                  "y.W", "y.b"]
    plain = MLP(n_in=5, hidden=(4, 3), activation="relu", n_classes=3, init_ranges=(0.8, 0.8, 0.8))
    theta, theta_plain = model.unflatten(model.init(4)), plain.unflatten(plain.init(4))
    for name in plain.layout.names:                       # the same weights for the same seed
        np.testing.assert_array_equal(theta[name], theta_plain[name])
    np.testing.assert_array_equal(theta["h1.gamma"], 1.0)
    np.testing.assert_array_equal(theta["h1.beta"], 0.0)
    assert model.settings()["batchnorm"] is True and "batchnorm" not in plain.settings()
    again = MLP(**model.settings())
    assert isinstance(again, BatchNormMLP) and again.layout == model.layout


def test_abilities_it_has_and_has_not():
    model, plain = small(), MLP(n_in=5, hidden=(4,), activation="relu", n_classes=3)
    assert isinstance(model, RunningStatistics) and not isinstance(plain, RunningStatistics)
    for ability in (FirstLayerSweep, LineChunkSweep, ExactHessian):
        assert not isinstance(model, ability) and isinstance(plain, ability)


def test_dropout_refused():
    with pytest.raises(ValueError, match="dropout"):
        small(hidden_include=0.5, hidden_scale=2.0)


def test_evaluation_statistics():
    rng = np.random.default_rng(5)
    model = small()
    theta = model.init(1, dtype=np.float64)
    X, y = batch(rng, 50)
    # no statistics held: the whole set's own, so loss is the training-mode objective of the set
    assert model.loss(theta, (X, y)) == pytest.approx(model.loss_and_grad(theta, (X, y))[0], rel=1e-12)
    stats = model.statistics_of(theta, X)
    held = model.with_statistics(stats)
    assert model.statistics is None                       # the copy holds them, the model is unchanged
    assert held.loss(theta, (X, y)) == pytest.approx(model.loss(theta, (X, y)), rel=1e-12)
    fresh = model.with_statistics(model.fresh_statistics(np, np.float64))
    assert abs(fresh.loss(theta, (X, y)) - model.loss(theta, (X, y))) > 1e-3
    half = model.interpolate_statistics(stats, model.fresh_statistics(np, np.float64), 0.5)
    np.testing.assert_allclose(half["h0.var"], 0.5 * stats["h0.var"] + 0.5)


def test_running_statistics_update():
    model = small(bn_momentum=0.75)
    running = model.fresh_statistics(np, np.float64)
    batch_stats = {k: np.full_like(v, 2.0) for k, v in running.items()}
    model.update_statistics(running, batch_stats)
    np.testing.assert_allclose(running["h0.mean"], 0.5)    # 0.75 * 0 + 0.25 * 2
    np.testing.assert_allclose(running["h1.var"], 1.25)    # 0.75 * 1 + 0.25 * 2
