"""Figure 10: the toy problem y = w1 w2 x between two solutions, and from a far random point to a solution.

Left: two solutions found by gradient descent from two random starts. Both lie
on the hyperbola w1 w2 = 1 of global minima (connected within each branch),
yet the straight line between them rises over a barrier, whose exact height
comes from the closed-form polynomial. Right: from a random point of large
norm to a solution: no minimum on the way other than the solution itself.
"""
from __future__ import annotations

import numpy as np

import analytic
from .common import run_figure, table
from .toy import draw_weight_space, line_curves, stationary_summary, toy_model, train_to_solution

DESCRIPTION = "Figure 10: deep linear regression, solution-to-solution and random-point-to-solution lines."
SOLUTION_INIT_STD = 1.0   # starts of the two runs that give the two solutions
FAR_NORM = 4.0            # norm of the random far point
LEFT_RANGE, RIGHT_RANGE = (-0.25, 1.25), (0.0, 1.25)


def two_solutions_on_one_branch(rng, model):
    """Train from random starts until two runs end on the same branch of w1 w2 = 1, apart from each other.

    The paper's point is that the two solutions lie on one *connected* set of
    minima and the line between them still rises; solutions on opposite
    branches (w1 w2 = 1 with w1 > 0 vs w1 < 0) are not connected, so such pairs
    are skipped. The draws are deterministic given the seed.
    """
    runs = []
    for _ in range(100):
        start = rng.normal(0.0, SOLUTION_INIT_STD, size=model.size)
        solution, path, _ = train_to_solution(start)
        for other_start, other, other_path in runs:
            if np.sign(other[0]) == np.sign(solution[0]) and np.linalg.norm(other - solution) > 0.5:
                return np.array([other_start, start]), (other, other_path), (solution, path)
        runs.append((start, solution, path))
    raise RuntimeError("no two solutions on one branch after 100 runs; try another --seed.")


def compute(args):
    rng = np.random.default_rng(args.seed)
    model = toy_model()
    starts, (sol_a, path_a), (sol_b, path_b) = two_solutions_on_one_branch(rng, model)
    direction = rng.standard_normal(model.size)
    far = FAR_NORM * direction / np.linalg.norm(direction)

    left_alphas = np.linspace(*LEFT_RANGE, 601)
    poly_ab, J_ab, s_alphas_ab, s_ab = line_curves(sol_a, sol_b, left_alphas, 31)
    right_alphas = np.linspace(*RIGHT_RANGE, 601)
    poly_fa, J_fa, s_alphas_fa, s_fa = line_curves(far, sol_a, right_alphas, 31)
    mean_height, mean_at = analytic.barrier_height(poly_ab, "mean")
    chord_height, chord_at = analytic.barrier_height(poly_ab, "chord")
    summary = {
        "starts": starts.tolist(), "solution_a": sol_a.tolist(), "solution_b": sol_b.tolist(),
        "far_point": far.tolist(),
        "barrier_mean": {"height": mean_height, "alpha": mean_at,
                         "definition": "max over [0,1] of J(a) - (J(0) + J(1)) / 2"},
        "barrier_chord": {"height": chord_height, "alpha": chord_at,
                          "definition": "max over [0,1] of J(a) - ((1-a) J(0) + a J(1))"},
        "solution_line_stationary_points": stationary_summary(poly_ab, *LEFT_RANGE),
        "far_line_stationary_points": stationary_summary(poly_fa, *RIGHT_RANGE),
        "far_line_minima_in_0_1": [p.alpha for p in analytic.minima(poly_fa, 0.0, 1.0 + 1e-9)],
        "max_abs_closed_form_minus_sampled": float(max(np.abs(poly_ab(s_alphas_ab) - s_ab).max(),
                                                       np.abs(poly_fa(s_alphas_fa) - s_fa).max())),
    }
    arrays = {"solutions/alphas": left_alphas, "solutions/J_train": J_ab, "solutions/sampled_alphas": s_alphas_ab,
              "solutions/sampled_J": s_ab, "solutions/theta0": sol_a, "solutions/theta1": sol_b,
              "solutions/path_a": path_a, "solutions/path_b": path_b,
              "random/alphas": right_alphas, "random/J_train": J_fa, "random/sampled_alphas": s_alphas_fa,
              "random/sampled_J": s_fa, "random/theta0": far, "random/theta1": sol_a}
    return arrays, summary


def _curve(ax, arrays, key, title):
    alphas, J = arrays[f"{key}/alphas"], arrays[f"{key}/J_train"]
    ax.plot(alphas, J, color="C0", lw=2, label="closed form")
    ax.plot(arrays[f"{key}/sampled_alphas"], arrays[f"{key}/sampled_J"], "o", color="C1", ms=4,
            label="numerical model, sampled")
    for a in (0.0, 1.0):
        ax.axvline(a, color="0.5", lw=0.8, ls=":")
    ax.set_xlim(alphas[0], alphas[-1])
    ax.set_xlabel(r"$\alpha$")
    ax.set_ylabel(r"$J(\theta(\alpha))$")
    ax.set_title(title, fontsize=10)


