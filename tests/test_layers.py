"""Every layer against central differences (float64, random upstream gradient), and the pinned conventions."""
import warnings

import numpy as np
import pytest
from scipy.special import expit, log_softmax as scipy_log_softmax

from minilinpath.gradcheck import numerical_vjp, rel_error
from minilinpath.layers import (affine_backward, affine_forward, dropout_backward, dropout_forward, maxout_backward,
                                maxout_forward, relu_backward, relu_forward, sigmoid_backward, sigmoid_forward,
                                softmax_cross_entropy, tanh_backward, tanh_forward)
from minilinpath.layers.dropout import draw_mask


def test_affine_forward_values(rng):
    x, W, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 5)), rng.standard_normal(5)
    out, _ = affine_forward(x, W, b)
    expected = np.array([[sum(x[n, d] * W[d, m] for d in range(3)) + b[m] for m in range(5)] for n in range(4)])
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_affine_gradients(rng):
    x, W, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 5)), rng.standard_normal(5)
    dout = rng.standard_normal((4, 5))
    _, cache = affine_forward(x, W, b)
    dx, dW, db = affine_backward(dout, cache)
    assert rel_error(dx, numerical_vjp(lambda a: affine_forward(a, W, b)[0], x, dout)) < 1e-9
    assert rel_error(dW, numerical_vjp(lambda a: affine_forward(x, a, b)[0], W, dout)) < 1e-9
    assert rel_error(db, numerical_vjp(lambda a: affine_forward(x, W, a)[0], b, dout)) < 1e-9


def test_affine_bad_input_errors(rng):
    W, b = np.zeros((3, 5)), np.zeros(5)
    with pytest.raises(ValueError, match=r"x \(4, 2\), W \(3, 5\)"):
        affine_forward(np.zeros((4, 2)), W, b)
    with pytest.raises(ValueError, match=r"x must have shape \(N, D\)"):
        affine_forward(np.zeros(3), W, b)
    with pytest.raises(TypeError, match="dtypes differ"):
        affine_forward(np.zeros((4, 3), dtype=np.float32), W, b)
    with pytest.raises(TypeError, match="floating-point"):
        affine_forward(np.zeros((4, 3), dtype=np.int64), W, b)


@pytest.mark.parametrize("forward, backward, tol", [
    (relu_forward, relu_backward, 1e-9),
    (sigmoid_forward, sigmoid_backward, 1e-9),
    (tanh_forward, tanh_backward, 1e-9),
])
def test_activation_gradients(rng, forward, backward, tol):
    x = rng.standard_normal((5, 7))
    x[np.abs(x) < 1e-3] = 0.5  # keep away from ReLU's kink, where finite differences are undefined
    dout = rng.standard_normal(x.shape)
    _, cache = forward(x)
    assert rel_error(backward(dout, cache), numerical_vjp(lambda a: forward(a)[0], x, dout)) < tol


def test_relu_gradient_at_zero_is_zero():
    x = np.array([[-1.0, 0.0, 2.0]])
    out, mask = relu_forward(x)
    np.testing.assert_array_equal(out, [[0.0, 0.0, 2.0]])
    np.testing.assert_array_equal(relu_backward(np.ones_like(x), mask), [[0.0, 0.0, 1.0]])


