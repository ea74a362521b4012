"""Softmax cross-entropy (negative log-likelihood of the correct class)."""
from __future__ import annotations

from .. import backend, threads
from ._checks import require_float, require_ndim


def _check_labels(logits, y):
    require_float("logits", logits)
    require_ndim("logits", logits, 2, "(N, C)")
    if getattr(y, "ndim", None) != 1 or y.shape[0] != logits.shape[0]:
        raise ValueError(
            f"labels must be a 1-D array of {logits.shape[0]} class indices, got shape {getattr(y, 'shape', None)}."
        )
    if y.dtype.kind not in "iu":
        raise TypeError(f"labels must be integers (class indices), got dtype {y.dtype}.")


def log_softmax(logits):
    """log softmax(z)_c = z_c - logsumexp(z), computed after subtracting the row maximum.

    Reference: :func:`minilinpath.layers.reference.log_softmax` (equal bit for bit).
    """
    xp = backend.get_xp(logits)
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))


def softmax_cross_entropy(logits, y, with_grad: bool = True):
    """Mean negative log-likelihood over the batch.

    Reference: :func:`minilinpath.layers.reference.softmax_cross_entropy` (equal bit for bit, also split over threads).

    Inputs:
    - logits: (N, C) unnormalised scores z
    - y: (N,) integer labels in [0, C)

    Returns ``(loss, dlogits)`` where loss = -(1/N) sum_n log softmax(z_n)[y_n]
    is a 0-d array (no device sync) and dlogits = (softmax(z) - onehot(y)) / N;
    with ``with_grad=False`` dlogits is None. An empty batch (N = 0) has loss 0
    and an empty dlogits.

    Every row is independent, so on the CPU blocks of rows of C-ordered logits
    run on several threads (:mod:`minilinpath.threads`); the numbers are those
    of one pass over all rows, bit for bit (the mean over the rows is taken
    after).
    """
    _check_labels(logits, y)
    xp = backend.get_xp(logits)
    n, c = logits.shape
    if n and (int(y.min()) < 0 or int(y.max()) >= c):
        raise ValueError(f"labels must lie in [0, {c}), got values from {int(y.min())} to {int(y.max())}.")
    logp = xp.empty_like(logits)                  # log softmax(z), then (with_grad) overwritten by dlogits
    picked = xp.empty(n, dtype=logits.dtype)      # log softmax(z_n)[y_n]

    def rows(lo, hi):
        # log_softmax's operations on rows lo:hi, in two arrays instead of four (the language model's logits
        # are 16 MB)
        z, lp = logits[lo:hi], logp[lo:hi]
        xp.subtract(z, z.max(axis=1, keepdims=True), out=lp)
        exp = xp.exp(lp)
        lp -= xp.log(exp.sum(axis=1, keepdims=True))
        index = xp.arange(hi - lo)
        picked[lo:hi] = lp[index, y[lo:hi]]
        if with_grad:
            xp.exp(lp, out=lp)                        # softmax(z) = exp(log softmax(z))
            lp[index, y[lo:hi]] -= 1.0
            lp /= n

    if logits.flags.c_contiguous:
        threads.for_example_blocks(rows, xp, logits)
    else:  # a row's max and sum over strided memory may add in another order when the rows are split
        rows(0, n)
    loss = -picked.mean() if n else xp.zeros((), dtype=logits.dtype)   # no rows: 0, as a model's loss of no data
    return loss, (logp if with_grad else None)
