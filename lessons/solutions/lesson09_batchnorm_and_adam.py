"""Reference solutions of lesson 9 (same names as the exercises).

The library's versions: minilinpath/layers/batchnorm.py (the collected formula) and
minilinpath/layers/reference.py (the graph walked node by node), minilinpath/optim.py (Adam.step) and
minilinpath/path/metrics.py (gauss_length).
"""
import numpy as np


def batchnorm_backward(dout, x, gamma, eps):
    n = x.shape[0]
    mu = x.mean(axis=0)
    s = 1 / np.sqrt(((x - mu) ** 2).mean(axis=0) + eps)     # 1 / sqrt(var + eps)
    x_hat = (x - mu) * s
    g = dout * gamma                                          # the gradient reaching x_hat
    dx = s / n * (n * g - g.sum(axis=0) - x_hat * (g * x_hat).sum(axis=0))
    return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)


def adam_step(theta, m, v, g, t, lr, beta1, beta2, eps):
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    m_hat, v_hat = m / (1 - beta1 ** t), v / (1 - beta2 ** t)
    return theta - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


def gauss_length(outputs):
    steps = np.diff(outputs, axis=0)                          # (K - 1, N, C)
    return float(np.linalg.norm(steps, axis=2).sum(axis=0).mean())
