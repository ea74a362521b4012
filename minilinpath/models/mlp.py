"""Multilayer perceptrons as pure functions of a flat parameter vector.

The network, for L hidden layers::

    h_0 = X                                   (N, n_in)
    z_l = drop_l(h_l) W_l + b_l               (N, units_l * pieces)
    h_{l+1} = act(z_l)                        maxout over k pieces, or ReLU / sigmoid / tanh
    logits = drop_L(h_L) W_y + b_y            (N, n_classes)
    J = mean_n -log softmax(logits_n)[y_n]

``drop_0`` uses the input include probability and scale, every later
``drop_l`` the hidden ones (pylearn2's ``Dropout`` cost). ``loss`` evaluates the
deterministic network (no masks, no scale), which is pylearn2's test-time
network; ``loss_and_grad`` with ``rng`` or ``masks`` gives the dropout training
objective.

Parameter names follow pylearn2's layers: ``h0.W`` (n_in, units*pieces),
``h0.b``, ``h1.W``, ..., ``y.W`` (n_last, n_classes), ``y.b``. A maxout unit j
owns the columns j*k ... j*k+k-1 of its layer.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import backend, threads
from ..layers import (ACTIVATIONS, EVAL_ACTIVATIONS, affine_backward, affine_forward, dropout_backward,
                      dropout_forward, maxout_backward, maxout_forward)
from ..layers.dropout import draw_mask
from ..params import Layout, point_on_line
from .classifier import SoftmaxClassifier, nll_and_errors, limit_column_norms


class LayersOnLine(NamedTuple):
    """Every layer after an MLP's first at each alpha of a line, as :meth:`MLP.line_parameters` builds them."""
    alphas: tuple   # the alphas, as Python floats
    layers: list    # [(W_all (n_alphas, ...), b_all (n_alphas, ...)) of layer 1, layer 2, ...], evaluation layout

    def at(self, i) -> list:
        """``[(W, b), ...]`` of every later layer at the i-th alpha (views)."""
        return [(W[i], b[i]) for W, b in self.layers]


def _check_layers_on_line(on_line, alphas, dtype) -> None:
    """Refuse an ``on_line`` that is not :meth:`MLP.line_parameters`' result for these alphas and this dtype."""
    if not isinstance(on_line, LayersOnLine):
        raise ValueError(f"on_line must be what line_parameters(theta0, theta1, alphas) returned, got "
                         f"{type(on_line).__name__}.")
    if on_line.alphas != tuple(alphas):
        raise ValueError(f"on_line was built for {len(on_line.alphas)} other alphas than these {len(alphas)}; build "
                         "it with line_parameters(theta0, theta1, alphas) for the same alphas.")
    if any(a.dtype != dtype for pair in on_line.layers for a in pair):
        raise ValueError(f"on_line holds {on_line.layers[0][0].dtype} parameters but the chunk is {dtype}; build "
                         "it from theta0 and theta1 of the chunk's dtype.")


