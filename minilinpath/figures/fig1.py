"""Figure 1: the maxout network on MNIST, with and without adversarial training.

Left: J on the training and validation sets along the line from the initial
parameters to the solution (the best-validation parameters), for alpha = i/9,
i = 0..19 (the grid of galatea's lin_interp.py, 0 to 2.11); J is the mean
negative log-likelihood of the deterministic network (clean examples, no
dropout). Right: what SGD actually did, epoch by epoch: most of the progress
happens in the first epochs, then it crawls. The two right-hand panels of a
row hold different quantities, so they get separate axes: on top the training
objective SGD minimised, averaged over the epoch's minibatches (with dropout
masks; for adversarial training the FGSM mix 0.5 J(x) + 0.5 J(x + 0.25
sign(grad_x J)), also under dropout); below, the validation J of the
deterministic network on clean examples. Neither is the other's train/valid
counterpart, so their values are not to be compared.
"""
from __future__ import annotations

import numpy as np

from .common import run_figure
from .mnist import Experiment, add_data_arguments, data_words, metrics_table, plot_curve

DESCRIPTION = "Figure 1: linear path of the maxout network on MNIST, with and without adversarial training."
ROWS = (("adversarial", True, "maxout + dropout MLP, adversarial training"), ("maxout", False, "maxout + dropout MLP"))
OBJECTIVES = {True: "training objective: 0.5 J(x) + 0.5 J(x + 0.25 sign$\\nabla_x$J)\n(FGSM mix, with dropout), "
                    "mean over the epoch's minibatches",
              False: "training objective: J with dropout,\nmean over the epoch's minibatches"}


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

    fig = plt.figure(figsize=(12, 10), layout="constrained")
    grid = fig.add_gridspec(4, 2, width_ratios=(1.1, 1))
    for row, (key, adversarial, name) in enumerate(ROWS):
        left = fig.add_subplot(grid[2 * row:2 * row + 2, 0])
        plot_curve(left, arrays, key, color="C0")
        left.set_title(f"{name}: J along the line from init to solution\n(mean NLL of the deterministic network, "
                       "clean examples, no dropout)", fontsize=9.5)
        left.legend(fontsize=8)
        epochs = arrays[f"{key}/epochs"]
        top = fig.add_subplot(grid[2 * row, 1])
        bottom = fig.add_subplot(grid[2 * row + 1, 1], sharex=top)
        top.plot(epochs[1:], arrays[f"{key}/train_objective"][1:], "-o", ms=3, color="C1",
                 label="training objective (epoch 0: none)")
        top.set_ylabel("objective")
        top.set_title(f"{name}: SGD over epochs\n{OBJECTIVES[adversarial]}", fontsize=9)
        bottom.plot(epochs, arrays[f"{key}/valid_nll"], "-o", ms=3, color="C2",
                    label="validation J (deterministic, clean)")
        bottom.set_ylabel("validation J")
        bottom.set_title("validation J: mean NLL of the deterministic network on clean validation examples",
                         fontsize=9)
        bottom.set_xlabel("epoch")
        for ax in (top, bottom):
            ax.set_yscale("log")
            ax.legend(fontsize=8)
        top.tick_params(labelbottom=False)
    fig.suptitle(f"Figure 1 — J along the init → solution line and SGD's progress: maxout + dropout MLP with and "
                 f"without adversarial training\n{data_words(summary)}, {summary['profile']} profile", fontsize=11.5)
    return fig


def report(summary):
    names = {key: name for key, _adversarial, name in ROWS}
    return metrics_table({names[key]: m for key, m in summary["metrics"].items()})


def main(argv=None):
    return run_figure("fig1", DESCRIPTION, compute, plot, report, add_data_arguments, argv=argv)
