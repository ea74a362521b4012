"""Reference solutions of lesson 8."""
import numpy as np


def plane_basis(theta_a, theta_b, theta_c):
    a, b, c = (np.asarray(t, np.float64) for t in (theta_a, theta_b, theta_c))
    d1 = (b - a) / np.linalg.norm(b - a)
    w = (c - a) - ((c - a) @ d1) * d1
    return d1, w / np.linalg.norm(w)


def plane_coordinates(theta, origin, d1, d2):
    d = np.asarray(theta, np.float64) - np.asarray(origin, np.float64)
    a, b = d @ d1, d @ d2
    return a, b, np.linalg.norm(d - a * d1 - b * d2)


def hvp_central(grad, theta, v, h):
    norm = np.linalg.norm(v)
    u = v / norm
    return (grad(theta + h * u) - grad(theta - h * u)) / (2.0 * h) * norm
