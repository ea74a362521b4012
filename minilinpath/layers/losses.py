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


def check_label_range(y, n_classes: int) -> None:
    """Raise ValueError unless every label lies in [0, n_classes). Reads two numbers back (on a GPU: two syncs)."""
    if y.shape[0] and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes}), got values from {int(y.min())} to {int(y.max())}.")


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
    on_host = not backend.is_cupy_array(logits)
    if on_host:
        check_label_range(y, c)
    else:   # no read-back here (a sync per minibatch): a label out of range makes the loss NaN, see below
        out_of_range = ((y < 0) | (y >= c)).any()
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
    if not on_host:
        # On a GPU the labels are checked without stopping the device's queue: the loss becomes NaN when one is
        # out of range (its row picked a wrapped index), and whoever reads the loss back calls
        # :func:`check_label_range` on a NaN to say why (the models do, see ``nll_value``).
        loss = xp.where(out_of_range, xp.asarray(xp.nan, dtype=loss.dtype), loss)
    return loss, (logp if with_grad else None)


def nll_value(loss, y, n_classes: int) -> float:
    """The loss of :func:`softmax_cross_entropy` as a Python float (one read-back); a NaN is first checked
    against the labels, so that a label out of range is named rather than reported as a diverged loss."""
    value = backend.to_float(loss)
    if value != value:
        check_label_range(y, n_classes)
    return value
