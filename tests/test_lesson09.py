"""Lesson 9's checks catch the classic wrong answers (the right ones pass in tests/test_lessons.py)."""
from __future__ import annotations

import numpy as np

from .test_lessons import CHECKS, solution

L9 = "lesson09_batchnorm_and_adam"


def forgot_mean_and_variance(dout, x, gamma, eps):
    """dx as if mu and var were constants: dout gamma / sqrt(var + eps)."""
    dx, dgamma, dbeta = solution(L9, "batchnorm_backward")(dout, x, gamma, eps)
    return dout * gamma / np.sqrt(x.var(axis=0) + eps), dgamma, dbeta


def no_bias_correction(theta, m, v, g, t, lr, beta1, beta2, eps):
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    return theta - lr * m / (np.sqrt(v) + eps), m, v


def net_displacement(outputs):
    return float(np.linalg.norm(outputs[-1] - outputs[0], axis=1).mean())


def test_wrong_answers_fail():
    for name, wrong, says in (("batchnorm_backward", forgot_mean_and_variance, "through the mean and the variance"),
                              ("adam_step", no_bias_correction, "m_hat"),
                              ("gauss_length", net_displacement, "norm of each step")):
        verdict = CHECKS[name](wrong)
        assert not verdict.passed and says in verdict.report(), verdict.report()
