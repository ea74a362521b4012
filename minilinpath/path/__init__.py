"""The paper's technique: straight lines through parameter space, and trajectories around them."""
from .trajectory import Projection, project_trajectory, random_walk


def interpolate(theta0, theta1, alpha):
    """theta(alpha) = (1 - alpha) theta0 + alpha theta1 (any real alpha; a new array)."""
    return (1.0 - alpha) * theta0 + alpha * theta1


__all__ = ["Projection", "interpolate", "project_trajectory", "random_walk"]
