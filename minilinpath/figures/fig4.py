"""Figure 4: higher-resolution linear paths of the ReLU network without dropout.

Without dropout the objective is deterministic, so fine structure cannot be a
Monte Carlo artefact. a) 200 values of alpha tiling [0, 1]; b) the bottom of
the same curve, zoomed in; c) 200 values on [0, 0.01], where symmetry
breaking happens; d) 200 values on [0.99, 1], near the solution. Training J only.
"""
from __future__ import annotations

from ..path import alpha_grid
from .common import run_figure
from .mnist import (Experiment, add_data_arguments, curve_metrics, figure_title, metrics_table, plot_curve,
                    store_curve)

DESCRIPTION = "Figure 4: 200-point linear paths of the ReLU network without dropout, and zooms."
WINDOWS = (("fine", "a) [0, 1], 200 points"), ("start", "c) [0, 0.01], 200 points"),
           ("end", "d) [0.99, 1], 200 points"))


def compute(args):
    exp = Experiment(args)
    run = exp.model("relu")
    arrays, metrics = {}, {}
    for grid, _title in WINDOWS:
        result = exp.path(run.model, run.theta_init, run.theta_final, alpha_grid(grid), valid=False)
        store_curve(arrays, grid, result, run.theta_init, run.theta_final)
        metrics[grid] = curve_metrics(result)
    return arrays, {**exp.settings(), "metrics": metrics}


def plot(arrays, summary):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 8), layout="constrained")
    plot_curve(axes[0, 0], arrays, "fine", color="C0", valid=False)
    axes[0, 0].set_title(WINDOWS[0][1], fontsize=10)
    plot_curve(axes[0, 1], arrays, "fine", color="C0", valid=False)
    alphas, J = arrays["fine/alphas"], arrays["fine/J_train"]
    bottom, span = J.min(), J.max() - J.min()
    if span > 1e-12 * max(1.0, abs(bottom)):  # a flat curve (an untrained model) has nothing to zoom into
        near = alphas[J <= bottom + 0.25 * span]
        axes[0, 1].set_xlim(min(near.min(), 0.99), 1.0)
        axes[0, 1].set_ylim(bottom - 0.02 * span, bottom + 0.25 * span)
    axes[0, 1].set_title("b) the bottom of a), zoomed in", fontsize=10)
    for ax, (grid, title) in zip((axes[1, 0], axes[1, 1]), WINDOWS[1:]):
        plot_curve(ax, arrays, grid, color="C0", valid=False)
        ax.set_title(title, fontsize=10)
        ax.ticklabel_format(axis="y", useOffset=False)
    for ax in axes.flat:
        ax.get_legend() and ax.get_legend().remove()
    fig.suptitle(figure_title("Figure 4", "training J (mean NLL) along the line from init to solution, 200 points "
                              "per window", "ReLU MLP without dropout", summary), fontsize=11.5)
    return fig


def report(summary):
    return metrics_table({f"ReLU MLP without dropout, {k}": v for k, v in summary["metrics"].items()})


def main(argv=None):
    return run_figure("fig4", DESCRIPTION, compute, plot, report, add_data_arguments, argv=argv)

