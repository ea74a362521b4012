"""Max pooling with cuda-convnet's output size (as pylearn2's conv maxout networks use).

For an input of size ``size``, a window ``pool`` and a stride ``stride``, the
output has ceil((size - pool) / stride) + 1 positions: the last window may
hang over the edge, and then covers only the pixels that exist. So 33 -> 16
and 15 -> 7 (pool 4, stride 2), 9 -> 5 (pool 2, stride 2), the sizes of the
CIFAR-10 network (docs/CONFIGS.md section 3).

Every window starts inside the input: (outputs - 1) * stride < size. With
stride <= pool the formula above guarantees it. With stride > pool it can
place a last window wholly past the edge (size 5, pool 1, stride 3: windows
at 0, 3 and 6), whose maximum over no pixels would be -inf; such a window is
dropped, as PyTorch's ``ceil_mode`` does (size 5 -> 2 there). Pixels between
windows (stride > pool) are never seen and get no gradient.

The gradient goes to the first maximum of each window in raster order (row by
row), so ties never split it. Implementation: the maximum over a window is
separable (the maximum over its rows of the maximum along each row), so the
forward pass takes two passes of ``pool - 1`` element-wise maxima of strided
slices of the whole batch (no loop over pixels, no padded copy: a window that
hangs over the edge only compares the offsets that exist). The training pass
also keeps, per pass, the first offset that attains the maximum; the winning
offset p*pool + q of each window is kept in the smallest integer type that
holds pool*pool - 1 (int8 up to 11x11 windows, int16 up to 181x181). The
backward pass pads the gradient's image on the bottom and right so every
window fits, and adds each window's gradient at its winner, offset by offset.
All three passes work example by example, so blocks of examples run on
several threads (:mod:`minilinpath.threads`), with the same numbers.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .. import backend, threads
from ._checks import require_float, require_ndim


class PoolCache(NamedTuple):
    winner: object  # (N, C, Ho, Wo) integers: index p*pool + q of the winning offset
    x_shape: tuple
    pool: int
    stride: int


def pooled_size(size: int, pool: int, stride: int) -> int:
    """cuda-convnet's ceil((size - pool) / stride) + 1 (at least 1), less a last window starting past the edge."""
    n = max(math.ceil((size - pool) / stride), 0) + 1
    if (n - 1) * stride >= size:  # only possible with stride > pool; one window too many at most
        n -= 1
    return n


def _index_dtype(n: int):
    """The smallest signed integer type that holds 0 .. n - 1."""
    for dtype in (np.int8, np.int16, np.int32):
        if n - 1 <= np.iinfo(dtype).max:
            return dtype
    return np.int64


def _padded_size(size: int, out: int, pool: int, stride: int) -> int:
    """Rows (or columns) covering every window and the whole input."""
    return max(size, (out - 1) * stride + pool)


def _checked_output_size(x, pool: int, stride: int):
    """(Ho, Wo) for a float x (N, C, H, W), after checking x, pool and stride (ValueError/TypeError, one line)."""
    require_float("x", x)
    require_ndim("x", x, 4, "(N, C, H, W)")
    if pool < 1 or stride < 1:
        raise ValueError(f"need pool >= 1 and stride >= 1, got {pool}, {stride}.")
    H, W = x.shape[2:]
    return pooled_size(H, pool, stride), pooled_size(W, pool, stride)


def max_pool_forward(x, pool: int, stride: int):
    """x (N, C, H, W) -> (out (N, C, Ho, Wo), cache).

    Reference: :func:`minilinpath.layers.reference.max_pool_forward` (equal bit for bit, winners included).

    out[n, c, i, j] = max of x[n, c, i*stride + p, j*stride + q] over 0 <= p, q < pool
    (and inside the input), with Ho = pooled_size(H, pool, stride) (see the module docstring).

    Separable, like :func:`max_pool_eval`: first along the columns, keeping for every row r and output
    column j the first q that attains max_q x[r, j*stride + q]; then along the rows, keeping the first p.
    The winner is p*pool + q(row i*stride + p): the first maximum of the window in raster order (row p
    before row p + 1, and the first q within the winning row), as the backward pass needs.
    """
    Ho, Wo = _checked_output_size(x, pool, stride)
    xp = backend.get_xp(x)
    index_dtype = _index_dtype(pool * pool)
    out = xp.empty(x.shape[:2] + (Ho, Wo), dtype=x.dtype)
    winner = xp.empty(out.shape, dtype=index_dtype)

    def examples(lo, hi):
        out[lo:hi], winner[lo:hi] = _forward_with_winners(x[lo:hi], pool, stride, Ho, Wo, index_dtype)

    threads.for_example_blocks(examples, xp, x)                  # blocks of examples, over threads
    return out, PoolCache(winner, x.shape, pool, stride)


