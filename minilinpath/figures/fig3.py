"""Figure 3: maxout, ReLU and sigmoid networks on one axis, J on a log scale.

The same trained models as Figures 1 and 2 (reused from the cache); the log
scale shows the differences at the bottom of the curves.
"""
from __future__ import annotations

from .common import run_figure
from .mnist import Experiment, add_data_arguments, metrics_table, plot_curve

DESCRIPTION = "Figure 3: maxout, ReLU and sigmoid linear paths on one log-scale axis."
CURVES = (("mnist_pi", "maxout"), ("mnist_valid", "ReLU"), ("sigmoid", "sigmoid"))


def compute(args):
    exp = Experiment(args)
    arrays, metrics = {}, {}
    for name, _label in CURVES:
        exp.init_to_solution(name, arrays, metrics)
    return arrays, {**exp.settings(), "metrics": metrics}


def plot(arrays, summary):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), layout="constrained")
    for i, (name, label) in enumerate(CURVES):
        plot_curve(ax, arrays, name, label=label, color=f"C{i}", log=True)
    ax.legend(fontsize=8, ncol=3)
    ax.set_title(f"Figure 3 — three activation functions, {summary['dataset']} ({summary['profile']} profile)",
                 fontsize=11)
    return fig


def report(summary):
    return metrics_table(summary["metrics"])


def main(argv=None):
    return run_figure("fig3", DESCRIPTION, compute, plot, report, add_data_arguments, argv=argv)
