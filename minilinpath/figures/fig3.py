"""Figure 3: maxout, ReLU and sigmoid networks on one axis, J on a log scale.

The same trained models as Figures 1 and 2 (reused from the cache); the log
scale shows the differences at the bottom of the curves.
"""
from __future__ import annotations

from .common import run_figure
from .mnist import Experiment, add_data_arguments, figure_title, metrics_table, model_words, plot_curve

DESCRIPTION = "Figure 3: maxout, ReLU and sigmoid linear paths on one log-scale axis."
CURVES = ("mnist_pi", "mnist_valid", "sigmoid")  # model presets: maxout, ReLU and sigmoid networks


def compute(args):
    exp = Experiment(args)
    arrays, metrics = {}, {}
    for name in CURVES:
        exp.init_to_solution(name, arrays, metrics)
    return arrays, {**exp.settings(), "metrics": metrics}


def plot(arrays, summary):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), layout="constrained")
    for i, name in enumerate(CURVES):
        plot_curve(ax, arrays, name, label=f"{model_words(name)}:", color=f"C{i}", log=True)
    ax.legend(fontsize=8, ncol=1, loc="lower left")  # below the curves near the start, where none runs
    ax.set_title(figure_title("Figure 3", "J (mean NLL, log scale) along the line from init to solution",
                              "maxout, ReLU and sigmoid MLPs, all with dropout", summary), fontsize=10.5)
    return fig


def report(summary):
    return metrics_table({model_words(name): m for name, m in summary["metrics"].items()})


def main(argv=None):
    return run_figure("fig3", DESCRIPTION, compute, plot, report, add_data_arguments, argv=argv)
