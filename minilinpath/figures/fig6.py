"""Figure 6: the convolutional maxout network on CIFAR-10 (no data augmentation).

Left: J along the whole line from the initial parameters to the solution,
alpha = i/9, i = 0..19. Right: zoomed in near the initial point
(51 values of alpha in [0, 0.25]), where the paper finds a shallow barrier
that SGD must cross, perhaps because the initial weights are too large.
``--dataset fashion-mnist`` (or ``mnist-test``) runs the same kind of network
on 28x28 grey images that can be had offline.
"""
from __future__ import annotations

import numpy as np

from ..experiments import image_shape
from ..path import alpha_grid
from .common import run_figure
from .mnist import (Experiment, add_data_arguments, curve_metrics, figure_title, metrics_table, plot_curve,
                    store_curve)

DESCRIPTION = "Figure 6: linear path of the convolutional maxout network on CIFAR-10."
ZOOM = np.linspace(0.0, 0.25, 51)
BARRIER_TOL = 1e-4  # a rise above J(0) smaller than this is rounding, not a barrier (the metrics' tolerance)


def add_arguments(parser):
    add_data_arguments(parser)
    parser.set_defaults(dataset="cifar10")


def compute(args):
    exp = Experiment(args)
    shape = image_shape(args.dataset, int(exp.train[0].shape[1]))
    run = exp.model("cifar10_maxout", input_shape=shape)
    arrays, metrics = {}, {}
    for key, alphas in (("whole", alpha_grid("paper")), ("start", ZOOM)):
        result = exp.path(run.model, run.theta_init, run.theta_final, alphas)
        store_curve(arrays, key, result, run.theta_init, run.theta_final)
        metrics[key] = curve_metrics(result)
    start = arrays["start/J_train"]
    rise = float(start.max() - start[0])
    return arrays, {**exp.settings(), "metrics": metrics, "model": repr(run.model),
                    "rise_above_start_near_init": rise, "zoom_points": int(ZOOM.size),
                    "rise_at_alpha": float(ZOOM[int(np.argmax(start))]) if rise > 0 else None}


def plot(arrays, summary):
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11.5, 4.5), layout="constrained")
    plot_curve(left, arrays, "whole", color="C0")
    left.set_title("the whole line", fontsize=10)
    left.legend(fontsize=8)
    plot_curve(right, arrays, "start", color="C0")
    right.set_title(r"near the initial point, $\alpha \in [0, 0.25]$", fontsize=10)
    right.ticklabel_format(axis="y", useOffset=False)
    right.legend(fontsize=8)
    fig.text(0.5, -0.01, finding(summary) if not summary.get("warnings") else
             "the network never left chance level: no comparison with the paper", ha="center", va="top", fontsize=9)
    fig.suptitle(figure_title("Figure 6", "J (mean NLL) along the line from init to solution",
                              "convolutional maxout network (+ dropout)", summary), fontsize=11.5)
    return fig


def finding(summary) -> str:
    """What the zoomed curve shows near the initial point, compared with the paper's shallow barrier, in one sentence."""
    rise, n = summary["rise_above_start_near_init"], summary["zoom_points"]
    if rise > BARRIER_TOL:
        return (f"near the initial point J first rises by {rise:.3g} above J(0) (peak at alpha = "
                f"{summary['rise_at_alpha']:.3f}) before it falls: a barrier near the start, as the paper reports")
    if rise > 0:
        return (f"near the initial point J rises by only {rise:.2g} above J(0) (below {BARRIER_TOL:g}, rounding): "
                f"no barrier near the start at this resolution ({n} points in [0, 0.25]); the paper reports a "
                "shallow one")
    return (f"near the initial point J falls from the start: no barrier near the start at this resolution "
            f"({n} points in [0, 0.25]); the paper reports a shallow one")


def report(summary):
    lines = metrics_table({f"conv maxout, {k}": v for k, v in summary["metrics"].items()})
    whole = summary["metrics"]["whole"]
    lines.append(f"the whole line: J is {'monotone' if whole['monotone'] else 'not monotone'} on [0, 1] "
                 f"(largest rise above the running minimum {whole['largest_bump']:.3g})")
    if summary.get("warnings"):
        lines.append("no comparison with the paper: see the warning above")
    else:
        lines.append(finding(summary))
    if summary["dataset"] != "cifar10":
        lines.append(f"(on {summary['dataset']}, not the paper's CIFAR-10: a finding about this data set only)")
    return lines


def main(argv=None):
    return run_figure("fig6", DESCRIPTION, compute, plot, report, add_arguments, argv=argv)
