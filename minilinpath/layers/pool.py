"""Max pooling with cuda-convnet's output size (as pylearn2's conv maxout networks use).

For an input of size ``size``, a window ``pool`` and a stride ``stride``, the
output has ceil((size - pool) / stride) + 1 positions: the last window may
hang over the edge, and then covers only the pixels that exist. So 33 -> 16
(pool 4, stride 2), 15 -> 7 and 9 -> 5 (pool 2, stride 2), the sizes of the
CIFAR-10 network (CONFIGS.md section 3).

The gradient goes to the first maximum of each window in raster order (row by
row), so ties never split it. Implementation: pad the input on the bottom and
right with -inf so every window is full, then take the maximum over the
pool*pool offsets, each a strided slice of the whole batch (no loop over pixels).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .. import backend
from ._checks import require_float, require_ndim


class PoolCache(NamedTuple):
    winner: object  # (N, C, Ho, Wo) int8: index p*pool + q of the winning offset
    x_shape: tuple
    pool: int
    stride: int


def pooled_size(size: int, pool: int, stride: int) -> int:
    """cuda-convnet: ceil((size - pool) / stride) + 1 (at least 1)."""
    return max(math.ceil((size - pool) / stride), 0) + 1


def max_pool_forward(x, pool: int, stride: int):
    """x (N, C, H, W) -> (out (N, C, Ho, Wo), cache)."""
    require_float("x", x)
    require_ndim("x", x, 4, "(N, C, H, W)")
    if pool < 1 or stride < 1:
        raise ValueError(f"need pool >= 1 and stride >= 1, got {pool}, {stride}.")
    xp = backend.get_xp(x)
    N, C, H, W = x.shape
    Ho, Wo = pooled_size(H, pool, stride), pooled_size(W, pool, stride)
    Hp, Wp = (Ho - 1) * stride + pool, (Wo - 1) * stride + pool
    x_pad = xp.full((N, C, Hp, Wp), -np.inf, dtype=x.dtype)
    x_pad[:, :, :H, :W] = x
    windows = [(p, q, x_pad[:, :, p:p + stride * Ho:stride, q:q + stride * Wo:stride])
               for p in range(pool) for q in range(pool)]  # strided views, one per offset
    out = xp.full((N, C, Ho, Wo), -np.inf, dtype=x.dtype)
    for _p, _q, window in windows:
        xp.maximum(out, window, out=out)
    # the winner: the first offset (in raster order) equal to the maximum; walking the offsets backwards,
    # each earlier match overwrites the later ones
    winner = xp.full((N, C, Ho, Wo), pool * pool - 1, dtype=np.int8)
    for p, q, window in reversed(windows[:-1]):
        winner[window == out] = p * pool + q
    return out, PoolCache(winner, x.shape, pool, stride)


def max_pool_backward(dout, cache: PoolCache):
    """dx (N, C, H, W): each window's gradient at its first maximum; overlapping windows add up."""
    winner, (N, C, H, W), pool, stride = cache
    xp = backend.get_xp(dout)
    Ho, Wo = dout.shape[2:]
    Hp, Wp = (Ho - 1) * stride + pool, (Wo - 1) * stride + pool
    dx_pad = xp.zeros((N, C, Hp, Wp), dtype=dout.dtype)
    for p in range(pool):
        for q in range(pool):
            dx_pad[:, :, p:p + stride * Ho:stride, q:q + stride * Wo:stride] += dout * (winner == p * pool + q)
    return dx_pad[:, :, :H, :W]
