"""The plain textbook version of every layer the library optimises: read these beside the formulas.

The library's own routines (``affine.py``, ``maxout.py``, ``conv.py``, ...)
compute the same functions, but fast: element-wise passes split over threads,
results written into reused buffers, memory layouts chosen for speed. Here
each layer is written the way a textbook writes it: no threads, no ``out=``
buffers, no layout tricks, a loop where a loop is the clearest. Each function
states its formula in the docstring and the shapes in comments.

``tests/test_reference.py`` pairs every fast routine with the function here:
forward values and every backward output, in float64, on several shapes, with
ties, with one and with several threads. Where both compute the same
operations in the same order the test asks for equality; elsewhere (a
different summation order, the sigmoid's tanh form) it states a tight
tolerance. So what you read here is what the library computes.

NumPy only (these are for reading and for the tests, not for the GPU).

Which fast routine each function here is the reference of:

==============================  =====================================================
reference                       library
==============================  =====================================================
affine_forward / _backward      layers.affine.affine_forward / affine_backward
sigmoid                         layers.activations.sigmoid, sigmoid_forward, sigmoid_inplace
sigmoid_backward                layers.activations.sigmoid_backward
dropout_forward / _backward     layers.dropout.dropout_forward / dropout_backward
softmax_cross_entropy           layers.losses.softmax_cross_entropy
log_softmax                     layers.losses.log_softmax
maxout_forward / _backward      layers.maxout.maxout_forward / maxout_backward, maxout_eval
conv_forward / _backward        layers.conv.conv_forward / conv_backward (both algorithms)
max_pool_forward / _backward    layers.pool.max_pool_forward / max_pool_backward, max_pool_eval
lstm_step_forward / _backward   layers.recurrent.lstm_step_forward / lstm_step_backward
lstm_forward / _backward        layers.recurrent.lstm_forward / lstm_backward
embedding_forward / _backward   layers.embedding.embedding_forward / embedding_backward
mean_field_inference            models.mpdbm.MPDBM.infer (its final state)
batchnorm_forward / _backward   layers.batchnorm.batchnorm_forward / batchnorm_backward
multi_prediction_loss_and_grad  models.mpdbm.MPDBM.loss_and_grad (with given masks)
==============================  =====================================================
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


# ----------------------------------------------------------------------------- affine
def affine_forward(x, W, b):
    """out = x W + b.   x (N, D), W (D, M), b (M,) -> out (N, M); cache (x, W)."""
    out = x @ W + b                                          # (N, M)
    return out, (x, W)


def affine_backward(dout, cache):
    """dx = dout W^T,  dW = x^T dout,  db = sum_n dout[n].   dout (N, M) -> (dx (N, D), dW (D, M), db (M,))."""
    x, W = cache
    dx = dout @ W.T                                          # (N, D)
    dW = x.T @ dout                                          # (D, M)
    db = dout.sum(axis=0)                                    # (M,)
    return dx, dW, db


# ----------------------------------------------------------------------------- batch normalization
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    """out = gamma (x - mu) / sqrt(var + eps) + beta with the batch's mean mu and (biased) variance var, per column.

    x (N, D), gamma and beta (D,) -> out (N, D); returns (out, cache, mu, var). Every intermediate of the graph
    is kept, so the backward below can walk it node by node.
    """
    n = x.shape[0]
    mu = x.sum(axis=0) / n                                   # (D,)
    xc = x - mu                                              # (N, D)
    var = (xc ** 2).sum(axis=0) / n                          # (D,)
    std = np.sqrt(var + eps)                                 # (D,)
    x_hat = xc / std                                         # (N, D)
    return gamma * x_hat + beta, (xc, std, x_hat, gamma), mu, var


def batchnorm_backward(dout, cache):
    """The forward graph read backwards, one node at a time (no collected formula).

    out = gamma x_hat + beta; x_hat = xc / std; std = sqrt(var + eps); var = mean(xc^2); xc = x - mu;
    mu = mean(x). dout (N, D) -> (dx (N, D), dgamma (D,), dbeta (D,)).
    """
    xc, std, x_hat, gamma = cache
    n = dout.shape[0]
    dbeta = dout.sum(axis=0)                                 # (D,)
    dgamma = (dout * x_hat).sum(axis=0)                      # (D,)
    dx_hat = dout * gamma                                    # (N, D)
    dxc = dx_hat / std                                       # x_hat = xc / std, through xc
    dstd = -(dx_hat * xc).sum(axis=0) / std ** 2             # ... and through std
    dvar = dstd / (2 * std)                                  # std = sqrt(var + eps)
    dxc = dxc + dvar * 2 * xc / n                            # var = sum(xc^2) / n
    dmu = -dxc.sum(axis=0)                                   # xc = x - mu
    dx = dxc + dmu / n                                       # mu = sum(x) / n
    return dx, dgamma, dbeta


# ----------------------------------------------------------------------------- sigmoid
def sigmoid(x):
    """The logistic function sigma(x) = 1 / (1 + e^-x), written as the formula.

    For x < -709 (float64; -88 in float32) e^-x overflows to inf and the
    formula gives 1 / inf = 0, the right limit; NumPy warns about the overflow,
    which is silenced here. The library computes the same function as
    (1 + tanh(x/2)) / 2, which never overflows (no warning to silence); the two
    differ by at most a rounding error in absolute terms.
    """
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def sigmoid_backward(dout, s):
    """dx = dout * sigma'(x) = dout * s (1 - s), from the forward output s = sigma(x)."""
    return dout * s * (1.0 - s)


