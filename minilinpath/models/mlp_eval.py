"""How an MLP is evaluated fast: the evaluation layout ("pieces first"), ``forward_eval``, the linear path's sweep.

What lives where, and why:

- :mod:`minilinpath.models.mlp` is the network: its parameters, ``forward`` (keeping the caches that
  ``backward`` needs) and ``backward``. Read it first; it is the textbook network.
- This module is evaluation only: no caches, no gradients, the same numbers in a faster arrangement. The
  :class:`~minilinpath.models.MLP` class keeps a one-line method for each public function here
  (``model.forward_eval(theta, X)`` runs :func:`forward_eval` of this module with the model), so the analysis
  calls the model as before.

Words, shown for the first layer (input X; every later layer likewise, with its input h):

    linear part       X W                  (:func:`first_linear`)
    pre-activation    z = X W + b          (:func:`first_bias` adds b; what the affine layer outputs)
    output            h = act(z)           (maxout: the maximum over each unit's k pieces)

Why a second layout. In the training layout a maxout layer's pre-activation is (N, U*k), unit j's pieces in
the adjacent columns j*k ... j*k + k - 1, so piece p of every unit is a strided view that NumPy cannot run
through its vector instructions. Here each maxout layer's W is stored pieces first, (k, d, U), so the
pre-activation is (k, N, U): block p is one contiguous product h W_p and the maximum over pieces is k - 1
element-wise maxima of contiguous blocks (:func:`~minilinpath.layers.maxout.max_over_pieces`), without the
winner masks that only backward needs. Measured on ``mnist_pi`` when this layout and the sweep's own loop
over alpha came in (benchmarks/README.md): 13.8 -> 10.1-10.8 ms per alpha and pass of 2,000 examples, of
which 6.0 ms is the second layer's product. The sweep (:func:`evaluate_line_chunk`) also takes the first hidden layer straight from the
two ends of the line, piece by piece; reuses every layer's buffer across alphas (allocating the ~10 MB arrays
anew cost page faults: 10% of the sweep's time); and takes the later layers at every alpha from
:func:`line_parameters`, built once per sweep (the ``mnist_pi`` sweep 15.1 -> 14.1 s). Passes of 2,000
examples (``MLP.eval_chunk``) keep each layer's temporaries in the CPU's cache: 18% faster than 10,000.

Every function takes the model (an MLP) first; none changes it.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import backend, threads
from ..layers import ACTIVATIONS, EVAL_ACTIVATIONS, affine_forward, maxout_forward
from ..layers.maxout import max_over_pieces
from ..params import point_on_line
from .classifier import nll_and_errors


# ------------------------------------------------------------------ the evaluation layout: pieces first
def is_maxout(model, layer_index) -> bool:
    """Whether layer ``layer_index`` takes a maximum over k > 1 pieces (then its arrays are stored pieces first)."""
    return model.activation == "maxout" and model.pieces > 1 and model.layer_names[layer_index] != "y"


def pieces_first(model, layer_index, a):
    """A maxout layer's array in the evaluation layout, as a copy; other layers' arrays as they are.

    Unit j's piece p is column j*k + p of W (d, U*k), entry j*k + p of b and of a pre-activation row.
    Pieces first: W -> (k, d, U), b -> (k, 1, U), z (N, U*k) -> (k, N, U), with [p, ..., j] = that piece.
    """
    if not is_maxout(model, layer_index):
        return a
    xp, k = backend.get_xp(a), model.pieces
    U = a.shape[-1] // k
    if a.ndim == 1:                                                   # a bias (U*k,)
        return xp.ascontiguousarray(a.reshape(U, k).T).reshape(k, 1, U)
    return xp.ascontiguousarray(xp.moveaxis(a.reshape(a.shape[0], U, k), 2, 0))   # (k, rows, U)


def unit_major(model, layer_index, z):
    """The inverse of :func:`pieces_first` on a pre-activation: (k, N, U) -> (N, U*k), column j*k + p."""
    if not is_maxout(model, layer_index):
        return z
    k, n, U = z.shape
    return backend.get_xp(z).moveaxis(z, 0, 2).reshape(n, U * k)


def eval_params(model, theta, first_weights=True) -> list:
    """``[(W, b), ...]`` per layer in the evaluation layout (:func:`pieces_first`).

    ``first_weights=False`` leaves the first layer's W out (``None``): the linear path's fast sweep
    has that layer's pre-activation already, and an MLP's first W is most of its parameters."""
    p = model.layout.unflatten(theta)
    return [(pieces_first(model, i, p[f"{name}.W"]) if i or first_weights else None,
             pieces_first(model, i, p[f"{name}.b"])) for i, name in enumerate(model.layer_names)]


# ------------------------------------------------------------------ evaluation: no caches, pieces first
def forward_eval(model, theta, X, z0=None):
    """Logits (N, n_classes) of the deterministic network, keeping nothing for a backward pass.

    The same values as ``model.forward(theta, X)[0]``, computed in the pieces-first layout (see the module
    docstring): h_{l+1} = max_p (h_l W_p + b_p) for a maxout layer, act(h_l W + b) otherwise. With ``z0``
    (the first layer's pre-activation X W + b in that layout, as :func:`first_linear` and :func:`first_bias`
    give it; it may be overwritten) X is not used.
    """
    layers = eval_params(model, theta, first_weights=z0 is None)
    if z0 is None:
        W, b = layers[0]
        z0 = _affine_eval(X, W, b)
    return _logits_from_hidden(model, layers, _activate_eval(model, 0, z0))


def _affine_eval(h, W, b, out=None):
    """h (N, d) times W: (N, d_out), or (k, N, U) for a maxout layer's pieces-first W (k, d, U); plus b.
    ``out``: an array of that shape to write into (a fresh one is allocated otherwise)."""
    xp = backend.get_xp(h)
    z = xp.matmul(h, W, out=out)  # a maxout layer: one product h W_p per piece, stacked

    def examples(lo, hi):          # the examples are the second-to-last axis in both layouts
        z[..., lo:hi, :] += b

    threads.for_example_blocks(examples, xp, z, axis=-2)
    return z


def _activate_eval(model, layer_index, z):
    """A layer's output from its pre-activation (overwritten): max over the k pieces, or in place; the
    softmax layer's logits and maxout with one piece are z itself."""
    if model.layer_names[layer_index] == "y" or (model.activation == "maxout" and model.pieces == 1):
        return z
    if not is_maxout(model, layer_index):
        return EVAL_ACTIVATIONS[model.activation](z)
    xp = backend.get_xp(z)
    out = xp.empty(z.shape[1:], dtype=z.dtype)                        # (N, U)

    def examples(lo, hi):
        max_over_pieces(z[:, lo:hi], out[lo:hi])                      # the pieces z[p, lo:hi], in order

    threads.for_example_blocks(examples, xp, z, axis=-2)
    return out