def test_sigmoid_is_exact_and_silent_for_large_inputs():
    x = np.array([[-1000.0, -30.0, 0.0, 30.0, 1000.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s, _ = sigmoid_forward(x)
    # the tanh form is exact to rounding in absolute terms (its relative accuracy drops in the far tail)
    np.testing.assert_allclose(s, expit(x), rtol=0, atol=2e-16)
    np.testing.assert_array_equal(s[0, [2, 4]], [0.5, 1.0])


def test_maxout_forward_picks_group_maxima():
    z = np.array([[1.0, 5.0, 2.0, -1.0, -3.0, -2.0]])  # two units of three pieces
    out, _ = maxout_forward(z, 3)
    np.testing.assert_array_equal(out, [[5.0, -1.0]])


def test_maxout_gradient(rng):
    z = rng.standard_normal((6, 12))
    dout = rng.standard_normal((6, 4))
    _, cache = maxout_forward(z, 3)
    assert rel_error(maxout_backward(dout, cache), numerical_vjp(lambda a: maxout_forward(a, 3)[0], z, dout)) < 1e-9


def test_maxout_ties_route_to_first_piece():
    z = np.array([[2.0, 2.0, 1.0, 0.0, 3.0, 3.0]])
    _, cache = maxout_forward(z, 3)
    dz = maxout_backward(np.array([[1.0, 1.0]]), cache)
    np.testing.assert_array_equal(dz, [[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]])


def test_maxout_width_must_fit_pieces():
    with pytest.raises(ValueError, match="multiple of the piece count"):
        maxout_forward(np.zeros((2, 7)), 3)


def test_dropout_include_and_scale_semantics(rng):
    x = np.ones((2000, 50))
    out, _ = dropout_forward(x, include_prob=0.8, scale=1.25, rng=np.random.default_rng(0))
    assert set(np.unique(out)) == {0.0, 1.25}
    assert abs((out > 0).mean() - 0.8) < 0.01
    out1, _ = dropout_forward(x, include_prob=0.8, scale=1.0, rng=np.random.default_rng(0))
    assert set(np.unique(out1)) == {0.0, 1.0}  # pylearn2's maxout input: kept pixels not rescaled


def test_dropout_masks_are_per_example_and_reproducible():
    m1 = draw_mask(np.random.default_rng(5), (4, 100), 0.5, np.float64)
    m2 = draw_mask(np.random.default_rng(5), (4, 100), 0.5, np.float64)
    np.testing.assert_array_equal(m1, m2)
    assert not np.array_equal(m1[0], m1[1])


def test_dropout_gradient_with_fixed_mask(rng):
    x = rng.standard_normal((5, 6))
    mask = (rng.random((5, 6)) < 0.5).astype(np.float64)
    dout = rng.standard_normal(x.shape)
    _, cache = dropout_forward(x, 0.5, 2.0, mask=mask)
    num = numerical_vjp(lambda a: dropout_forward(a, 0.5, 2.0, mask=mask)[0], x, dout)
    assert rel_error(dropout_backward(dout, cache), num) < 1e-9


def test_dropout_argument_errors():
    with pytest.raises(ValueError, match="exactly one"):
        dropout_forward(np.zeros((2, 2)), 0.5, 2.0)
    with pytest.raises(ValueError, match="mask has shape"):
        dropout_forward(np.zeros((2, 2)), 0.5, 2.0, mask=np.ones((2, 3)))
    with pytest.raises(ValueError, match="include_prob"):
        dropout_forward(np.zeros((2, 2)), 0.0, 2.0, rng=np.random.default_rng(0))


def test_softmax_cross_entropy_value_and_gradient(rng):
    logits = rng.standard_normal((6, 4)) * 3
    y = rng.integers(0, 4, size=6)
    loss, dlogits = softmax_cross_entropy(logits, y)
    expected = -np.mean(scipy_log_softmax(logits, axis=1)[np.arange(6), y])
    assert abs(float(loss) - expected) < 1e-12
    # scalar output of size ~1: h = 1e-5 balances rounding (eps/h) against truncation (h^2)
    num = numerical_vjp(lambda a: np.array(softmax_cross_entropy(a, y, with_grad=False)[0]), logits, np.array(1.0),
                        h=1e-5)
    assert rel_error(dlogits, num) < 1e-9


def test_softmax_cross_entropy_is_stable_for_huge_logits():
    logits = np.array([[1000.0, 0.0], [0.0, -1000.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, _ = softmax_cross_entropy(logits, np.array([1, 0]))
    assert float(loss) == pytest.approx(500.0)


def test_softmax_label_errors():
    with pytest.raises(ValueError, match=r"lie in \[0, 3\)"):
        softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(TypeError, match="integers"):
        softmax_cross_entropy(np.zeros((2, 3)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="1-D array of 2"):
        softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 1, 2]))


@pytest.mark.gpu
def test_layers_on_gpu_match_numpy(cupy, rng):
    x, W, b = rng.standard_normal((8, 12)), rng.standard_normal((12, 10)), rng.standard_normal(10)
    dout10, dout5 = rng.standard_normal((8, 10)), rng.standard_normal((8, 5))
    y = rng.integers(0, 10, size=8)
    mask = (rng.random((8, 12)) < 0.5).astype(np.float64)
    g = cupy.asarray
    cases = []
    out, c = affine_forward(x, W, b)
    out_g, c_g = affine_forward(g(x), g(W), g(b))
    cases += [(out, out_g)] + list(zip(affine_backward(dout10, c), affine_backward(g(dout10), c_g)))
    for fwd, bwd in ((relu_forward, relu_backward), (sigmoid_forward, sigmoid_backward), (tanh_forward, tanh_backward)):
        o, c = fwd(x)
        o_g, c_g = fwd(g(x))
        cases += [(o, o_g), (bwd(x, c), bwd(g(x), c_g))]
    o, c = maxout_forward(out, 2)
    o_g, c_g = maxout_forward(out_g, 2)
    cases += [(o, o_g), (maxout_backward(dout5, c), maxout_backward(g(dout5), c_g))]
    o, c = dropout_forward(x, 0.5, 2.0, mask=mask)
    o_g, c_g = dropout_forward(g(x), 0.5, 2.0, mask=g(mask))
    cases += [(o, o_g), (dropout_backward(x, c), dropout_backward(g(x), c_g))]
    l, d = softmax_cross_entropy(out, y)
    l_g, d_g = softmax_cross_entropy(out_g, g(y))
    cases += [(l, l_g), (d, d_g)]
    for cpu, gpu in cases:
        np.testing.assert_allclose(cupy.asnumpy(gpu), cpu, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("threads_", ["1", "4"])
@pytest.mark.parametrize("shape, k", [((3, 6), 3), ((1, 5), 5), ((1500, 120), 5), ((2200, 64), 2), ((9, 4, 3, 5), 2)])
def test_maxout_forward_matches_argmax_on_ties(monkeypatch, rng, threads_, shape, k):
    """The maximum and the first-winner masks, dense layers (pieces copied into contiguous slabs, blocks of
    examples on several threads when the array is large) and feature maps, against an independent reference:
    NumPy's argmax, which picks the first maximum. Values rounded to one decimal make many ties."""
    monkeypatch.setenv("MINILINPATH_THREADS", threads_)
    for dtype in (np.float32, np.float64):
        z = np.round(rng.standard_normal(shape), 1).astype(dtype)
        grouped = z.reshape(shape[0], shape[1] // k, k, *shape[2:])
        out, cache = maxout_forward(z, k)
        np.testing.assert_array_equal(out, grouped.max(axis=2))
        winner = grouped.argmax(axis=2)
        assert cache.first.shape == (k,) + out.shape
        for p in range(k):
            np.testing.assert_array_equal(cache.first[p], winner == p)
        dout = rng.standard_normal(out.shape).astype(dtype)
        expected = np.where(np.arange(k).reshape((1, 1, k) + (1,) * len(shape[2:])) == winner[:, :, None],
                            dout[:, :, None], 0.0).astype(dtype).reshape(shape)
        np.testing.assert_array_equal(maxout_backward(dout, cache), expected)