# ----------------------------------------------------------------------------- dropout
def dropout_forward(x, mask, scale):
    """out = x * mask * scale (pylearn2's include/scale convention).

    mask: 0/1 of x's shape, each entry 1 with the include probability; kept
    values are multiplied by ``scale`` (2 with include 0.5: "inverted dropout";
    1 for the maxout nets' inputs). At test time: no mask and no scale.
    """
    return x * mask * scale, (mask, scale)


def dropout_backward(dout, cache):
    """out is linear in x: dx = dout * mask * scale."""
    mask, scale = cache
    return dout * mask * scale


# ----------------------------------------------------------------------------- softmax cross-entropy
def log_softmax(logits):
    """log softmax(z)_c = (z_c - m) - log sum_c' e^{z_c' - m}, m = max_c z_c, along the rows of z (N, C)."""
    shifted = logits - logits.max(axis=1, keepdims=True)                      # (N, C), each row's max is 0
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax_cross_entropy(logits, y):
    """Mean negative log-likelihood of the labels, and its gradient.

    log softmax(z)_c = z_c - log sum_c' e^{z_c'}, computed as
    (z_c - m) - log sum_c' e^{z_c' - m} with m = max_c z_c (log-sum-exp: no
    e^z overflows, and the largest term is e^0 = 1, so the log never sees 0).

    loss = -(1/N) sum_n log softmax(z_n)[y_n]
    dz   = (softmax(z) - onehot(y)) / N

    logits (N, C), y (N,) integers in [0, C) -> (loss (a 0-d array), dz (N, C)).
    """
    N = logits.shape[0]
    logp = log_softmax(logits)                                                # (N, C)
    loss = -logp[np.arange(N), y].mean()
    dlogits = np.exp(logp)                                                    # (N, C) softmax
    dlogits[np.arange(N), y] -= 1.0
    return loss, dlogits / N


# ----------------------------------------------------------------------------- maxout
class MaxoutCache(NamedTuple):
    won: object  # (N, U, k, ...) bool: one-hot of the winning piece of each unit (all False for a NaN unit)


