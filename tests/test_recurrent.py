"""LSTM step and sequence, embedding: element-wise gradient checks (float64), sequence = steps, input checks,
CuPy = NumPy."""
import re

import numpy as np
import pytest

from minilinpath import threads
from minilinpath.gradcheck import numerical_vjp, rel_error
from minilinpath.layers.embedding import embedding_backward, embedding_forward
from minilinpath.layers.recurrent import lstm_backward, lstm_forward, lstm_step_backward, lstm_step_forward

N, D, H, T = 3, 4, 5, 6


def params(rng):
    return (rng.standard_normal((N, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H)),
            0.5 * rng.standard_normal((D, 4 * H)), 0.5 * rng.standard_normal((H, 4 * H)), 0.5 * rng.standard_normal(4 * H))


def test_lstm_step_matches_the_equations(rng):
    x, h, c, Wx, Wh, b = params(rng)
    h1, c1, _ = lstm_step_forward(x, h, c, Wx, Wh, b)
    a = x @ Wx + h @ Wh + b
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    i, f, g, o = sig(a[:, :H]), sig(a[:, H:2 * H]), np.tanh(a[:, 2 * H:3 * H]), sig(a[:, 3 * H:])
    np.testing.assert_allclose(c1, f * c + i * g, rtol=1e-12)
    np.testing.assert_allclose(h1, o * np.tanh(f * c + i * g), rtol=1e-12)


def test_lstm_step_gradients(rng):
    x, h, c, Wx, Wh, b = params(rng)
    dh, dc = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    _, _, cache = lstm_step_forward(x, h, c, Wx, Wh, b)
    grads = lstm_step_backward(dh, dc, cache)
    inputs = [x, h, c, Wx, Wh, b]

    def out(k):
        def f(a):
            args = list(inputs)
            args[k] = a
            h1, c1, _ = lstm_step_forward(*args)
            return np.concatenate([h1, c1], axis=1)
        return f

    upstream = np.concatenate([dh, dc], axis=1)
    order = [0, 1, 2, 3, 4, 5]  # backward returns dx, dh_prev, dc_prev, dWx, dWh, db
    for k, grad in zip(order, grads):
        assert rel_error(grad, numerical_vjp(out(k), inputs[k], upstream)) < 1e-8, k


def test_lstm_sequence_gradients_including_initial_and_final_state(rng):
    x = rng.standard_normal((N, T, D))
    _, h0, c0, Wx, Wh, b = params(rng)
    dhs = rng.standard_normal((N, T, H))
    dhT, dcT = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    _, _, cache = lstm_forward(x, h0, c0, Wx, Wh, b)
    grads = lstm_backward(dhs, cache, dhT, dcT)
    inputs = [x, h0, c0, Wx, Wh, b]

    def loss(k):
        def f(a):
            args = list(inputs)
            args[k] = a
            hs, (hT, cT), _ = lstm_forward(*args)
            return np.array((hs * dhs).sum() + (hT * dhT).sum() + (cT * dcT).sum())
        return f

    for k, grad in enumerate(grads):
        assert rel_error(grad, numerical_vjp(loss(k), inputs[k], np.array(1.0))) < 1e-8, k


def test_sequence_equals_step_by_step(rng):
    x = rng.standard_normal((N, T, D))
    _, h0, c0, Wx, Wh, b = params(rng)
    dhs = rng.standard_normal((N, T, H))
    hs, (hT, cT), cache = lstm_forward(x, h0, c0, Wx, Wh, b)
    h, c, caches = h0, c0, []
    for t in range(T):
        h, c, step = lstm_step_forward(x[:, t], h, c, Wx, Wh, b)
        np.testing.assert_allclose(hs[:, t], h, rtol=1e-13)
        caches.append(step)
    np.testing.assert_allclose(cT, c, rtol=1e-13)
    dx, dh0, dc0, dWx, dWh, db = lstm_backward(dhs, cache)
    dh, dc = np.zeros((N, H)), np.zeros((N, H))
    sums = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
    for t in reversed(range(T)):
        dxt, dh, dc, gWx, gWh, gb = lstm_step_backward(dh + dhs[:, t], dc, caches[t])
        np.testing.assert_allclose(dx[:, t], dxt, rtol=1e-11, atol=1e-13)
        for s, g in zip(sums, (gWx, gWh, gb)):
            s += g
    np.testing.assert_allclose(dh0, dh, rtol=1e-11)
    np.testing.assert_allclose(dc0, dc, rtol=1e-11)
    for got, want in zip((dWx, dWh, db), sums):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-13)


