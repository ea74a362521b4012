"""Convolution, conv maxout and ceil-mode max pooling: values, gradients (float64), edge cases, CuPy = NumPy."""
import numpy as np
import pytest

from minilinpath.gradcheck import numerical_vjp, rel_error
from minilinpath.layers import conv as conv_layer
from minilinpath.layers import reference
from minilinpath.layers.conv import conv_algorithm, conv_backward, conv_forward, output_size
from minilinpath.layers.maxout import maxout_backward, maxout_forward
from minilinpath.layers.pool import max_pool_backward, max_pool_eval, max_pool_forward, pooled_size


def naive_conv(x, W, b, stride, pad):
    """The plain convolution of minilinpath.layers.reference (a loop over output pixels)."""
    return reference.conv_forward(x, W, b, stride, pad)[0]


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


@pytest.mark.parametrize("algorithm", ["im2col", "fft"])
@pytest.mark.parametrize("shape, kernel, pad", [((3, 3, 7, 6), (4, 3, 3, 2), 0), ((3, 2, 6, 9), (5, 2, 4, 3), 2),
                                                ((2, 4, 5, 5), (3, 4, 5, 5), 3)])
def test_both_algorithms_and_image_blocks_match_the_definition_and_gradients(rng, monkeypatch, algorithm, shape,
                                                                              kernel, pad):
    """Stride 1, square and non-square inputs and kernels; im2col with blocks of 1 and 2 images (the last one short)."""
    x, W, b = rng.standard_normal(shape), rng.standard_normal(kernel), rng.standard_normal(kernel[0])
    want = naive_conv(x, W, b, 1, pad)
    per_image = kernel[1] * kernel[2] * kernel[3] * want.shape[2] * want.shape[3] * 8
    for images in ((1, 2) if algorithm == "im2col" else (None,)):
        if images is not None:
            monkeypatch.setitem(conv_layer.BLOCK_BYTES, "cpu", images * per_image)
        out, cache = conv_forward(x, W, b, 1, pad, algorithm=algorithm)
        assert getattr(cache, "block", images) == images
        np.testing.assert_allclose(out, want, rtol=1e-11, atol=1e-11)
        dout = rng.standard_normal(out.shape)
        dx, dW, db = conv_backward(dout, cache)
        assert rel_error(dx, numerical_vjp(lambda a: conv_forward(a, W, b, 1, pad, algorithm=algorithm)[0], x, dout)) < 1e-8
        assert rel_error(dW, numerical_vjp(lambda a: conv_forward(x, a, b, 1, pad, algorithm=algorithm)[0], W, dout)) < 1e-8
        assert rel_error(db, numerical_vjp(lambda a: conv_forward(x, W, a, 1, pad, algorithm=algorithm)[0], b, dout)) < 1e-8
        assert conv_backward(dout, cache, input_grad=False)[0] is None


def test_fft_keeps_float32_and_agrees_with_im2col(rng):
    x = rng.standard_normal((4, 6, 9, 9)).astype(np.float32)
    W = (0.1 * rng.standard_normal((8, 6, 5, 5))).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    out, cache = conv_forward(x, W, b, 1, 2, algorithm="fft")
    ref, ref_cache = conv_forward(x, W, b, 1, 2, algorithm="im2col")
    assert out.dtype == np.float32 and out.shape == ref.shape
    np.testing.assert_allclose(out, ref, rtol=0, atol=2e-6 * np.abs(ref).max())
    dout = rng.standard_normal(out.shape).astype(np.float32)
    for got, want in zip(conv_backward(dout, cache), conv_backward(dout, ref_cache)):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=0, atol=2e-6 * np.abs(want).max())


def test_algorithm_choice_and_errors():
    # docs/CONFIGS.md section 3, batch 64: FFT counts fewer operations only for the second layer (96 -> 384, 8x8)
    assert conv_algorithm((64, 3, 32, 32), (192, 3, 8, 8), 1, 4) == "im2col"
    assert conv_algorithm((64, 96, 16, 16), (384, 96, 8, 8), 1, 3) == "fft"
    assert conv_algorithm((64, 192, 7, 7), (384, 192, 5, 5), 1, 3) == "im2col"
    assert conv_algorithm((64, 96, 16, 16), (384, 96, 8, 8), 2, 3) == "im2col"  # stride 2: im2col only
    x, W = np.zeros((1, 2, 6, 6)), np.zeros((3, 2, 3, 3))
    with pytest.raises(ValueError, match="stride 1 only"):
        conv_forward(x, W, None, 2, 0, algorithm="fft")
    with pytest.raises(ValueError, match="algorithm must be"):
        conv_forward(x, W, None, algorithm="winograd")


def test_cifar_network_sizes():
    # docs/CONFIGS.md section 3: detector 33 -> pooled 16, 15 -> 7, 9 -> 5
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