def maxout_forward(z, k: int):
    """Maxout over groups of k consecutive pieces: out[n, j] = max_p z[n, j*k + p].

    z (N, U*k) -> out (N, U); also feature maps z (N, U*k, H, W) -> (N, U, H, W)
    (the maximum over groups of k channels at every pixel).

    The winner of unit j is argmax_p z[n, j*k + p]: the *first* piece attaining
    the maximum (ties go to the lowest p), so exactly one piece gets the
    gradient. A unit with a NaN piece has a NaN maximum and no winner (no
    gradient): argmax would name the first NaN, which is why its one-hot is
    cleared there.
    """
    N, Uk = z.shape[:2]
    pieces = z.reshape(N, Uk // k, k, *z.shape[2:])          # (N, U, k, ...): pieces[n, j, p] = z[n, j*k + p]
    out = pieces[:, :, 0].copy()                             # (N, U, ...)
    for p in range(1, k):                                    # the maximum, one piece after another
        out = np.maximum(out, pieces[:, :, p])
    winner = np.expand_dims(pieces.argmax(axis=2), 2)        # (N, U, 1, ...): first piece attaining the max
    piece = np.arange(k).reshape((k,) + (1,) * (z.ndim - 2))  # (k, 1, ...) the piece index p
    won = (winner == piece) & ~np.isnan(np.expand_dims(out, 2))  # (N, U, k, ...) one-hot of the winner
    return out, MaxoutCache(won)


def maxout_backward(dout, cache: MaxoutCache):
    """dz[n, j*k + p] = dout[n, j] if p is unit j's winner, else 0.   dout (N, U, ...) -> dz (N, U*k, ...)."""
    won = cache.won                                          # (N, U, k, ...)
    dz = won * np.expand_dims(dout, 2)                       # (N, U, k, ...)
    N, U, k = won.shape[:3]
    return dz.reshape(N, U * k, *won.shape[3:])


# ----------------------------------------------------------------------------- convolution
def conv_output_size(size: int, kernel: int, stride: int, pad: int) -> int:
    """H' = 1 + (H + 2 pad - HH) // stride: the window positions that fit in the padded input."""
    return 1 + (size + 2 * pad - kernel) // stride


def conv_forward(x, W, b, stride: int = 1, pad: int = 0):
    """2-D convolution (cross-correlation: no kernel flip), NCHW, with tied biases.

        out[n, f, i, j] = b[f] + sum_{c, p, q} W[f, c, p, q] x_pad[n, c, i*s + p, j*s + q]

    x (N, C, H, W), W (F, C, HH, WW), b (F,) or None -> out (N, F, H', W'), where
    x_pad is x with ``pad`` zeros on every side and s the stride. One output
    pixel (i, j) at a time: its window of every image, flattened, times every
    filter, flattened, is one matrix product.
    """
    N, C, H, Wd = x.shape
    F, _, HH, WW = W.shape
    Ho, Wo = conv_output_size(H, HH, stride, pad), conv_output_size(Wd, WW, stride, pad)
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))    # (N, C, H + 2 pad, W + 2 pad)
    W_rows = W.reshape(F, C * HH * WW)                              # (F, K): filter f, flattened
    out = np.zeros((N, F, Ho, Wo), dtype=x.dtype)
    for i in range(Ho):
        for j in range(Wo):
            window = x_pad[:, :, i * stride:i * stride + HH, j * stride:j * stride + WW]   # (N, C, HH, WW)
            out[:, :, i, j] = window.reshape(N, -1) @ W_rows.T                           # (N, F)
    if b is not None:
        out += b.reshape(1, F, 1, 1)
    return out, (x_pad, W, stride, pad)


def conv_backward(dout, cache):
    """Each output pixel's window sent its values forward; its gradient goes back along the same lines:

        dW[f, c, p, q]             = sum_{n, i, j} dout[n, f, i, j] x_pad[n, c, i*s + p, j*s + q]
        dx_pad[n, c, i*s+p, j*s+q] += sum_f dout[n, f, i, j] W[f, c, p, q]   (windows that overlap add up)
        db[f]                      = sum_{n, i, j} dout[n, f, i, j]

    dout (N, F, H', W') -> (dx (N, C, H, W), dW (F, C, HH, WW), db (F,)).
    """
    x_pad, W, stride, pad = cache
    N, F, Ho, Wo = dout.shape
    _, C, HH, WW = W.shape
    W_rows = W.reshape(F, C * HH * WW)                              # (F, K)
    dx_pad = np.zeros_like(x_pad)
    dW_rows = np.zeros_like(W_rows)
    for i in range(Ho):
        for j in range(Wo):
            rows, cols = slice(i * stride, i * stride + HH), slice(j * stride, j * stride + WW)
            window = x_pad[:, :, rows, cols]                                       # (N, C, HH, WW)
            g = dout[:, :, i, j]                                                   # (N, F)
            dW_rows += g.T @ window.reshape(N, -1)                                 # (F, K)
            dx_pad[:, :, rows, cols] += (g @ W_rows).reshape(N, C, HH, WW)
    H, Wd = x_pad.shape[2] - 2 * pad, x_pad.shape[3] - 2 * pad
    dx = dx_pad[:, :, pad:pad + H, pad:pad + Wd]                    # (N, C, H, W): the padding gets no gradient
    return dx, dW_rows.reshape(W.shape), dout.sum(axis=(0, 2, 3))


