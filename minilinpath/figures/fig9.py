"""Figure 9: the linear path from a small random initialisation to a solution of y = w1 w2 x.

Left: the weight space (w1, w2), with contours of J, the hyperbola of
solutions, the straight line from theta_init to the solution, and the path
gradient descent actually took. Right: J along the line,
theta(alpha) = (1 - alpha) theta_init + alpha theta_solution, from the exact
polynomial (line) and from the numerical model (dots): flat near the saddle at
the origin, then one descent into the single minimum at alpha = 1.
"""
from __future__ import annotations

import numpy as np

from ..path import project_trajectory
from .common import run_figure, table
from .toy import draw_weight_space, line_curves, stationary_summary, toy_model, train_to_solution

DESCRIPTION = "Figure 9: linear interpolation from a small random init to a solution of y = w1 w2 x."
ALPHA_RANGE = (-0.25, 1.5)
INIT_STD = 0.01


def flat_until(alphas, J):
    """The largest alpha in [0, 1] up to which J stays within 1% of its fall J(0) - J(1) from J(0)."""
    j0, j1 = np.interp(0.0, alphas, J), np.interp(1.0, alphas, J)
    inside = (alphas >= 0) & (alphas <= 1)
    below = alphas[inside][J[inside] < j0 - 0.01 * (j0 - j1)]
    return float(below[0]) if below.size else 1.0


def compute(args):
    model = toy_model()
    theta0 = np.random.default_rng(args.seed).normal(0.0, INIT_STD, size=model.size)
    solution, gd_path, gd_loss = train_to_solution(theta0)
    alphas = np.linspace(*ALPHA_RANGE, 701)
    poly, J, sampled_alphas, sampled = line_curves(theta0, solution, alphas, 36)
    summary = {
        "theta_init": theta0.tolist(), "theta_solution": solution.tolist(), "gd_steps": len(gd_path) - 1,
        "alpha_range": list(ALPHA_RANGE), "polynomial": poly.coef.tolist(),
        "stationary_points": stationary_summary(poly, *ALPHA_RANGE),
        "max_abs_closed_form_minus_sampled": float(np.max(np.abs(poly(sampled_alphas) - sampled))),
        "flat_until_alpha": flat_until(alphas, J),
        # how far gradient descent strays from the straight line (the residual of Appendix B): near 0 here
        "gd_max_distance_from_line": float(project_trajectory(gd_path, theta0, solution).residual.max()),
    }
    arrays = {"alphas": alphas, "J_train": J, "sampled_alphas": sampled_alphas, "sampled_J": sampled,
              "theta0": theta0, "theta1": solution, "gd_path": gd_path, "gd_loss": gd_loss,
              "polynomial": poly.coef}
    return arrays, summary


def plot(arrays, summary):
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11.5, 4.8), gridspec_kw={"width_ratios": [1, 1.35]})
    theta0, theta1 = arrays["theta0"], arrays["theta1"]
    draw_weight_space(
        left, extent=1.6,
        # the two nearly coincide: the path is drawn as dots (one per step) under a thin dashed line on top
        lines=[(theta0, theta1, dict(color="k", lw=1.3, ls=(0, (4, 3)), zorder=4, label="straight line"))],
        paths=[(arrays["gd_path"], dict(color="C1", ls="none", marker="o", ms=3.5, zorder=3,
                                         label=f"gradient descent: a dot per step, "
                                               f"≤ {summary['gd_max_distance_from_line']:.2g} from the line"))],
        points=[(theta0, dict(marker="o", color="k", ms=6, zorder=5, label=r"$\theta_{init}$")),
                (theta1, dict(marker="*", color="C3", ms=13, zorder=5, label=r"$\theta_{solution}$"))])
    left.set_title("Weight space: contours of $\\log_{10} J$")

    alphas, J = arrays["alphas"], arrays["J_train"]
    flat = summary["flat_until_alpha"]
    right.axvspan(0, flat, color="0.9", label=f"flat: J within 1% of J(0) for α < {flat:.2f}")
    right.plot(alphas, J, color="C0", lw=2, label="closed form (polynomial in α)")
    right.plot(arrays["sampled_alphas"], arrays["sampled_J"], "o", color="C1", ms=4,
               label="numerical model, sampled")
    for a, text in ((0.0, "init (near the saddle at 0)"), (1.0, "solution")):
        right.axvline(a, color="0.5", lw=0.8, ls=":")
        right.annotate(text, (a, -0.01 * J.max()), xytext=(3, 3), textcoords="offset points", ha="left",
                       va="bottom", fontsize=8, color="0.3")
    right.set_xlabel(r"$\alpha$   ($\theta = (1-\alpha)\,\theta_{init} + \alpha\,\theta_{solution}$)")
    right.set_ylabel(r"$J(\theta(\alpha)) = (1 - w_1 w_2)^2$")
    right.set_xlim(alphas[0], alphas[-1])
    right.set_ylim(bottom=-0.02 * J.max())
    right.legend(fontsize=8, loc="upper center")
    right.set_title("Along the line: one smooth descent, one minimum")
    fig.suptitle("Figure 9 — J along the line from init to solution: the toy network $y = w_1 w_2 x$ (deep linear, "
                 "depth 2),\none example x = 1, y = 1; small random initialisation (exact: the same for every "
                 "profile)", fontsize=11)
    fig.tight_layout()
    return fig


def report(summary):
    w0, w1 = summary["theta_init"], summary["theta_solution"]
    lines = [f"init (w1, w2) = ({w0[0]:+.4f}, {w0[1]:+.4f}) -> solution ({w1[0]:+.4f}, {w1[1]:+.4f}) "
             f"after {summary['gd_steps']} gradient descent steps, at most "
             f"{summary['gd_max_distance_from_line']:.2g} away from the straight line between them",
             f"J along the line is flat (within 1% of J(0)) for alpha < {summary['flat_until_alpha']:.3f}",
             f"closed form vs numerical model: max |difference| = {summary['max_abs_closed_form_minus_sampled']:.1e}",
             f"stationary points of J(alpha) on alpha in [{summary['alpha_range'][0]}, {summary['alpha_range'][1]}]:"]
    rows = [(f"{p['alpha']:+.4f}", f"{p['J']:.4g}", p["kind"]) for p in summary["stationary_points"]]
    return lines + ["  " + line for line in table(rows, ("alpha", "J", "kind"))]


def main(argv=None):
    return run_figure("fig9", DESCRIPTION, compute, plot, report, argv=argv, devices=("cpu",))