class MLP(SoftmaxClassifier):
    """A fully connected classifier with maxout, ReLU, sigmoid, tanh or linear hidden units.

    Parameters
    ----------
    n_in : input dimension (784 for MNIST).
    hidden : number of units in each hidden layer, e.g. ``(240, 240)``.
    activation : ``"maxout"``, ``"relu"``, ``"sigmoid"``, ``"tanh"`` or ``"linear"``.
    pieces : linear pieces per maxout unit (only with ``activation="maxout"``).
    n_classes : softmax outputs.
    init_ranges : one half-width r per weight layer (hidden layers, then softmax);
        weights start U(-r, r), biases at 0. ``r = 0`` starts that layer at zero.
    max_col_norms : one limit per weight layer (``None`` = no limit); after each
        update every column of W is rescaled to have L2 norm <= its limit.
    input_include, input_scale : dropout on the input (include probability, scale).
    hidden_include, hidden_scale : dropout on the inputs of every later layer.
    name : a label stored in checkpoints and figure settings.

    ``loss``, ``loss_and_grad``, ``predict`` and ``error_rate`` come from
    :class:`~minilinpath.models.classifier.SoftmaxClassifier`; this class
    defines the network (``forward``, ``backward``) they run.
    """

    # Evaluation passes of 2,000 examples: each layer's temporaries (a few MB) then stay in the CPU's cache,
    # which made the linear path's sweep 18% faster than passes of 10,000 here (mnist_pi, 20 alphas).
    eval_chunk = 2_000

    def __init__(self, n_in=784, hidden=(240, 240), activation="maxout", pieces=1, n_classes=10,
                 init_ranges=None, max_col_norms=None, input_include=1.0, input_scale=1.0,
                 hidden_include=1.0, hidden_scale=1.0, name="mlp"):
        if activation != "maxout" and activation not in ACTIVATIONS:
            raise ValueError(f"activation must be 'maxout' or one of {sorted(ACTIVATIONS)}, got {activation!r}.")
        if activation != "maxout" and pieces != 1:
            raise ValueError(f"pieces={pieces} only makes sense with activation='maxout'.")
        if int(pieces) < 1 or int(n_in) < 1 or int(n_classes) < 2 or any(int(h) < 1 for h in hidden):
            raise ValueError("n_in, every hidden size and pieces must be >= 1, and n_classes >= 2.")
        for label, p in (("input_include", input_include), ("hidden_include", hidden_include)):
            if not 0.0 < p <= 1.0:
                raise ValueError(f"{label} must be in (0, 1], got {p}.")
        self.n_in, self.hidden, self.activation = int(n_in), tuple(int(h) for h in hidden), activation
        self.pieces, self.n_classes, self.name = int(pieces), int(n_classes), name
        n_layers = len(self.hidden) + 1
        self.init_ranges = tuple(init_ranges) if init_ranges is not None else (0.005,) * n_layers
        self.max_col_norms = tuple(max_col_norms) if max_col_norms is not None else (None,) * n_layers
        if len(self.init_ranges) != n_layers or len(self.max_col_norms) != n_layers:
            raise ValueError(f"init_ranges and max_col_norms need {n_layers} entries (hidden layers + softmax).")
        self.input_include, self.input_scale = float(input_include), float(input_scale)
        self.hidden_include, self.hidden_scale = float(hidden_include), float(hidden_scale)

        shapes, d = [], self.n_in
        for i, units in enumerate(self.hidden):
            width = units * self.pieces
            shapes += [(f"h{i}.W", (d, width)), (f"h{i}.b", (width,))]
            d = units
        shapes += [("y.W", (d, self.n_classes)), ("y.b", (self.n_classes,))]
        self.layout = Layout(shapes)
        self.layer_names = [f"h{i}" for i in range(len(self.hidden))] + ["y"]

    def __repr__(self):
        pieces = f"x{self.pieces}" if self.activation == "maxout" else ""
        layers = " -> ".join([str(self.n_in)] + [f"{h}{pieces}" for h in self.hidden] + [str(self.n_classes)])
        return f"MLP({self.name}: {layers}, {self.activation}, {self.layout.size:,} parameters)"

    @property
    def size(self) -> int:
        return self.layout.size

    @property
    def uses_dropout(self) -> bool:
        return (self.input_include, self.input_scale, self.hidden_include, self.hidden_scale) != (1, 1, 1, 1)

    def settings(self) -> dict:
        """The constructor arguments, JSON-friendly (stored with checkpoints and results)."""
        return dict(n_in=self.n_in, hidden=list(self.hidden), activation=self.activation, pieces=self.pieces,
                    n_classes=self.n_classes, init_ranges=list(self.init_ranges),
                    max_col_norms=list(self.max_col_norms), input_include=self.input_include,
                    input_scale=self.input_scale, hidden_include=self.hidden_include,
                    hidden_scale=self.hidden_scale, name=self.name)

    # ----------------------------------------------------------------- parameters
    def init(self, seed, xp=None, dtype=np.float32):
        """theta at initialisation: weights U(-r, r) per layer, biases 0.

        Drawn with NumPy's generator from ``seed`` and then moved to the
        device, so the same seed gives the same theta on CPU and GPU.
        """
        rng = np.random.default_rng(seed)
        theta = np.zeros(self.layout.size, dtype=np.float64)
        views = self.layout.unflatten(theta)
        for name, r in zip(self.layer_names, self.init_ranges):
            if r:
                views[f"{name}.W"][...] = rng.uniform(-r, r, size=views[f"{name}.W"].shape)
        return backend.to_device(theta, "gpu" if xp is not None and xp is not np else "cpu", dtype=dtype)

    def unflatten(self, theta) -> dict:
        return self.layout.unflatten(theta)

    def constrain(self, theta) -> None:
        """Apply the max column norm limits in place (pylearn2's ``max_col_norm``).

        Each column w of a limited W becomes w * min(1, limit / ||w||).
        """
        views = self.layout.unflatten(theta)
        for name, limit in zip(self.layer_names, self.max_col_norms):
            limit_column_norms(views[f"{name}.W"], limit)

    # ------------------------------------------------------------------- dropout
    def _include_and_scale(self, layer_index):
        if layer_index == 0:
            return self.input_include, self.input_scale
        return self.hidden_include, self.hidden_scale

    def draw_masks(self, rng, n_examples, dtype=np.float32) -> dict:
        """One 0/1 mask per layer input that uses dropout: ``{layer_index: (N, d_in)}``."""
        masks = {}
        for i, name in enumerate(self.layer_names):
            include, scale = self._include_and_scale(i)
            if (include, scale) != (1.0, 1.0):
                d_in = self.layout[f"{name}.W"].shape[0]
                masks[i] = draw_mask(rng, (n_examples, d_in), include, dtype)
        return masks

    def hessian_vector_product(self, theta, batch, v):
        """H(theta) v of the deterministic network's mean NLL, exactly (:func:`~minilinpath.models.mlp_hvp.mlp_hvp`)."""
        from .mlp_hvp import mlp_hvp

        return mlp_hvp(self, theta, batch, v)

    # ------------------------------------------------------------------- forward
    def _check_batch(self, theta, X, y=None):
        self.layout.check(theta)
        if getattr(X, "ndim", None) != 2 or X.shape[1] != self.n_in:
            raise ValueError(f"{self.name}: X must have shape (N, {self.n_in}), got {getattr(X, 'shape', None)}.")
        if X.dtype != theta.dtype:
            raise TypeError(
                f"{self.name}: X has dtype {X.dtype} but theta has {theta.dtype}; computation follows theta's "
                f"dtype, so cast X with X.astype(theta.dtype)."
            )
        if y is not None and (getattr(y, "ndim", None) != 1 or y.shape[0] != X.shape[0]):
            raise ValueError(f"{self.name}: y must have shape ({X.shape[0]},), got {getattr(y, 'shape', None)}.")

    def forward(self, theta, X, masks=None, z0=None):
        """Logits (N, n_classes) and the caches backward needs.

        ``masks`` is ``None`` (deterministic network) or a dict from
        :meth:`draw_masks`. With ``z0`` (the first layer's pre-activation,
        already computed, in :meth:`first_linear`'s piece-major order) the
        input dropout and first affine layer are skipped and X is not used:
        this is what the linear path's fast sweep needs.
        """
        p = self.layout.unflatten(theta)
        caches, h = [], X
        for i, name in enumerate(self.layer_names):
            drop_cache = aff_cache = None
            if i == 0 and z0 is not None:
                z = self.unit_major(0, z0)  # the fast sweep's z0 comes piece-major (see first_linear)
            else:
                if masks is not None and i in masks:
                    include, scale = self._include_and_scale(i)
                    h, drop_cache = dropout_forward(h, include, scale, mask=masks[i])
                z, aff_cache = affine_forward(h, p[f"{name}.W"], p[f"{name}.b"])
            if name == "y":
                caches.append((drop_cache, aff_cache, None))
                return z, caches
            if self.activation == "maxout":
                h, act_cache = maxout_forward(z, self.pieces)
            else:
                h, act_cache = ACTIVATIONS[self.activation][0](z)
            caches.append((drop_cache, aff_cache, act_cache))

    # ------------------------------------------- evaluation: no caches, pieces first
    def forward_eval(self, theta, X, z0=None):
        """Logits (N, n_classes) of the deterministic network, keeping nothing for a backward pass.

        The same values as ``forward(theta, X)[0]``, computed in the *pieces-first* layout (see
        :meth:`pieces_first`): a maxout layer's pre-activation is a (k, N, U) array whose block p holds
        piece p of every unit, so each block is a contiguous product h W_p and the maximum over pieces is
        k - 1 element-wise maxima of contiguous blocks (no winner masks). With ``z0`` (the first layer's
        output in that layout, as :meth:`first_linear` and :meth:`first_bias` give it; it may be
        overwritten) X is not used.
        """
        layers = self.eval_params(theta, first_weights=z0 is None)
        if z0 is None:
            W, b = layers[0]
            z0 = self._affine_eval(X, W, b)
        return self._logits_from_hidden(layers, self._activate_eval(0, z0))

    def _is_maxout(self, layer_index) -> bool:
        return self.activation == "maxout" and self.pieces > 1 and self.layer_names[layer_index] != "y"

    def pieces_first(self, layer_index, a):
        """A maxout layer's array in the evaluation layout, as a copy; other layers' arrays as they are.

        Unit j's piece p is column j*k + p of W (d, U*k), entry j*k + p of b and of a pre-activation row.
        Pieces first: W -> (k, d, U), b -> (k, 1, U), z (N, U*k) -> (k, N, U), with [p, ..., j] = that piece.
        """
        if not self._is_maxout(layer_index):
            return a
        xp, k = backend.get_xp(a), self.pieces
        U = a.shape[-1] // k
        if a.ndim == 1:                                                   # a bias (U*k,)
            return xp.ascontiguousarray(a.reshape(U, k).T).reshape(k, 1, U)
        return xp.ascontiguousarray(xp.moveaxis(a.reshape(a.shape[0], U, k), 2, 0))   # (k, rows, U)

    def unit_major(self, layer_index, z):
        """The inverse of :meth:`pieces_first` on a pre-activation: (k, N, U) -> (N, U*k), column j*k + p."""
        if not self._is_maxout(layer_index):
            return z
        k, n, U = z.shape
        return backend.get_xp(z).moveaxis(z, 0, 2).reshape(n, U * k)

    def eval_params(self, theta, first_weights=True) -> list:
        """``[(W, b), ...]`` per layer in the evaluation layout (:meth:`pieces_first`).

        ``first_weights=False`` leaves the first layer's W out (``None``): the linear path's fast sweep
        has that layer's output already, and an MLP's first W is most of its parameters."""
        p = self.layout.unflatten(theta)
        return [(self.pieces_first(i, p[f"{name}.W"]) if i or first_weights else None,
                 self.pieces_first(i, p[f"{name}.b"])) for i, name in enumerate(self.layer_names)]

    def _affine_eval(self, h, W, b, out=None):
        """h (N, d) times W: (N, d_out), or (k, N, U) for a maxout layer's pieces-first W (k, d, U); plus b.
        ``out``: an array of that shape to write into (a fresh one is allocated otherwise)."""
        xp = backend.get_xp(h)
        z = xp.matmul(h, W, out=out)  # a maxout layer: one product h W_p per piece, stacked

        def examples(lo, hi):          # the examples are the second-to-last axis in both layouts
            z[..., lo:hi, :] += b

        threads.for_example_blocks(examples, xp, z, axis=-2)
        return z

    def _activate_eval(self, layer_index, z):
        """A layer's output from its pre-activation (overwritten): max over the k pieces, or in place; the
        softmax layer's logits and maxout with one piece are z itself."""
        if self.layer_names[layer_index] == "y" or (self.activation == "maxout" and self.pieces == 1):
            return z
        if not self._is_maxout(layer_index):
            return EVAL_ACTIVATIONS[self.activation](z)
        xp = backend.get_xp(z)
        out = xp.empty(z.shape[1:], dtype=z.dtype)                        # (N, U)

        def examples(lo, hi):
            xp.maximum(z[0, lo:hi], z[1, lo:hi], out=out[lo:hi])
            for piece in range(2, self.pieces):
                xp.maximum(out[lo:hi], z[piece, lo:hi], out=out[lo:hi])

        threads.for_example_blocks(examples, xp, z, axis=-2)
        return out

    def _logits_from_hidden(self, layers, h, buffers=None):
        """The network after its first layer: h = h_1 (N, units_0) -> logits (N, n_classes) (h itself when
        the first layer is the softmax layer). ``buffers``: one array per layer for its pre-activation."""
        for i in range(1, len(layers)):
            (W, b), out = layers[i], None if buffers is None else buffers[i]
            if self._is_maxout(i):
                h = self._maxout_of_pieces_plus_bias(backend.get_xp(h).matmul(h, W, out=out), b)
            else:
                h = self._activate_eval(i, self._affine_eval(h, W, b, out=out))
        return h

    def _maxout_of_pieces_plus_bias(self, z, b):
        """max_p (z_p + b_p) for a pieces-first z (k, N, U) without its bias and b (k, 1, U): the same numbers
        as adding b to z and then :meth:`_activate_eval`, but each piece plus its bias goes into a small
        scratch array, not back into z (one pass over z fewer)."""
        xp = backend.get_xp(z)
        out = xp.empty(z.shape[1:], dtype=z.dtype)                        # (N, U)

        def examples(lo, hi):
            xp.add(z[0, lo:hi], b[0], out=out[lo:hi])
            scratch = xp.empty_like(out[lo:hi])
            for piece in range(1, self.pieces):
                xp.add(z[piece, lo:hi], b[piece], out=scratch)
                xp.maximum(out[lo:hi], scratch, out=out[lo:hi])

        threads.for_example_blocks(examples, xp, z, axis=-2)
        return out

    def eval_bytes_per_example(self, dtype=np.float32) -> int:
        """Temporaries of evaluating one example: the widest layer's input, pre-activation and output, plus
        four copies of the first layer's output, which bound what the linear path's fast sweep keeps (both
        ends, their difference, and the next layer's pre-activation)."""
        widths = [self.n_in] + [self.layout[f"{n}.W"].shape[1] for n in self.layer_names]
        largest = max(d_in + d_out + d_out // max(self.pieces, 1) for d_in, d_out in zip(widths, widths[1:]))
        return (largest + 4 * widths[1]) * np.dtype(dtype).itemsize

    # ------------------------------------------- the linear path's fast sweep
    @property
    def first_layer_weights(self) -> str:
        """The first layer's weights (``h0.W``; ``y.W`` without hidden layers): X W(alpha) is affine in alpha."""
        return f"{self.layer_names[0]}.W"

    def first_linear(self, X, W):
        """The first layer's linear part, X W (the bias is added later), in the evaluation layout
        (:meth:`pieces_first`) that :meth:`forward_eval` works in."""
        return backend.get_xp(X).matmul(X, self.pieces_first(0, W))

    def drop_input(self, X, masks=None):
        """The input as the first affine layer sees it: X, or X * mask * scale under dropout masks."""
        if masks is None or 0 not in masks:
            return X
        return dropout_forward(X, self.input_include, self.input_scale, mask=masks[0])[0]

    def first_bias(self, theta, z_linear):
        """The first pre-activation from its linear part: X W + b (in the layout of first_linear)."""
        return z_linear + self.pieces_first(0, self.layout.unflatten(theta)[f"{self.layer_names[0]}.b"])

    def evaluate_line_chunk(self, theta0, theta1, Z0, Z1, alphas, y, on_line=None):
        """``(NLL sums, error counts)``, one per alpha, of the deterministic network at theta(alpha) over
        one chunk whose first-layer outputs at the two ends are Z0 and Z1 (from :meth:`first_bias`).

        Per alpha: every later layer's parameters (1 - alpha) P0 + alpha P1 in the evaluation layout (taken
        from ``on_line``, what :meth:`line_parameters` built once for the whole sweep, or else built here
        again for this chunk in reused buffers), and the first hidden layer straight from the two ends,

            h_1 = max_p [Z0_p + alpha (Z1_p - Z0_p)]        (maxout; an activation otherwise),

        piece by piece, so the combined (k, N, U) pre-activation is never written out (D = Z1 - Z0 is
        formed once per chunk: two operations per piece and alpha instead of three). At alpha = 0 and 1
        every number is the one :meth:`forward_eval` computes at theta0 and theta1 (Z0 + 0 D = Z0, alpha = 1
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
            ends = self._line_ends(theta0, theta1)
            reused, scratch = ([tuple(xp.empty_like(a) for a in pair) for pair in ends[0]] for _ in range(2))
        # each layer's pre-activation and the first hidden layer's working arrays, written again for every
        # alpha (allocating ~10 MB arrays anew costs page faults: 10% of the sweep's time, measured)
        n, dtype = y.shape[0], Z0.dtype
        later = on_line.at(0) if on_line is not None else reused
        buffers = [None] + [xp.empty((self.pieces, n, W.shape[-1]) if self._is_maxout(i) else (n, W.shape[-1]),
                                     dtype=dtype) for i, (W, _) in enumerate(later, start=1)]
        work = [xp.empty(Z0.shape[1:], dtype=dtype) for _ in range(2)] if self._is_maxout(0) else [xp.empty_like(Z0)]
        D = Z1 - Z0
        for i, a in enumerate(alphas):
            later = self._later_layers_at(ends, a, reused, scratch) if on_line is None else on_line.at(i)
            h = self._first_hidden_on_line(Z0, D, a, work) if a != 1.0 else self._first_hidden_at(Z1, work)
            nll[i], wrong[i] = nll_and_errors(self._logits_from_hidden([None] + list(later), h, buffers), y)
        return nll, wrong

    def _line_ends(self, theta0, theta1):
        """Every layer after the first at theta0 and at theta1, ``[[(W, b), ...], [(W, b), ...]]``, in the
        evaluation layout (copies)."""
        return [self.eval_params(t, first_weights=False)[1:] for t in (theta0, theta1)]

    @staticmethod
    def _later_layers_at(ends, a, out, scratch):
        """Write (1 - a) P0 + a P1 of every (W, b) pair of ``ends`` into ``out`` (``scratch``: arrays of the same
        shapes for a P1) and return ``out``."""
        for (W0, b0), (W1, b1), (W, b), (sW, sb) in zip(*ends, out, scratch):
            point_on_line(W0, W1, a, W, sW)
            point_on_line(b0, b1, a, b, sb)
        return out

    def line_parameters(self, theta0, theta1, alphas) -> "LayersOnLine":
        """Every layer after the first at theta(alpha) = (1 - alpha) theta0 + alpha theta1, for each alpha, in
        the evaluation layout: a :class:`LayersOnLine` with one stacked array per W and b, (n_alphas, ...).

        The linear path's fast sweep builds these once for the whole data set and passes them to every
        chunk's :meth:`evaluate_line_chunk` (which would otherwise build them again per chunk: 8% of the
        ``mnist_pi`` sweep's time, measured), when :meth:`line_parameter_bytes` fits the memory budget.
        The same operations as in the chunk, so the same numbers.
        """
        xp = backend.get_xp(theta0)
        alphas = tuple(float(a) for a in alphas)
        ends = self._line_ends(theta0, theta1)
        stacked = [tuple(xp.empty((len(alphas),) + a.shape, dtype=a.dtype) for a in pair) for pair in ends[0]]
        scratch = [tuple(xp.empty_like(a) for a in pair) for pair in ends[0]]
        for i, a in enumerate(alphas):
            self._later_layers_at(ends, a, [(W[i], b[i]) for W, b in stacked], scratch)
        return LayersOnLine(alphas, stacked)

    def line_parameter_bytes(self, n_alphas: int, dtype=np.float32) -> int:
        """Bytes of the arrays :meth:`line_parameters` keeps for ``n_alphas`` alphas (every parameter but the
        first layer's, once per alpha; the few Python objects around them do not grow with n_alphas)."""
        first = sum(self.layout[f"{self.layer_names[0]}.{w}"].size for w in ("W", "b"))
        return int(n_alphas) * (self.size - first) * np.dtype(dtype).itemsize

    def _first_hidden_on_line(self, Z0, D, a, work):
        """h_1 at theta(alpha) from the first layer's output at theta0 and its change D = Z1 - Z0 (neither is
        changed), written into ``work``: two arrays of one piece's shape (N, U), or one of Z0's otherwise."""
        xp = backend.get_xp(Z0)
        out = work[0]
        if not self._is_maxout(0):
            xp.multiply(D, a, out=out)
            out += Z0
            return self._activate_eval(0, out)
        piece = work[1]

        def examples(lo, hi):
            rows = slice(lo, hi)
            for p in range(self.pieces):
                target = out[rows] if p == 0 else piece[rows]
                xp.multiply(D[p, rows], a, out=target)
                target += Z0[p, rows]
                if p:
                    xp.maximum(out[rows], piece[rows], out=out[rows])

        threads.for_example_blocks(examples, xp, Z0, axis=-2)
        return out

    def _first_hidden_at(self, Z, work):
        """h_1 from a first-layer output Z itself (the line's far end), into ``work[0]``, Z unchanged."""
        xp = backend.get_xp(Z)
        out = work[0]
        if not self._is_maxout(0):
            out[...] = Z
            return self._activate_eval(0, out)
        xp.maximum(Z[0], Z[1], out=out)
        for p in range(2, self.pieces):
            xp.maximum(out, Z[p], out=out)
        return out

    def backward(self, dlogits, caches, grad, input_grad=False):
        """Fill the flat ``grad`` from dL/dlogits; with ``input_grad`` return dL/dX (N, n_in), else None."""
        g = self.layout.unflatten(grad)
        dh = dlogits
        for i in reversed(range(len(self.layer_names))):
            name = self.layer_names[i]
            drop_cache, aff_cache, act_cache = caches[i]
            if name != "y":
                if self.activation == "maxout":
                    dh = maxout_backward(dh, act_cache)
                else:
                    dh = ACTIVATIONS[self.activation][1](dh, act_cache)
            # dW and db are written straight into their place in the flat gradient
            dh, _, _ = affine_backward(dh, aff_cache, input_grad=(i > 0 or input_grad),
                                       dW_out=g[f"{name}.W"], db_out=g[f"{name}.b"])
            if drop_cache is not None and dh is not None:
                dh = dropout_backward(dh, drop_cache)
        return dh
