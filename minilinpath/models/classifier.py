"""What the softmax classifiers (the MLP and the conv maxout network) share.

A subclass provides ``layout``, ``uses_dropout``, ``draw_masks(rng, n, dtype)``,
``_check_batch(theta, X, y=None)``, ``forward(theta, X, masks=None, z0=None)
-> (logits, caches)``, ``backward(dlogits, caches, grad, input_grad) -> dX``,
and, for the linear path's fast sweep, ``first_layer_weights``,
``first_linear(X, W)`` and ``first_bias(theta, z_linear)``. This class turns
them into the model contract: ``loss``, ``loss_and_grad``, ``predict``,
``error_rate`` and ``evaluate_from_first_preactivation``.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..layers import softmax_cross_entropy


def limit_column_norms(W, limit) -> None:
    """In place: every column w of W becomes w * min(1, limit / ||w||) (pylearn2's max_col_norm)."""
    if limit is None:
        return
    xp = backend.get_xp(W)
    norms = xp.sqrt(xp.einsum("ij,ij->j", W, W))  # no (W * W) temporary: this runs after every update
    too_long = norms > limit
    if bool(too_long.any()):
        W *= xp.where(too_long, limit / xp.maximum(norms, 1e-30), 1.0).astype(W.dtype)


class SoftmaxClassifier:
    eval_chunk = 10_000  # examples per forward pass when evaluating a whole data set

    def loss(self, theta, batch) -> float:
        """Mean NLL of the deterministic network on ``batch = (X, y)``, in chunks.

        Each chunk's mean is turned into a Python float and the chunk sums are
        added in float64, the same arithmetic as the linear path's fast sweep,
        so both give identical numbers at the same theta.
        """
        X, y = batch
        self._check_batch(theta, X, y)
        total = 0.0
        for start in range(0, X.shape[0], self.eval_chunk):
            logits, _ = self.forward(theta, X[start:start + self.eval_chunk])
            nll, _ = softmax_cross_entropy(logits, y[start:start + self.eval_chunk], with_grad=False)
            total += backend.to_float(nll) * logits.shape[0]
        return total / max(X.shape[0], 1)

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
        if want_input_grad:
            return backend.to_float(loss), grad, dX.reshape(X.shape)
        return backend.to_float(loss), grad

    def predict(self, theta, X):
        """Predicted class (N,) of the deterministic network."""
        self._check_batch(theta, X)
        xp = backend.get_xp(theta, X)
        out = xp.empty(X.shape[0], dtype=np.int64)
        for start in range(0, X.shape[0], self.eval_chunk):
            out[start:start + self.eval_chunk] = self.forward(theta, X[start:start + self.eval_chunk])[0].argmax(axis=1)
        return out

    def error_rate(self, theta, batch) -> float:
        """Fraction of misclassified examples (deterministic network)."""
        X, y = batch
        self._check_batch(theta, X, y)
        return backend.to_float((self.predict(theta, X) != y).mean())

    def evaluate_from_first_preactivation(self, theta, z_linear, y, masks=None):
        """``(sum of NLL, number of errors)`` over a chunk whose first layer's linear part is given."""
        logits, _ = self.forward(theta, None, masks, z0=self.first_bias(theta, z_linear))
        nll, _ = softmax_cross_entropy(logits, y, with_grad=False)
        errors = (logits.argmax(axis=1) != y).sum()
        return backend.to_float(nll) * logits.shape[0], backend.to_float(errors)
