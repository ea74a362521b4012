"""Affine (fully connected) layer: out = x @ W + b."""
from __future__ import annotations

from typing import NamedTuple

from .. import backend, threads
from ._checks import require_float, require_ndim, require_out, require_same_dtype


class AffineCache(NamedTuple):
    x: object  # (N, D) input
    W: object  # (D, M) weights


def affine_forward(x, W, b):
    """Forward pass of an affine layer.

    Reference: :func:`minilinpath.layers.reference.affine_forward` (equal bit for bit).

    Inputs:
    - x: (N, D) inputs
    - W: (D, M) weights (column j holds the incoming weights of output unit j)
    - b: (M,) biases

    Returns ``(out, cache)`` with out = x W + b of shape (N, M).
    """
    for name, a in (("x", x), ("W", W), ("b", b)):
        require_float(name, a)
    require_ndim("x", x, 2, "(N, D)")
    require_ndim("W", W, 2, "(D, M)")
    require_ndim("b", b, 1, "(M,)")
    if x.shape[1] != W.shape[0] or b.shape[0] != W.shape[1]:
        raise ValueError(
            f"affine shapes do not fit: x {tuple(x.shape)}, W {tuple(W.shape)}, b {tuple(b.shape)}; "
            "need x (N, D), W (D, M), b (M,)."
        )
    require_same_dtype(x=x, W=W, b=b)
    out = x @ W

    def rows(lo, hi):
        out[lo:hi] += b

    threads.for_example_blocks(rows, backend.get_xp(out), out)   # a large output (the language model's) over threads
    return out, AffineCache(x, W)


def affine_backward(dout, cache: AffineCache, input_grad: bool = True, dW_out=None, db_out=None):
    """Backward pass: given dL/dout (N, M), return (dx (N, D), dW (D, M), db (M,)).

    Reference: :func:`minilinpath.layers.reference.affine_backward` (equal bit for bit).

    dx = dout W^T,  dW = x^T dout,  db = sum_n dout[n].
    With ``input_grad=False`` dx is not computed (None): a network's first
    layer needs no gradient for its data, and skipping it saves one matrix
    product. ``dW_out`` / ``db_out``, if given, are arrays to write dW and db
    into (a model passes views of its flat gradient, which saves a copy).
    """
    x, W = cache
    xp = backend.get_xp(dout)
    require_out("dW_out", dW_out, W.shape, dout.dtype)
    require_out("db_out", db_out, W.shape[1:], dout.dtype)
    dx = dout @ W.T if input_grad else None
    dW = xp.matmul(x.T, dout, out=dW_out)
    db = dout.sum(axis=0, out=db_out)
    return dx, dW, db
