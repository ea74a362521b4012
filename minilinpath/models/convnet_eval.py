"""How the conv maxout network is evaluated fast: ``forward_eval`` and the linear path's sweep.

What lives where, and why:

- :mod:`minilinpath.models.convnet` is the network: its parameters, ``forward`` (keeping the caches that
  ``backward`` needs) and ``backward``. Read it first.
- This module is evaluation only: no caches, no gradients, the same numbers with less memory and fewer passes.
  :class:`~minilinpath.models.ConvMaxout` keeps a one-line method for each public function here, so the
  analysis calls the model as before.

Words, for the first conv layer (input X, kernels W, tied biases b): its linear part is conv(X, W)
(:func:`first_linear`), its pre-activation z0 = conv(X, W) + b (:func:`first_bias`; what the conv layer
outputs), its output pool(maxout(z0)).

What makes it faster than the training forward: each layer's cache (the im2col matrix above all) is dropped
as soon as the layer is done, and maxout and pooling run without winner masks (``maxout_eval``,
``max_pool_eval``), so memory is that of one layer at a time. The sweep (:func:`evaluate_line_chunk`) takes
the first layer's maxout and pooling straight from the two ends of the line, block by block of images that
fit in the CPU's cache (``ConvMaxout.LINE_BLOCK_BYTES``): about 10% of the sweep, 106-116 -> 100-103 ms per
alpha and 1,000 images (benchmarks/README.md).

Every function takes the model (a ConvMaxout) first; none changes it.
"""
from __future__ import annotations

import numpy as np

from .. import backend, threads
from ..layers import affine_forward, max_pool_eval, max_pool_forward, maxout_eval, maxout_forward
from ..layers import conv as conv_layer
from ..layers.conv import conv_forward, output_size
from ..layers.maxout import max_over_pieces
from ..params import point_on_line
from .classifier import nll_and_errors
from .mlp_eval import pieces_on_line


# ------------------------------------------------------------------ evaluation: no caches, no winners
def forward_eval(model, theta, X, z0=None):
    """Logits of the deterministic network, keeping nothing for a backward pass.

    The same values as ``model.forward(theta, X)[0]``, one layer's temporaries at a time. With ``z0`` (the
    first conv's pre-activation conv(X, W) + b; may be overwritten) the first convolution is skipped.
    """
    p = model.layout.unflatten(theta)
    spec = model.conv[0]
    z = z0 if z0 is not None else conv_forward(model.as_images(X), p["h0.W"], p["h0.b"], 1, spec.pad)[0]
    return _eval_from(model, p, 1, max_pool_eval(maxout_eval(z, spec.pieces), spec.pool, spec.pool_stride))


def _eval_from(model, p, first_conv, x):
    """The deterministic network from conv layer ``first_conv`` on (``len(model.conv)``: the dense part),
    given that layer's input x; ``p`` are the unflattened parameters."""
    for name, spec in zip(model.conv_names[first_conv:], model.conv[first_conv:]):
        z = conv_forward(x, p[f"{name}.W"], p[f"{name}.b"], 1, spec.pad)[0]
        x = max_pool_eval(maxout_eval(z, spec.pieces), spec.pool, spec.pool_stride)
        del z
    x = x.reshape(x.shape[0], model.n_flat)   # (N, features), also for N = 0
    for name in model.dense_names:
        z = x @ p[f"{name}.W"]
        z += p[f"{name}.b"]
        if name == "y":
            return z
        x = maxout_eval(z, model.dense_pieces)


def eval_fixed_bytes(model) -> int:
    """Evaluation temporaries that do not grow with the chunk: one block of im2col columns and its product."""
    return 2 * conv_layer.BLOCK_BYTES["cpu"]


def eval_bytes_per_example(model, dtype=np.float32) -> int:
    """Temporaries of evaluating one example: the largest layer's input, padded input, conv output and
    maxout output; plus six copies of the first conv's pre-activation, which the linear path's fast sweep
    keeps (both ends, stacked and separate, and two working buffers). The im2col matrix is not per example:
    the conv layer builds it block by block within a fixed size (:func:`eval_fixed_bytes`)."""
    itemsize = np.dtype(dtype).itemsize
    c, h, w = model.input_shape
    largest = 0
    for spec, after in zip(model.conv, model.shapes_after):
        F = spec.units * spec.pieces
        ho, wo = output_size(h, spec.kernel, 1, spec.pad), output_size(w, spec.kernel, 1, spec.pad)
        padded = c * (h + 2 * spec.pad) * (w + 2 * spec.pad)
        largest = max(largest, c * h * w + padded + F * ho * wo + spec.units * ho * wo)
        c, h, w = after
    d = model.n_flat
    for units in model.dense:
        largest = max(largest, d + 2 * units * model.dense_pieces)
        d = units
    spec, (c, h, w) = model.conv[0], model.input_shape
    first_preactivation = spec.units * spec.pieces * output_size(h, spec.kernel, 1, spec.pad) * \
        output_size(w, spec.kernel, 1, spec.pad)
    return (largest + 6 * first_preactivation) * itemsize