def plot(arrays, summary):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11.5, 10), gridspec_kw={"height_ratios": [1.15, 1]})
    a, b = arrays["solutions/theta0"], arrays["solutions/theta1"]
    shown = np.concatenate([arrays["solutions/path_a"], arrays["solutions/path_b"]])
    draw_weight_space(
        axes[0, 0], extent=max(2.2, 1.1 * float(np.abs(shown).max())),
        lines=[(a, b, dict(color="C3", lw=2, ls="--", label="straight line"))],
        paths=[(arrays["solutions/path_a"], dict(color="C1", lw=1.3, label="gradient descent runs")),
               (arrays["solutions/path_b"], dict(color="C1", lw=1.3))],
        points=[(a, dict(marker="*", color="C3", ms=13, label=r"solution A ($\alpha=0$)")),
                (b, dict(marker="P", color="C3", ms=10, label=r"solution B ($\alpha=1$)"))])
    axes[0, 0].set_title("Two solutions, one line between them")
    far, sol = arrays["random/theta0"], arrays["random/theta1"]
    draw_weight_space(
        axes[0, 1], extent=max(2.2, 1.1 * float(np.abs(far).max())),
        lines=[(far, sol, dict(color="C3", lw=2, ls="--", label="straight line"))],
        points=[(far, dict(marker="o", color="k", ms=7, label=r"random point ($\alpha=0$)")),
                (sol, dict(marker="*", color="C3", ms=13, label=r"solution A ($\alpha=1$)"))])
    axes[0, 1].set_title("From a far random point to a solution")

    _curve(axes[1, 0], arrays, "solutions", "Between two solutions: a barrier")
    h, at = summary["barrier_mean"]["height"], summary["barrier_mean"]["alpha"]
    J_ends = arrays["solutions/J_train"][[np.argmin(np.abs(arrays["solutions/alphas"] - x)) for x in (0, 1)]]
    base = float(J_ends.mean())
    axes[1, 0].annotate("", xy=(at, base + h), xytext=(at, base),
                        arrowprops=dict(arrowstyle="<->", color="C3", lw=1.5))
    axes[1, 0].annotate(f"barrier {h:.4g}\n(exact)", (at, base + 0.25 * h), xytext=(6, 0),
                        textcoords="offset points", color="C3", fontsize=9, va="center",
                        bbox=dict(facecolor="white", edgecolor="none", alpha=0.85))
    axes[1, 0].legend(fontsize=8, loc="upper left")
    _curve(axes[1, 1], arrays, "random", r"Random point to solution: no other minimum for $\alpha \in [0, 1]$")
    axes[1, 1].set_yscale("log")
    axes[1, 1].set_ylim(1e-6, 2 * arrays["random/J_train"].max())  # the exact zero at a solution is off-scale
    axes[1, 1].set_ylabel(r"$J(\theta(\alpha))$ (log scale)")
    axes[1, 1].legend(fontsize=8, loc="lower left")
    fig.suptitle("Figure 10 — J along lines between two solutions and from a far point: the toy network "
                 "$y = w_1 w_2 x$\n(deep linear, depth 2), one example x = 1, y = 1 (exact: the same for every profile)",
                 fontsize=11.5)
    fig.tight_layout()
    return fig


def report(summary):
    a, b = summary["solution_a"], summary["solution_b"]
    m, c = summary["barrier_mean"], summary["barrier_chord"]
    lines = [f"solution A = ({a[0]:+.4f}, {a[1]:+.4f}), solution B = ({b[0]:+.4f}, {b[1]:+.4f}) "
             "(both w1 w2 = 1)",
             f"barrier between them (exact): {m['height']:.6g} above the mean of the endpoints at alpha = "
             f"{m['alpha']:.4f}; {c['height']:.6g} above the chord at alpha = {c['alpha']:.4f}",
             f"random point of norm {np.linalg.norm(summary['far_point']):.2f} -> solution A: minima of J on [0, 1] "
             f"at alpha = {', '.join(f'{x:.4f}' for x in summary['far_line_minima_in_0_1']) or 'none'} "
             "(beyond alpha = 1 the line may cross the hyperbola of solutions again)",
             f"closed form vs numerical model: max |difference| = {summary['max_abs_closed_form_minus_sampled']:.1e}"]
    rows = [("solution -> solution", f"{p['alpha']:+.4f}", f"{p['J']:.4g}", p["kind"])
            for p in summary["solution_line_stationary_points"]]
    rows += [("random -> solution", f"{p['alpha']:+.4f}", f"{p['J']:.4g}", p["kind"])
             for p in summary["far_line_stationary_points"]]
    return lines + ["stationary points on the plotted ranges:"] + ["  " + line for line in
                                                                   table(rows, ("line", "alpha", "J", "kind"))]


def main(argv=None):
    return run_figure("fig10", DESCRIPTION, compute, plot, report, argv=argv, devices=("cpu",))