# ----------------------------------------------------------------------------- max pooling (ceil mode)
def pool_window_starts(size: int, pool: int, stride: int) -> list:
    """Where the windows start along one axis, cuda-convnet's "ceil mode" in words: march by ``stride`` from 0;
    stop at the first window that reaches the last pixel, or before a window that would start past the edge.

    So the last window may hang over the edge (then it covers only the pixels that exist): 33 -> 16 and
    15 -> 7 windows with pool 4, stride 2; 5 -> 3 with pool 2, stride 2 (windows at 0, 2, 4).
    """
    starts = [0]
    while starts[-1] + pool < size and starts[-1] + stride < size:
        starts.append(starts[-1] + stride)
    return starts


class PoolCache(NamedTuple):
    x_shape: tuple
    pool: int
    stride: int
    won: dict  # (i, j) -> (N, C, ph, pw) bool: one-hot of the first maximum of window (i, j) of every image


def max_pool_forward(x, pool: int, stride: int):
    """Max pooling with cuda-convnet's ceil-mode output size, by a loop over the windows.

        out[n, c, i, j] = max of x[n, c, r_i + p, s_j + q] over 0 <= p, q < pool, inside the input

    with r_i, s_j from :func:`pool_window_starts`. The window's winner is its
    first maximum in raster order (row by row, then along the row): np.argmax
    of the flattened window. x (N, C, H, W) -> out (N, C, Ho, Wo).
    """
    N, C, H, W = x.shape
    rows, cols = pool_window_starts(H, pool, stride), pool_window_starts(W, pool, stride)
    out = np.empty((N, C, len(rows), len(cols)), dtype=x.dtype)
    won = {}
    for i, r in enumerate(rows):
        for j, s in enumerate(cols):
            window = x[:, :, r:r + pool, s:s + pool]                 # (N, C, ph, pw): the pixels that exist
            flat = window.reshape(N, C, -1)                          # (N, C, ph*pw) in raster order
            out[:, :, i, j] = flat.max(axis=2)
            first = flat.argmax(axis=2)[:, :, None]                  # (N, C, 1): the first maximum
            won[i, j] = (np.arange(flat.shape[2]) == first).reshape(window.shape)
    return out, PoolCache(x.shape, pool, stride, won)


def max_pool_backward(dout, cache: PoolCache):
    """dx: each window's gradient at its first maximum; a pixel in several windows collects from each.

    dout (N, C, Ho, Wo) -> dx (N, C, H, W). Pixels no window covers (stride > pool) get 0.
    """
    x_shape, pool, stride, won = cache
    dx = np.zeros(x_shape, dtype=dout.dtype)
    rows, cols = pool_window_starts(x_shape[2], pool, stride), pool_window_starts(x_shape[3], pool, stride)
    for i, r in enumerate(rows):
        for j, s in enumerate(cols):
            one_hot = won[i, j]                                      # (N, C, ph, pw)
            dx[:, :, r:r + pool, s:s + pool] += one_hot * dout[:, :, i, j, None, None]
    return dx


# ----------------------------------------------------------------------------- LSTM
class LSTMStepCache(NamedTuple):
    x: object       # (N, D)
    h_prev: object  # (N, H)
    c_prev: object  # (N, H)
    i: object       # (N, H) input gate
    f: object       # (N, H) forget gate
    g: object       # (N, H) cell candidate
    o: object       # (N, H) output gate
    c: object       # (N, H) the new cell
    Wx: object      # (D, 4H)
    Wh: object      # (H, 4H)


