"""Reference solutions of lesson 2."""
import numpy as np
from numpy.polynomial import Polynomial


def path_polynomial(theta_i, theta_f):
    w1 = Polynomial([theta_i[0], theta_f[0] - theta_i[0]])
    w2 = Polynomial([theta_i[1], theta_f[1] - theta_i[1]])
    return (1 - w1 * w2) ** 2


def flat_region_end(J, drop=0.01):
    roots = (J - (1 - drop) * J(0.0)).roots()
    return min(r.real for r in roots if abs(r.imag) < 1e-9 and 0 < r.real <= 1 + 1e-12)


def barrier_by_hand():
    w1, w2 = (2.0 + 0.5) / 2, (0.5 + 2.0) / 2   # both weights are 1.25 at alpha = 1/2
    return (1 - w1 * w2) ** 2                    # the ends have J = 0, so this is the height above them


def depth_path_polynomial(theta_i, theta_f):
    p = Polynomial([1.0])
    for a, b in zip(theta_i, theta_f):
        p = p * Polynomial([a, b - a])
    return (1 - p) ** 2