def test_sequence_backward_writes_weight_gradients_into_given_arrays(rng):
    """dWx_out / dWh_out / db_out (views of a model's flat gradient) receive exactly the returned gradients."""
    x = rng.standard_normal((N, T, D)).astype(np.float32)
    h0, c0, Wx, Wh, b = (a.astype(np.float32) for a in params(rng)[1:])
    dhs = rng.standard_normal((N, T, H)).astype(np.float32)
    _, _, cache = lstm_forward(x, h0, c0, Wx, Wh, b)
    fresh = lstm_backward(dhs, cache)
    flat = np.full(Wx.size + Wh.size + b.size, np.nan, dtype=np.float32)
    outs = (flat[:Wx.size].reshape(Wx.shape), flat[Wx.size:Wx.size + Wh.size].reshape(Wh.shape),
            flat[Wx.size + Wh.size:])
    given = lstm_backward(dhs, cache, dWx_out=outs[0], dWh_out=outs[1], db_out=outs[2])
    for got, out, want in zip(given[3:], outs, fresh[3:]):
        assert got is out
        np.testing.assert_array_equal(out, want)
    for got, want in zip(given[:3], fresh[:3]):
        np.testing.assert_array_equal(got, want)


def test_gate_scales_in_full_rows_are_the_broadcast_ones(rng):
    """The forward's (N, 4H) gate scales hold the (4H,) row in every row: the same numbers, bit for bit."""
    from minilinpath.layers.recurrent import _gate_scales, _gates
    a = (3 * rng.standard_normal((N, 4 * H))).astype(np.float32)
    by_row, full = _gate_scales(H, np.float32, np), _gate_scales(H, np.float32, np, rows=N)
    assert full[0].shape == (N, 4 * H) and full[0].flags.c_contiguous
    np.testing.assert_array_equal(_gates(a.copy(), H, scales=full), _gates(a.copy(), H, scales=by_row))
    sigmoid = 1 / (1 + np.exp(-a.astype(np.float64)))
    np.testing.assert_allclose(_gates(a.copy(), H, scales=full)[:, :H], sigmoid[:, :H], rtol=1e-6, atol=1e-7)


def sequence_params(rng):
    _, h0, c0, Wx, Wh, b = params(rng)
    return [rng.standard_normal((N, T, D)), h0, c0, Wx, Wh, b]


NAMES = {"step": ["x", "h_prev", "c_prev", "Wx", "Wh", "b"], "sequence": ["x", "h0", "c0", "Wx", "Wh", "b"]}
FORWARD = {"step": lstm_step_forward, "sequence": lstm_forward}


@pytest.mark.parametrize("kind", ["step", "sequence"])
@pytest.mark.parametrize("k", range(6))
def test_lstm_refuses_mixed_dtypes(rng, kind, k):
    args = params(rng) if kind == "step" else sequence_params(rng)
    args = list(args)
    args[k] = args[k].astype(np.float32)  # one float32 among float64s: no silent float32 result
    with pytest.raises(TypeError, match=f"dtypes differ .*{NAMES[kind][k]}: float32"):
        FORWARD[kind](*args)


@pytest.mark.parametrize("kind", ["step", "sequence"])
@pytest.mark.parametrize("k", range(6))
def test_lstm_refuses_integer_arrays(rng, kind, k):
    args = list(params(rng) if kind == "step" else sequence_params(rng))
    args[k] = args[k].astype(np.int64)
    with pytest.raises(TypeError, match=f"{NAMES[kind][k]} must be a floating-point array"):
        FORWARD[kind](*args)


@pytest.mark.parametrize("kind", ["step", "sequence"])
@pytest.mark.parametrize("k, shape", [(1, (N + 1, H)), (2, (N, H + 1)), (3, (D + 1, 4 * H)), (4, (H, 4 * H + 4)),
                                      (5, (4 * H - 1,)), (3, (D, 4 * H + 4))])
def test_lstm_refuses_shapes_that_do_not_fit(rng, kind, k, shape):
    args = list(params(rng) if kind == "step" else sequence_params(rng))
    args[k] = rng.standard_normal(shape)
    with pytest.raises(ValueError, match=rf"LSTM shapes do not fit: .*{NAMES[kind][k]} {re.escape(str(shape))}.*"
                                         rf"N = {N}, D = {D} \(from x\) and H = {H}"):
        FORWARD[kind](*args)


def test_lstm_refuses_wrong_numbers_of_axes(rng):
    x, h, c, Wx, Wh, b = params(rng)
    with pytest.raises(ValueError, match=r"x must have shape \(N, T, D\), got shape \(3, 4\)"):
        lstm_forward(x, h, c, Wx, Wh, b)  # a step's input given to the sequence
    with pytest.raises(ValueError, match=r"x must have shape \(N, D\)"):
        lstm_step_forward(x[:, None], h, c, Wx, Wh, b)
    with pytest.raises(ValueError, match=r"b must have shape \(4H,\)"):
        lstm_step_forward(x, h, c, Wx, Wh, b[None])
    with pytest.raises(ValueError, match=r"h_prev must have shape \(N, H\)"):
        lstm_step_forward(x, h[0], c, Wx, Wh, b)