def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    """One LSTM step, gate blocks in PyTorch's order [input, forget, cell candidate, output]:

        a  = x Wx + h_prev Wh + b        (N, 4H)
        i  = sigma(a[:, 0:H])            f = sigma(a[:, H:2H])
        g  = tanh(a[:, 2H:3H])           o = sigma(a[:, 3H:4H])
        c  = f * c_prev + i * g
        h  = o * tanh(c)

    x (N, D), h_prev and c_prev (N, H), Wx (D, 4H), Wh (H, 4H), b (4H,) -> (h, c, cache).
    """
    H = h_prev.shape[1]
    a = x @ Wx + h_prev @ Wh + b                                     # (N, 4H)
    i = sigmoid(a[:, 0:H])
    f = sigmoid(a[:, H:2 * H])
    g = np.tanh(a[:, 2 * H:3 * H])
    o = sigmoid(a[:, 3 * H:4 * H])
    c = f * c_prev + i * g                                           # (N, H)
    h = o * np.tanh(c)                                               # (N, H)
    return h, c, LSTMStepCache(x, h_prev, c_prev, i, f, g, o, c, Wx, Wh)


def lstm_step_backward(dh, dc, cache: LSTMStepCache):
    """The step's chain rule, from dL/dh and dL/dc (both (N, H)):

        dc     <- dc + dh * o * (1 - tanh(c)^2)        (h = o tanh(c) also depends on c)
        da_i   = dc * g * i (1 - i)                     da_f = dc * c_prev * f (1 - f)
        da_g   = dc * i * (1 - g^2)                     da_o = dh * tanh(c) * o (1 - o)
        dx = da Wx^T,  dh_prev = da Wh^T,  dc_prev = dc * f,
        dWx = x^T da,  dWh = h_prev^T da,  db = sum_n da[n]

    Returns ``(dx, dh_prev, dc_prev, dWx, dWh, db)``.
    """
    x, h_prev, c_prev, i, f, g, o, c, Wx, Wh = cache
    tanh_c = np.tanh(c)
    dc = dc + dh * o * (1.0 - tanh_c ** 2)
    da = np.concatenate([dc * g * i * (1.0 - i),                     # input gate
                         dc * c_prev * f * (1.0 - f),                # forget gate
                         dc * i * (1.0 - g ** 2),                    # cell candidate
                         dh * tanh_c * o * (1.0 - o)], axis=1)       # output gate: (N, 4H)
    return da @ Wx.T, da @ Wh.T, dc * f, x.T @ da, h_prev.T @ da, da.sum(axis=0)


def lstm_forward(x, h0, c0, Wx, Wh, b):
    """T >= 1 steps over x (N, T, D) from (h0, c0): the step above, called for t = 0 .. T-1.

    Returns ``(hs (N, T, H), (h_T, c_T), caches)`` with ``caches`` the list of step caches.
    """
    h, c, caches, hs = h0, c0, [], []
    for t in range(x.shape[1]):
        h, c, cache = lstm_step_forward(x[:, t], h, c, Wx, Wh, b)
        hs.append(h)
        caches.append(cache)
    return np.stack(hs, axis=1), (h, c), caches                    # hs (N, T, H)


def lstm_backward(dhs, caches, dh_T=None, dc_T=None):
    """Backpropagation through time: the step backward for t = T-1 .. 0.

    Step t receives dL/dh_t from above (dhs[:, t]) plus what step t+1 sent back
    through h_t, and dL/dc_t from step t+1; the weights are shared by all
    steps, so their gradients are summed over the steps. ``dh_T``, ``dc_T``:
    gradients arriving at the final state (zero if None).
    Returns ``(dx (N, T, D), dh0, dc0, dWx, dWh, db)``.
    """
    N, T, H = dhs.shape
    dh = np.zeros((N, H), dtype=dhs.dtype) if dh_T is None else dh_T     # carried back from step t+1
    dc = np.zeros((N, H), dtype=dhs.dtype) if dc_T is None else dc_T
    dWx, dWh = np.zeros_like(caches[0].Wx), np.zeros_like(caches[0].Wh)  # (D, 4H), (H, 4H)
    db = np.zeros(4 * H, dtype=dhs.dtype)
    dxs = [None] * T
    for t in reversed(range(T)):
        dxs[t], dh, dc, dWx_t, dWh_t, db_t = lstm_step_backward(dh + dhs[:, t], dc, caches[t])
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    return np.stack(dxs, axis=1), dh, dc, dWx, dWh, db


