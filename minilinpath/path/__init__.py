"""The paper's technique: straight lines through parameter space, and trajectories around them."""
from .linear import PathResult, alpha_grid, linear_path, random_point
from .metrics import barrier_height, distance_travelled, is_monotone, largest_bump, local_minima, summarize
from .trajectory import Projection, project_trajectory, random_walk


def interpolate(theta0, theta1, alpha):
    """theta(alpha) = (1 - alpha) theta0 + alpha theta1 (any real alpha; a new array of theta's dtype)."""
    alpha = float(alpha)
    return (1.0 - alpha) * theta0 + alpha * theta1


__all__ = ["PathResult", "Projection", "alpha_grid", "barrier_height", "distance_travelled", "interpolate",
           "is_monotone", "largest_bump", "linear_path", "local_minima", "project_trajectory", "random_point",
           "random_walk", "summarize"]