@pytest.mark.parametrize("H, W, pool, stride", [(9, 8, 3, 2), (33, 15, 4, 2), (7, 9, 2, 4), (28, 28, 3, 2)])
def test_pool_many_ties_route_to_the_first_maximum_in_raster_order(rng, H, W, pool, stride):
    """Values from {0, 1, 2}: most windows hold several maxima; each gradient goes to the first one row by row."""
    x = rng.integers(0, 3, size=(2, 3, H, W)).astype(np.float64)
    out, cache = max_pool_forward(x, pool, stride)
    dout = rng.standard_normal(out.shape)
    want, want_dx = naive_max_pool(x, pool, stride, dout)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_allclose(max_pool_backward(dout, cache), want_dx, rtol=1e-14, atol=1e-15)


window_starts = reference.pool_window_starts   # where the windows start: the ceil-mode rule stated in words


def naive_max_pool(x, pool, stride, dout=None):
    """The plain pooling of minilinpath.layers.reference (a loop over the windows): its maximum and, given dout,
    the gradient sent to each window's first maximum in raster order."""
    out, cache = reference.max_pool_forward(x, pool, stride)
    return out, (None if dout is None else reference.max_pool_backward(dout, cache))


@pytest.mark.parametrize("H, W, pool, stride", [(9, 8, 3, 2), (5, 5, 2, 2), (33, 15, 4, 2), (3, 4, 5, 2),
                                                (5, 5, 1, 3), (7, 9, 2, 4), (10, 11, 3, 5)])
def test_pool_matches_naive_loops(rng, H, W, pool, stride):
    x = rng.standard_normal((2, 3, H, W))
    out, cache = max_pool_forward(x, pool, stride)
    dout = rng.standard_normal(out.shape)
    want, want_dx = naive_max_pool(x, pool, stride, dout)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_allclose(max_pool_backward(dout, cache), want_dx, rtol=1e-14, atol=1e-15)
    # the evaluation pool (two separable passes, no padding, no winners): the same maxima, float32 too
    np.testing.assert_array_equal(max_pool_eval(x, pool, stride), want)
    x32 = x.astype(np.float32)
    np.testing.assert_array_equal(max_pool_eval(x32, pool, stride), want.astype(np.float32))
    assert max_pool_eval(x32, pool, stride).dtype == np.float32


@pytest.mark.parametrize("pool", [12, 13])
def test_pool_windows_with_more_than_127_offsets(rng, pool):
    """The winning offset p*pool + q reaches 143 (pool 12) and 168 (pool 13): past int8."""
    stride = pool // 2
    x = rng.standard_normal((1, 2, 2 * pool + 1, 2 * pool - 1))
    x[:, :, pool - 1, pool - 1] = 10.0  # the first window's maximum at its last offset, pool*pool - 1
    out, cache = max_pool_forward(x, pool, stride)
    dout = rng.standard_normal(out.shape)
    want, want_dx = naive_max_pool(x, pool, stride, dout)
    np.testing.assert_array_equal(out, want)
    dx = max_pool_backward(dout, cache)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-14, atol=1e-15)
    k = (pool - 1) // stride + 1  # the 10.0 is the maximum of the k x k windows holding it
    assert dx[0, 0, pool - 1, pool - 1] == pytest.approx(dout[0, 0, :k, :k].sum(), rel=1e-14)
    assert rel_error(dx, numerical_vjp(lambda a: max_pool_forward(a, pool, stride)[0], x, dout)) < 1e-8


