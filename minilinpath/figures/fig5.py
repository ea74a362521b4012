"""Figure 5: searching for local minima with straight lines.

Left: between two SGD solutions of the maxout network trained from different
seeds (different initialisation, dropout masks and minibatch order). Each end
is a minimum along the line and the line rises between them (the barrier
height is printed). Right: from a random point (every parameter N(0, 1), as
galatea's lin_interp_random.py) to a solution: no minimum on the way besides
the solution. Training and validation J.
"""
from __future__ import annotations

import numpy as np

from ..path import alpha_grid, random_point
from .common import run_figure
from .mnist import (Experiment, add_data_arguments, curve_metrics, figure_title, metrics_table, plot_curve,
                    store_curve)

DESCRIPTION = "Figure 5: maxout network, solution-to-solution and random-point-to-solution lines."
BETWEEN = np.linspace(-0.25, 1.25, 31)  # steps of 0.05, both solutions on the grid


def compute(args):
    exp = Experiment(args)
    a, b = exp.model("mnist_pi", seed=args.seed), exp.model("mnist_pi", seed=args.seed + 1)
    arrays, metrics = {}, {}
    between = exp.path(a.model, a.theta_final, b.theta_final, BETWEEN)
    store_curve(arrays, "solutions", between, a.theta_final, b.theta_final)
    metrics["solution -> solution"] = curve_metrics(between, barrier=True)
    start = random_point(a.model, seed=[args.seed, 5], xp=exp.xp, dtype=a.theta_final.dtype)
    from_random = exp.path(a.model, start, a.theta_final, alpha_grid("paper"))
    store_curve(arrays, "random", from_random, start, a.theta_final)
    metrics["random point -> solution"] = curve_metrics(from_random)
    return arrays, {**exp.settings(), "metrics": metrics, "seeds": [args.seed, args.seed + 1]}


def plot(arrays, summary):
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11.5, 4.5), layout="constrained")
    plot_curve(left, arrays, "solutions", color="C0")
    m = summary["metrics"]["solution -> solution"]
    left.set_title(f"between two solutions (seeds {summary['seeds'][0]} and {summary['seeds'][1]}): "
                   f"barrier {m['barrier_mean']:.3g}", fontsize=10)
    left.legend(fontsize=8)
    plot_curve(right, arrays, "random", color="C0", log=True)
    right.set_title("from a random point (every parameter N(0, 1)) to a solution", fontsize=10)
    right.legend(fontsize=8)
    fig.suptitle(figure_title("Figure 5", "J (mean NLL) along lines between two solutions and from a random point",
                              "maxout + dropout MLP", summary), fontsize=11.5)
    return fig


def report(summary):
    m = summary["metrics"]["solution -> solution"]
    return metrics_table(summary["metrics"]) + [
        f"barrier between the two solutions: {m['barrier_mean']:.4g} above the mean of the ends (at alpha = "
        f"{m['barrier_mean_alpha']:.2f}), {m['barrier_chord']:.4g} above the chord"]


def main(argv=None):
    return run_figure("fig5", DESCRIPTION, compute, plot, report, add_data_arguments, argv=argv)