def test_embedding_with_repeated_ids(rng):
    W = rng.standard_normal((7, 3))
    ids = np.array([[1, 4, 1], [1, 0, 6]])
    out, cache = embedding_forward(ids, W)
    np.testing.assert_array_equal(out[0, 2], W[1])
    dout = rng.standard_normal(out.shape)
    dW = embedding_backward(dout, cache)
    np.testing.assert_allclose(dW[1], dout[0, 0] + dout[0, 2] + dout[1, 0], rtol=1e-14)  # three uses of id 1
    assert rel_error(dW, numerical_vjp(lambda a: embedding_forward(ids, a)[0], W, dout)) < 1e-9
    assert not dW[[2, 3, 5]].any()
    # into a given array (the model's flat gradient): stale values there are cleared first, not added to
    out = np.full((7, 3), 99.0)
    assert embedding_backward(dout, cache, out=out) is out
    np.testing.assert_array_equal(out, dW)


def test_embedding_bad_ids():
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        embedding_forward(np.array([[0, 3]]), np.zeros((3, 2)))
    with pytest.raises(TypeError, match="integers"):
        embedding_forward(np.array([[0.0]]), np.zeros((3, 2)))


@pytest.mark.gpu
def test_recurrent_layers_on_gpu_match_numpy(cupy, rng):
    x = rng.standard_normal((N, T, D))
    _, h0, c0, Wx, Wh, b = params(rng)
    dhs = rng.standard_normal((N, T, H))
    hs, (hT, cT), cache = lstm_forward(x, h0, c0, Wx, Wh, b)
    g = cupy.asarray
    hs_g, (hT_g, cT_g), cache_g = lstm_forward(g(x), g(h0), g(c0), g(Wx), g(Wh), g(b))
    np.testing.assert_allclose(hs_g.get(), hs, rtol=1e-11, atol=1e-13)
    for cpu, gpu in zip(lstm_backward(dhs, cache), lstm_backward(g(dhs), cache_g)):
        np.testing.assert_allclose(gpu.get(), cpu, rtol=1e-10, atol=1e-12)
    with pytest.raises(TypeError, match="dtypes differ"):
        lstm_forward(g(x), g(h0), g(c0), g(Wx), g(Wh), g(b.astype(np.float32)))
    W, ids = rng.standard_normal((7, 3)), np.array([[1, 4, 1], [1, 0, 6]])
    out, c = embedding_forward(ids, W)
    out_g, c_g = embedding_forward(g(ids), g(W))
    dout = rng.standard_normal(out.shape)
    np.testing.assert_allclose(embedding_backward(g(dout), c_g).get(), embedding_backward(dout, c), rtol=1e-12)


def test_lstm_backward_splits_its_work_by_examples_not_time_steps(rng, monkeypatch):
    """for_example_blocks' contract: blocks of rows are blocks of *examples*. lstm_backward used to hand it its
    time-major (T, N, ...) factors along axis 0, so its "examples" were time steps (issue 23). Every call must
    split an axis of length N; with 3 workers and small blocks it really splits (blocks counted), with the same
    bits as one worker."""
    n, steps = 9, 4                                   # N != T, so the two axes cannot be mistaken for each other
    x, dhs = rng.standard_normal((n, steps, D)), rng.standard_normal((n, steps, H))
    _, h0, c0, Wx, Wh, b = params(rng)
    h0, c0 = rng.standard_normal((n, H)), rng.standard_normal((n, H))
    split_lengths, blocks = [], []
    real_examples, real_rows = threads.for_example_blocks, threads.for_row_blocks

    def recording_examples(fn, xp, *arrays, axis=0):
        split_lengths.append(arrays[0].shape[axis])
        return real_examples(fn, xp, *arrays, axis=axis)

    def counting_rows(fn, n_rows, min_block_rows, xp=None):
        seen = []
        real_rows(lambda lo, hi: seen.append((lo, hi)) or fn(lo, hi), n_rows, min_block_rows, xp)
        blocks.append(len(seen))

    monkeypatch.setattr(threads, "for_example_blocks", recording_examples)
    monkeypatch.setattr(threads, "for_row_blocks", counting_rows)
    monkeypatch.setattr(threads, "MIN_BLOCK_BYTES", 256)
    results = []
    for workers in ("1", "3"):
        monkeypatch.setenv("MINILINPATH_THREADS", workers)
        _, _, cache = lstm_forward(x, h0, c0, Wx, Wh, b)
        split_lengths.clear(), blocks.clear()
        results.append(lstm_backward(dhs, cache))
        assert split_lengths and set(split_lengths) == {n}, split_lengths
        assert max(blocks) == (1 if workers == "1" else 3), blocks
    for one, three in zip(*results):
        assert one.tobytes() == three.tobytes()
