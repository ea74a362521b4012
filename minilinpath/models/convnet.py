"""The convolutional maxout network of Goodfellow et al. (2013) as a pure function of theta.

    x (N, C, H, W)                                  the image (flat rows (N, C*H*W) are reshaped)
    for each conv layer l:  z = conv(drop(x), W_l) + b_l          (N, units*pieces, H', W'), tied biases
                            x = pool(maxout over channel groups of z)
    x = flatten(x) (N, C*H*W in C order)
    for each dense layer:   x = maxout(drop(x) W + b)
    logits = drop(x) W_y + b_y
    J = mean negative log-likelihood

pylearn2's ``MaxoutConvC01B``: convolution, then the maximum over groups of
``pieces`` consecutive output channels, then spatial max pooling with
cuda-convnet's ceil-mode size. Dropout follows pylearn2's include/scale
convention: the input with its own include probability and scale, every later
layer's input with the hidden ones. ``loss`` evaluates the deterministic network.

Parameters: ``hK.W`` (F, C, HH, WW) with F = units * pieces, ``hK.b`` (F,);
the dense layers and softmax as in the MLP. Conv layers can learn at a
fraction of the learning rate (:meth:`lr_scales`, 0.05 in the paper's network);
their kernels and the dense columns have norm limits (:meth:`constrain`).

This file is the network: parameters, ``forward`` (with the caches backward
needs) and ``backward``. Evaluation without caches (``forward_eval``) and the
linear path's fast sweep are in :mod:`minilinpath.models.convnet_eval`, which
says why; the class keeps a one-line method for each.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .. import backend
from ..layers import affine_backward, affine_forward, dropout_backward, dropout_forward, maxout_backward, maxout_forward
from ..layers.conv import conv_backward, conv_forward, output_size
from ..layers.dropout import draw_mask
from ..layers.pool import max_pool_backward, max_pool_forward, pooled_size
from ..params import Layout
from . import convnet_eval
from .classifier import SoftmaxClassifier, limit_column_norms


@dataclass(frozen=True)
class ConvSpec:
    """One conv maxout layer: ``units`` output maps of ``pieces`` channels each, kernel, padding, pooling."""
    units: int
    pieces: int
    kernel: int
    pad: int
    pool: int
    pool_stride: int
    max_kernel_norm: float | None = None
    lr_scale: float = 1.0


class ConvMaxout(SoftmaxClassifier):
    """Conv maxout layers, then dense maxout layers, then softmax. See the module docstring.

    ``loss``, ``loss_and_grad``, ``predict`` and ``error_rate`` come from ``SoftmaxClassifier``.
    """

    eval_chunk = 1000  # the most images per evaluation pass (fewer when the memory budget says so)
    # bytes of the first conv's pre-activation (Z0 and D together) per block of images in the linear path's sweep
    # (convnet_eval.evaluate_line_chunk): small enough that a block, and the pieces being combined, stay in the
    # CPU's cache while every element-wise pass runs
    LINE_BLOCK_BYTES = 8 << 20

    def __init__(self, input_shape=(3, 32, 32), conv=None, dense=(500,), dense_pieces=5, n_classes=10,
                 init_range=0.005, max_col_norms=None, input_include=1.0, input_scale=1.0, hidden_include=1.0,
                 hidden_scale=1.0, name="convnet"):
        self.input_shape = tuple(int(s) for s in input_shape)
        if not conv:
            # the sweep, the memory budget and the layer names all start from a first conv layer; a network of
            # dense maxout layers alone is an MLP
            raise ValueError(f"{name}: a ConvMaxout needs at least one conv layer: conv=(ConvSpec(...), ...); for "
                             "dense maxout layers alone use models.MLP(activation='maxout').")
        self.conv = tuple(c if isinstance(c, ConvSpec) else ConvSpec(**c) for c in conv)
        self.dense, self.dense_pieces, self.n_classes = tuple(dense), int(dense_pieces), int(n_classes)
        self.init_range, self.name = float(init_range), name
        self.max_col_norms = tuple(max_col_norms) if max_col_norms is not None else (None,) * (len(self.dense) + 1)
        if len(self.max_col_norms) != len(self.dense) + 1:
            raise ValueError(f"max_col_norms needs {len(self.dense) + 1} entries (dense layers + softmax).")
        self.input_include, self.input_scale = float(input_include), float(input_scale)
        self.hidden_include, self.hidden_scale = float(hidden_include), float(hidden_scale)
        shapes, self.shapes_after = [], []
        c, h, w = self.input_shape
        for i, spec in enumerate(self.conv):
            F = spec.units * spec.pieces
            shapes += [(f"h{i}.W", (F, c, spec.kernel, spec.kernel)), (f"h{i}.b", (F,))]
            h, w = output_size(h, spec.kernel, 1, spec.pad), output_size(w, spec.kernel, 1, spec.pad)
            if h < 1 or w < 1:
                raise ValueError(f"conv layer h{i} does not fit its {c}-channel input; check kernels and pads.")
            h, w, c = pooled_size(h, spec.pool, spec.pool_stride), pooled_size(w, spec.pool, spec.pool_stride), spec.units
            self.shapes_after.append((c, h, w))
        d = c * h * w
        self.n_flat = d
        for j, units in enumerate(self.dense):
            i = len(self.conv) + j
            shapes += [(f"h{i}.W", (d, units * self.dense_pieces)), (f"h{i}.b", (units * self.dense_pieces,))]
            d = units
        shapes += [("y.W", (d, self.n_classes)), ("y.b", (self.n_classes,))]
        self.layout = Layout(shapes)
        self.conv_names = [f"h{i}" for i in range(len(self.conv))]
        self.dense_names = [f"h{len(self.conv) + j}" for j in range(len(self.dense))] + ["y"]

    def __repr__(self):
        convs = ", ".join(f"{s.units}x{s.pieces} k{s.kernel}" for s in self.conv)
        return (f"ConvMaxout({self.name}: {self.input_shape} -> [{convs}] -> {list(self.dense)}x{self.dense_pieces} "
                f"-> {self.n_classes}, {self.layout.size:,} parameters)")

    @property
    def size(self):
        return self.layout.size

    @property
    def uses_dropout(self):
        return (self.input_include, self.input_scale, self.hidden_include, self.hidden_scale) != (1, 1, 1, 1)

    def settings(self) -> dict:
        return dict(input_shape=list(self.input_shape), conv=[asdict(c) for c in self.conv], dense=list(self.dense),
                    dense_pieces=self.dense_pieces, n_classes=self.n_classes, init_range=self.init_range,
                    max_col_norms=list(self.max_col_norms), input_include=self.input_include,
                    input_scale=self.input_scale, hidden_include=self.hidden_include,
                    hidden_scale=self.hidden_scale, name=self.name)

    # ------------------------------------------------------------ parameters
    def init(self, seed, xp=None, dtype=np.float32):
        """Weights and kernels U(-init_range, init_range), biases 0 (drawn with NumPy from ``seed``)."""
        rng = np.random.default_rng(seed)
        theta = np.zeros(self.layout.size)
        views = self.layout.unflatten(theta)
        for name in self.conv_names + self.dense_names:
            views[f"{name}.W"][...] = rng.uniform(-self.init_range, self.init_range, views[f"{name}.W"].shape)
        return backend.to_device(theta, "gpu" if xp is not None and xp is not np else "cpu", dtype=dtype)

    def unflatten(self, theta):
        return self.layout.unflatten(theta)

    def lr_scales(self, xp=np, dtype=np.float32):
        """A flat vector like theta: each parameter's learning-rate multiplier (the conv layers' lr_scale)."""
        scales = np.ones(self.layout.size)
        views = self.layout.unflatten(scales)
        for name, spec in zip(self.conv_names, self.conv):
            views[f"{name}.W"][...] = spec.lr_scale
            views[f"{name}.b"][...] = spec.lr_scale
        return backend.to_device(scales, "gpu" if xp is not np else "cpu", dtype=dtype)

    def constrain(self, theta) -> None:
        """Kernel norm limits (each output channel's (C, HH, WW) kernel) and column norm limits, in place."""
        views = self.layout.unflatten(theta)
        for name, spec in zip(self.conv_names, self.conv):
            W = views[f"{name}.W"]  # each output channel's kernel is a column of this transposed view
            limit_column_norms(W.reshape(W.shape[0], -1).T, spec.max_kernel_norm)
        for name, limit in zip(self.dense_names, self.max_col_norms):
            limit_column_norms(views[f"{name}.W"], limit)

    # ------------------------------------------------------------ dropout
    def _include_and_scale(self, index):
        return (self.input_include, self.input_scale) if index == 0 else (self.hidden_include, self.hidden_scale)

    def _layer_input_shapes(self, n):
        shapes = [(n, *self.input_shape)] + [(n, *s) for s in self.shapes_after]
        shapes[len(self.conv)] = (n, self.n_flat)
        d = self.n_flat
        for units in self.dense:
            d = units
            shapes.append((n, d))
        return shapes

    def draw_masks(self, rng, n, dtype=np.float32) -> dict:
        """0/1 masks for the input of every layer with dropout: ``{layer index: array of that input's shape}``."""
        masks = {}
        for i, shape in enumerate(self._layer_input_shapes(n)):
            include, scale = self._include_and_scale(i)
            if (include, scale) != (1.0, 1.0):
                masks[i] = draw_mask(rng, shape, include, dtype)
        return masks

    def drop_layer_input(self, i, x, masks):
        """``dropout_forward``'s ``(x * mask * scale, cache)`` for the input x of layer i under ``masks``, or
        ``(x, None)`` when ``masks`` holds no mask for it (or is None)."""
        if masks is None or i not in masks:
            return x, None
        include, scale = self._include_and_scale(i)
        return dropout_forward(x, include, scale, mask=masks[i])

    def drop_input(self, X, masks=None):
        """The images as the first conv sees them: X, or X * mask * scale under dropout masks."""
        return self.drop_layer_input(0, self.as_images(X), masks)[0]

    # ------------------------------------------------------------ forward / backward
    def as_images(self, X):
        """X as images (N, C, H, W): flat rows (N, C*H*W) are reshaped, images are returned as they are."""
        return X.reshape(X.shape[0], *self.input_shape) if X.ndim == 2 else X

    def _check_batch(self, theta, X, y=None):
        self.layout.check(theta)
        flat = int(np.prod(self.input_shape))
        if getattr(X, "ndim", None) not in (2, 4) or int(np.prod(X.shape[1:])) != flat:
            raise ValueError(f"{self.name}: X must have shape (N, {flat}) or (N, {', '.join(map(str, self.input_shape))}), "
                             f"got {getattr(X, 'shape', None)}.")
        if X.dtype != theta.dtype:
            raise TypeError(f"{self.name}: X has dtype {X.dtype} but theta has {theta.dtype}; cast X to theta's dtype.")
        if y is not None and (getattr(y, "ndim", None) != 1 or y.shape[0] != X.shape[0]):
            raise ValueError(f"{self.name}: y must have shape ({X.shape[0]},), got {getattr(y, 'shape', None)}.")

    def forward(self, theta, X, masks=None):
        """Logits (N, n_classes) and the caches backward needs; ``masks``: None or a dict from :meth:`draw_masks`."""
        p = self.layout.unflatten(theta)
        x = self.as_images(X)
        caches = []
        for i, (name, spec) in enumerate(zip(self.conv_names, self.conv)):
            x, drop = self.drop_layer_input(i, x, masks)
            z, conv_cache = conv_forward(x, p[f"{name}.W"], p[f"{name}.b"], 1, spec.pad)
            m, maxout_cache = maxout_forward(z, spec.pieces)
            x, pool_cache = max_pool_forward(m, spec.pool, spec.pool_stride)
            caches.append((drop, conv_cache, maxout_cache, pool_cache))
        x = x.reshape(x.shape[0], self.n_flat)   # (N, features), also for N = 0
        for j, name in enumerate(self.dense_names):
            x, drop = self.drop_layer_input(len(self.conv) + j, x, masks)
            z, aff = affine_forward(x, p[f"{name}.W"], p[f"{name}.b"])
            if name == "y":
                caches.append((drop, aff, None))
                return z, caches
            x, maxout_cache = maxout_forward(z, self.dense_pieces)
            caches.append((drop, aff, maxout_cache))

    def backward(self, dlogits, caches, grad, input_grad=False):
        g = self.layout.unflatten(grad)
        d = dlogits
        n_conv = len(self.conv)
        for j in reversed(range(len(self.dense_names))):
            name = self.dense_names[j]
            drop, aff, maxout_cache = caches[n_conv + j]
            if name != "y":
                d = maxout_backward(d, maxout_cache)
            d, _, _ = affine_backward(d, aff, dW_out=g[f"{name}.W"], db_out=g[f"{name}.b"])
            if drop is not None:
                d = dropout_backward(d, drop)
        d = d.reshape(d.shape[0], *self.shapes_after[-1]) if n_conv else d
        for i in reversed(range(n_conv)):
            name = self.conv_names[i]
            drop, conv_cache, maxout_cache, pool_cache = caches[i]
            d = maxout_backward(max_pool_backward(d, pool_cache), maxout_cache)
            d, dW, db = conv_backward(d, conv_cache, input_grad=(i > 0 or input_grad))
            g[f"{name}.W"][...] = dW
            g[f"{name}.b"][...] = db
            if drop is not None and d is not None:
                d = dropout_backward(d, drop)
        return d

    # ------------------------------------- evaluation and the linear path's fast sweep: the code is in convnet_eval.py
    first_layer_weights = "h0.W"

    def forward_eval(self, theta, X, z0=None):
        """Logits of the deterministic network without caches (:func:`.convnet_eval.forward_eval`)."""
        return convnet_eval.forward_eval(self, theta, X, z0)

    @property
    def eval_fixed_bytes(self) -> int:
        """Evaluation temporaries that do not grow with the chunk (:func:`.convnet_eval.eval_fixed_bytes`)."""
        return convnet_eval.eval_fixed_bytes(self)

    def eval_bytes_per_example(self, dtype=np.float32) -> int:
        """Evaluation temporaries per example (:func:`.convnet_eval.eval_bytes_per_example`)."""
        return convnet_eval.eval_bytes_per_example(self, dtype)

    def dropout_logits_from_first_preactivation(self, theta, z0, masks):
        """Logits under dropout ``masks`` from z0 = conv(drop(X), W) + b
        (:func:`.convnet_eval.dropout_logits_from_first_preactivation`)."""
        return convnet_eval.dropout_logits_from_first_preactivation(self, theta, z0, masks)

    def first_linear(self, X, W):
        """conv(X, W) without bias (:func:`.convnet_eval.first_linear`)."""
        return convnet_eval.first_linear(self, X, W)

    def first_linear_pair(self, X, W0, W1):
        """(conv(X, W0), conv(X, W1)) in one convolution (:func:`.convnet_eval.first_linear_pair`)."""
        return convnet_eval.first_linear_pair(self, X, W0, W1)

    def first_bias(self, theta, z_linear):
        """The first conv's pre-activation conv(X, W) + b from its linear part (:func:`.convnet_eval.first_bias`)."""
        return convnet_eval.first_bias(self, theta, z_linear)

    def evaluate_line_chunk(self, theta0, theta1, Z0, Z1, alphas, y):
        """``(NLL sums, error counts)`` per alpha over one chunk (:func:`.convnet_eval.evaluate_line_chunk`)."""
        return convnet_eval.evaluate_line_chunk(self, theta0, theta1, Z0, Z1, alphas, y)
