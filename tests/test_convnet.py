"""The conv maxout model: preset shapes, gradient along random directions, constraints, fast path sweep."""
import numpy as np
import pytest

from minilinpath import models
from minilinpath.gradcheck import directional_check
from minilinpath.models import ConvMaxout, ConvSpec
from minilinpath.path import linear_path


def small(dropout=True):
    return ConvMaxout(input_shape=(2, 9, 8), conv=(ConvSpec(3, 2, 3, 1, 3, 2, 0.5, 0.05), ConvSpec(2, 2, 3, 1, 2, 2)),
                      dense=(4,), dense_pieces=3, n_classes=3, init_range=0.4, max_col_norms=(1.0, None),
                      **(dict(input_include=0.8, hidden_include=0.5, hidden_scale=2.0) if dropout else {}))


def data(rng, model, n=5):
    return rng.standard_normal((n, int(np.prod(model.input_shape)))), rng.integers(0, 3, size=n)


def test_paper_preset_matches_the_yaml():
    m = models.get("cifar10_maxout")
    assert m.layout["h0.W"].shape == (192, 3, 8, 8) and m.layout["h1.W"].shape == (384, 96, 8, 8)
    assert m.layout["h2.W"].shape == (384, 192, 5, 5) and m.layout["h3.W"].shape == (4800, 2500)
    assert m.shapes_after == [(96, 16, 16), (192, 7, 7), (192, 5, 5)]  # docs/CONFIGS.md section 3
    scales = m.unflatten(m.lr_scales())
    assert float(scales["h1.b"][0]) == pytest.approx(0.05) and float(scales["h3.W"][0, 0]) == 1.0
    assert models.get("cifar10_maxout_quick", input_shape=(1, 28, 28)).input_shape == (1, 28, 28)


@pytest.mark.parametrize("dropout", [False, True])
def test_gradient_along_random_directions(rng, dropout):
    model = small(dropout)
    theta = model.init(0, dtype=np.float64)
    theta += 0.05 * rng.standard_normal(theta.shape)
    X, y = data(rng, model)
    masks = model.draw_masks(np.random.default_rng(2), X.shape[0], np.float64) if dropout else None
    loss, grad = model.loss_and_grad(theta, (X, y), masks=masks)
    checks = directional_check(lambda t: model.loss_and_grad(t, (X, y), masks=masks)[0], grad, theta, rng,
                               n_directions=6, h=1e-6)
    assert max(c[2] for c in checks) < 1e-7


def test_input_gradient_and_images_or_rows(rng):
    model = small(False)
    theta = model.init(1, dtype=np.float64)
    X, y = data(rng, model)
    _, _, dX = model.loss_and_grad(theta, (X, y), want_input_grad=True)
    v = rng.standard_normal(X.shape)
    h = 1e-6
    numerical = (model.loss(theta, (X + h * v, y)) - model.loss(theta, (X - h * v, y))) / (2 * h)
    assert abs(numerical - float((dX * v).sum())) < 1e-7 * max(1.0, abs(numerical))
    images = X.reshape(5, 2, 9, 8)
    assert model.loss(theta, (images, y)) == model.loss(theta, (X, y))
    with pytest.raises(ValueError, match=r"\(N, 144\)"):
        model.loss(theta, (X[:, :10], y))


def test_kernel_and_column_norm_limits(rng):
    model = small(False)
    theta = 5 * rng.standard_normal(model.size)
    model.constrain(theta)
    p = model.unflatten(theta)
    np.testing.assert_allclose(np.linalg.norm(p["h0.W"].reshape(6, -1), axis=1), 0.5, rtol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(p["h2.W"], axis=0), 1.0, rtol=1e-12)
    assert np.linalg.norm(p["h1.W"].reshape(4, -1), axis=1).min() > 1.0  # no limit there


def test_fast_sweep_equals_plain_sweep(rng):
    model = small(True)
    X, y = data(rng, model, n=40)
    theta0, theta1 = model.init(0, dtype=np.float64), model.init(1, dtype=np.float64) * 3
    alphas = np.linspace(-0.5, 1.5, 7)
    fast = linear_path(model, theta0, theta1, (X, y), alphas, chunk_size=16, progress=False)
    plain = linear_path(model, theta0, theta1, (X, y), alphas, fast=False, progress=False)
    np.testing.assert_allclose(fast.J_train, plain.J_train, rtol=1e-12)
    np.testing.assert_array_equal(fast.error_train, plain.error_train)
    mc = linear_path(model, theta0, theta1, (X, y), alphas, mc_samples=2, progress=False)
    assert mc.J_train.shape == (7,) and not np.allclose(mc.J_train, plain.J_train)


def test_fast_sweep_endpoints_are_model_loss_exactly(rng, monkeypatch):
    """float32, blocks of a few images in the sweep's first layer: alpha = 0 and 1 reproduce model.loss bit for bit."""
    model = small(True)
    monkeypatch.setattr(type(model), "LINE_BLOCK_BYTES", 11_000)  # 3 images per block (40 = 13 x 3 + 1)
    X, y = data(rng, model, n=40)
    X = X.astype(np.float32)
    theta0, theta1 = model.init(0), model.init(1) * 3
    r = linear_path(model, theta0, theta1, (X, y), [0.0, 0.4, 1.0], progress=False)
    assert r.J_train[0] == model.loss(theta0, (X, y)) and r.J_train[-1] == model.loss(theta1, (X, y))
    assert r.error_train[-1] == model.error_rate(theta1, (X, y))
    plain = linear_path(model, theta0, theta1, (X, y), [0.4], fast=False, progress=False)
    np.testing.assert_allclose(r.J_train[1], plain.J_train[0], rtol=1e-5)


@pytest.mark.gpu
def test_convnet_on_gpu_matches_numpy(cupy, rng):
    model = small(True)
    theta = model.init(0, dtype=np.float64)
    X, y = data(rng, model)
    masks = model.draw_masks(np.random.default_rng(2), X.shape[0], np.float64)
    loss, grad = model.loss_and_grad(theta, (X, y), masks=masks)
    g = cupy.asarray
    loss_g, grad_g = model.loss_and_grad(g(theta), (g(X), g(y)), masks={k: g(v) for k, v in masks.items()})
    assert loss_g == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(grad_g.get(), grad, rtol=1e-9, atol=1e-12)


def test_path_endpoints_equal_the_conv_models_loss(rng):
    model = small(False)
    X, y = data(rng, model, n=1200)  # more than the conv net's evaluation chunk of 1,000
    theta0, theta1 = model.init(0), model.init(1)
    r = linear_path(model, theta0, theta1, (X.astype(np.float32), y), [0.0, 1.0], progress=False)
    assert r.J_train[0] == model.loss(theta0, (X.astype(np.float32), y))
    assert r.J_train[1] == model.loss(theta1, (X.astype(np.float32), y))


@pytest.mark.parametrize("conv", [None, ()])
def test_a_conv_net_without_conv_layers_is_refused_with_what_to_use(conv):
    with pytest.raises(ValueError, match=r"at least one conv layer.*models\.MLP"):
        ConvMaxout(input_shape=(1, 8, 8), conv=conv, dense=(4,))
