"""Word embedding: a lookup of rows of a (V, D) matrix."""
from __future__ import annotations

from typing import NamedTuple

from .. import backend
from ._checks import require_float


class EmbeddingCache(NamedTuple):
    ids: object    # (N, T) integer ids
    V: int         # vocabulary size


def embedding_forward(ids, W):
    """ids (N, T) integers in [0, V), W (V, D) -> out (N, T, D) with out[n, t] = W[ids[n, t]].

    Reference: :func:`minilinpath.layers.reference.embedding_forward` (equal bit for bit).
    """
    require_float("W", W)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"ids must be integers, got dtype {ids.dtype}.")
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= W.shape[0]):
        raise ValueError(f"ids must lie in [0, {W.shape[0]}), got {int(ids.min())} to {int(ids.max())}.")
    return W[ids], EmbeddingCache(ids, W.shape[0])


def embedding_backward(dout, cache: EmbeddingCache, out=None):
    """dW (V, D): the sum of dout over every position where each id occurs.

    Reference: :func:`minilinpath.layers.reference.embedding_backward` (equal bit for bit).

    A word that appears several times in the batch collects all of its
    gradients: a scatter-*add* (``backend.add_at``), not an assignment, which
    would keep only one of them. ``out``: a (V, D) array to write dW into
    (e.g. its place in a flat gradient), instead of a new one.
    """
    xp = backend.get_xp(dout)
    if out is None:
        dW = xp.zeros((cache.V, dout.shape[-1]), dtype=dout.dtype)
    else:
        dW = out
        dW[...] = 0
    backend.add_at(dW, cache.ids.reshape(-1), dout.reshape(-1, dout.shape[-1]))
    return dW
