"""Closed-form results for deep linear regression (Section 5 and Appendix B of the paper).

- :mod:`analytic.interpolation`: J along a straight line through weight space
  is an exact polynomial in alpha (degree 2L for depth L), for the scalar toy
  problem y = w_L ... w_1 x and for matrix-valued weights; its stationary
  points, minima and barrier heights.
- :mod:`analytic.hessian`: the exact Hessian of deep linear regression (Gauss-Newton
  and residual parts), the ground truth of the curvature tools.
- :mod:`analytic.saxe`: Saxe, McClelland & Ganguli's closed-form learning
  trajectory of a two-layer linear network.

NumPy only, float64, no sampling: these are the ground truth the numerical
experiments are checked against.
"""
from .interpolation import (barrier_height, line_polynomial, matrix_path_polynomial, minima, scalar_path_polynomial,
                            stationary_points)
from .hessian import deep_linear_hessian, toy_hessian
from .saxe import mode_strength, tau_for_learning_rate, time_to_learn

__all__ = ["barrier_height", "deep_linear_hessian", "line_polynomial", "matrix_path_polynomial", "minima", "mode_strength",
           "scalar_path_polynomial", "stationary_points", "tau_for_learning_rate", "time_to_learn", "toy_hessian"]