def _logits_from_hidden(model, layers, h, buffers=None):
    """The network after its first layer: h = h_1 (N, units_0) -> logits (N, n_classes) (h itself when
    the first layer is the softmax layer). ``buffers``: one array per layer for its pre-activation."""
    for i in range(1, len(layers)):
        (W, b), out = layers[i], None if buffers is None else buffers[i]
        if is_maxout(model, i):
            h = _maxout_of_pieces_plus_bias(backend.get_xp(h).matmul(h, W, out=out), b)
        else:
            h = _activate_eval(model, i, _affine_eval(h, W, b, out=out))
    return h


def _maxout_of_pieces_plus_bias(z, b):
    """max_p (z_p + b_p) for a pieces-first z (k, N, U) without its bias and b (k, 1, U): the same numbers
    as adding b to z and then :func:`_activate_eval`, but each piece plus its bias goes into a small
    scratch array, not back into z (one pass over z fewer)."""
    xp = backend.get_xp(z)
    out = xp.empty(z.shape[1:], dtype=z.dtype)                        # (N, U)

    def examples(lo, hi):
        rows, scratch = out[lo:hi], xp.empty_like(out[lo:hi])

        def pieces_plus_bias():        # piece 0 straight into the output, every later piece into the scratch
            yield xp.add(z[0, lo:hi], b[0], out=rows)
            for piece in range(1, z.shape[0]):
                yield xp.add(z[piece, lo:hi], b[piece], out=scratch)

        max_over_pieces(pieces_plus_bias(), rows)

    threads.for_example_blocks(examples, xp, z, axis=-2)
    return out