def _forward_with_winners(x, pool, stride, Ho, Wo, index_dtype):
    """``(out, winner)`` of :func:`max_pool_forward` for the examples in x."""
    columns, q_first = _max_along(x, 3, pool, stride, Wo, index_dtype)          # (N, C, H, Wo) each
    out, p_first = _max_along(columns, 2, pool, stride, Ho, index_dtype)        # (N, C, Ho, Wo) each
    # q of the winning row: q_first at row i*stride + p_first[i, j], gathered row offset by row offset
    winner = p_first * index_dtype(pool)
    for p in range(pool):
        rows = q_first[:, :, p:p + stride * (Ho - 1) + 1:stride]                 # rows i*stride + p (those that exist)
        m = rows.shape[2]
        winner[:, :, :m] += (p_first[:, :, :m] == p).astype(index_dtype) * rows  # q where row p won, else 0
    return out, winner


def max_pool_eval(x, pool: int, stride: int):
    """The forward value of :func:`max_pool_forward` without the winners (for evaluation): out (N, C, Ho, Wo).

    Reference: :func:`minilinpath.layers.reference.max_pool_forward` (its output, equal bit for bit).

    The window's maximum is separable, max over (p, q) = max over q of (max over p), so it is taken in two
    passes, along the rows and then along the columns: 2 (pool - 1) element-wise maxima of strided views
    instead of pool^2 - 1, no padded copy (a last window that hangs over the edge takes the maximum over the
    pixels that exist) and no winner search. Measured on the quick conv net's 28x28 maps, pool 3, stride 2:
    several times faster than the forward pass with winners.
    """
    Ho, Wo = _checked_output_size(x, pool, stride)
    xp = backend.get_xp(x)
    out = xp.empty(x.shape[:2] + (Ho, Wo), dtype=x.dtype)

    def examples(lo, hi):
        # rows first: that pass reads whole contiguous rows and halves the data the strided column pass then
        # reads (20% faster on the quick conv net's maps than columns first; without winners the order does not
        # matter)
        rows, _ = _max_along(x[lo:hi], 2, pool, stride, Ho)             # (n, C, Ho, W): max over p
        out[lo:hi] = _max_along(rows, 3, pool, stride, Wo)[0]            # (n, C, Ho, Wo): then over q

    threads.for_example_blocks(examples, xp, x)
    return out


def _max_along(x, axis: int, pool: int, stride: int, n_out: int, index_dtype=None):
    """``(out, first)``: out[..., j, ...] = max of x[..., j*stride + o, ...] over the offsets 0 <= o < pool that lie
    inside x (along ``axis``), and, given ``index_dtype``, the first offset o attaining it (else None)."""
    xp = backend.get_xp(x)
    size = x.shape[axis]

    def along(offset, count, step, a):  # a at positions offset, offset + step, ... (count of them) along the axis
        index = [slice(None)] * a.ndim
        index[axis] = slice(offset, offset + step * (count - 1) + 1, step)
        return a[tuple(index)]

    out = xp.array(along(0, n_out, stride, x))                  # every window starts inside x
    first = None if index_dtype is None else xp.zeros(out.shape, dtype=index_dtype)
    for offset in range(1, pool):
        count = min(n_out, max(0, -(-(size - offset) // stride)))  # windows whose offset-th pixel exists
        if not count:
            continue
        best, candidate = along(0, count, 1, out), along(offset, count, stride, x)  # the first `count` windows
        if first is not None:
            # strictly greater: a tie keeps the earlier offset. Offsets grow, so "first becomes offset where
            # better" is first = max(first, better * offset): no branches (a masked copy ran 10x slower here)
            later = along(0, count, 1, first)
            xp.maximum(later, (candidate > best).astype(index_dtype) * index_dtype(offset), out=later)
        xp.maximum(best, candidate, out=best)
    return out, first


def max_pool_backward(dout, cache: PoolCache):
    """dx (N, C, H, W): each window's gradient at its first maximum; overlapping windows add up.

    Reference: :func:`minilinpath.layers.reference.max_pool_backward` (equal to rounding: overlapping windows
    add in another order).
    """
    winner, (N, C, H, W), pool, stride = cache
    xp = backend.get_xp(dout)
    Ho, Wo = dout.shape[2:]
    Hp, Wp = _padded_size(H, Ho, pool, stride), _padded_size(W, Wo, pool, stride)
    dx_pad = xp.empty((N, C, Hp, Wp), dtype=dout.dtype)

    def examples(lo, hi):
        dx, d, won = dx_pad[lo:hi], dout[lo:hi], winner[lo:hi]
        dx[...] = 0
        for p in range(pool):
            for q in range(pool):
                dx[:, :, p:p + stride * Ho:stride, q:q + stride * Wo:stride] += d * (won == p * pool + q)

    threads.for_example_blocks(examples, xp, dx_pad)
    return dx_pad[:, :, :H, :W]
