"""The line through a batch-normalized network (both statistics choices) and the Gauss length."""
from __future__ import annotations

import numpy as np
import pytest

from minilinpath.models import MLP
from minilinpath.path import gauss_length, linear_path, output_path


def test_gauss_length_of_a_straight_path_is_its_length():
    a, b = np.array([[1.0, 2.0], [0.0, 0.0]]), np.array([[3.0, 4.0], [1.0, 0.0]])   # two inputs, 2 outputs
    alphas = np.linspace(0, 1, 7)
    outputs = a[None] + alphas[:, None, None] * b[None]
    assert gauss_length(alphas, outputs) == pytest.approx((5.0 + 1.0) / 2, rel=1e-14)
    # the order of the samples is the order of alpha, whatever order they come in
    order = np.random.default_rng(0).permutation(7)
    assert gauss_length(alphas[order], outputs[order]) == pytest.approx(3.0, rel=1e-14)


def test_gauss_length_of_a_circle():
    """Once round the unit circle: the K-gon has perimeter 2 K sin(pi / K), which tends to 2 pi."""
    for k in (4, 100, 2000):
        alphas = np.linspace(0, 1, k + 1)
        outputs = np.stack([np.cos(2 * np.pi * alphas), np.sin(2 * np.pi * alphas)], axis=1)[:, None, :]
        assert gauss_length(alphas, outputs) == pytest.approx(2 * k * np.sin(np.pi / k), rel=1e-12)
    assert gauss_length(alphas, outputs) == pytest.approx(2 * np.pi, rel=1e-5)


def test_gauss_length_refuses_bad_samples():
    with pytest.raises(ValueError, match="outputs must be"):
        gauss_length([0, 1], np.zeros((2, 3)))
    with pytest.raises(ValueError, match="alphas must be"):
        gauss_length([0, 1, 2], np.zeros((2, 3, 1)))


def test_logits_of_a_softmax_layer_trace_a_segment():
    """With no hidden layer the logits X W(alpha) + b(alpha) are affine in alpha: the Gauss length is
    mean_n ||x_n (W1 - W0) + (b1 - b0)||, written out here."""
    rng = np.random.default_rng(2)
    model = MLP(n_in=4, hidden=(), activation="relu", n_classes=3, init_ranges=(1.0,))
    t0, t1 = model.init(0, dtype=np.float64), model.init(1, dtype=np.float64) + 0.1
    X = rng.standard_normal((9, 4))
    alphas = np.linspace(0, 1, 5)
    p0, p1 = model.unflatten(t0), model.unflatten(t1)
    want = np.linalg.norm(X @ (p1["y.W"] - p0["y.W"]) + (p1["y.b"] - p0["y.b"]), axis=1).mean()
    outputs = output_path(model, t0, t1, X, alphas, output="logits")
    assert gauss_length(alphas, outputs) == pytest.approx(want, rel=1e-12)
    probs = output_path(model, t0, t1, X, alphas)
    np.testing.assert_allclose(probs.sum(axis=2), 1.0, rtol=1e-14)


def bn_pair():
    rng = np.random.default_rng(4)
    model = MLP(n_in=6, hidden=(5, 4), activation="relu", n_classes=3, init_ranges=(0.7, 0.7, 0.7), batchnorm=True)
    t0 = model.init(0, dtype=np.float64)
    t1 = t0 + 0.5 * rng.standard_normal(t0.shape)
    train = rng.standard_normal((40, 6)), rng.integers(0, 3, 40)
    valid = rng.standard_normal((30, 6)), rng.integers(0, 3, 30)
    return model, t0, t1, train, valid


def test_recompute_evaluates_each_point_with_its_own_training_statistics():
    model, t0, t1, train, valid = bn_pair()
    alphas = np.linspace(0, 1, 5)
    result = linear_path(model, t0, t1, train, alphas, valid, progress=False)
    assert result.settings["statistics"] == "recompute"
    for a, J, Jv in zip(alphas, result.J_train, result.J_valid):
        theta = (1 - a) * t0 + a * t1
        # on the training set: the set's own statistics, i.e. the model holding none
        assert J == pytest.approx(model.loss(theta, train), rel=1e-12)
        # the validation set is normalised with the training set's statistics, not its own
        assert Jv == pytest.approx(model.with_statistics(model.statistics_of(theta, train[0])).loss(theta, valid),
                                   rel=1e-12)
        assert abs(Jv - model.loss(theta, valid)) > 1e-6


def test_interpolate_carries_the_end_statistics_along():
    model, t0, t1, train, valid = bn_pair()
    s0 = model.fresh_statistics(np, np.float64)
    s1 = model.statistics_of(t1, train[0])
    result = linear_path(model, t0, t1, train, [0.0, 0.25, 1.0], statistics="interpolate", end_statistics=(s0, s1),
                         progress=False)
    theta = 0.75 * t0 + 0.25 * t1
    mixed = {k: 0.75 * s0[k] + 0.25 * s1[k] for k in s0}
    assert result.J_train[1] == pytest.approx(model.with_statistics(mixed).loss(theta, train), rel=1e-12)
    assert result.J_train[0] == pytest.approx(model.with_statistics(s0).loss(t0, train), rel=1e-12)
    recomputed = linear_path(model, t0, t1, train, [0.0, 0.25, 1.0], progress=False)
    assert recomputed.J_train[2] == pytest.approx(result.J_train[2], rel=1e-12)   # same statistics at alpha = 1
    assert abs(recomputed.J_train[1] - result.J_train[1]) > 1e-4


def test_statistics_choices_checked():
    model, t0, t1, train, _ = bn_pair()
    with pytest.raises(ValueError, match="statistics must be one of"):
        linear_path(model, t0, t1, train, [0, 1], statistics="running", progress=False)
    plain = MLP(n_in=6, hidden=(5,), activation="relu", n_classes=3)
    with pytest.raises(ValueError, match="running statistics"):
        linear_path(plain, plain.init(0), plain.init(1), (train[0].astype(np.float32), train[1]), [0, 1],
                    statistics="interpolate", progress=False)
