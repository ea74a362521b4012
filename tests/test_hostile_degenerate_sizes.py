"""Hostile checks of degenerate but plausible sizes: empty batches (N = 0), empty sequences (T = 0), T = 1,
H = 1, 1x1 images, a kernel as large as the padded input, a pool window larger than the image, empty or
all-zero parameter vectors, an empty data set and a single alpha on the linear path.

Each case must either work (correctly shaped results; zeros where a sum over no examples is meant; gradients
that agree with central differences in float64) or refuse with one clear ValueError that says what was wrong,
never a NumPy error from deep inside (IndexError, a reshape error, "zero-size array", an unbound local) and never
a NaN from a mean over nothing. Where both answers are defensible (the mean loss of zero examples), the tests
accept either, but the model's functions must agree with each other and no RuntimeWarning may escape.

The cases commented "was a bug (mended)" failed when this file was written; the comment names the failure
seen then.
"""
import re
import warnings

import numpy as np
import pytest

from minilinpath.gradcheck import directional_check, numerical_vjp, rel_error
from minilinpath.layers import (ACTIVATIONS, affine_backward, affine_forward, conv_backward, conv_forward, draw_mask,
                                dropout_backward, dropout_forward, embedding_backward, embedding_forward, log_softmax,
                                lstm_backward, lstm_forward, lstm_step_backward, lstm_step_forward, max_pool_backward,
                                max_pool_eval, max_pool_forward, maxout_backward, maxout_eval, maxout_forward,
                                softmax_cross_entropy)
from minilinpath.models import MLP, get as get_model
from minilinpath.optim import momentum_step
from minilinpath.path.linear import linear_path
from minilinpath.train_lm import clip_global_norm, clipped_sgd_step

# what a clear refusal of an empty input says (one of these), and what a NumPy error from deep inside says
CLEAR = re.compile(r"empty|no (examples?|rows|tokens|data|images)|at least one|\bN ?= ?0\b|\b0 (examples|rows|tokens)"
                   r"|holds no|zero (examples|rows|tokens)", re.I)
CRYPTIC = re.compile(r"cannot reshape|zero-size array|out of bounds|referenced before|not associated", re.I)


