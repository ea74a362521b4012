"""An MLP with batch normalization before each nonlinearity: ``MLP(..., batchnorm=True)`` builds this class.

The network, for L hidden layers (BN: :mod:`minilinpath.layers.batchnorm`)::

    h_0 = X                                        (N, n_in)
    z_l = h_l W_l + b_l                            (N, units_l * pieces)
    u_l = gamma_l * (z_l - mean_l) / sqrt(var_l + eps) + beta_l
    h_{l+1} = act(u_l)                             maxout, ReLU, sigmoid, tanh or linear
    logits = h_L W_y + b_y

gamma and beta are parameters: ``h{l}.gamma`` (ones at init) and ``h{l}.beta`` (zeros) sit in theta after
``h{l}.b``. (b_l is kept, as in the MLP, though BN subtracts it again with the mean: its gradient is 0.)

Which mean and variance? In training (``forward``, ``loss_and_grad``) each minibatch's own, and the
gradient flows through them. For evaluation the model holds ``statistics``: a dict ``{"h0.mean": (D,),
"h0.var": (D,), ...}``, the state that is *not* in theta. The trainer keeps the running averages there and
saves them beside theta in the run folder (:mod:`minilinpath.train`). With ``statistics = None`` an evaluated
set is normalised with its own statistics (computed on the whole set first, :meth:`statistics_of`), so then
``loss`` is the training-mode objective of the whole set, the function ``loss_and_grad`` differentiates.
:meth:`with_statistics` gives a copy with other statistics; the model itself is never changed by evaluating.

What this model leaves out of the MLP's abilities (set to None, so :mod:`minilinpath.contract` says no): the
first-layer sweeps and the exact Hessian (they assume the network after the first layer depends on theta
only), and dropout (refused with batchnorm). Its own ability is
:class:`~minilinpath.contract.RunningStatistics`.
"""
from __future__ import annotations

import copy
import math

import numpy as np

from .. import backend
from ..checks import real_number
from ..layers import ACTIVATIONS, affine_backward, affine_forward, maxout_backward, maxout_forward, nll_value
from ..layers import softmax_cross_entropy
from ..layers.batchnorm import DEFAULT_EPS, batchnorm_backward, batchnorm_eval, batchnorm_forward, update_running
from ..params import Layout
from .mlp import MLP


