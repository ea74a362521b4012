"""The paper's technique: straight lines through parameter space, and trajectories around them;
planes through parameter space (:mod:`.plane`) and curvature along the line (:mod:`.curvature`)."""
from .curves import Curve, CurveFit, curve_path, line_curve, train_curve
from .curvature import HessianOperator, hessian_eigenvalues, hutchinson_trace, hvp, line_curvature
from .linear import PathResult, alpha_grid, linear_path, random_point
from .metrics import barrier_height, distance_travelled, gauss_length, is_monotone, largest_bump, local_minima, summarize
from .statistics import STATISTICS_CHOICES, output_path
from .plane import (Plane, PlaneResult, evaluate_plane, grid_around, normalize_direction, paper_plane, pca_directions,
                    pca_plane, plane_along, plane_through, random_direction, random_plane, trajectory_on_plane)
from .trajectory import Projection, project_trajectory, random_walk


def interpolate(theta0, theta1, alpha):
    """theta(alpha) = (1 - alpha) theta0 + alpha theta1 (any real alpha; a new array of theta's dtype)."""
    alpha = float(alpha)
    return (1.0 - alpha) * theta0 + alpha * theta1


__all__ = ["HessianOperator", "PathResult", "Plane", "PlaneResult", "Projection", "evaluate_plane", "grid_around",
           "hessian_eigenvalues", "hutchinson_trace", "hvp", "line_curvature", "normalize_direction", "paper_plane",
           "pca_directions", "pca_plane", "plane_along", "plane_through", "random_direction", "random_plane",
           "trajectory_on_plane", "alpha_grid", "barrier_height", "gauss_length", "output_path", "STATISTICS_CHOICES", "distance_travelled", "interpolate",
           "is_monotone", "largest_bump", "linear_path", "local_minima", "project_trajectory", "random_point",
           "random_walk", "summarize", "Curve", "CurveFit", "curve_path", "line_curve", "train_curve"]
