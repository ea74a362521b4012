"""Saxe, McClelland & Ganguli (2013): exact learning dynamics of a two-layer linear network.

Setting (docs/CONFIGS.md section 8b): whitened inputs (Sxx = I), input-output
correlation Sxy = U S V^T, gradient flow from "decoupled" balanced initial
weights. Each singular mode alpha then learns on its own: its strength
u = a * b (the mode's singular value in W_1 W_2) obeys

    tau du/dt = 2 u (s - u),

a logistic equation with the solution

    u(t) = s e^{2 s t / tau} / (e^{2 s t / tau} - 1 + s / u_0)
         = s / (1 + (s / u_0 - 1) e^{-2 s t / tau})     (the form used here: no overflow),

and the time to grow from u_0 to u_f is

    t = (tau / (2 s)) ln[ u_f (s - u_0) / (u_0 (s - u_f)) ].

Saxe et al. write the error as E = 1/2 sum ||y - y_hat||^2; this project's
J = tr(M^T Sxx M) - 2 tr(M^T Sxy) + syy is twice that per example, so
gradient descent on J with learning rate lr follows the flow with
tau = 1 / (2 lr) per step (:func:`tau_for_learning_rate`).
"""
from __future__ import annotations

import numpy as np


def _check_tau(tau) -> None:
    if np.ndim(tau) != 0 or not (np.isfinite(tau) and tau > 0):
        raise ValueError(f"tau is a time constant: a finite number > 0, got {tau!r}.")


def mode_strength(t, s, u0, tau=1.0):
    """u(t) for a mode of strength s started at u0 > 0 (vectorised over t)."""
    s, u0 = np.asarray(s, dtype=np.float64), np.asarray(u0, dtype=np.float64)
    if not (np.all(np.isfinite(s)) and np.all(np.isfinite(u0)) and np.all(u0 > 0) and np.all(s > 0)):
        raise ValueError("the closed form needs finite s > 0 and a positive initial strength u0.")
    _check_tau(tau)
    t = np.asarray(t, dtype=np.float64)
    if np.any(np.isnan(t)):
        raise ValueError("t holds NaN; give times as numbers.")
    return s / (1.0 + (s / u0 - 1.0) * np.exp(-2.0 * s * t / tau))


def time_to_learn(s, u0, uf, tau=1.0) -> float:
    """Time for a mode to grow from u0 to uf (0 < u0 < uf < s), for scalar s, u0, uf."""
    if any(np.ndim(v) != 0 for v in (s, u0, uf)):
        raise ValueError("time_to_learn takes scalar s, u0 and uf; loop over modes for several.")
    _check_tau(tau)
    if not 0 < u0 < uf < s:
        raise ValueError(f"need 0 < u0 < uf < s, got u0={u0}, uf={uf}, s={s}.")
    return tau / (2.0 * s) * np.log(uf * (s - u0) / (u0 * (s - uf)))


def tau_for_learning_rate(lr: float) -> float:
    """The time constant, in steps, of gradient descent on this project's J with learning rate lr."""
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"the learning rate must be a finite number > 0, got {lr!r}.")
    return 1.0 / (2.0 * lr)