class BatchNormMLP(MLP):
    """:class:`~minilinpath.models.MLP` with batch normalization before each nonlinearity (module docstring).

    Extra parameters: ``bn_momentum`` (weight of the old running average, in [0, 1)) and ``bn_eps``.
    """

    # the MLP's fast evaluation routes: not for this network (see the module docstring). A method set to None
    # does not count for a runtime-checkable Protocol (typing's rule, as for ``__hash__ = None``), so
    # minilinpath.contract reports these abilities absent and the analysis takes its general route
    first_linear = first_bias = evaluate_from_first_output = evaluate_from_first_linear = None
    evaluate_from_first_preactivation = evaluate_line_chunk = line_parameters = line_parameter_bytes = None
    dropout_logits_from_first_preactivation = hessian_vector_product = None

    def __init__(self, *args, batchnorm=True, bn_momentum=0.9, bn_eps=DEFAULT_EPS, **kwargs):
        super().__init__(*args, **kwargs)
        if self.uses_dropout:
            raise ValueError("batchnorm=True with dropout is not supported; give include probabilities and "
                             "scales of 1, or batchnorm=False.")
        self.bn_momentum = real_number(bn_momentum, "bn_momentum", lambda v: 0 <= v < 1, "in [0, 1)")
        self.bn_eps = real_number(bn_eps, "bn_eps", lambda v: 0 < v < math.inf, "a finite number > 0")
        shapes = []
        for entry in self.layout.entries:
            shapes.append((entry.name, entry.shape))
            if entry.name.endswith(".b") and entry.name != "y.b":
                layer = entry.name[:-2]
                shapes += [(f"{layer}.gamma", entry.shape), (f"{layer}.beta", entry.shape)]
        self.layout = Layout(shapes)
        self.bn_layers = self.layer_names[:-1]
        self.statistics = None

    def __repr__(self):
        return super().__repr__().replace("MLP(", "BatchNormMLP(", 1)

    def settings(self) -> dict:
        return {**super().settings(), "batchnorm": True, "bn_momentum": self.bn_momentum, "bn_eps": self.bn_eps}

    def init(self, seed, xp=None, dtype=np.float32):
        """The MLP's theta at initialisation (same weights for the same seed), with every gamma 1 and beta 0."""
        theta = backend.to_numpy(super().init(seed, dtype=np.float64)).copy()
        views = self.layout.unflatten(theta)
        for name in self.bn_layers:
            views[f"{name}.gamma"][...] = 1.0
        return backend.to_device(theta, "gpu" if xp is not None and xp is not np else "cpu", dtype=dtype)

    # ------------------------------------------------------------------ statistics: the state beside theta
    def fresh_statistics(self, xp=np, dtype=np.float32) -> dict:
        """The running statistics before training: means 0, variances 1."""
        stats = {}
        for name in self.bn_layers:
            width = self.layout[f"{name}.b"].shape[0]
            stats[f"{name}.mean"], stats[f"{name}.var"] = xp.zeros(width, dtype), xp.ones(width, dtype)
        return stats

    def update_statistics(self, running: dict, batch: dict) -> None:
        """In place: running <- m running + (1 - m) batch, for every mean and variance (m = ``bn_momentum``)."""
        for name in self.bn_layers:
            update_running(running[f"{name}.mean"], running[f"{name}.var"], batch[f"{name}.mean"],
                           batch[f"{name}.var"], self.bn_momentum)

    def statistics_of(self, theta, X) -> dict:
        """The means and (biased) variances every BN layer sees when the whole of X is one batch at theta."""
        return self.forward(theta, X)[1][-1]

    def with_statistics(self, statistics):
        """A copy of this model that evaluates with ``statistics`` (None: each set's own)."""
        other = copy.copy(self)
        other.statistics = statistics
        return other

    @staticmethod
    def interpolate_statistics(s0: dict, s1: dict, alpha: float) -> dict:
        """(1 - alpha) s0 + alpha s1, entry by entry (means and variances alike)."""
        return {k: (1.0 - alpha) * s0[k] + alpha * s1[k] for k in s0}

    # ------------------------------------------------------------------ the network in training mode
    def forward(self, theta, X, masks=None):
        """Logits (N, n_classes) with every BN layer on the batch's statistics, and the caches; the last cache
        entry is the dict of those batch statistics (:meth:`loss_grad_and_statistics` returns it)."""
        p, caches, h, stats = self.layout.unflatten(theta), [], X, {}
        for name in self.layer_names:
            z, aff_cache = affine_forward(h, p[f"{name}.W"], p[f"{name}.b"])
            if name == "y":
                return z, caches + [(aff_cache, None, None), stats]
            u, bn_cache, stats[f"{name}.mean"], stats[f"{name}.var"] = batchnorm_forward(
                z, p[f"{name}.gamma"], p[f"{name}.beta"], self.bn_eps)
            h, act_cache = self._activate(u)
            caches.append((aff_cache, bn_cache, act_cache))

    def _activate(self, u):
        if self.activation == "maxout":
            return maxout_forward(u, self.pieces)
        return ACTIVATIONS[self.activation][0](u)

    def backward(self, dlogits, caches, grad, input_grad=False):
        """Fill the flat ``grad`` from dL/dlogits (through every BN's mean and variance); dL/dX with ``input_grad``."""
        g, dh = self.layout.unflatten(grad), dlogits
        for i in reversed(range(len(self.layer_names))):
            name = self.layer_names[i]
            aff_cache, bn_cache, act_cache = caches[i]
            if name != "y":
                dh = (maxout_backward(dh, act_cache) if self.activation == "maxout"
                      else ACTIVATIONS[self.activation][1](dh, act_cache))
                dh, g[f"{name}.gamma"][...], g[f"{name}.beta"][...] = batchnorm_backward(dh, bn_cache)
            dh, _, _ = affine_backward(dh, aff_cache, input_grad=(i > 0 or input_grad),
                                       dW_out=g[f"{name}.W"], db_out=g[f"{name}.b"])
        return dh

    def loss_grad_and_statistics(self, theta, batch, rng=None, out=None):
        """``(loss, grad, batch statistics)``: the training step's objective and the statistics the trainer
        folds into its running averages (:meth:`update_statistics`)."""
        X, y = batch
        self._check_batch(theta, X, y)
        logits, caches = self.forward(theta, X)
        loss, dlogits = softmax_cross_entropy(logits, y)
        grad = backend.get_xp(theta).empty_like(theta) if out is None else out
        self.backward(dlogits, caches, grad)
        return nll_value(loss, y, logits.shape[1]), grad, caches[-1]

    # ------------------------------------------------------------------ evaluation with the held statistics
    def forward_eval(self, theta, X, z0=None):
        """Logits with every BN layer on ``self.statistics`` (the chunk's own when those are None)."""
        if self.statistics is None:
            return self.forward(theta, X)[0]
        p, h = self.layout.unflatten(theta), X
        for name in self.layer_names:
            z = h @ p[f"{name}.W"] + p[f"{name}.b"]
            if name == "y":
                return z
            u = batchnorm_eval(z, p[f"{name}.gamma"], p[f"{name}.beta"], self.statistics[f"{name}.mean"],
                               self.statistics[f"{name}.var"], self.bn_eps)
            h = self._activate(u)[0]

    def evaluate_sums(self, theta, batch):
        """As the MLP's; without held statistics, those of the whole of ``batch`` (not of each chunk)."""
        if self.statistics is None:
            return self.with_statistics(self.statistics_of(theta, batch[0])).evaluate_sums(theta, batch)
        return super().evaluate_sums(theta, batch)

    def predict(self, theta, X):
        if self.statistics is None:
            return self.with_statistics(self.statistics_of(theta, X)).predict(theta, X)
        return super().predict(theta, X)
