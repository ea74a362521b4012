"""The paper's toy problem, shared by Figures 9 and 10: train y = w1 w2 x to output 1 at x = 1.

J(w1, w2) = (1 - w1 w2)^2. Its minima form the hyperbola w1 w2 = 1 (two
branches, all global minima, connected within each branch); the origin is a
saddle point.
"""
from __future__ import annotations

import numpy as np

import analytic
from .. import models
from ..models.deep_linear import toy_problem
from ..optim import gradient_descent
from ..path import interpolate

LR = 0.1           # gradient descent step on J (stable: the curvature near a solution is about 4)
MAX_STEPS = 20_000
SOLVED = 1e-20     # J below this counts as a solution


def toy_model():
    return models.get("deep_linear")


def train_to_solution(theta0):
    """Full-batch gradient descent from theta0 until J < 1e-20; returns (solution, path (T, 2), losses (T,))."""
    model, batch = toy_model(), toy_problem()
    path, losses = [np.array(theta0, dtype=np.float64)], [model.loss(theta0, batch)]
    for _step, theta, _loss in gradient_descent(model, np.array(theta0, dtype=np.float64), batch, LR,
                                                steps=MAX_STEPS):
        path.append(theta)
        losses.append(model.loss(theta, batch))
        if losses[-1] < SOLVED:
            break
    else:
        raise RuntimeError(f"gradient descent did not reach J < {SOLVED} in {MAX_STEPS} steps from {theta0}.")
    return path[-1], np.array(path), np.array(losses)


def line_curves(theta0, theta1, alphas, n_samples):
    """The closed-form J(alpha) on ``alphas`` and the numerical model's J at ``n_samples`` evenly spaced alphas."""
    poly = analytic.scalar_path_polynomial(theta0, theta1)
    model, batch = toy_model(), toy_problem()
    sampled_alphas = np.linspace(alphas[0], alphas[-1], n_samples)
    sampled = np.array([model.loss(interpolate(theta0, theta1, a), batch) for a in sampled_alphas])
    return poly, poly(alphas), sampled_alphas, sampled


def draw_weight_space(ax, lines=(), paths=(), points=(), extent=2.5):
    """Contours of log10 J(w1, w2) with the solution hyperbola, straight lines, GD paths and marked points."""
    grid = np.linspace(-extent, extent, 401)
    w1, w2 = np.meshgrid(grid, grid)
    J = (1 - w1 * w2) ** 2
    filled = ax.contourf(w1, w2, np.log10(J + 1e-3), levels=30, cmap="viridis")
    w = np.linspace(1 / extent, extent, 200)
    for sign in (1, -1):
        ax.plot(sign * w, sign / w, color="white", lw=1.2, ls=":",
                label="solutions ($w_1 w_2 = 1$)" if sign > 0 else None)
    for (a, b, style) in lines:
        ends = np.array([a, b])
        ax.plot(ends[:, 0], ends[:, 1], **style)
    for (path, style) in paths:
        ax.plot(path[:, 0], path[:, 1], **style)
    for (p, style) in points:
        ax.plot([p[0]], [p[1]], ls="none", **style)
    ax.set_xlim(-extent, extent)
    ax.set_ylim(-extent, extent)
    ax.set_aspect("equal")
    ax.set_xlabel("$w_1$")
    ax.set_ylabel("$w_2$")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=8,
              facecolor="0.72", framealpha=1.0)
    ax.figure.colorbar(filled, ax=ax, shrink=0.8, label=r"$\log_{10}(J + 10^{-3})$")
    return filled


def stationary_summary(poly, lo, hi) -> list:
    # J >= 0 exactly; values within rounding of 0 are shown as 0
    return [{"alpha": round(p.alpha, 6), "J": 0.0 if abs(p.J) < 1e-12 else float(f"{p.J:.6g}"), "kind": p.kind}
            for p in analytic.stationary_points(poly, lo, hi)]