def eval_bytes_per_example(model, dtype=np.float32) -> int:
    """Temporaries of evaluating one example: the widest layer's input, pre-activation and output, plus
    four copies of the first layer's pre-activation, which bound what the linear path's fast sweep keeps
    (both ends, their difference, and the next layer's pre-activation)."""
    widths = [model.n_in] + [model.layout[f"{n}.W"].shape[1] for n in model.layer_names]
    largest = max(d_in + d_out + d_out // max(model.pieces, 1) for d_in, d_out in zip(widths, widths[1:]))
    return (largest + 4 * widths[1]) * np.dtype(dtype).itemsize


# ------------------------------------------------------------------ the dropout network from the first layer on
def dropout_logits_from_first_preactivation(model, theta, z0, masks):
    """Logits (N, n_classes) of the dropout network under ``masks`` (from ``model.draw_masks``), from the
    first layer's pre-activation z0 = drop_0(X) W + b in the evaluation layout (:func:`first_linear`,
    :func:`first_bias`): what the Monte Carlo dropout sweep evaluates at every alpha.

    The same layer functions, in the same order, as ``model.forward(theta, X, masks)`` after its first affine
    layer (so the same numbers): z0 back to the training layout (:func:`unit_major`), then per layer the
    activation (maxout_forward or the activation's forward), dropout under its mask
    (``model.drop_layer_input``), the affine layer. Their caches are dropped.
    """
    p = model.layout.unflatten(theta)
    z = unit_major(model, 0, z0)
    for i, name in enumerate(model.layer_names[1:], start=1):
        if model.activation == "maxout":
            h, _ = maxout_forward(z, model.pieces)
        else:
            h, _ = ACTIVATIONS[model.activation][0](z)
        h, _ = model.drop_layer_input(i, h, masks)
        z, _ = affine_forward(h, p[f"{name}.W"], p[f"{name}.b"])
    return z


# ------------------------------------------------------------------ the linear path's fast sweep
class LayersOnLine(NamedTuple):
    """Every layer after an MLP's first at each alpha of a line, as :func:`line_parameters` builds them."""
    alphas: tuple   # the alphas, as Python floats
    layers: list    # [(W_all (n_alphas, ...), b_all (n_alphas, ...)) of layer 1, layer 2, ...], evaluation layout

    def at(self, i) -> list:
        """``[(W, b), ...]`` of every later layer at the i-th alpha (views)."""
        return [(W[i], b[i]) for W, b in self.layers]


def _check_layers_on_line(on_line, alphas, dtype) -> None:
    """Refuse an ``on_line`` that is not :func:`line_parameters`' result for these alphas and this dtype."""
    if not isinstance(on_line, LayersOnLine):
        raise ValueError(f"on_line must be what line_parameters(theta0, theta1, alphas) returned, got "
                         f"{type(on_line).__name__}.")
    if on_line.alphas != tuple(alphas):
        raise ValueError(f"on_line was built for {len(on_line.alphas)} other alphas than these {len(alphas)}; build "
                         "it with line_parameters(theta0, theta1, alphas) for the same alphas.")
    if any(a.dtype != dtype for pair in on_line.layers for a in pair):
        raise ValueError(f"on_line holds {on_line.layers[0][0].dtype} parameters but the chunk is {dtype}; build "
                         "it from theta0 and theta1 of the chunk's dtype.")


def first_linear(model, X, W):
    """The first layer's linear part, X W (the bias is added by :func:`first_bias`), in the evaluation
    layout (:func:`pieces_first`) that :func:`forward_eval` works in."""
    return backend.get_xp(X).matmul(X, pieces_first(model, 0, W))


def first_bias(model, theta, z_linear):
    """The first pre-activation from its linear part: X W + b (in the layout of :func:`first_linear`)."""
    return z_linear + pieces_first(model, 0, model.layout.unflatten(theta)[f"{model.layer_names[0]}.b"])


def evaluate_line_chunk(model, theta0, theta1, Z0, Z1, alphas, y, on_line=None):
    """``(NLL sums, error counts)``, one per alpha, of the deterministic network at theta(alpha) over
    one chunk whose first-layer pre-activations at the two ends are Z0 and Z1 (from :func:`first_bias`).

    Per alpha: every later layer's parameters (1 - alpha) P0 + alpha P1 in the evaluation layout (taken
    from ``on_line``, what :func:`line_parameters` built once for the whole sweep, or else built here
    again for this chunk in reused buffers), and the first hidden layer straight from the two ends,

        h_1 = max_p [Z0_p + alpha (Z1_p - Z0_p)]        (maxout; an activation otherwise),

    piece by piece, so the combined (k, N, U) pre-activation is never written out (D = Z1 - Z0 is
    formed once per chunk: two operations per piece and alpha instead of three). At alpha = 0 and 1
    every number is the one :func:`forward_eval` computes at theta0 and theta1 (Z0 + 0 D = Z0, alpha = 1
    takes Z1 itself, and x * 1 + y * 0 = x for the parameters), so the sweep's endpoints are
    ``model.loss`` to the last bit.
    """
    xp = backend.get_xp(Z0)
    alphas = [float(a) for a in alphas]  # Python floats keep the network's dtype (a NumPy float64 would not)
    if on_line is not None:
        _check_layers_on_line(on_line, alphas, Z0.dtype)
    nll, wrong = np.zeros(len(alphas)), np.zeros(len(alphas))
    if not alphas:
        return nll, wrong
    if on_line is None:
        ends = _line_ends(model, theta0, theta1)
        reused, scratch = ([tuple(xp.empty_like(a) for a in pair) for pair in ends[0]] for _ in range(2))
    # each layer's pre-activation and the first hidden layer's working arrays, written again for every
    # alpha (allocating ~10 MB arrays anew costs page faults: 10% of the sweep's time, measured)
    n, dtype = y.shape[0], Z0.dtype
    later = on_line.at(0) if on_line is not None else reused
    buffers = [None] + [xp.empty((model.pieces, n, W.shape[-1]) if is_maxout(model, i) else (n, W.shape[-1]),
                                 dtype=dtype) for i, (W, _) in enumerate(later, start=1)]
    work = [xp.empty(Z0.shape[1:], dtype=dtype) for _ in range(2)] if is_maxout(model, 0) else [xp.empty_like(Z0)]
    D = Z1 - Z0
    for i, a in enumerate(alphas):
        later = _later_layers_at(ends, a, reused, scratch) if on_line is None else on_line.at(i)
        h = _first_hidden_on_line(model, Z0, D, a, work) if a != 1.0 else _first_hidden_at(model, Z1, work)
        nll[i], wrong[i] = nll_and_errors(_logits_from_hidden(model, [None] + list(later), h, buffers), y)
    return nll, wrong


def _line_ends(model, theta0, theta1):
    """Every layer after the first at theta0 and at theta1, ``[[(W, b), ...], [(W, b), ...]]``, in the
    evaluation layout (copies)."""
    return [eval_params(model, t, first_weights=False)[1:] for t in (theta0, theta1)]


def _later_layers_at(ends, a, out, scratch):
    """Write (1 - a) P0 + a P1 of every (W, b) pair of ``ends`` into ``out`` (``scratch``: arrays of the same
    shapes for a P1) and return ``out``."""
    for (W0, b0), (W1, b1), (W, b), (sW, sb) in zip(*ends, out, scratch):
        point_on_line(W0, W1, a, W, sW)
        point_on_line(b0, b1, a, b, sb)
    return out


def line_parameters(model, theta0, theta1, alphas) -> LayersOnLine:
    """Every layer after the first at theta(alpha) = (1 - alpha) theta0 + alpha theta1, for each alpha, in
    the evaluation layout: a :class:`LayersOnLine` with one stacked array per W and b, (n_alphas, ...).

    The linear path's fast sweep builds these once for the whole data set and passes them to every
    chunk's :func:`evaluate_line_chunk` (which would otherwise build them again per chunk: 8% of the
    ``mnist_pi`` sweep's time, measured), when :func:`line_parameter_bytes` fits the memory budget.
    The same operations as in the chunk, so the same numbers.
    """
    xp = backend.get_xp(theta0)
    alphas = tuple(float(a) for a in alphas)
    ends = _line_ends(model, theta0, theta1)
    stacked = [tuple(xp.empty((len(alphas),) + a.shape, dtype=a.dtype) for a in pair) for pair in ends[0]]
    scratch = [tuple(xp.empty_like(a) for a in pair) for pair in ends[0]]
    for i, a in enumerate(alphas):
        _later_layers_at(ends, a, [(W[i], b[i]) for W, b in stacked], scratch)
    return LayersOnLine(alphas, stacked)


def line_parameter_bytes(model, n_alphas: int, dtype=np.float32) -> int:
    """Bytes of the arrays :func:`line_parameters` keeps for ``n_alphas`` alphas (every parameter but the
    first layer's, once per alpha; the few Python objects around them do not grow with n_alphas)."""
    first = sum(model.layout[f"{model.layer_names[0]}.{w}"].size for w in ("W", "b"))
    return int(n_alphas) * (model.size - first) * np.dtype(dtype).itemsize


def _first_hidden_on_line(model, Z0, D, a, work):
    """h_1 at theta(alpha) from the first layer's pre-activation at theta0 and its change D = Z1 - Z0 (neither
    is changed), written into ``work``: two arrays of one piece's shape (N, U), or one of Z0's otherwise."""
    xp = backend.get_xp(Z0)
    out = work[0]
    if not is_maxout(model, 0):
        xp.multiply(D, a, out=out)
        out += Z0
        return _activate_eval(model, 0, out)
    piece = work[1]

    def examples(lo, hi):
        rows = out[lo:hi]
        max_over_pieces(pieces_on_line(Z0[:, lo:hi], D[:, lo:hi], a, rows, piece[lo:hi]), rows)

    threads.for_example_blocks(examples, xp, Z0, axis=-2)
    return out


def pieces_on_line(z0_pieces, d_pieces, a, out, scratch):
    """Yield the pieces of z0 + a d in order, for :func:`~minilinpath.layers.maxout.max_over_pieces`: piece 0
    written into ``out`` (where the maximum goes), every later piece into ``scratch`` (one piece's size), each
    taken by the maximum before the next is written. Two operations per piece, a d_p then + z0_p, so the
    combined pre-activation is never written out whole (also the conv net's sweep, :mod:`.convnet_eval`)."""
    xp = backend.get_xp(out)
    for p, (z0_p, d_p) in enumerate(zip(z0_pieces, d_pieces)):
        target = out if p == 0 else scratch
        xp.multiply(d_p, a, out=target)
        target += z0_p
        yield target


def _first_hidden_at(model, Z, work):
    """h_1 from a first-layer pre-activation Z itself (the line's far end), into ``work[0]``, Z unchanged."""
    out = work[0]
    if not is_maxout(model, 0):
        out[...] = Z
        return _activate_eval(model, 0, out)
    return max_over_pieces(Z, out)                                    # the pieces Z[p], in order
