"""Reference solutions of lesson 7."""
import numpy as np


def project(trajectory, theta_i, theta_f):
    u = (theta_f - theta_i) / np.linalg.norm(theta_f - theta_i)
    d = np.asarray(trajectory, np.float64) - theta_i
    coord = d @ u
    return coord, np.linalg.norm(d - np.outer(coord, u), axis=1)


def expected_residual(t, T, dim):
    return np.sqrt((dim - 1) * t * (T - t) / T)