# ------------------------------------------------------------------ the dropout network from the first layer on
def dropout_logits_from_first_preactivation(model, theta, z0, masks):
    """Logits of the dropout network under ``masks`` (from ``model.draw_masks``), from the first conv's
    pre-activation z0 = conv(drop_0(X), W) + b (n, F, H', W'): what the Monte Carlo dropout sweep evaluates.

    The same layer functions, in the same order, as ``model.forward(theta, X, masks)`` after its first
    convolution (so the same numbers): maxout_forward and max_pool_forward of z0, then per later layer
    dropout under its mask (``model.drop_layer_input``), the conv or affine layer, maxout (and pooling after
    a conv). Their caches are dropped.
    """
    p = model.layout.unflatten(theta)
    spec = model.conv[0]
    x, _ = max_pool_forward(maxout_forward(z0, spec.pieces)[0], spec.pool, spec.pool_stride)
    for i in range(1, len(model.conv)):
        name, spec = model.conv_names[i], model.conv[i]
        x, _ = model.drop_layer_input(i, x, masks)
        z, _ = conv_forward(x, p[f"{name}.W"], p[f"{name}.b"], 1, spec.pad)
        x, _ = max_pool_forward(maxout_forward(z, spec.pieces)[0], spec.pool, spec.pool_stride)
    x = x.reshape(x.shape[0], model.n_flat)   # (N, features), also for N = 0
    for j, name in enumerate(model.dense_names):
        x, _ = model.drop_layer_input(len(model.conv) + j, x, masks)
        z, _ = affine_forward(x, p[f"{name}.W"], p[f"{name}.b"])
        if name == "y":
            return z
        x, _ = maxout_forward(z, model.dense_pieces)


# ------------------------------------------------------------------ the linear path's fast sweep
def first_linear(model, X, W):
    """conv(X, W) without bias: linear in W, so it is computed once per end of the line."""
    return conv_forward(model.as_images(X), W, None, 1, model.conv[0].pad)[0]


def first_linear_pair(model, X, W0, W1):
    """(conv(X, W0), conv(X, W1)) as one convolution with both kernel sets stacked: one im2col of X."""
    F = W0.shape[0]
    both = conv_forward(model.as_images(X), backend.get_xp(W0).concatenate([W0, W1]), None, 1,
                        model.conv[0].pad)[0]                                  # (N, 2F, H', W')
    return both[:, :F], both[:, F:]


def first_bias(model, theta, z_linear):
    """The first conv's pre-activation from its linear part: conv(X, W) + b (tied: one bias per channel)."""
    return z_linear + model.layout.unflatten(theta)["h0.b"][:, None, None]


def evaluate_line_chunk(model, theta0, theta1, Z0, Z1, alphas, y):
    """``(NLL sums, error counts)``, one per alpha, of the deterministic network at theta(alpha) over
    one chunk whose first conv pre-activations at the two ends are Z0 and Z1 (bias included, (n, F, H', W')).

    Per alpha: theta(alpha) = (1 - alpha) theta0 + alpha theta1 in a reused buffer, then the first
    layer's maxout and pooling straight from the ends, block by block of images,

        x_1 = pool( max_p [Z0_p + alpha (Z1_p - Z0_p)] ),

    so the combined pre-activation is never written out whole and each block's passes run in cache (the
    images split over threads, :mod:`minilinpath.threads`), then the rest of the network on the whole chunk.
    At alpha = 0 and 1 every number is the one :func:`forward_eval` computes at theta0 and theta1
    (Z0 + 0 D = Z0, alpha = 1 takes Z1 itself, maxima are exact), so the sweep's endpoints are
    ``model.loss`` to the last bit.
    """
    xp = backend.get_xp(Z0)
    alphas = [float(a) for a in alphas]  # Python floats keep the network's dtype (a NumPy float64 would not)
    spec = model.conv[0]
    n, F = Z0.shape[:2]
    k, U, hw = spec.pieces, F // spec.pieces, Z0.shape[2:]
    D = Z1 - Z0
    block = max(1, model.LINE_BLOCK_BYTES // (2 * Z0[0].nbytes))
    pooled = xp.empty((n,) + model.shapes_after[0], dtype=Z0.dtype)
    theta, scaled = xp.empty_like(theta0), xp.empty_like(theta0)
    nll, wrong = np.zeros(len(alphas)), np.zeros(len(alphas))

    def first_layer(a, lo, hi):
        """pooled[lo:hi] at alpha a, in blocks of ``block`` images (each thread takes its own images)."""
        pieces = [xp.empty((min(block, hi - lo), U) + hw, dtype=Z0.dtype) for _ in range(2)]  # (b, U, H', W')
        for start in range(lo, hi, block):
            rows = slice(start, min(start + block, hi))
            if a == 1.0:
                m = maxout_eval(Z1[rows], k)
            else:
                z0, d = (A[rows].reshape(-1, U, k, *hw) for A in (Z0, D))  # (b, U, k, H', W') views
                m, piece = (buf[:z0.shape[0]] for buf in pieces)
                max_over_pieces(pieces_on_line((z0[:, :, p] for p in range(k)), (d[:, :, p] for p in range(k)),
                                               a, m, piece), m)
            pooled[rows] = max_pool_eval(m, spec.pool, spec.pool_stride)

    for i, a in enumerate(alphas):
        point_on_line(theta0, theta1, a, theta, scaled)
        threads.for_example_blocks(lambda lo, hi, a=a: first_layer(a, lo, hi), xp, Z0)  # over threads
        logits = _eval_from(model, model.layout.unflatten(theta), 1, pooled)
        nll[i], wrong[i] = nll_and_errors(logits, y)
    return nll, wrong
