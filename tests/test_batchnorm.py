"""Batch normalization by hand: central differences through the batch mean and variance, modes, running stats."""
from __future__ import annotations

import numpy as np
import pytest

from minilinpath.layers.batchnorm import batchnorm_backward, batchnorm_eval, batchnorm_forward, update_running


def numerical_vjp(f, a, dout, h=1e-6):
    """sum(dout * df/da) per entry of a, by central differences (f returns an array like dout)."""
    grad = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        keep = a[i]
        a[i] = keep + h
        plus = f()
        a[i] = keep - h
        minus = f()
        a[i] = keep
        grad[i] = ((plus - minus) * dout).sum() / (2 * h)
    return grad


@pytest.mark.parametrize("shape, tol", [((2, 3), 1e-8), ((5, 4), 1e-8), ((30, 7), 1e-7)])
def test_every_gradient_against_central_differences(shape, tol):
    """dx goes through mu and var (each x_n changes every output of its column): a backward that forgot those
    terms (dx = dout gamma / std) fails here by O(1)."""
    rng = np.random.default_rng(7)
    x = 2 * rng.standard_normal(shape) + 0.5
    gamma, beta = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    dout = rng.standard_normal(shape)

    def out():
        return batchnorm_forward(x, gamma, beta)[0]

    _, cache, _, _ = batchnorm_forward(x, gamma, beta)
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)
    for name, got, arg in (("x", dx, x), ("gamma", dgamma, gamma), ("beta", dbeta, beta)):
        want = numerical_vjp(out, arg, dout)
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol, err_msg=name)
    # the mean and variance terms matter: without them dx would be dout * gamma / std
    naive = dout * gamma * cache.inv_std
    assert np.abs(naive - dx).max() > 1e-2


def test_forward_values_written_out():
    x = np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 16.0]])   # column means 3, 12; variances 8/3, 8
    out, cache, mean, var = batchnorm_forward(x, np.array([2.0, 1.0]), np.array([0.0, -1.0]), eps=0.0)
    np.testing.assert_allclose(mean, [3.0, 12.0])
    np.testing.assert_allclose(var, [8 / 3, 8.0])
    s = np.sqrt(8 / 3)
    np.testing.assert_allclose(out[:, 0], [2 * -2 / s, 0.0, 2 * 2 / s])
    np.testing.assert_allclose(out[:, 1], [-2 / np.sqrt(8) - 1, -2 / np.sqrt(8) - 1, 4 / np.sqrt(8) - 1])


def test_eval_mode_with_the_batch_statistics_is_training_mode():
    rng = np.random.default_rng(1)
    x, gamma, beta = rng.standard_normal((9, 4)), rng.standard_normal(4), rng.standard_normal(4)
    out, _, mean, var = batchnorm_forward(x, gamma, beta)
    np.testing.assert_allclose(batchnorm_eval(x, gamma, beta, mean, var), out, rtol=1e-13, atol=1e-13)
    # with other statistics it is another (affine) function of x
    assert np.abs(batchnorm_eval(x, gamma, beta, mean + 1, var) - out).max() > 0.1


def test_running_averages():
    rm, rv = np.zeros(2), np.ones(2)
    update_running(rm, rv, np.array([1.0, 2.0]), np.array([3.0, 5.0]), momentum=0.9)
    np.testing.assert_allclose(rm, [0.1, 0.2])
    np.testing.assert_allclose(rv, [0.9 + 0.3, 0.9 + 0.5])


def test_bad_shapes_refused():
    with pytest.raises(ValueError, match="gamma, beta"):
        batchnorm_forward(np.zeros((3, 2)), np.ones(3), np.zeros(2))