def test_no_pool_window_lies_wholly_outside_the_input():
    # size 5, pool 1, stride 3: ceil((5 - 1) / 3) + 1 = 3 windows by cuda-convnet's formula, the third at 6 > 4
    x = np.arange(25, dtype=np.float64).reshape(1, 1, 5, 5)
    out, cache = max_pool_forward(x, 1, 3)
    np.testing.assert_array_equal(out[0, 0], [[0, 3], [15, 18]])
    dx = max_pool_backward(np.ones_like(out), cache)
    assert dx.sum() == 4 and dx[0, 0, 1].sum() == 0  # rows and columns between windows get nothing
    for size in range(1, 25):
        for pool in range(1, 9):
            for stride in range(1, 9):
                n = pooled_size(size, pool, stride)
                assert n == len(window_starts(size, pool, stride)), (size, pool, stride)
                assert (n - 1) * stride < size  # the last window starts inside
                if stride <= pool:  # cuda-convnet's formula unchanged
                    assert n == max(-(-(size - pool) // stride), 0) + 1


def test_pool_output_is_finite_for_every_stride(rng):
    x = rng.standard_normal((1, 1, 11, 13))
    for pool in range(1, 5):
        for stride in range(1, 8):
            out, _ = max_pool_forward(x, pool, stride)
            assert np.isfinite(out).all(), (pool, stride)


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


@pytest.mark.parametrize("b_shape", [(3,), (2, 1), (1,), ()])
def test_conv_bias_must_hold_one_value_per_filter(b_shape):
    x, W = np.zeros((1, 3, 5, 5)), np.zeros((2, 3, 3, 3))
    with pytest.raises(ValueError, match=r"b must have shape \(2,\), one bias per filter"):
        conv_forward(x, W, np.zeros(b_shape))


def test_conv_bias_dtype_and_no_bias(rng):
    x, W = rng.standard_normal((1, 3, 5, 5)), rng.standard_normal((2, 3, 3, 3))
    with pytest.raises(TypeError, match="dtypes differ"):
        conv_forward(x, W, np.zeros(2, np.float32))
    with pytest.raises(TypeError, match="b must be a floating-point array"):
        conv_forward(x, W, np.zeros(2, int))
    np.testing.assert_array_equal(conv_forward(x, W, None)[0], conv_forward(x, W, np.zeros(2))[0])


@pytest.mark.gpu
def test_conv_and_pool_on_gpu_match_numpy(cupy, rng):
    x, W, b = rng.standard_normal((2, 3, 9, 9)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    g = cupy.asarray
    for stride, algorithm in ((2, "im2col"), (1, "im2col"), (1, "fft")):
        out, cache = conv_forward(x, W, b, stride, 1, algorithm=algorithm)
        out_g, cache_g = conv_forward(g(x), g(W), g(b), stride, 1, algorithm=algorithm)
        np.testing.assert_allclose(out_g.get(), out, rtol=1e-11, atol=1e-12)
        dout = rng.standard_normal(out.shape)
        for cpu, gpu in zip(conv_backward(dout, cache), conv_backward(g(dout), cache_g)):
            np.testing.assert_allclose(gpu.get(), cpu, rtol=1e-10, atol=1e-12)
    big = rng.standard_normal((1, 2, 27, 25))
    for a, pool, stride in ((x, 3, 2), (x, 1, 3), (x, 2, 4), (big, 12, 6), (big, 13, 6)):
        p, pc = max_pool_forward(a, pool, stride)
        p_g, pc_g = max_pool_forward(g(a), pool, stride)
        np.testing.assert_array_equal(p_g.get(), p)
        dp = rng.standard_normal(p.shape)
        np.testing.assert_allclose(max_pool_backward(g(dp), pc_g).get(), max_pool_backward(dp, pc), rtol=1e-12)


@pytest.mark.parametrize("stride, pad", [(1, 2), (2, 1)])
def test_the_layer_computes_with_the_public_im2col_and_col2im(rng, monkeypatch, stride, pad):
    """The public im2col/col2im are what the im2col layer calls (issue 23: they were parallel copies): with
    blocks of 2 images (the last one short), every block's columns come from im2col and together are the
    whole batch's im2col columns, bit for bit; dx comes through col2im and equals col2im of the whole batch's
    column gradients."""
    x, W, b = rng.standard_normal((5, 3, 8, 7)), rng.standard_normal((4, 3, 3, 2)), rng.standard_normal(4)
    F, C, HH, WW = W.shape
    Ho, Wo = output_size(8, HH, stride, pad), output_size(7, WW, stride, pad)
    monkeypatch.setitem(conv_layer.BLOCK_BYTES, "cpu", 2 * C * HH * WW * Ho * Wo * 8)
    public_im2col, public_col2im = conv_layer.im2col, conv_layer.col2im
    columns, col2im_calls = [], []

    def im2col_recorded(*args, **kwargs):
        cols, out_hw = public_im2col(*args, **kwargs)
        columns.append(cols.copy())                # the layer reuses one buffer: keep what it held then
        return cols, out_hw

    def col2im_recorded(*args, **kwargs):
        col2im_calls.append(args[1])
        return public_col2im(*args, **kwargs)

    monkeypatch.setattr(conv_layer, "im2col", im2col_recorded)
    monkeypatch.setattr(conv_layer, "col2im", col2im_recorded)
    out, cache = conv_forward(x, W, b, stride, pad)
    assert cache.block == 2 and len(columns) == 3                       # blocks of 2, 2 and 1 images
    whole, _ = public_im2col(x, HH, WW, stride, pad)                     # (K, N*H'*W')
    np.testing.assert_array_equal(np.concatenate(columns, axis=1), whole)
    dout = rng.standard_normal(out.shape)
    columns.clear()
    dx, dW, db = conv_backward(dout, cache)
    assert len(columns) == 3 and [shape[0] for shape in col2im_calls] == [2, 2, 1]
    np.testing.assert_array_equal(np.concatenate(columns, axis=1), whole)   # gathered again, the same columns
    dcols = W.reshape(F, -1).T @ dout.transpose(1, 0, 2, 3).reshape(F, -1)    # (K, N*H'*W')
    np.testing.assert_allclose(dx, public_col2im(dcols, x.shape, HH, WW, stride, pad, (Ho, Wo)), rtol=1e-13,
                               atol=1e-13)
