"""Lesson 2 — the linear path idea, exactly, on the smallest deep network there is.

Run it:  python lessons/lesson02_linear_path_deep_linear.py     (a few seconds)

The network is y = w1 w2 x, trained to output 1 at x = 1 with squared error:
J(w1, w2) = (1 - w1 w2)^2. It is "deep" (two layers) and non-convex, yet tiny
enough to solve on paper.

1. The technique. Take the initial parameters theta_i and the solution theta_f
   and walk the straight line theta(a) = (1 - a) theta_i + a theta_f. Along it
   each weight is affine in a, so w1(a) w2(a) is a quadratic p(a) and
   J(a) = (1 - p(a))^2 is a polynomial of degree 4: no sampling needed.
2. From a small initialisation, p(a) ~ a^2 near a = 0, so J is flat there
   (dJ/da = 0 at the saddle point w = 0), then falls into a single minimum at a = 1.
   This is the shape the paper finds for every neural network it tries.
3. Between two different solutions the line leaves the valley of minima and
   crosses a barrier, although the solutions are connected by a curved valley.

Exercise: the two solutions (w1, w2) = (2, 1/2) and (1/2, 2). Work out, by
hand, the height of J at the midpoint a = 1/2 (the barrier's top). Put your
number in ``MY_ANSWER`` and run the lesson: it checks it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

import analytic
from minilinpath import models
from minilinpath.models.deep_linear import toy_problem
from minilinpath.optim import gradient_descent
from minilinpath.path import interpolate

MY_ANSWER = None  # your barrier height for (2, 1/2) -> (1/2, 2); e.g. MY_ANSWER = 0.123


def solve_from(theta0, lr=0.1, steps=500):
    """Gradient descent on the toy problem from theta0; returns the last point."""
    model = models.get("deep_linear")
    theta = np.asarray(theta0, dtype=np.float64)
    for _step, theta, _J in gradient_descent(model, theta, toy_problem(), lr, steps=steps):
        pass
    return theta


def check_exercise(answer) -> bool:
    """True if ``answer`` is the exact barrier height between (2, 1/2) and (1/2, 2), to 1e-6."""
    height, _where = analytic.barrier_height(analytic.scalar_path_polynomial([2.0, 0.5], [0.5, 2.0]))
    return answer is not None and abs(float(answer) - height) < 1e-6


def main(out="lesson02-out", answer=None):
    model, batch = models.get("deep_linear"), toy_problem()
    theta_i = np.random.default_rng(0).normal(0.0, 0.01, size=2)
    theta_f = solve_from(theta_i)
    print(f"1. init {theta_i.round(4)} -> solution {theta_f.round(4)}, J = {model.loss(theta_f, batch):.1e}")

    J = analytic.scalar_path_polynomial(theta_i, theta_f)
    print(f"2. J(a) = {J}")
    for a in (0.0, 0.25, 0.5, 1.0):
        sampled = model.loss(interpolate(theta_i, theta_f, a), batch)
        print(f"   a = {a:4.2f}: closed form {J(a):.6f}, numerical model {sampled:.6f}")
    for p in analytic.stationary_points(J, 0.0, 1.5):
        print(f"   stationary point at a = {p.alpha:+.4f}: {p.kind}, J = {p.J:.3g}")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    alphas = np.linspace(-0.25, 1.5, 300)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(alphas, J(alphas), label="J along the line (exact)")
    ax.axvline(0, color="0.6", ls=":")
    ax.axvline(1, color="0.6", ls=":")
    ax.set_xlabel(r"$\alpha$")
    ax.set_ylabel(r"$J(\theta(\alpha))$")
    ax.legend()
    Path(out).mkdir(parents=True, exist_ok=True)
    fig.savefig(Path(out) / "lesson02_path.png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    print(f"   figure: {Path(out) / 'lesson02_path.png'}")

    answer = MY_ANSWER if answer is None else answer
    if answer is None:
        print("3. Exercise: set MY_ANSWER to your barrier height for (2, 1/2) -> (1/2, 2). "
              "Hint: p(1/2) = w1(1/2) * w2(1/2).")
        return None
    ok = check_exercise(answer)
    print(f"3. Exercise: {answer} is {'right!' if ok else 'not right yet: compute p(1/2), then (1 - p)^2'}")
    return ok


if __name__ == "__main__":
    main()
