"""Maxout: the maximum over groups of k consecutive linear pieces.

A maxout layer with U units and k pieces is an affine layer with U*k outputs
followed by this operation: unit j outputs max(z[:, j*k], ..., z[:, j*k+k-1]).
The gradient goes to the *first* piece that attains the maximum (ties are
broken toward the lowest index, like ``argmax``), so exactly one piece per
unit and example receives it.

Implementation note: the maximum and the "first winner" masks are a handful
of element-wise operations on the k pieces; NumPy's ``argmax`` over a short
last axis is several times slower. Where the pieces lie in memory decides how
fast those operations run:

- a dense layer's z (N, U*k): piece p is the strided view z[:, p::k], every
  k-th float, which NumPy cannot run through its vector instructions. One
  transposing copy into k contiguous (N, U) slabs first halves the forward
  pass (156 -> 79 us on ``mnist_pi``'s (100, 1200), measured);
- feature maps (N, U*k, H, W): piece p is already H*W contiguous floats per
  unit, and a copy would only add a pass, so the views are used as they are.

Each example is independent, so blocks of examples run on several threads
(:mod:`minilinpath.threads`), with the same numbers as one pass.
"""
from __future__ import annotations

from typing import NamedTuple

from .. import backend, threads
from ._checks import require_float


class MaxoutCache(NamedTuple):
    first: object  # (k, N, U, ...) bool: piece p is the first maximum of unit j (at that pixel) for example n


def max_over_pieces(pieces, out):
    """out = max_p pieces[p], element-wise: the maximum over a unit's k pieces, written into ``out``.

    ``pieces``: the k >= 1 pieces in order, each an array of out's shape: a (k, ...) array, a list, or a
    generator that computes each piece when it is asked for (into a small scratch array, or piece 0 into
    ``out`` itself). Taken as k - 1 element-wise maxima in piece order,

        out = maximum(piece_0, piece_1),  then  out = maximum(out, piece_p)  for p = 2, ..., k - 1,

    always with the maximum so far as the first argument. The value is the textbook one (the first piece
    that attains the maximum, as argmax finds it; NaN if a piece is NaN); the order fixes which NaN, and
    which sign of a tie of +0 and -0, comes out, so every maxout in the package (training, evaluation, the
    linear path's sweeps) gives the same bits. With one piece, out is a copy of it. Returns ``out``.
    """
    xp = backend.get_xp(out)
    pieces = iter(pieces)
    first, second = next(pieces), next(pieces, None)
    if second is None:                          # k = 1
        if first is not out:
            out[...] = first
        return out
    xp.maximum(first, second, out=out)
    for piece in pieces:
        xp.maximum(out, piece, out=out)
    return out


def maxout_forward(z, k: int):
    """z: (N, U*k) pre-activations -> out (N, U), with out[n, j] = max_p z[n, j*k + p].

    Reference: :func:`minilinpath.layers.reference.maxout_forward` (equal bit for bit, winners included).

    Also for feature maps: z (N, U*k, H, W) -> (N, U, H, W), the maximum over
    groups of k consecutive channels at every pixel (conv maxout).
    """
    require_float("z", z)
    if z.ndim < 2:
        raise ValueError(f"z must have shape (N, U*k) or (N, U*k, H, W), got shape {tuple(z.shape)}.")
    if k < 1 or z.shape[1] % k:
        raise ValueError(f"maxout needs the width {z.shape[1]} to be a multiple of the piece count k={k}.")
    xp = backend.get_xp(z)
    n, rest = z.shape[0], z.shape[2:]
    grouped_all = z.reshape(n, z.shape[1] // k, k, *rest)                   # (N, U, k, ...), a view
    out_all = xp.empty(grouped_all[:, :, 0].shape, dtype=z.dtype)           # (N, U, ...)
    first_all = xp.empty((k,) + out_all.shape, dtype=bool)                  # (k, N, U, ...)
    # (N, U, k): the pieces of a unit are adjacent, so they are copied into k contiguous slabs (k, N, U), one
    # array for all blocks (allocated here, not in each thread); (N, U, k, H, W): piece p is already H*W
    # contiguous floats per unit, and the views are used as they are
    slabs_all = xp.empty((k,) + out_all.shape, dtype=z.dtype) if not rest else None

    def examples(lo, hi):
        grouped, out, first = grouped_all[lo:hi], out_all[lo:hi], first_all[:, lo:hi]
        if slabs_all is not None:
            pieces = slabs_all[:, lo:hi]
            pieces[...] = grouped.transpose(2, 0, 1)
        else:
            pieces = [grouped[:, :, p] for p in range(k)]
        max_over_pieces(pieces, out)
        seen = xp.zeros(out.shape, dtype=bool)
        for p in range(k):           # piece p wins if it equals the max and no earlier piece did
            xp.equal(pieces[p], out, out=first[p])
            if p:
                first[p] &= ~seen
            seen |= first[p]

    threads.for_example_blocks(examples, xp, z)                             # blocks of examples, over threads
    return out_all, MaxoutCache(first_all)


def maxout_backward(dout, cache: MaxoutCache):
    """dz (N, U*k, ...): dout[n, j] placed at the winning piece of unit j, zeros elsewhere.

    Reference: :func:`minilinpath.layers.reference.maxout_backward` (equal bit for bit).
    """
    xp = backend.get_xp(dout)
    first = cache.first                                   # (k, N, U, ...)
    k = first.shape[0]
    dz = xp.empty(dout.shape[:2] + (k,) + dout.shape[2:], dtype=dout.dtype)   # (N, U, k, ...)

    def examples(lo, hi):
        for p in range(k):
            xp.multiply(first[p, lo:hi], dout[lo:hi], out=dz[lo:hi, :, p])

    threads.for_example_blocks(examples, xp, dz)
    return dz.reshape(dout.shape[0], dout.shape[1] * k, *dout.shape[2:])   # (N, U*k, ...), also for N = 0


def maxout_eval(z, k: int):
    """The forward value of :func:`maxout_forward` without the winner masks (for evaluation).

    Reference: :func:`minilinpath.layers.reference.maxout_forward` (its output, equal bit for bit).

    out[n, j] = max_p z[n, j*k + p], taken as k - 1 element-wise maxima of
    strided views of z: no (k, N, U) copy, no masks, about twice as fast.
    Works on (N, U*k) and on feature maps (N, U*k, H, W) like maxout_forward.
    """
    require_float("z", z)
    if z.ndim < 2 or k < 1 or z.shape[1] % k:
        raise ValueError(f"maxout needs z (N, U*k[, H, W]) with a width that is a multiple of k={k}, "
                         f"got shape {tuple(z.shape)}.")
    if k == 1:
        return z
    xp = backend.get_xp(z)
    grouped = z.reshape(z.shape[0], z.shape[1] // k, k, *z.shape[2:])      # (N, U, k, ...), a view
    out = xp.empty(grouped[:, :, 0].shape, dtype=z.dtype)

    def examples(lo, hi):
        max_over_pieces((grouped[lo:hi, :, p] for p in range(k)), out[lo:hi])   # strided views of z

    threads.for_example_blocks(examples, xp, z)
    return out
