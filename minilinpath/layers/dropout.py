"""Dropout in pylearn2's parameterisation: an include probability and a scale.

During training each input unit is kept with probability ``include_prob`` and
kept values are multiplied by ``scale``:

    out = x * mask * scale,   mask ~ Bernoulli(include_prob), one per example and unit.

pylearn2's defaults are include 0.5 with scale 2 (the usual "inverted
dropout", scale = 1/include). Its maxout recipe uses include 0.8 with scale 1
on the input, i.e. kept pixels are *not* rescaled. At test time the network is
used without masks and without scale (the "include/scale convention"), which
is what ``model.loss`` evaluates.

Masks come from a generator that the caller passes in (never global state), or
are passed in directly so gradient checks and CPU/GPU comparisons can fix them.
"""
from __future__ import annotations

from typing import NamedTuple

from ._checks import require_float


class DropoutCache(NamedTuple):
    mask_times_scale: object  # same shape as x: 0 where dropped, scale where kept


def draw_mask(rng, shape, include_prob: float, dtype):
    """A 0/1 mask of ``shape`` with P(1) = include_prob, drawn from ``rng``."""
    if not 0.0 < include_prob <= 1.0:
        raise ValueError(f"include_prob must be in (0, 1], got {include_prob}.")
    return (rng.random(shape, dtype=dtype) < include_prob).astype(dtype)


def dropout_forward(x, include_prob: float, scale: float, rng=None, mask=None):
    """Apply a dropout mask to x (N, D).

    Reference: :func:`minilinpath.layers.reference.dropout_forward` (equal bit for bit).

    Exactly one of ``rng`` (draw a fresh mask) or ``mask`` (a given 0/1 array of
    x's shape) must be given. Returns ``(out, cache)``.
    """
    require_float("x", x)
    if (rng is None) == (mask is None):
        raise ValueError("dropout_forward needs exactly one of rng= (draw a mask) or mask= (use this one).")
    if mask is None:
        mask = draw_mask(rng, x.shape, include_prob, x.dtype)
    elif tuple(mask.shape) != tuple(x.shape):
        raise ValueError(f"dropout mask has shape {tuple(mask.shape)} but x has shape {tuple(x.shape)}.")
    mask_times_scale = mask.astype(x.dtype, copy=False) * x.dtype.type(scale)
    return x * mask_times_scale, DropoutCache(mask_times_scale)


def dropout_backward(dout, cache: DropoutCache):
    """dx = dout * mask * scale.

    Reference: :func:`minilinpath.layers.reference.dropout_backward` (equal bit for bit).
    """
    return dout * cache.mask_times_scale