def finite_or_clear(call):
    """``call()``'s result, or None when it refused with a clear ValueError about the empty input.

    Any other exception (IndexError, UnboundLocalError, ...), a ValueError that does not say what was empty, or a
    RuntimeWarning (a mean over nothing) fails the test.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            return call()
        except ValueError as error:
            message = str(error)
            assert CLEAR.search(message) and not CRYPTIC.search(message), f"cryptic refusal: {message!r}"
            return None


def no_warnings(call):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return call()


def lstm_arrays(rng, N, T, D, H):
    return (rng.standard_normal((N, T, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H)),
            rng.standard_normal((D, 4 * H)), rng.standard_normal((H, 4 * H)), rng.standard_normal(4 * H))


def tiny_mlp(activation="maxout", pieces=3, **extra):
    return MLP(n_in=4, hidden=(5,), activation=activation, pieces=pieces, n_classes=3, init_ranges=(0.5, 0.5),
               **extra)


def tiny_conv(**overrides):
    return get_model("cifar10_maxout_quick", **{"input_shape": (1, 8, 8), **overrides})


def tiny_lm():
    return get_model("ptb_small", vocab_size=50, hidden=8)


EMPTY_XY = (np.zeros((0, 4)), np.zeros(0, dtype=np.int64))


# ====================================================================== layers: what already works
def test_affine_of_an_empty_batch_gives_empty_outputs_and_zero_weight_gradients(rng):
    W, b = rng.standard_normal((3, 4)), rng.standard_normal(4)
    out, cache = no_warnings(lambda: affine_forward(np.zeros((0, 3)), W, b))
    assert out.shape == (0, 4)
    dx, dW, db = no_warnings(lambda: affine_backward(np.zeros((0, 4)), cache))
    assert dx.shape == (0, 3)
    np.testing.assert_array_equal(dW, np.zeros((3, 4)))   # a sum over no examples
    np.testing.assert_array_equal(db, np.zeros(4))


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "linear"])
def test_activations_of_an_empty_batch(name):
    forward, backward = ACTIVATIONS[name]
    out, cache = no_warnings(lambda: forward(np.zeros((0, 3))))
    assert out.shape == (0, 3)
    assert no_warnings(lambda: backward(np.zeros((0, 3)), cache)).shape == (0, 3)


@pytest.mark.parametrize("shape, k", [((0, 6), 3), ((0, 6), 1), ((0, 4, 3, 3), 2), ((2, 0), 3)])
def test_maxout_forward_backward_and_eval_of_empty_inputs(shape, k):
    z = np.zeros(shape)
    out, cache = no_warnings(lambda: maxout_forward(z, k))
    expected = (shape[0], shape[1] // k) + shape[2:]
    assert out.shape == expected
    assert no_warnings(lambda: maxout_eval(z, k)).shape == expected
    assert no_warnings(lambda: maxout_backward(np.zeros(expected), cache)).shape == shape


def test_dropout_of_an_empty_batch(rng):
    assert draw_mask(rng, (0, 3), 0.5, np.float64).shape == (0, 3)
    out, cache = dropout_forward(np.zeros((0, 3)), 0.5, 2.0, rng=rng)
    assert out.shape == (0, 3) and dropout_backward(np.zeros((0, 3)), cache).shape == (0, 3)
    assert dropout_forward(np.zeros((0, 3)), 0.5, 2.0, mask=np.zeros((0, 3)))[0].shape == (0, 3)


def test_log_softmax_of_an_empty_batch():
    assert no_warnings(lambda: log_softmax(np.zeros((0, 3)))).shape == (0, 3)


def test_max_pool_of_an_empty_batch():
    x = np.zeros((0, 2, 5, 5))
    out, cache = no_warnings(lambda: max_pool_forward(x, 3, 2))
    assert out.shape == (0, 2, 2, 2) and max_pool_eval(x, 3, 2).shape == (0, 2, 2, 2)
    assert no_warnings(lambda: max_pool_backward(np.zeros(out.shape), cache)).shape == x.shape


@pytest.mark.parametrize("size, pool, stride", [(1, 3, 2), (2, 4, 2), (1, 1, 1)])
def test_max_pool_window_larger_than_the_image_has_the_right_gradient(rng, size, pool, stride):
    x = rng.standard_normal((2, 2, size, size + 1))
    out, cache = max_pool_forward(x, pool, stride)
    np.testing.assert_array_equal(out, max_pool_eval(x, pool, stride))
    # a window that covers the whole image: its maximum over every pixel
    if pool >= size + 1:
        np.testing.assert_array_equal(out[:, :, 0, 0], x.max(axis=(2, 3)))
    d = rng.standard_normal(out.shape)
    numerical = numerical_vjp(lambda _: max_pool_forward(x, pool, stride)[0], x, d)
    assert rel_error(max_pool_backward(d, cache), numerical) < 1e-9


@pytest.mark.parametrize("ids_shape", [(0, 4), (2, 0)])
def test_embedding_of_no_ids_gives_a_zero_gradient(rng, ids_shape):
    W = rng.standard_normal((5, 3))
    out, cache = embedding_forward(np.zeros(ids_shape, dtype=np.int64), W)
    assert out.shape == ids_shape + (3,)
    np.testing.assert_array_equal(embedding_backward(np.zeros(out.shape), cache), np.zeros((5, 3)))


@pytest.mark.parametrize("algorithm", ["im2col", "fft"])
@pytest.mark.parametrize("N, C, size, F, kernel, pad", [
    (2, 3, 1, 2, 1, 0),    # 1x1 images, 1x1 kernel
    (2, 2, 3, 2, 5, 1),    # kernel as large as the padded input: one output pixel
    (1, 1, 1, 1, 3, 1),    # one 1x1 image, 3x3 kernel on its padding
])
def test_conv_on_tiny_images_has_the_right_gradient(rng, algorithm, N, C, size, F, kernel, pad):
    x, W = rng.standard_normal((N, C, size, size)), rng.standard_normal((F, C, kernel, kernel))
    b = rng.standard_normal(F)
    out, cache = conv_forward(x, W, b, 1, pad, algorithm)
    assert out.shape == (N, F, 1 + size + 2 * pad - kernel, 1 + size + 2 * pad - kernel)
    # the value written out: out[n, f] = b[f] + sum over c, p, q of W[f, c, p, q] x_pad[n, c, i + p, j + q]
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    expected = np.einsum("fcpq,ncpq->nf", W, x_pad[:, :, :kernel, :kernel]) + b
    np.testing.assert_allclose(out[:, :, 0, 0], expected, rtol=1e-12, atol=1e-12)
    d = rng.standard_normal(out.shape)
    dx, dW, db = conv_backward(d, cache)
    f = lambda _: conv_forward(x, W, b, 1, pad, algorithm)[0]  # noqa: E731
    assert rel_error(dx, numerical_vjp(f, x, d)) < 1e-8
    assert rel_error(dW, numerical_vjp(f, W, d)) < 1e-8
    assert rel_error(db, numerical_vjp(f, b, d)) < 1e-8


def test_lstm_step_of_an_empty_batch_gives_zero_weight_gradients(rng):
    x, h, c, Wx, Wh, b = lstm_arrays(rng, 0, 1, 3, 2)
    h1, c1, cache = no_warnings(lambda: lstm_step_forward(x[:, 0], h, c, Wx, Wh, b))
    assert h1.shape == c1.shape == (0, 2)
    dx, dh, dc, dWx, dWh, db = no_warnings(lambda: lstm_step_backward(np.zeros((0, 2)), np.zeros((0, 2)), cache))
    assert dx.shape == (0, 3) and dh.shape == dc.shape == (0, 2)
    for g, shape in ((dWx, (3, 8)), (dWh, (2, 8)), (db, (8,))):
        np.testing.assert_array_equal(g, np.zeros(shape))


@pytest.mark.parametrize("N, T, D, H", [(2, 1, 3, 2), (2, 3, 2, 1), (1, 1, 1, 1)])
def test_lstm_with_one_step_or_one_unit_has_the_right_gradient(rng, N, T, D, H):
    arrays = lstm_arrays(rng, N, T, D, H)
    hs, (hT, cT), cache = lstm_forward(*arrays)
    assert hs.shape == (N, T, H)
    dhs, dhT, dcT = rng.standard_normal(hs.shape), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    grads = lstm_backward(dhs, cache, dh_T=dhT, dc_T=dcT)

    def outputs(_):
        hs, (hT, cT), _cache = lstm_forward(*arrays)
        return np.concatenate([hs.ravel(), hT.ravel(), cT.ravel()])

    upstream = np.concatenate([dhs.ravel(), dhT.ravel(), dcT.ravel()])
    for name, g, a in zip(("dx", "dh0", "dc0", "dWx", "dWh", "db"), grads, arrays):
        assert rel_error(g, numerical_vjp(outputs, a, upstream)) < 1e-8, name


# ====================================================================== optimiser pieces
def test_momentum_step_on_empty_and_zero_dimensional_arrays():
    theta, velocity, grad = np.zeros(0), np.zeros(0), np.zeros(0)
    no_warnings(lambda: momentum_step(theta, velocity, grad, 0.1, 0.9))
    assert theta.shape == velocity.shape == (0,)
    theta, velocity, grad = np.array(1.0), np.array(0.5), np.array(2.0)
    momentum_step(theta, velocity, grad, 0.1, 0.9)
    assert velocity == pytest.approx(0.9 * 0.5 - 0.1 * 2.0) and theta == pytest.approx(1.0 + 0.9 * 0.5 - 0.2)


def test_clipping_an_all_zero_or_empty_gradient_divides_by_nothing():
    grad = np.zeros(5)
    assert no_warnings(lambda: clip_global_norm(grad, 1.0)) == 0.0
    np.testing.assert_array_equal(grad, np.zeros(5))
    assert no_warnings(lambda: clip_global_norm(np.zeros(0), 1.0)) == 0.0
    assert no_warnings(lambda: clip_global_norm(np.zeros(3), 0.0)) == 0.0    # 0 > 0 is false: nothing to scale
    theta, grad = np.arange(5.0), np.zeros(5)
    assert no_warnings(lambda: clipped_sgd_step(theta, grad, 20, 5.0, 0.5)) == 0.0
    np.testing.assert_array_equal(theta, np.arange(5.0))
    assert no_warnings(lambda: clipped_sgd_step(np.zeros(0), np.zeros(0), 20, 5.0, 0.5)) == 0.0


# ====================================================================== models and the linear path: what works
@pytest.mark.parametrize("activation, pieces", [("maxout", 3), ("maxout", 1), ("relu", 1), ("sigmoid", 1),
                                                ("tanh", 1), ("linear", 1)])
def test_mlp_predicts_and_evaluates_an_empty_batch(activation, pieces):
    model = tiny_mlp(activation, pieces)
    theta = model.init(0, dtype=np.float64)
    predictions = no_warnings(lambda: model.predict(theta, EMPTY_XY[0]))
    assert predictions.shape == (0,) and predictions.dtype.kind == "i"
    evaluated = finite_or_clear(lambda: model.evaluate(theta, EMPTY_XY))
    if evaluated is not None:
        assert all(np.isfinite(v) for v in evaluated)
        assert (model.loss(theta, EMPTY_XY), model.error_rate(theta, EMPTY_XY)) == evaluated


def test_linear_path_refuses_no_alphas_and_takes_a_single_one(rng):
    model = tiny_mlp("maxout", 2)
    theta0, theta1 = model.init(0, dtype=np.float64), model.init(1, dtype=np.float64)
    X, y = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    with pytest.raises(ValueError, match="non-empty"):
        linear_path(model, theta0, theta1, (X, y), [], progress=False)
    theta = 0.7 * theta0 + 0.3 * theta1
    for fast in (True, False):
        result = no_warnings(lambda: linear_path(model, theta0, theta1, (X, y), [0.3], fast=fast, progress=False))
        assert result.J_train.shape == result.error_train.shape == (1,)
        assert result.J_train[0] == pytest.approx(model.loss(theta, (X, y)), rel=1e-12)
        assert result.error_train[0] == model.error_rate(theta, (X, y))


def test_language_model_loss_of_zero_steps():
    model = tiny_lm()
    theta = model.init(0, dtype=np.float64)
    ids = np.zeros((3, 0), dtype=np.int64)
    loss = finite_or_clear(lambda: model.loss(theta, (ids, ids)))
    assert loss is None or np.isfinite(loss)


@pytest.mark.parametrize("n, input_shape", [(1, (1, 8, 8)), (2, (1, 1, 1))])
def test_conv_net_on_one_example_or_one_pixel_has_the_right_gradient(rng, n, input_shape):
    model = tiny_conv(input_shape=input_shape, dense=(4,))
    theta = model.init(0, dtype=np.float64) + 0.1 * rng.standard_normal(model.size)
    X, y = rng.standard_normal((n, int(np.prod(input_shape)))), rng.integers(0, 10, n)
    loss, grad = model.loss_and_grad(theta, (X, y))
    assert loss == pytest.approx(model.loss(theta, (X, y)), rel=1e-12)
    for numerical, analytic, error in directional_check(lambda t: model.loss(t, (X, y)), grad, theta, rng,
                                                        n_directions=4, h=1e-6):
        assert error < 1e-7, (numerical, analytic)


# ====================================================================== bugs: layers
# was a bug (mended): softmax_cross_entropy of N = 0 rows: picked.mean() of an empty array -> RuntimeWarning 'Mean
#   of empty slice' and a NaN loss
@pytest.mark.parametrize("with_grad", [True, False])
def test_softmax_cross_entropy_of_an_empty_batch(with_grad):
    result = finite_or_clear(lambda: softmax_cross_entropy(np.zeros((0, 3)), np.zeros(0, dtype=np.int64),
                                                           with_grad=with_grad))
    if result is not None:
        loss, dlogits = result
        assert np.isfinite(loss)
        assert dlogits is None if not with_grad else dlogits.shape == (0, 3)


# was a bug (mended): conv_forward (im2col) of N = 0 images: the block loop never runs, then `kept =
#   cols.reshape(...)` -> UnboundLocalError 'cols'
def test_conv_im2col_of_an_empty_batch(rng):
    check_conv_of_an_empty_batch(rng, "im2col")


# was a bug (mended): conv_forward (fft) of N = 0 images: _frequency_major reshape(0, C, -1) -> ValueError 'cannot
#   reshape array of size 0 into shape (0,3,newaxis)'
def test_conv_fft_of_an_empty_batch(rng):
    check_conv_of_an_empty_batch(rng, "fft")


def check_conv_of_an_empty_batch(rng, algorithm):
    W, b = rng.standard_normal((2, 3, 3, 3)), rng.standard_normal(2)
    x = np.zeros((0, 3, 5, 5))
    out, cache = no_warnings(lambda: conv_forward(x, W, b, 1, 1, algorithm))
    assert out.shape == (0, 2, 5, 5)
    dx, dW, db = no_warnings(lambda: conv_backward(np.zeros(out.shape), cache))
    assert dx.shape == x.shape
    np.testing.assert_array_equal(dW, np.zeros(W.shape))
    np.testing.assert_array_equal(db, np.zeros(2))


# was a bug (mended): lstm_forward of N = 0 or T = 0: x.reshape(N * T, -1) of an empty x -> ValueError 'cannot
#   reshape array of size 0 into shape (0,newaxis)'; lstm_backward then indexes gates[0, 0] (IndexError)
@pytest.mark.parametrize("N, T", [(0, 3), (2, 0), (0, 0)])
def test_lstm_of_an_empty_batch_or_sequence(rng, N, T):
    D, H = 3, 2
    x, h0, c0, Wx, Wh, b = lstm_arrays(rng, N, T, D, H)
    hs, (hT, cT), cache = no_warnings(lambda: lstm_forward(x, h0, c0, Wx, Wh, b))
    assert hs.shape == (N, T, H)
    if T == 0:   # no step: the final state is the initial one
        np.testing.assert_array_equal(hT, h0)
        np.testing.assert_array_equal(cT, c0)
    dhT, dcT = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    dx, dh0, dc0, dWx, dWh, db = no_warnings(lambda: lstm_backward(np.zeros((N, T, H)), cache, dh_T=dhT, dc_T=dcT))
    assert dx.shape == (N, T, D) and dh0.shape == dc0.shape == (N, H)
    if T == 0:   # the identity's gradient: what arrives at the final state goes to the initial one
        np.testing.assert_array_equal(dh0, dhT)
        np.testing.assert_array_equal(dc0, dcT)
    for g, shape in ((dWx, (D, 4 * H)), (dWh, (H, 4 * H)), (db, (4 * H,))):
        np.testing.assert_array_equal(g, np.zeros(shape))


# ====================================================================== bugs: models on an empty batch
def check_loss_and_grad_of_an_empty_batch(model, theta, batch, **kwargs):
    """loss_and_grad of no examples: a finite loss equal to model.loss (when that gives one) and a zero gradient,
    or one clear refusal, the same answer as model.loss gives."""
    result = finite_or_clear(lambda: model.loss_and_grad(theta, batch, **kwargs))
    loss_alone = finite_or_clear(lambda: model.loss(theta, batch))
    assert (result is None) == (loss_alone is None), (result, loss_alone)
    if result is not None:
        loss, grad = result[:2]
        assert np.isfinite(loss) and loss == loss_alone
        np.testing.assert_array_equal(grad, np.zeros_like(theta))


# was a bug (mended): MLP.loss_and_grad of N = 0: softmax_cross_entropy's mean of nothing -> RuntimeWarning and a
#   NaN loss, while model.loss gives 0.0
@pytest.mark.parametrize("activation, pieces", [("maxout", 3), ("relu", 1), ("sigmoid", 1)])
def test_mlp_loss_and_grad_of_an_empty_batch(activation, pieces):
    model = tiny_mlp(activation, pieces)
    check_loss_and_grad_of_an_empty_batch(model, model.init(0, dtype=np.float64), EMPTY_XY)


# was a bug (mended): MLP.loss_and_grad with dropout (rng) of N = 0: NaN loss, RuntimeWarning
def test_mlp_dropout_loss_and_grad_of_an_empty_batch():
    model = get_model("mnist_pi_quick", n_in=4, hidden=(3, 3), n_classes=3)
    check_loss_and_grad_of_an_empty_batch(model, model.init(0, dtype=np.float64), EMPTY_XY,
                                          rng=np.random.default_rng(1))


# was a bug (mended): ConvMaxout._check_batch reads X[0].size -> IndexError 'index 0 is out of bounds for axis 0
#   with size 0' (conv_forward's UnboundLocalError behind it)
@pytest.mark.parametrize("images", [False, True])
def test_conv_net_predicts_and_evaluates_an_empty_batch(images):
    model = tiny_conv()
    theta = model.init(0, dtype=np.float64)
    X = np.zeros((0, 1, 8, 8) if images else (0, 64))
    predictions = no_warnings(lambda: model.predict(theta, X))
    assert predictions.shape == (0,)
    evaluated = finite_or_clear(lambda: model.evaluate(theta, (X, np.zeros(0, dtype=np.int64))))
    assert evaluated is None or all(np.isfinite(v) for v in evaluated)


# was a bug (mended): ConvMaxout.loss_and_grad of N = 0: IndexError in _check_batch (X[0]); behind it forward's
#   x.reshape(x.shape[0], -1) fails on 0 rows
def test_conv_net_loss_and_grad_of_an_empty_batch():
    model = tiny_conv()
    check_loss_and_grad_of_an_empty_batch(model, model.init(0, dtype=np.float64),
                                          (np.zeros((0, 64)), np.zeros(0, dtype=np.int64)))


# was a bug (mended): LSTMLanguageModel.loss / loss_and_grad of 0 sequences or 0 steps: lstm_forward's reshape
#   error 'cannot reshape array of size 0 into shape (0,newaxis)'
@pytest.mark.parametrize("shape", [(0, 5), (3, 0)])
def test_language_model_of_an_empty_batch(shape):
    model = tiny_lm()
    ids = np.zeros(shape, dtype=np.int64)
    check_loss_and_grad_of_an_empty_batch(model, model.init(0, dtype=np.float64), (ids, ids))


# ====================================================================== bugs: the linear path over no data
def check_linear_path_over_no_examples(model, theta0, theta1, train, valid=None):
    """The fast and the plain sweep give the same answer: one clear refusal, or the same finite curves."""
    answers = []
    for fast in (True, False):
        result = finite_or_clear(lambda: linear_path(model, theta0, theta1, train, [0.0, 0.5, 1.0], valid=valid,
                                                     fast=fast, progress=False))
        answers.append(None if result is None else {k: v for k, v in result.arrays().items()})
    fast, plain = answers
    assert (fast is None) == (plain is None), (fast, plain)
    if fast is not None:
        assert fast.keys() == plain.keys()
        for key in fast:
            assert np.all(np.isfinite(fast[key])), key
            np.testing.assert_allclose(fast[key], plain[key], rtol=1e-12, err_msg=key)


# was a bug (mended): linear_path's fast sweep over 0 examples divides nll_sum / n by n = 0 -> RuntimeWarning
#   'invalid value encountered in divide' and NaN curves, while the plain sweep returns 0.0 everywhere
@pytest.mark.parametrize("empty", ["train", "valid"])
def test_mlp_linear_path_over_no_examples(rng, empty):
    model = tiny_mlp("maxout", 2)
    theta0, theta1 = model.init(0, dtype=np.float64), model.init(1, dtype=np.float64)
    data = (rng.standard_normal((6, 4)), rng.integers(0, 3, 6))
    train, valid = (EMPTY_XY, data) if empty == "train" else (data, EMPTY_XY)
    check_linear_path_over_no_examples(model, theta0, theta1, train, valid)


# was a bug (mended): linear_path of the conv net over 0 examples: fast sweep NaN + RuntimeWarning (n = 0), plain
#   sweep IndexError in _check_batch
def test_conv_net_linear_path_over_no_examples():
    model = tiny_conv()
    theta = model.init(0, dtype=np.float64)
    check_linear_path_over_no_examples(model, theta, 2 * theta, (np.zeros((0, 64)), np.zeros(0, dtype=np.int64)))


# was a bug (mended): linear_path of the language model over 0 sequences: lstm_forward's reshape error 'cannot
#   reshape array of size 0 into shape (0,newaxis)'
def test_language_model_linear_path_over_no_sequences():
    model = tiny_lm()
    theta = model.init(0, dtype=np.float64)
    ids = np.zeros((0, 5), dtype=np.int64)
    check_linear_path_over_no_examples(model, theta, 2 * theta, (ids, ids))
