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
owns the columns j*k ... j*k+k-1 of its layer. Words: ``h W`` is a layer's
linear part, ``z = h W + b`` its pre-activation, ``act(z)`` its output.

This file is the network: parameters, ``forward`` (with the caches backward
needs) and ``backward``. Evaluation without caches (``forward_eval``, in the
faster "pieces first" layout) and the linear path's fast sweep are in
:mod:`minilinpath.models.mlp_eval`, which says why; the class keeps a one-line
method for each. The exact Hessian-vector product is in
:mod:`minilinpath.models.mlp_hvp`.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..layers import (ACTIVATIONS, affine_backward, affine_forward, dropout_backward, dropout_forward, maxout_backward,
                      maxout_forward)
from ..layers.dropout import draw_mask
from ..params import Layout
from . import mlp_eval
from .classifier import SoftmaxClassifier, limit_column_norms
from .mlp_eval import LayersOnLine  # line_parameters returns one (and it stays importable from here)


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
    batchnorm : True builds the batch-normalized network instead (:mod:`.mlp_batchnorm`).

    ``loss``, ``loss_and_grad``, ``predict`` and ``error_rate`` come from
    :class:`~minilinpath.models.classifier.SoftmaxClassifier`; this class
    defines the network (``forward``, ``backward``) they run.
    """

    # Evaluation passes of 2,000 examples: each layer's temporaries (a few MB) then stay in the CPU's cache,
    # which made the linear path's sweep 18% faster than passes of 10,000 here (mnist_pi, 20 alphas).
    eval_chunk = 2_000

    def __new__(cls, *args, batchnorm=False, **kwargs):
        """``MLP(..., batchnorm=True)`` builds a :class:`~minilinpath.models.mlp_batchnorm.BatchNormMLP`."""
        if batchnorm and cls is MLP:
            from .mlp_batchnorm import BatchNormMLP
            cls = BatchNormMLP
        return super().__new__(cls)

    def __init__(self, n_in=784, hidden=(240, 240), activation="maxout", pieces=1, n_classes=10,
                 init_ranges=None, max_col_norms=None, input_include=1.0, input_scale=1.0,
                 hidden_include=1.0, hidden_scale=1.0, name="mlp", batchnorm=False):
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

    def drop_layer_input(self, layer_index, h, masks):
        """``dropout_forward``'s ``(h * mask * scale, cache)`` for the input h of layer ``layer_index`` under
        ``masks``, or ``(h, None)`` when ``masks`` holds no mask for it (or is None)."""
        if masks is None or layer_index not in masks:
            return h, None
        include, scale = self._include_and_scale(layer_index)
        return dropout_forward(h, include, scale, mask=masks[layer_index])

    def drop_input(self, X, masks=None):
        """The input as the first affine layer sees it: X, or X * mask * scale under dropout masks."""
        return self.drop_layer_input(0, X, masks)[0]

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

    def forward(self, theta, X, masks=None):
        """Logits (N, n_classes) and the caches backward needs.

        ``masks`` is ``None`` (deterministic network) or a dict from :meth:`draw_masks`.
        """
        p = self.layout.unflatten(theta)
        caches, h = [], X
        for i, name in enumerate(self.layer_names):
            h, drop_cache = self.drop_layer_input(i, h, masks)
            z, aff_cache = affine_forward(h, p[f"{name}.W"], p[f"{name}.b"])
            if name == "y":
                caches.append((drop_cache, aff_cache, None))
                return z, caches
            if self.activation == "maxout":
                h, act_cache = maxout_forward(z, self.pieces)
            else:
                h, act_cache = ACTIVATIONS[self.activation][0](z)
            caches.append((drop_cache, aff_cache, act_cache))

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

    # ------------------------------------- evaluation and the linear path's fast sweep: the code is in mlp_eval.py
    @property
    def first_layer_weights(self) -> str:
        """The first layer's weights (``h0.W``; ``y.W`` without hidden layers): X W(alpha) is affine in alpha."""
        return f"{self.layer_names[0]}.W"

    def forward_eval(self, theta, X, z0=None):
        """Logits of the deterministic network without caches, pieces first (:func:`.mlp_eval.forward_eval`)."""
        return mlp_eval.forward_eval(self, theta, X, z0)

    def pieces_first(self, layer_index, a):
        """A maxout layer's W, b or pre-activation in the evaluation layout (:func:`.mlp_eval.pieces_first`)."""
        return mlp_eval.pieces_first(self, layer_index, a)

    def unit_major(self, layer_index, z):
        """A pre-activation back from the evaluation layout (:func:`.mlp_eval.unit_major`)."""
        return mlp_eval.unit_major(self, layer_index, z)

    def eval_params(self, theta, first_weights=True) -> list:
        """``[(W, b), ...]`` per layer in the evaluation layout (:func:`.mlp_eval.eval_params`)."""
        return mlp_eval.eval_params(self, theta, first_weights)

    def eval_bytes_per_example(self, dtype=np.float32) -> int:
        """Evaluation temporaries per example, for the memory budget (:func:`.mlp_eval.eval_bytes_per_example`)."""
        return mlp_eval.eval_bytes_per_example(self, dtype)

    def dropout_logits_from_first_preactivation(self, theta, z0, masks):
        """Logits under dropout ``masks`` from z0 = drop(X) W + b
        (:func:`.mlp_eval.dropout_logits_from_first_preactivation`)."""
        return mlp_eval.dropout_logits_from_first_preactivation(self, theta, z0, masks)

    def first_linear(self, X, W):
        """The first layer's linear part X W, in the evaluation layout (:func:`.mlp_eval.first_linear`)."""
        return mlp_eval.first_linear(self, X, W)

    def first_bias(self, theta, z_linear):
        """The first pre-activation X W + b from the linear part (:func:`.mlp_eval.first_bias`)."""
        return mlp_eval.first_bias(self, theta, z_linear)

    def evaluate_line_chunk(self, theta0, theta1, Z0, Z1, alphas, y, on_line=None):
        """``(NLL sums, error counts)`` per alpha over one chunk (:func:`.mlp_eval.evaluate_line_chunk`)."""
        return mlp_eval.evaluate_line_chunk(self, theta0, theta1, Z0, Z1, alphas, y, on_line)

    def line_parameters(self, theta0, theta1, alphas) -> LayersOnLine:
        """Every layer after the first at each alpha, built once (:func:`.mlp_eval.line_parameters`)."""
        return mlp_eval.line_parameters(self, theta0, theta1, alphas)

    def line_parameter_bytes(self, n_alphas: int, dtype=np.float32) -> int:
        """Bytes :meth:`line_parameters` keeps (:func:`.mlp_eval.line_parameter_bytes`)."""
        return mlp_eval.line_parameter_bytes(self, n_alphas, dtype)
