"""2-D convolution (cross-correlation, as every deep learning library computes it), NCHW.

    out[n, f, i, j] = b[f] + sum_{c, p, q} W[f, c, p, q] * x_pad[n, c, i*s + p, j*s + q]

for x (N, C, H, W), W (F, C, HH, WW), tied biases b (F,), stride s and zero
padding ``pad`` on every side; the output is (N, F, H', W') with
H' = 1 + (H + 2 pad - HH) // s (and the same for W').

Implementation (im2col): gather, for every output position, the C*HH*WW input
values it sees into one row of a matrix, so the convolution is a single matrix
product with W reshaped to (F, C*HH*WW). The gathering loops over the HH*WW
kernel offsets (64 for an 8x8 kernel), each a strided slice of the whole
batch; there is no loop over pixels. The backward pass scatters the column
gradients back the same way, *adding* where windows overlap.
"""
from __future__ import annotations

from typing import NamedTuple

from .. import backend
from ._checks import require_float, require_ndim, require_same_dtype


class ConvCache(NamedTuple):
    cols: object      # (C*HH*WW, N*H'*W') the gathered inputs
    x_shape: tuple
    W: object
    stride: int
    pad: int
    out_hw: tuple


def output_size(size: int, kernel: int, stride: int, pad: int) -> int:
    """1 + (size + 2 pad - kernel) // stride."""
    return 1 + (size + 2 * pad - kernel) // stride


def im2col(x, HH, WW, stride, pad):
    """(N, C, H, W) -> (C*HH*WW, N*H'*W'): column (n, i, j) holds the window feeding output (n, :, i, j).

    Laid out as (C, HH, WW, N, H', W') so that each kernel offset (p, q) fills
    one contiguous block.
    """
    xp = backend.get_xp(x)
    N, C, H, W = x.shape
    Ho, Wo = output_size(H, HH, stride, pad), output_size(W, WW, stride, pad)
    if Ho < 1 or Wo < 1:
        raise ValueError(f"a {HH}x{WW} kernel with pad {pad} does not fit a {H}x{W} input.")
    x_pad = xp.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))) if pad else x
    x_pad = x_pad.transpose(1, 0, 2, 3)  # (C, N, H, W): each offset's window is then a block of cols
    cols = xp.empty((C, HH, WW, N, Ho, Wo), dtype=x.dtype)
    for p in range(HH):
        for q in range(WW):
            cols[:, p, q] = x_pad[:, :, p:p + stride * Ho:stride, q:q + stride * Wo:stride]
    return cols.reshape(C * HH * WW, N * Ho * Wo), (Ho, Wo)


def col2im(dcols, x_shape, HH, WW, stride, pad, out_hw):
    """The adjoint of im2col: add every column entry back to the input pixel it came from."""
    xp = backend.get_xp(dcols)
    N, C, H, W = x_shape
    Ho, Wo = out_hw
    dcols = dcols.reshape(C, HH, WW, N, Ho, Wo)
    dx_pad = xp.zeros((C, N, H + 2 * pad, W + 2 * pad), dtype=dcols.dtype)
    for p in range(HH):
        for q in range(WW):
            dx_pad[:, :, p:p + stride * Ho:stride, q:q + stride * Wo:stride] += dcols[:, p, q]
    dx = dx_pad.transpose(1, 0, 2, 3)
    return dx[:, :, pad:pad + H, pad:pad + W] if pad else dx


def conv_forward(x, W, b, stride: int = 1, pad: int = 0):
    """Returns ``(out (N, F, H', W'), cache)`` for x (N, C, H, W), W (F, C, HH, WW) and b (F,) or None (no bias)."""
    require_float("x", x)
    require_float("W", W)
    require_ndim("x", x, 4, "(N, C, H, W)")
    require_ndim("W", W, 4, "(F, C, HH, WW)")
    if x.shape[1] != W.shape[1]:
        raise ValueError(f"x has {x.shape[1]} channels but W expects {W.shape[1]} (x {tuple(x.shape)}, W {tuple(W.shape)}).")
    require_same_dtype(x=x, W=W)
    if b is not None:
        require_float("b", b)
        if b.shape != (W.shape[0],):
            raise ValueError(f"b must have shape ({W.shape[0]},), one bias per filter of W {tuple(W.shape)}, "
                             f"got shape {tuple(b.shape)}.")
        require_same_dtype(x=x, W=W, b=b)
    if stride < 1 or pad < 0:
        raise ValueError(f"need stride >= 1 and pad >= 0, got stride {stride}, pad {pad}.")
    F, _, HH, WW = W.shape
    N = x.shape[0]
    cols, (Ho, Wo) = im2col(x, HH, WW, stride, pad)
    out = W.reshape(F, -1) @ cols                       # (F, N*Ho*Wo): one matrix product
    if b is not None:
        out += b[:, None]
    out = out.reshape(F, N, Ho, Wo).transpose(1, 0, 2, 3)
    return backend.get_xp(x).ascontiguousarray(out), ConvCache(cols, x.shape, W, stride, pad, (Ho, Wo))


def conv_backward(dout, cache: ConvCache, input_grad: bool = True):
    """Given dL/dout (N, F, H', W'), return ``(dx, dW, db)``; dx is None with ``input_grad=False``."""
    cols, x_shape, W, stride, pad, out_hw = cache
    F, _, HH, WW = W.shape
    dout_f = dout.transpose(1, 0, 2, 3).reshape(F, -1)  # (F, N*Ho*Wo)
    dW = (dout_f @ cols.T).reshape(W.shape)
    db = dout_f.sum(axis=1)
    dx = col2im(W.reshape(F, -1).T @ dout_f, x_shape, HH, WW, stride, pad, out_hw) if input_grad else None
    return dx, dW, db
