"""Every fast layer routine against its plain reference in minilinpath.layers.reference.

One parametrised test walks the pairs: float64, several shapes, ties (maxout and pooling on rounded values,
where both must route to the first maximum), forward values and every backward output, with one worker thread
and with three. In the three-thread run MIN_BLOCK_BYTES is lowered so that these arrays really split into
blocks of examples, and the test counts the blocks to prove it (a routine that claims to thread but ran as one
block fails). Tolerances are per case: 0 (equality) where both compute the same operations in the same order,
else stated next to the case with the reason.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
import pytest

from minilinpath import threads
from minilinpath.layers import activations, affine, batchnorm, conv, dropout, embedding, losses, maxout, pool, recurrent
from minilinpath.layers import reference as ref
from minilinpath.models.mpdbm import MPDBM

SPLIT_BLOCK_BYTES = 2048   # MIN_BLOCK_BYTES in the threaded runs: the arrays below span many such blocks


class Pair(NamedTuple):
    name: str
    run: Callable          # run(rng, shape) -> (fast outputs, reference outputs): dicts with the same keys
    shapes: tuple
    rtol: float = 0.0      # 0 and 0: equality
    atol: float = 0.0
    threaded: bool = True  # the fast routine splits its work over threads


def ties(rng, shape):
    """Small integers: many equal values, so the first-maximum rule decides most winners."""
    return rng.integers(-2, 3, size=shape).astype(np.float64)


# ------------------------------------------------------------------ the pairs
def run_affine(rng, shape):
    N, D, M = shape
    x, W, b = rng.standard_normal((N, D)), rng.standard_normal((D, M)), rng.standard_normal(M)
    dout = rng.standard_normal((N, M))
    out, cache = affine.affine_forward(x, W, b)
    out_r, cache_r = ref.affine_forward(x, W, b)
    fast = dict(zip(("out", "dx", "dW", "db"), (out, *affine.affine_backward(dout, cache))))
    return fast, dict(zip(("out", "dx", "dW", "db"), (out_r, *ref.affine_backward(dout, cache_r))))


def run_sigmoid(rng, shape):
    x = 8 * rng.standard_normal(shape)
    x.flat[:4] = (-800.0, 800.0, -40.0, 0.0)        # e^-x overflows at -800: the reference's 1/(1+inf) = 0
    dout = rng.standard_normal(shape)
    s, cache = activations.sigmoid_forward(x)
    s_r = ref.sigmoid(x)
    fast = {"out": s, "out (in place)": activations.sigmoid_inplace(x.copy()),
            "dx": activations.sigmoid_backward(dout, cache)}
    return fast, {"out": s_r, "out (in place)": s_r, "dx": ref.sigmoid_backward(dout, s_r)}


def run_dropout(rng, shape):
    x, dout = rng.standard_normal(shape), rng.standard_normal(shape)
    mask = (rng.random(shape) < 0.8).astype(np.float64)
    out, cache = dropout.dropout_forward(x, 0.8, 1.25, mask=mask)
    out_r, cache_r = ref.dropout_forward(x, mask, 1.25)
    return ({"out": out, "dx": dropout.dropout_backward(dout, cache)},
            {"out": out_r, "dx": ref.dropout_backward(dout, cache_r)})


def run_softmax_cross_entropy(rng, shape):
    N, C = shape
    logits, y = 30 * rng.standard_normal((N, C)), rng.integers(0, C, N)
    loss, dlogits = losses.softmax_cross_entropy(logits, y)
    loss_r, dlogits_r = ref.softmax_cross_entropy(logits, y)
    return ({"loss": loss, "dlogits": dlogits, "log_softmax": losses.log_softmax(logits)},
            {"loss": loss_r, "dlogits": dlogits_r, "log_softmax": ref.log_softmax(logits)})


def run_maxout(rng, shape):
    k = shape[1]
    z = ties(rng, (shape[0], shape[1] * shape[2]) + shape[3:])    # (N, U*k[, H, W]) with U = shape[2]
    z[0, :k] = np.nan                                              # a NaN unit: no winner, no gradient, in both
    out, cache = maxout.maxout_forward(z, k)
    out_r, cache_r = ref.maxout_forward(z, k)
    dout = rng.standard_normal(out.shape)
    fast = {"out": out, "out (eval)": maxout.maxout_eval(z, k), "dz": maxout.maxout_backward(dout, cache),
            "winner": np.moveaxis(cache.first, 0, 2)}              # (k, N, U, ...) -> (N, U, k, ...)
    return fast, {"out": out_r, "out (eval)": out_r, "dz": ref.maxout_backward(dout, cache_r), "winner": cache_r.won}


def run_conv(rng, shape, algorithm="im2col"):
    x_shape, W_shape, stride, pad = shape
    x, W, b = rng.standard_normal(x_shape), rng.standard_normal(W_shape), rng.standard_normal(W_shape[0])
    out, cache = conv.conv_forward(x, W, b, stride, pad, algorithm=algorithm)
    out_r, cache_r = ref.conv_forward(x, W, b, stride, pad)
    dout = rng.standard_normal(out.shape)
    keys = ("out", "dx", "dW", "db")
    return (dict(zip(keys, (out, *conv.conv_backward(dout, cache)))),
            dict(zip(keys, (out_r, *ref.conv_backward(dout, cache_r)))))


def run_conv_in_blocks(rng, shape):
    """im2col with blocks of 2 images (the last one short when N is odd), so the backward gathers again."""
    x_shape, W_shape, stride, pad = shape
    Ho = conv.output_size(x_shape[2], W_shape[2], stride, pad)
    Wo = conv.output_size(x_shape[3], W_shape[3], stride, pad)
    per_image = W_shape[1] * W_shape[2] * W_shape[3] * Ho * Wo * 8
    saved = conv.BLOCK_BYTES["cpu"]
    conv.BLOCK_BYTES["cpu"] = 2 * per_image
    try:
        return run_conv(rng, shape)
    finally:
        conv.BLOCK_BYTES["cpu"] = saved


def run_max_pool(rng, shape):
    x_shape, size, stride = shape
    x = ties(rng, x_shape)
    out, cache = pool.max_pool_forward(x, size, stride)
    out_r, cache_r = ref.max_pool_forward(x, size, stride)
    dout = rng.standard_normal(out.shape)
    return ({"out": out, "out (eval)": pool.max_pool_eval(x, size, stride), "dx": pool.max_pool_backward(dout, cache)},
            {"out": out_r, "out (eval)": out_r, "dx": ref.max_pool_backward(dout, cache_r)})


def lstm_weights(rng, D, H):
    return tuple(0.5 * rng.standard_normal(shape) for shape in ((D, 4 * H), (H, 4 * H), (4 * H,)))


def run_lstm_step(rng, shape):
    N, D, H = shape
    x, h, c = rng.standard_normal((N, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    Wx, Wh, b = lstm_weights(rng, D, H)
    dh, dc = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    h1, c1, cache = recurrent.lstm_step_forward(x, h, c, Wx, Wh, b)
    h1_r, c1_r, cache_r = ref.lstm_step_forward(x, h, c, Wx, Wh, b)
    keys = ("h", "c", "dx", "dh_prev", "dc_prev", "dWx", "dWh", "db")
    return (dict(zip(keys, (h1, c1, *recurrent.lstm_step_backward(dh, dc, cache)))),
            dict(zip(keys, (h1_r, c1_r, *ref.lstm_step_backward(dh, dc, cache_r)))))


def run_lstm_sequence(rng, shape):
    N, T, D, H = shape
    x, h0, c0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    Wx, Wh, b = lstm_weights(rng, D, H)
    dhs, dh_T, dc_T = rng.standard_normal((N, T, H)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    hs, (h, c), cache = recurrent.lstm_forward(x, h0, c0, Wx, Wh, b)
    hs_r, (h_r, c_r), caches_r = ref.lstm_forward(x, h0, c0, Wx, Wh, b)
    keys = ("hs", "h_T", "c_T", "dx", "dh0", "dc0", "dWx", "dWh", "db")
    return (dict(zip(keys, (hs, h, c, *recurrent.lstm_backward(dhs, cache, dh_T, dc_T)))),
            dict(zip(keys, (hs_r, h_r, c_r, *ref.lstm_backward(dhs, caches_r, dh_T, dc_T)))))


def run_embedding(rng, shape):
    N, T, V, D = shape
    ids, W = rng.integers(0, V, (N, T)), rng.standard_normal((V, D))   # V small: words repeat
    dout = rng.standard_normal((N, T, D))
    out, cache = embedding.embedding_forward(ids, W)
    out_r, cache_r = ref.embedding_forward(ids, W)
    return ({"out": out, "dW": embedding.embedding_backward(dout, cache)},
            {"out": out_r, "dW": ref.embedding_backward(dout, cache_r)})


def mpdbm_case(rng, shape):
    """A small MP-DBM away from its initial point, a batch and one set of masks: (model, theta, X, labels, m_v, m_y)."""
    n, n_visible, hidden, iterations = shape
    model = MPDBM(n_visible=n_visible, hidden=hidden, n_classes=4, iterations=iterations, h0_sparse_init=5,
                  c_sparse_init=3)
    theta = model.init(0, dtype=np.float64)
    theta += 0.3 * rng.standard_normal(theta.shape)
    X, labels = rng.random((n, n_visible)), rng.integers(0, 4, n)
    m_v, m_y = model.draw_masks(rng, n, np.float64)
    return model, theta, X, labels, m_v, m_y


def run_mean_field(rng, shape):
    model, theta, X, labels, m_v, m_y = mpdbm_case(rng, shape)
    iterations = shape[-1]
    onehot = np.eye(4)[labels]
    state, _ = model.infer(theta, X, onehot, m_v, m_y)
    return state, ref.mean_field_inference(model.unflatten(theta), X, onehot, m_v, m_y, iterations)


def run_multi_prediction(rng, shape):
    model, theta, X, labels, m_v, m_y = mpdbm_case(rng, shape)
    iterations = shape[-1]
    J, grad = model.loss_and_grad(theta, (X, labels), masks=(m_v, m_y))
    J_r, grads_r = ref.multi_prediction_loss_and_grad(model.unflatten(theta), X, labels, m_v, m_y, iterations)
    return {"J": J, **model.unflatten(grad)}, {"J": J_r, **grads_r}


def run_batchnorm(rng, shape):
    N, D = shape
    x, gamma, beta = 3 * rng.standard_normal((N, D)) + 1, rng.standard_normal(D), rng.standard_normal(D)
    dout = rng.standard_normal((N, D))
    out, cache, mean, var = batchnorm.batchnorm_forward(x, gamma, beta)
    out_r, cache_r, mean_r, var_r = ref.batchnorm_forward(x, gamma, beta)
    names = ("out", "mean", "var", "dx", "dgamma", "dbeta")
    fast = dict(zip(names, (out, mean, var, *batchnorm.batchnorm_backward(dout, cache))))
    return fast, dict(zip(names, (out_r, mean_r, var_r, *ref.batchnorm_backward(dout, cache_r))))


PAIRS = [
    # x @ W + b, then the same three products and sum as the reference: equal
    Pair("affine", run_affine, ((7, 5, 3), (300, 6, 4))),
    # (1 + tanh(x/2)) / 2 against 1 / (1 + e^-x): a rounding error apart, in absolute terms
    Pair("sigmoid", run_sigmoid, ((4, 5), (60, 70)), atol=4 * np.finfo(np.float64).eps, threaded=False),
    Pair("dropout", run_dropout, ((6, 7), (50, 40)), threaded=False),
    # the same log-sum-exp operations row by row: equal
    Pair("softmax_cross_entropy", run_softmax_cross_entropy, ((5, 3), (200, 11))),
    # shapes (N, k, U[, H, W]): dense and conv maxout, k = 1 and k = the width
    Pair("maxout", run_maxout, ((6, 3, 4), (5, 1, 3), (3, 5, 1), (300, 4, 5), (40, 2, 3, 4, 5))),
    # im2col / FFT / loops sum in different orders: a few rounding errors of the largest value
    Pair("conv (im2col)", run_conv, (((2, 3, 7, 6), (4, 3, 3, 2), 1, 0), ((3, 2, 9, 8), (3, 2, 3, 3), 2, 1),
                                     ((40, 3, 12, 12), (4, 3, 3, 3), 1, 1), ((5, 2, 10, 11), (2, 2, 4, 5), 3, 2)),
         rtol=1e-12, atol=1e-12),
    Pair("conv (im2col, blocks of 2 images)", run_conv_in_blocks, (((5, 2, 9, 8), (3, 2, 3, 3), 2, 1),
                                                                   ((9, 3, 12, 12), (4, 3, 3, 3), 1, 1)),
         rtol=1e-12, atol=1e-12),
    Pair("conv (fft)", lambda rng, shape: run_conv(rng, shape, "fft"),
         (((2, 3, 7, 6), (4, 3, 3, 2), 1, 0), ((3, 2, 9, 8), (3, 2, 3, 3), 1, 2)), rtol=1e-12, atol=1e-12,
         threaded=False),
    # forward: a maximum is exact; backward: overlapping windows add in another order
    Pair("max_pool", run_max_pool, (((2, 3, 9, 8), 3, 2), ((2, 2, 5, 5), 2, 2), ((1, 2, 7, 9), 2, 4),
                                    ((30, 3, 15, 13), 4, 2), ((2, 1, 5, 5), 1, 3), ((1, 1, 3, 4), 5, 2))),
    # the reference's sigmoid is the plain formula: a few rounding errors, carried through the products
    Pair("lstm_step", run_lstm_step, ((3, 4, 5), (200, 3, 6)), rtol=1e-12, atol=1e-13, threaded=False),
    Pair("lstm_sequence", run_lstm_sequence, ((3, 6, 4, 5), (60, 5, 3, 8)), rtol=1e-12, atol=1e-13),
    # the fast backward is the collected formula, the reference walks the graph node by node: other rounding
    Pair("batchnorm", run_batchnorm, ((2, 3), (7, 5), (200, 6)), rtol=1e-12, atol=1e-12, threaded=False),
    # add_at adds the positions in order, as the loop does: equal
    Pair("embedding", run_embedding, ((3, 4, 5, 2), (8, 9, 6, 3)), threaded=False),
    # the library's interpreter of updates against the written-out iterations; sigmoid and softmax forms differ
    Pair("mpdbm mean field", run_mean_field, ((7, 12, (5, 4), 1), (9, 10, (6, 5), 4)), rtol=1e-12, atol=1e-13,
         threaded=False),
    # the same cost and its backward through the unrolled inference: one iteration (v never updated), several
    Pair("mpdbm multi-prediction gradient", run_multi_prediction, ((7, 12, (5, 4), 1), (6, 10, (6, 5), 2),
                                                                   (9, 10, (6, 5), 4)), rtol=1e-12, atol=1e-15,
         threaded=False),
]
# max_pool's backward only: overlapping windows add up in another order than the reference's loop
POOL_BACKWARD_TOL = dict(rtol=1e-14, atol=1e-15)


def record_blocks(monkeypatch):
    """Wrap threads.for_row_blocks (every layer's threading goes through it): returns a list that receives, for
    each call, the number of blocks it ran."""
    counts = []
    real = threads.for_row_blocks

    def recording(fn, n_rows, min_block_rows, xp=None):
        blocks = []

        def block(lo, hi):
            blocks.append((lo, hi))
            fn(lo, hi)

        real(block, n_rows, min_block_rows, xp)
        covered = sorted(blocks)
        assert [lo for lo, _ in covered[1:]] == [hi for _, hi in covered[:-1]], covered   # no gap, no overlap
        assert not covered or (covered[0][0], covered[-1][1]) == (0, n_rows), (covered, n_rows)
        counts.append(len(blocks))

    monkeypatch.setattr(threads, "for_row_blocks", recording)
    return counts


@pytest.mark.parametrize("workers", [1, 3])
@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: p.name)
def test_fast_routine_equals_its_reference(pair, workers, monkeypatch):
    monkeypatch.setenv("MINILINPATH_THREADS", str(workers))
    monkeypatch.setattr(threads, "MIN_BLOCK_BYTES", SPLIT_BLOCK_BYTES)
    counts = record_blocks(monkeypatch)
    rng = np.random.default_rng(23)
    for shape in pair.shapes:
        fast, want = pair.run(rng, shape)
        assert fast.keys() == want.keys()
        for key in want:
            got, expected = np.asarray(fast[key]), np.asarray(want[key])
            assert got.shape == expected.shape, (shape, key)
            tol = POOL_BACKWARD_TOL if (pair.name, key) == ("max_pool", "dx") else dict(rtol=pair.rtol, atol=pair.atol)
            np.testing.assert_allclose(got, expected, **tol, err_msg=f"{pair.name} {shape}: {key}")
    if not pair.threaded:
        return
    assert counts, f"{pair.name} never reached minilinpath.threads"
    if workers == 1:
        assert max(counts) == 1, counts
    else:
        assert max(counts) >= 2, f"{pair.name}: no call split into blocks with {workers} workers ({counts})"


def test_ties_go_to_the_first_maximum_in_both():
    """Written-out cases: equal pieces and equal pixels, the gradient at the first of them (lowest piece; first
    in raster order), for the fast routines and the references alike."""
    z = np.array([[3.0, 3.0, 1.0, -1.0, 2.0, 2.0]])          # units (3, 3), (1, -1), (2, 2) with k = 2
    want = [[1.0, 0.0, 1.0, 0.0, 1.0, 0.0]]
    for forward, backward in ((maxout.maxout_forward, maxout.maxout_backward),
                              (ref.maxout_forward, ref.maxout_backward)):
        out, cache = forward(z, 2)
        np.testing.assert_array_equal(out, [[3.0, 1.0, 2.0]])
        np.testing.assert_array_equal(backward(np.ones((1, 3)), cache), want)
    x = np.array([[[[1.0, 5.0, 5.0], [5.0, 5.0, 0.0], [0.0, 5.0, 0.0]]]])   # pool 2, stride 1: every window ties
    for forward, backward in ((pool.max_pool_forward, pool.max_pool_backward),
                              (ref.max_pool_forward, ref.max_pool_backward)):
        out, cache = forward(x, 2, 1)
        np.testing.assert_array_equal(out[0, 0], [[5.0, 5.0], [5.0, 5.0]])
        np.testing.assert_array_equal(backward(np.ones_like(out), cache)[0, 0],
                                      [[0, 2, 0], [1, 1, 0], [0, 0, 0]])


def test_the_default_block_size_splits_large_batches(monkeypatch):
    """No lowered MIN_BLOCK_BYTES: batches of a few MB split at the library's own block size, with the same
    numbers as the references."""
    monkeypatch.setenv("MINILINPATH_THREADS", "3")
    counts = record_blocks(monkeypatch)
    rng = np.random.default_rng(5)
    n = 3 * threads.rows_per_block(4 * 60 * 8)                  # maxout z: (n, 240), three default blocks
    fast, want = run_maxout(rng, (n, 4, 60))
    for key in want:
        np.testing.assert_array_equal(fast[key], want[key], err_msg=key)
    assert max(counts) >= 2, counts
    counts.clear()
    fast, want = run_softmax_cross_entropy(rng, (3 * threads.rows_per_block(100 * 8), 100))
    for key in want:
        np.testing.assert_array_equal(fast[key], want[key], err_msg=key)
    assert max(counts) >= 2, counts


def test_every_reference_names_a_fast_routine_that_names_it():
    """The routing table both ways: each fast routine's docstring names its reference in its first lines."""
    pairs = {affine.affine_forward: "affine_forward", affine.affine_backward: "affine_backward",
             activations.sigmoid: "sigmoid", activations.sigmoid_forward: "sigmoid",
             activations.sigmoid_backward: "sigmoid_backward", activations.sigmoid_inplace: "sigmoid",
             dropout.dropout_forward: "dropout_forward", dropout.dropout_backward: "dropout_backward",
             losses.softmax_cross_entropy: "softmax_cross_entropy", losses.log_softmax: "log_softmax",
             maxout.maxout_forward: "maxout_forward", maxout.maxout_backward: "maxout_backward",
             maxout.maxout_eval: "maxout_forward", conv.conv_forward: "conv_forward",
             conv.conv_backward: "conv_backward", pool.max_pool_forward: "max_pool_forward",
             pool.max_pool_backward: "max_pool_backward", pool.max_pool_eval: "max_pool_forward",
             recurrent.lstm_step_forward: "lstm_step_forward", recurrent.lstm_step_backward: "lstm_step_backward",
             recurrent.lstm_forward: "lstm_forward", recurrent.lstm_backward: "lstm_backward",
             embedding.embedding_forward: "embedding_forward", embedding.embedding_backward: "embedding_backward",
             MPDBM.infer: "mean_field_inference"}
    for fast, name in pairs.items():
        assert callable(getattr(ref, name))
        first_lines = "\n".join(fast.__doc__.strip().splitlines()[:3])
        assert f"minilinpath.layers.reference.{name}`" in first_lines, (fast.__qualname__, first_lines)
