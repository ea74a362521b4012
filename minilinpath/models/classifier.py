"""What the softmax classifiers (the MLP and the conv maxout network) share.

Words, for the first layer (input X, weights W, bias b): its *linear part* is
X W (a convolution conv(X, W) in the conv net), its *pre-activation* z0 = X W + b
(what the affine or conv layer outputs), its *output* act(z0) (maxout, pooling).

A subclass provides ``layout``, ``uses_dropout``, ``draw_masks(rng, n, dtype)``,
``_check_batch(theta, X, y=None)``, ``forward(theta, X, masks=None)
-> (logits, caches)``, ``backward(dlogits, caches, grad, input_grad) -> dX``
(the network), and its evaluation engine: ``forward_eval(theta, X, z0=None)
-> logits`` (the same values, no caches kept; z0: the first pre-activation,
given), ``eval_bytes_per_example(dtype)`` (the temporaries of evaluating one
example, for the memory budget), and, for the linear path's fast sweep,
``first_layer_weights``, ``drop_input(X, masks)``, ``first_linear(X, W)``,
``first_bias(theta, z_linear)`` and ``dropout_logits_from_first_preactivation(theta,
z0, masks)`` (the dropout network's logits under ``masks`` from z0). This class
turns them into the model contract: ``loss``, ``loss_and_grad``, ``predict``,
``error_rate``, ``evaluate`` (loss and error in one pass), ``check_batch`` and the fast sweep's
``evaluate_from_first_linear`` and ``evaluate_from_first_output``; each is one of the abilities
:mod:`minilinpath.contract` declares, which is where the analysis looks them up. A subclass may also define
``evaluate_line_chunk(theta0, theta1, Z0, Z1, alphas, y)``: the sweep's whole loop over
alpha for one chunk, in its own layout (the MLP and the conv net do); and
``line_parameters(theta0, theta1, alphas)`` with ``line_parameter_bytes(n_alphas,
dtype)``: the layers after the first at every alpha, built once per sweep and
passed to each chunk as ``evaluate_line_chunk(..., on_line=...)`` when they fit
the memory budget (the MLP does; ``models.mlp_eval.LayersOnLine``).
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..layers import nll_value, softmax_cross_entropy
from ..memory import DEFAULT_EVAL_MEMORY_MB, eval_memory_budget  # noqa: F401 (also importable from here)


def limit_column_norms(W, limit) -> None:
    """In place: every column w of W becomes w * min(1, limit / ||w||) (pylearn2's max_col_norm)."""
    if limit is None:
        return
    xp = backend.get_xp(W)
    norms = xp.sqrt(xp.einsum("ij,ij->j", W, W))  # no (W * W) temporary: this runs after every update
    too_long = norms > limit
    # On the CPU, skip the pass over W when no column is too long; on a GPU, asking would read a number back
    # (a sync after every update), and multiplying the short columns by exactly 1.0 changes none of their bits
    if backend.is_cupy_array(W) or bool(too_long.any()):
        W *= xp.where(too_long, limit / xp.maximum(norms, 1e-30), 1.0).astype(W.dtype)


class SoftmaxClassifier:
    """The model contract for softmax classifiers, on top of a subclass's forward/backward.

    Evaluation runs ``forward_eval(theta, X, z0=None) -> logits``, which keeps no
    caches for a backward pass, in chunks of :meth:`evaluation_chunk` examples:
    at most ``eval_chunk``, fewer when :meth:`eval_bytes_per_example` says a
    chunk would exceed the memory budget (:func:`eval_memory_budget`).
    """
    eval_chunk = 10_000  # the most examples per evaluation pass

    def evaluation_chunk(self, dtype=np.float32) -> int:
        """Examples per evaluation pass: ``eval_chunk``, or fewer to stay within the memory budget."""
        per_example = max(int(self.eval_bytes_per_example(dtype)), 1)
        room = eval_memory_budget() - getattr(self, "eval_fixed_bytes", 0)  # what the chunk itself may use
        return max(1, min(self.eval_chunk, room // per_example))

    def check_batch(self, theta, X, y=None) -> None:
        """Raise ValueError or TypeError (naming the problem) unless theta and ``(X, y)`` fit this network: what
        ``loss`` checks first, and what the fast sweeps ask before computing (they never call ``loss``)."""
        self._check_batch(theta, X, y)

    def evaluate_sums(self, theta, batch):
        """``(sum of the NLL, number of errors)`` of the deterministic network over ``batch = (X, y)``, one pass.

        The NLL sum is added up chunk by chunk as (chunk mean as a Python float) x (chunk size), in float64:
        the arithmetic of the linear path's fast sweep, so both give identical numbers at the same theta.
        """
        X, y = batch
        self._check_batch(theta, X, y)
        total, wrong = 0.0, 0.0
        chunk = self.evaluation_chunk(theta.dtype)
        for start in range(0, X.shape[0], chunk):
            logits = self.forward_eval(theta, X[start:start + chunk])
            nll, errors = nll_and_errors(logits, y[start:start + chunk])
            total += nll
            wrong += errors
        return total, wrong

    def evaluate(self, theta, batch):
        """``(mean NLL, error rate)`` in one pass over the data (what the trainer's validation needs)."""
        total, wrong = self.evaluate_sums(theta, batch)
        n = max(batch[0].shape[0], 1)
        return total / n, wrong / n

    def loss(self, theta, batch) -> float:
        """Mean NLL of the deterministic network on ``batch = (X, y)`` (in chunks, no training caches)."""
        return self.evaluate(theta, batch)[0]

    def loss_and_grad(self, theta, batch, rng=None, masks=None, want_input_grad=False, out=None):
        """``(loss, grad)`` of the mean NLL on ``batch``; grad is flat like theta.

        With ``rng`` (a generator on theta's device) or ``masks`` the dropout
        objective is used; with neither, the deterministic network. With
        ``want_input_grad`` also return dJ/dX (used by adversarial training).
        ``out``: an array like theta to write the gradient into (the trainer
        reuses one, instead of allocating a new one per minibatch).
        """
        X, y = batch
        self._check_batch(theta, X, y)
        if rng is not None and masks is None and self.uses_dropout:
            masks = self.draw_masks(rng, X.shape[0], dtype=theta.dtype)
        logits, caches = self.forward(theta, X, masks)
        loss, dlogits = softmax_cross_entropy(logits, y)
        grad = backend.get_xp(theta).empty_like(theta) if out is None else out
        dX = self.backward(dlogits, caches, grad, input_grad=want_input_grad)
        loss = nll_value(loss, y, logits.shape[1])   # the one number read back per minibatch
        if want_input_grad:
            return loss, grad, dX.reshape(X.shape)
        return loss, grad

    def predict(self, theta, X):
        """Predicted class (N,) of the deterministic network."""
        self._check_batch(theta, X)
        xp = backend.get_xp(theta, X)
        out = xp.empty(X.shape[0], dtype=np.int64)
        chunk = self.evaluation_chunk(theta.dtype)
        for start in range(0, X.shape[0], chunk):
            out[start:start + chunk] = self.forward_eval(theta, X[start:start + chunk]).argmax(axis=1)
        return out

    def error_rate(self, theta, batch) -> float:
        """Fraction of misclassified examples (deterministic network)."""
        return self.evaluate(theta, batch)[1]

    def evaluate_from_first_linear(self, theta, z_linear, y, masks=None):
        """``(sum of NLL, number of errors)`` over a chunk whose first layer's linear part X W (no bias) is given,
        in the layout of :meth:`first_linear`."""
        return self.evaluate_from_first_output(theta, self.first_bias(theta, z_linear), y, masks)

    # the older name, kept for its callers: it takes the linear part X W (no bias), not the pre-activation
    evaluate_from_first_preactivation = evaluate_from_first_linear

    def evaluate_from_first_output(self, theta, z0, y, masks=None):
        """``(sum of NLL, number of errors)`` over a chunk whose first affine (or conv) layer's output is given:
        the first pre-activation z0 = X W + b, in the layout of :meth:`first_bias`.

        Without ``masks`` the deterministic network (:meth:`forward_eval`; z0 may be overwritten, the activation
        is applied in place); with ``masks`` the dropout network under them, as ``forward`` computes it
        (:meth:`dropout_logits_from_first_preactivation`).
        """
        if masks is None:
            logits = self.forward_eval(theta, None, z0=z0)
        else:
            logits = self.dropout_logits_from_first_preactivation(theta, z0, masks)
        return nll_and_errors(logits, y)


def nll_and_errors(logits, y):
    """(chunk mean NLL as a float x chunk size, number of wrong argmax predictions) of one chunk."""
    nll, _ = softmax_cross_entropy(logits, y, with_grad=False)
    errors = (logits.argmax(axis=1) != y).sum()
    return nll_value(nll, y, logits.shape[1]) * logits.shape[0], backend.to_float(errors)
