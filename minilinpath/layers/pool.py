"""Max pooling with cuda-convnet's output size (as pylearn2's conv maxout networks use).

For an input of size ``size``, a window ``pool`` and a stride ``stride``, the
output has ceil((size - pool) / stride) + 1 positions: the last window may
hang over the edge, and then covers only the pixels that exist. So 33 -> 16
and 15 -> 7 (pool 4, stride 2), 9 -> 5 (pool 2, stride 2), the sizes of the
CIFAR-10 network (CONFIGS.md section 3).

Every window starts inside the input: (outputs - 1) * stride < size. With
stride <= pool the formula above guarantees it. With stride > pool it can
place a last window wholly past the edge (size 5, pool 1, stride 3: windows
at 0, 3 and 6), whose maximum over no pixels would be -inf; such a window is
dropped, as PyTorch's ``ceil_mode`` does (size 5 -> 2 there). Pixels between
windows (stride > pool) are never seen and get no gradient.

The gradient goes to the first maximum of each window in raster order (row by
row), so ties never split it. Implementation: pad the input on the bottom and
right with -inf so every window is full, then take the maximum over the
pool*pool offsets, each a strided slice of the whole batch (no loop over pixels).
The winning offset p*pool + q of each window is kept in the smallest integer
type that holds pool*pool - 1 (int8 up to 11x11 windows, int16 up to 181x181):
int8 and int32 ran equally fast here (NumPy, CIFAR-10 sizes), so the smaller
type only saves memory.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .. import backend
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


def max_pool_forward(x, pool: int, stride: int):
    """x (N, C, H, W) -> (out (N, C, Ho, Wo), cache).

    out[n, c, i, j] = max of x[n, c, i*stride + p, j*stride + q] over 0 <= p, q < pool
    (and inside the input), with Ho = pooled_size(H, pool, stride) (see the module docstring).
    """
    require_float("x", x)
    require_ndim("x", x, 4, "(N, C, H, W)")
    if pool < 1 or stride < 1:
        raise ValueError(f"need pool >= 1 and stride >= 1, got {pool}, {stride}.")
    xp = backend.get_xp(x)
    N, C, H, W = x.shape
    Ho, Wo = pooled_size(H, pool, stride), pooled_size(W, pool, stride)
    Hp, Wp = _padded_size(H, Ho, pool, stride), _padded_size(W, Wo, pool, stride)
    x_pad = xp.full((N, C, Hp, Wp), -np.inf, dtype=x.dtype)
    x_pad[:, :, :H, :W] = x
    windows = [(p, q, x_pad[:, :, p:p + stride * Ho:stride, q:q + stride * Wo:stride])
               for p in range(pool) for q in range(pool)]  # strided views, one per offset
    out = xp.full((N, C, Ho, Wo), -np.inf, dtype=x.dtype)
    for _p, _q, window in windows:
        xp.maximum(out, window, out=out)
    # the winner: the first offset (in raster order) equal to the maximum; walking the offsets backwards,
    # each earlier match overwrites the later ones
    winner = xp.full((N, C, Ho, Wo), pool * pool - 1, dtype=_index_dtype(pool * pool))
    for p, q, window in reversed(windows[:-1]):
        winner[window == out] = p * pool + q
    return out, PoolCache(winner, x.shape, pool, stride)


def max_pool_backward(dout, cache: PoolCache):
    """dx (N, C, H, W): each window's gradient at its first maximum; overlapping windows add up."""
    winner, (N, C, H, W), pool, stride = cache
    xp = backend.get_xp(dout)
    Ho, Wo = dout.shape[2:]
    Hp, Wp = _padded_size(H, Ho, pool, stride), _padded_size(W, Wo, pool, stride)
    dx_pad = xp.zeros((N, C, Hp, Wp), dtype=dout.dtype)
    for p in range(pool):
        for q in range(pool):
            dx_pad[:, :, p:p + stride * Ho:stride, q:q + stride * Wo:stride] += dout * (winner == p * pool + q)
    return dx_pad[:, :, :H, :W]