# ----------------------------------------------------------------------------- word embedding
def embedding_forward(ids, W):
    """out[n, t] = W[ids[n, t]]: a lookup of rows.   ids (N, T) integers in [0, V), W (V, D) -> out (N, T, D)."""
    return W[ids], (ids, W.shape[0])


def embedding_backward(dout, cache):
    """dW[v] = sum of dout[n, t] over every (n, t) with ids[n, t] = v: a word seen twice collects both.

    dout (N, T, D) -> dW (V, D). A loop over the positions, adding (never assigning).
    """
    ids, V = cache
    dW = np.zeros((V, dout.shape[-1]), dtype=dout.dtype)
    for n in range(ids.shape[0]):
        for t in range(ids.shape[1]):
            dW[ids[n, t]] += dout[n, t]
    return dW


# ----------------------------------------------------------------------------- MP-DBM mean-field inference
# Goodfellow, Mirza, Courville & Bengio (NIPS 2013); pylearn2's do_inpainting. ``p``: the parameters by name
# (``model.unflatten(theta)``): v.b (V,), h0.W (V, H0), h0.b (H0,), h1.W (H0, H1), h1.b (H1,), c.W (H1, L),
# c.b (L,). x (N, V) pixel values, onehot (N, L) labels; m_v (N, V) and m_y (N,): 1 where the variable is to be
# predicted, 0 where it is clamped to the data. A state q is a dict {"v", "h0", "h1", "y"} of (N, width) arrays.
def softmax(z):
    """softmax(z)_c = e^{z_c - m} / sum_c' e^{z_c' - m} along the rows, with m the row's maximum."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def softmax_backward(d_out, s):
    """Through s = softmax(z) along the rows: dz = s * (d_out - sum_c d_out_c s_c)."""
    return s * (d_out - (d_out * s).sum(axis=1, keepdims=True))


def mean_field_first_pass(p, x, onehot, m_v, m_y):
    """The start and the first, bottom-up pass (weight doubling: the bottom-up weights of h0 and h1 doubled,
    standing in for the top-down input the layer does not have yet)::

        v  = m_v sigma(bv) + (1 - m_v) x             (masked pixels start at sigma(v.b))
        h0 = sigma(2 v W0 + b0)
        h1 = sigma(2 h0 W1 + b1)
        y  = m_y softmax(h1 Wc + bc) + (1 - m_y) onehot
    """
    m_y = m_y[:, None]                                                           # (N, 1)
    v = m_v * sigmoid(np.zeros_like(x) + p["v.b"]) + (1 - m_v) * x              # (N, V)
    h0 = sigmoid(p["h0.b"] + (2 * v) @ p["h0.W"])                               # (N, H0)
    h1 = sigmoid(p["h1.b"] + (2 * h0) @ p["h1.W"])                              # (N, H1)
    y = m_y * softmax(p["c.b"] + h1 @ p["c.W"]) + (1 - m_y) * onehot           # (N, L)
    return {"v": v, "h0": h0, "h1": h1, "y": y}


def mean_field_step(p, q, x, onehot, m_v, m_y):
    """One mean-field iteration after the first: each layer set to its mean given its neighbours' current
    values, the even layers (h0, y) first, then the visible layer, then h1 (pylearn2's order)::

        h0 <- sigma(q_v W0 + q_h1 W1^T + b0)
        y  <- m_y softmax(q_h1 Wc + bc) + (1 - m_y) onehot
        v  <- m_v sigma(q_h0 W0^T + bv) + (1 - m_v) x
        h1 <- sigma(q_h0 W1 + q_y Wc^T + b1)

    Returns the new state (a new dict; ``q`` is left as it was).
    """
    m_y = m_y[:, None]                                                           # (N, 1)
    h0 = sigmoid(p["h0.b"] + q["v"] @ p["h0.W"] + q["h1"] @ p["h1.W"].T)        # (N, H0)
    y = m_y * softmax(p["c.b"] + q["h1"] @ p["c.W"]) + (1 - m_y) * onehot       # (N, L)
    v = m_v * sigmoid(p["v.b"] + h0 @ p["h0.W"].T) + (1 - m_v) * x              # (N, V)
    h1 = sigmoid(p["h1.b"] + h0 @ p["h1.W"] + y @ p["c.W"].T)                   # (N, H1)
    return {"v": v, "h0": h0, "h1": h1, "y": y}


def mean_field_inference(p, x, onehot, m_v, m_y, iterations: int):
    """The whole inference: the first pass, then ``iterations - 1`` mean-field steps; returns the final state
    (what ``MPDBM.infer`` computes, there as a schedule of updates)."""
    q = mean_field_first_pass(p, x, onehot, m_v, m_y)
    for _ in range(iterations - 1):
        q = mean_field_step(p, q, x, onehot, m_v, m_y)
    return q


def _add(grads, name, value):
    """grads[name] += value, starting from value (a parameter used by several updates sums their gradients)."""
    grads[name] = grads[name] + value if name in grads else value


def mean_field_step_backward(p, q, dq_new, x, onehot, m_v, m_y, grads):
    """Backward of :func:`mean_field_step`: from dJ/d(new state) to dJ/d(state before the step) (returned),
    adding the parameters' gradients into ``grads`` (a dict by name). The step's values are recomputed from q.

    The four updates in reverse (h1, v, y, h0). A layer's new value is the only one later steps see, so its
    old value's gradient comes only from the updates of this step that read it: h0's old value is read by no
    update (all read the new h0), y's neither; v's old value by the h0 update, h1's by the h0 and y updates.
    A clamped entry does not depend on the update: only m * d reaches it.
    """
    m_y = m_y[:, None]
    W0, W1, Wc = p["h0.W"], p["h1.W"], p["c.W"]
    new = mean_field_step(p, q, x, onehot, m_v, m_y[:, 0])
    s_v = sigmoid(p["v.b"] + new["h0"] @ W0.T)                                  # v's activation before clamping
    s_y = softmax(p["c.b"] + q["h1"] @ Wc)                                      # y's likewise
    d_h0, d_y = dq_new["h0"].copy(), dq_new["y"].copy()                          # gradients of the new values
    # h1 <- sigma(h0 W1 + y Wc^T + b1)
    d_pre = dq_new["h1"] * new["h1"] * (1 - new["h1"])
    _add(grads, "h1.b", d_pre.sum(axis=0))
    _add(grads, "h1.W", new["h0"].T @ d_pre)
    _add(grads, "c.W", d_pre.T @ new["y"])
    d_h0 += d_pre @ W1.T
    d_y += d_pre @ Wc
    # v <- m_v sigma(h0 W0^T + bv) + (1 - m_v) x
    d_pre = m_v * dq_new["v"] * s_v * (1 - s_v)
    _add(grads, "v.b", d_pre.sum(axis=0))
    _add(grads, "h0.W", d_pre.T @ new["h0"])
    d_h0 += d_pre @ W0
    # y <- m_y softmax(h1_old Wc + bc) + (1 - m_y) onehot
    d_pre = softmax_backward(m_y * d_y, s_y)
    _add(grads, "c.b", d_pre.sum(axis=0))
    _add(grads, "c.W", q["h1"].T @ d_pre)
    d_h1_old = d_pre @ Wc.T
    # h0 <- sigma(v_old W0 + h1_old W1^T + b0)
    d_pre = d_h0 * new["h0"] * (1 - new["h0"])
    _add(grads, "h0.b", d_pre.sum(axis=0))
    _add(grads, "h0.W", q["v"].T @ d_pre)
    _add(grads, "h1.W", d_pre.T @ q["h1"])
    d_h1_old += d_pre @ W1
    return {"v": d_pre @ W0.T, "h0": np.zeros_like(q["h0"]), "h1": d_h1_old, "y": np.zeros_like(q["y"])}


def mean_field_first_pass_backward(p, dq, x, onehot, m_v, m_y, grads):
    """Backward of :func:`mean_field_first_pass`: the parameters' gradients added into ``grads`` (x, onehot and
    the masks are data). In reverse: y, h1, h0 (doubled weights: factors of 2), then v's start value."""
    m_y = m_y[:, None]
    q = mean_field_first_pass(p, x, onehot, m_v, m_y[:, 0])
    s_y = softmax(p["c.b"] + q["h1"] @ p["c.W"])
    d_pre = softmax_backward(m_y * dq["y"], s_y)                                 # y = m_y softmax(h1 Wc + bc) + ...
    _add(grads, "c.b", d_pre.sum(axis=0))
    _add(grads, "c.W", q["h1"].T @ d_pre)
    d_h1 = dq["h1"] + d_pre @ p["c.W"].T
    d_pre = d_h1 * q["h1"] * (1 - q["h1"])                                      # h1 = sigma(2 h0 W1 + b1)
    _add(grads, "h1.b", d_pre.sum(axis=0))
    _add(grads, "h1.W", 2 * q["h0"].T @ d_pre)
    d_h0 = dq["h0"] + 2 * d_pre @ p["h1.W"].T
    d_pre = d_h0 * q["h0"] * (1 - q["h0"])                                      # h0 = sigma(2 v W0 + b0)
    _add(grads, "h0.b", d_pre.sum(axis=0))
    _add(grads, "h0.W", 2 * q["v"].T @ d_pre)
    d_v = dq["v"] + 2 * d_pre @ p["h0.W"].T
    s_v = sigmoid(p["v.b"])                                                      # v = m_v sigma(bv) + (1 - m_v) x
    _add(grads, "v.b", (m_v * d_v * s_v * (1 - s_v)).sum(axis=0))


