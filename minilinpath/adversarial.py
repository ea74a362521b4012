"""Adversarial training with the fast gradient sign method (Goodfellow, Shlens & Szegedy, ICLR 2015).

The training objective (docs/CONFIGS.md section 5):

    J~(theta, x, y) = mix * J(theta, x, y) + (1 - mix) * J(theta, x + eps * sign(grad_x J(theta, x, y)), y)

with mix = 0.5 and eps = 0.25 for MNIST. The adversarial inputs are made
afresh at every minibatch against the current parameters, and they are
treated as constants: no gradient flows through the sign. The input gradient
comes from the model's hand-written backward pass (``want_input_grad=True``).

Under dropout, the input gradient is taken through the same masks as the
clean term (the network being trained at this step); the adversarial term
draws its own masks. The paper does not say whether x + eta is clipped to the
pixel range; by default it is not (``clip=None``), ``clip=(0, 1)`` clips.
"""
from __future__ import annotations

import math

from . import backend
from .checks import real_number


def fgsm_objective(model, epsilon: float = 0.25, mix: float = 0.5, clip=None):
    """An ``objective(theta, batch, rng) -> (loss, grad)`` for :func:`minilinpath.train.train`."""
    real_number(mix, "mix", lambda v: 0 <= v <= 1, "in [0, 1] (need 0 <= mix <= 1)")
    real_number(epsilon, "epsilon", lambda v: 0 <= v < math.inf, "a finite number >= 0")
    if clip is not None and not (len(clip) == 2 and clip[0] < clip[1]):
        raise ValueError(f"clip must be None or (low, high) with low < high, got {clip!r}.")

    def objective(theta, batch, rng):
        X, y = batch
        # a model without dropout need not say so: no ``uses_dropout`` reads as False
        dropout = rng is not None and getattr(model, "uses_dropout", False)
        masks = model.draw_masks(rng, X.shape[0], dtype=theta.dtype) if dropout else None
        loss_clean, grad, dX = model.loss_and_grad(theta, (X, y), masks=masks, want_input_grad=True)
        X_adv = adversarial_examples(X, dX, epsilon, clip)
        masks_adv = model.draw_masks(rng, X.shape[0], dtype=theta.dtype) if dropout else None
        loss_adv, grad_adv = model.loss_and_grad(theta, (X_adv, y), masks=masks_adv)
        grad *= mix
        grad += (1.0 - mix) * grad_adv
        return mix * loss_clean + (1.0 - mix) * loss_adv, grad

    return objective


def adversarial_examples(X, input_grad, epsilon: float, clip=None):
    """x + eps * sign(dJ/dx), optionally clipped to ``clip = (low, high)``."""
    xp = backend.get_xp(X)
    X_adv = X + X.dtype.type(epsilon) * xp.sign(input_grad)
    if clip is not None:
        X_adv = xp.clip(X_adv, clip[0], clip[1])
    return X_adv


def adversarial_error_rate(model, theta, batch, epsilon: float = 0.25, clip=None) -> float:
    """Error rate on fast-gradient-sign examples made against ``theta`` (deterministic network)."""
    X, y = batch
    _, _, dX = model.loss_and_grad(theta, (X, y), want_input_grad=True)
    return model.error_rate(theta, (adversarial_examples(X, dX, epsilon, clip), y))
