"""Figure 1: the maxout network on MNIST, with and without adversarial training.

Left: J on the training and validation sets along the line from the initial
parameters to the solution (the best-validation parameters), for alpha = i/9,
i = 0..19 (the grid of galatea's lin_interp.py, 0 to 2.11). Right: what SGD
actually did, epoch by epoch: most of the progress happens in the first
epochs, then it crawls.
"""
from __future__ import annotations

import numpy as np

from .common import run_figure
from .mnist import Experiment, add_data_arguments, metrics_table, plot_curve

DESCRIPTION = "Figure 1: linear path of the maxout network on MNIST, with and without adversarial training."
ROWS = (("adversarial", True, "maxout + dropout + adversarial training"), ("maxout", False, "maxout + dropout"))


def compute(args):
    exp = Experiment(args)
    arrays, metrics = {}, {}
    for key, adversarial, _title in ROWS:
        run = exp.init_to_solution("mnist_pi", arrays, metrics, key=key, adversarial=adversarial)
        arrays[f"{key}/epochs"] = np.array([h["epoch"] for h in run.history])
        arrays[f"{key}/train_objective"] = np.array([np.nan if h["train_objective"] is None else h["train_objective"]
                                                     for h in run.history])
        arrays[f"{key}/valid_nll"] = np.array([h["valid_nll"] for h in run.history])
    return arrays, {**exp.settings(), "metrics": metrics}


def plot(arrays, summary):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 8.5), layout="constrained")
    for row, (key, _adv, title) in enumerate(ROWS):
        left, right = axes[row]
        plot_curve(left, arrays, key, color="C0")
        left.set_title(f"{title}: linear path", fontsize=10)
        left.legend(fontsize=8)
        epochs = arrays[f"{key}/epochs"]
        right.plot(epochs[1:], arrays[f"{key}/train_objective"][1:], "-o", ms=3, label="train objective (dropout)")
        right.plot(epochs, arrays[f"{key}/valid_nll"], "--o", ms=3, label="validation J")
        right.set_xlabel("epoch")
        right.set_ylabel(r"$J$")
        right.set_yscale("log")
        right.set_title(f"{title}: SGD over epochs", fontsize=10)
        right.legend(fontsize=8)
    fig.suptitle(f"Figure 1 — maxout on {summary['dataset']} ({summary['profile']} profile, "
                 f"{summary['n_train']:,} training examples)", fontsize=12)
    return fig


def report(summary):
    return metrics_table(summary["metrics"])


def main(argv=None):
    return run_figure("fig1", DESCRIPTION, compute, plot, report, add_data_arguments, argv=argv)