def multi_prediction_loss_and_grad(p, x, labels, m_v, m_y, iterations: int):
    """The MP-DBM's multi-prediction cost with fixed masks, and its gradient by backpropagation through the
    unrolled inference (by name, like ``p``)::

        J = (1 / (N V)) [ sum_{n,i} m_v BCE(x, z_v) + sum_n m_y NLL(label_n | z_y) ]

    z_v, z_y: the pre-activations of the last updates of v and y (the cost is computed from logits:
    BCE(x, z) = softplus(z) - x z, NLL = -log softmax(z_y)[label]). The last step reads them off the final
    h0 (z_v = h0 W0^T + bv) and the h1 before it (z_y = h1 Wc + bc); with one iteration, v was never updated
    (z_v = bv) and y read the final h1.
    """
    N, V = x.shape
    onehot = np.eye(p["c.b"].shape[0])[labels]
    states = [mean_field_first_pass(p, x, onehot, m_v, m_y)]
    for _ in range(iterations - 1):
        states.append(mean_field_step(p, states[-1], x, onehot, m_v, m_y))
    h1_read_by_y = states[-2]["h1"] if iterations > 1 else states[-1]["h1"]
    h0_read_by_v = states[-1]["h0"] if iterations > 1 else np.zeros_like(states[-1]["h0"])   # z_v = bv at the start
    z_v = p["v.b"] + h0_read_by_v @ p["h0.W"].T                                  # (N, V)
    z_y = p["c.b"] + h1_read_by_y @ p["c.W"]                                     # (N, L)
    softplus = np.maximum(z_v, 0) + np.log1p(np.exp(-np.abs(z_v)))
    J = ((m_v * (softplus - x * z_v)).sum() - (m_y * log_softmax(z_y)[np.arange(N), labels]).sum()) / (N * V)
    d_zv = m_v * (sigmoid(z_v) - x) / (N * V)                                    # dJ/dz_v
    d_zy = m_y[:, None] * (softmax(z_y) - onehot) / (N * V)                      # dJ/dz_y
    grads = {"v.b": d_zv.sum(axis=0), "c.b": d_zy.sum(axis=0), "h0.W": d_zv.T @ h0_read_by_v,
             "c.W": h1_read_by_y.T @ d_zy}
    dq = {name: np.zeros_like(value) for name, value in states[-1].items()}     # dJ/d(final state)
    if iterations > 1:
        dq["h0"] += d_zv @ p["h0.W"]                                             # z_v read the final h0
    else:
        dq["h1"] += d_zy @ p["c.W"].T                                            # z_y read the final h1
    for t in reversed(range(1, iterations)):                   # step t turned states[t - 1] into states[t]
        dq = mean_field_step_backward(p, states[t - 1], dq, x, onehot, m_v, m_y, grads)
        if t == iterations - 1:
            dq["h1"] += d_zy @ p["c.W"].T                                        # z_y read the h1 before the last step
    mean_field_first_pass_backward(p, dq, x, onehot, m_v, m_y, grads)
    return J, grads
