"""Convolution, conv maxout and ceil-mode max pooling: values, gradients (float64), edge cases, CuPy = NumPy."""
import numpy as np
import pytest

from minilinpath.gradcheck import numerical_vjp, rel_error
from minilinpath.layers.conv import conv_backward, conv_forward, output_size
from minilinpath.layers.maxout import maxout_backward, maxout_forward
from minilinpath.layers.pool import max_pool_backward, max_pool_forward, pooled_size


def naive_conv(x, W, b, stride, pad):
    N, C, H, Wd = x.shape
    F, _, HH, WW = W.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    Ho, Wo = 1 + (H + 2 * pad - HH) // stride, 1 + (Wd + 2 * pad - WW) // stride
    out = np.zeros((N, F, Ho, Wo))
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    out[n, f, i, j] = (xp[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW] * W[f]).sum() + b[f]
    return out


@pytest.mark.parametrize("stride, pad", [(1, 0), (1, 2), (2, 1), (3, 2)])
def test_conv_matches_the_definition_and_gradients(rng, stride, pad):
    x, W, b = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 2)), rng.standard_normal(4)
    out, cache = conv_forward(x, W, b, stride, pad)
    np.testing.assert_allclose(out, naive_conv(x, W, b, stride, pad), rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    dx, dW, db = conv_backward(dout, cache)
    assert rel_error(dx, numerical_vjp(lambda a: conv_forward(a, W, b, stride, pad)[0], x, dout)) < 1e-8
    assert rel_error(dW, numerical_vjp(lambda a: conv_forward(x, a, b, stride, pad)[0], W, dout)) < 1e-8
    assert rel_error(db, numerical_vjp(lambda a: conv_forward(x, W, a, stride, pad)[0], b, dout)) < 1e-8


def test_cifar_network_sizes():
    # CONFIGS.md section 3: detector 33 -> pooled 16, 15 -> 7, 9 -> 5
    assert output_size(32, 8, 1, 4) == 33 and pooled_size(33, 4, 2) == 16
    assert output_size(16, 8, 1, 3) == 15 and pooled_size(15, 4, 2) == 7
    assert output_size(7, 5, 1, 3) == 9 and pooled_size(9, 2, 2) == 5


def test_pool_ceil_mode_edge_windows():
    x = np.arange(25, dtype=np.float64).reshape(1, 1, 5, 5)
    out, _ = max_pool_forward(x, 2, 2)  # ceil((5 - 2) / 2) + 1 = 3: the last window holds one row/column
    np.testing.assert_array_equal(out[0, 0], [[6, 8, 9], [16, 18, 19], [21, 23, 24]])


def test_pool_gradient_and_overlap(rng):
    x = rng.standard_normal((2, 3, 9, 8))
    out, cache = max_pool_forward(x, 3, 2)  # overlapping windows, partial edge windows
    assert out.shape == (2, 3, 4, 4)
    dout = rng.standard_normal(out.shape)
    num = numerical_vjp(lambda a: max_pool_forward(a, 3, 2)[0], x, dout)
    assert rel_error(max_pool_backward(dout, cache), num) < 1e-8


def test_pool_ties_route_to_the_first_maximum():
    x = np.array([[[[1.0, 5.0], [5.0, 5.0]]]])
    out, cache = max_pool_forward(x, 2, 2)
    dx = max_pool_backward(np.ones_like(out), cache)
    np.testing.assert_array_equal(dx[0, 0], [[0, 1], [0, 0]])


def test_conv_maxout_over_channel_groups(rng):
    z = rng.standard_normal((2, 6, 3, 4))  # 3 units of 2 channels
    out, cache = maxout_forward(z, 2)
    np.testing.assert_array_equal(out, np.maximum(z[:, 0::2], z[:, 1::2]))
    dout = rng.standard_normal(out.shape)
    assert rel_error(maxout_backward(dout, cache), numerical_vjp(lambda a: maxout_forward(a, 2)[0], z, dout)) < 1e-9


def test_conv_errors():
    with pytest.raises(ValueError, match="channels"):
        conv_forward(np.zeros((1, 2, 5, 5)), np.zeros((3, 3, 2, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="does not fit"):
        conv_forward(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 5, 5)), np.zeros(1))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        conv_forward(np.zeros((1, 3, 3)), np.zeros((1, 1, 2, 2)), np.zeros(1))


@pytest.mark.gpu
def test_conv_and_pool_on_gpu_match_numpy(cupy, rng):
    x, W, b = rng.standard_normal((2, 3, 9, 9)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    g = cupy.asarray
    out, cache = conv_forward(x, W, b, 2, 1)
    out_g, cache_g = conv_forward(g(x), g(W), g(b), 2, 1)
    np.testing.assert_allclose(out_g.get(), out, rtol=1e-11, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    for cpu, gpu in zip(conv_backward(dout, cache), conv_backward(g(dout), cache_g)):
        np.testing.assert_allclose(gpu.get(), cpu, rtol=1e-10, atol=1e-12)
    p, pc = max_pool_forward(x, 3, 2)
    p_g, pc_g = max_pool_forward(g(x), 3, 2)
    np.testing.assert_array_equal(p_g.get(), p)
    dp = rng.standard_normal(p.shape)
    np.testing.assert_allclose(max_pool_backward(g(dp), pc_g).get(), max_pool_backward(dp, pc), rtol=1e-12)
