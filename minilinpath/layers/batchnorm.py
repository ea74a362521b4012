"""Batch normalization (Ioffe & Szegedy 2015), forward and backward by hand.

Training mode, for a minibatch x (N, D), per column d (eps > 0 keeps the division finite)::

    mu      = (1/N) sum_n x_n                       (D,)   the batch mean
    var     = (1/N) sum_n (x_n - mu)^2              (D,)   the batch variance (biased: divided by N)
    x_hat_n = (x_n - mu) / sqrt(var + eps)          (N, D)
    out_n   = gamma * x_hat_n + beta                (N, D)

Evaluation mode uses given statistics (the running averages of training, or any others) instead of the
batch's: ``out = gamma * (x - mean) / sqrt(var + eps) + beta``, an affine map of x per column.

Backward (training mode). Every x_n enters out_m through mu and var too, so the gradient has three terms.
With g = dout, x_hat and inv_std = 1 / sqrt(var + eps)::

    dbeta  = sum_n g_n
    dgamma = sum_n g_n * x_hat_n
    dx_hat = g * gamma
    dx_n   = inv_std / N * (N dx_hat_n - sum_m dx_hat_m - x_hat_n sum_m dx_hat_m x_hat_m)

The last line is the chain rule through x_hat, mu and var collected into one expression (derivation: lesson
9; the step-by-step graph is :func:`minilinpath.layers.reference.batchnorm_backward`). Running averages
after a batch, with ``momentum`` m (the weight of the old value)::

    running_mean <- m running_mean + (1 - m) mu
    running_var  <- m running_var  + (1 - m) var
"""
from __future__ import annotations

from typing import NamedTuple

from .. import backend
from ._checks import require_float

DEFAULT_EPS = 1e-5


class BatchNormCache(NamedTuple):
    x_hat: object      # (N, D) the normalised batch
    inv_std: object    # (D,)   1 / sqrt(var + eps)
    gamma: object      # (D,)


def batchnorm_forward(x, gamma, beta, eps: float = DEFAULT_EPS):
    """Training mode: ``(out, cache, mean, var)`` of a batch x (N, D) with the batch's own mean and variance.

    ``mean`` and ``var`` (D,) are returned so the caller can update running averages
    (:func:`update_running`). Reference: :func:`minilinpath.layers.reference.batchnorm_forward`.
    """
    require_float("x", x)
    if x.ndim != 2 or gamma.shape != (x.shape[1],) or beta.shape != (x.shape[1],):
        raise ValueError(f"batchnorm_forward needs x (N, D) and gamma, beta (D,), got x {tuple(x.shape)}, "
                         f"gamma {tuple(gamma.shape)}, beta {tuple(beta.shape)}.")
    xp = backend.get_xp(x)
    mean = x.mean(axis=0)                                   # (D,)
    centred = x - mean                                      # (N, D)
    var = (centred * centred).mean(axis=0)                  # (D,)
    inv_std = 1 / xp.sqrt(var + x.dtype.type(eps))          # (D,)
    x_hat = centred * inv_std                               # (N, D)
    return x_hat * gamma + beta, BatchNormCache(x_hat, inv_std, gamma), mean, var


def batchnorm_backward(dout, cache: BatchNormCache):
    """``(dx, dgamma, dbeta)`` of training-mode batch normalization from dout (N, D) (formulas: module docstring)."""
    x_hat, inv_std, gamma = cache
    n = dout.shape[0]
    dbeta = dout.sum(axis=0)                                # (D,)
    dgamma = (dout * x_hat).sum(axis=0)                     # (D,)
    dx_hat = dout * gamma                                   # (N, D)
    dx = (inv_std / n) * (n * dx_hat - dx_hat.sum(axis=0) - x_hat * (dx_hat * x_hat).sum(axis=0))
    return dx, dgamma, dbeta


def batchnorm_eval(x, gamma, beta, mean, var, eps: float = DEFAULT_EPS):
    """Evaluation mode: ``gamma * (x - mean) / sqrt(var + eps) + beta`` with given statistics (D,) each."""
    xp = backend.get_xp(x)
    scale = gamma / xp.sqrt(var + x.dtype.type(eps))        # (D,)
    return (x - mean) * scale + beta


def update_running(running_mean, running_var, mean, var, momentum: float) -> None:
    """In place: ``running <- momentum * running + (1 - momentum) * batch`` for the mean and the variance."""
    for running, batch in ((running_mean, mean), (running_var, var)):
        running *= momentum
        running += (1 - momentum) * batch
