"""Softmax cross-entropy (negative log-likelihood of the correct class)."""
from __future__ import annotations

from .. import backend
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
    """log softmax(z)_c = z_c - logsumexp(z), computed after subtracting the row maximum."""
    xp = backend.get_xp(logits)
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))


def softmax_cross_entropy(logits, y, with_grad: bool = True):
    """Mean negative log-likelihood over the batch.

    Inputs:
    - logits: (N, C) unnormalised scores z
    - y: (N,) integer labels in [0, C)

    Returns ``(loss, dlogits)`` where loss = -(1/N) sum_n log softmax(z_n)[y_n]
    is a 0-d array (no device sync) and dlogits = (softmax(z) - onehot(y)) / N;
    with ``with_grad=False`` dlogits is None.
    """
    _check_labels(logits, y)
    xp = backend.get_xp(logits)
    n, c = logits.shape
    if n and (int(y.min()) < 0 or int(y.max()) >= c):
        raise ValueError(f"labels must lie in [0, {c}), got values from {int(y.min())} to {int(y.max())}.")
    # log_softmax's operations, done in two arrays instead of four (the language model's logits are 16 MB):
    # the same numbers, bit for bit
    logp = logits - logits.max(axis=1, keepdims=True)
    exp = xp.exp(logp)
    logp -= xp.log(exp.sum(axis=1, keepdims=True))
    rows = xp.arange(n)
    loss = -logp[rows, y].mean()
    if not with_grad:
        return loss, None
    dlogits = xp.exp(logp, out=exp)                       # softmax(z) = exp(log softmax(z))
    dlogits[rows, y] -= 1.0
    dlogits /= n
    return loss, dlogits
