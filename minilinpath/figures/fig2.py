"""Figure 2: the linear path for fully connected networks with sigmoid (left) and ReLU (right) units.

Both are pylearn2's mnist_valid.yaml network (ReLU with dropout); the sigmoid
one only swaps the non-linearity (the paper's Appendix A). Training and
validation J along alpha = i/9, i = 0..19.
"""
from __future__ import annotations

from .common import run_figure
from .mnist import Experiment, add_data_arguments, figure_title, metrics_table, model_words, plot_curve

DESCRIPTION = "Figure 2: linear paths of sigmoid and ReLU networks (with dropout) on MNIST."
PANELS = ("sigmoid", "mnist_valid")  # model presets: the sigmoid and the ReLU network


def compute(args):
    exp = Experiment(args)
    arrays, metrics = {}, {}
    for name in PANELS:
        exp.init_to_solution(name, arrays, metrics)
    return arrays, {**exp.settings(), "metrics": metrics}


def plot(arrays, summary):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.3), layout="constrained")
    for ax, name in zip(axes, PANELS):
        plot_curve(ax, arrays, name, color="C0")
        ax.set_title(model_words(name), fontsize=10)
        ax.legend(fontsize=8)
    fig.suptitle(figure_title("Figure 2", "J (mean NLL, deterministic network) along the line from init to solution",
                          "sigmoid + dropout MLP and ReLU + dropout MLP", summary), fontsize=11.5)
    return fig


def report(summary):
    return metrics_table({model_words(name): m for name, m in summary["metrics"].items()})


def main(argv=None):
    return run_figure("fig2", DESCRIPTION, compute, plot, report, add_data_arguments, argv=argv)
