"""Figure 13: how far SGD strays from the straight line, for the maxout network on MNIST.

Every epoch's parameters theta_t (the trajectory recorded by the trainer) are
projected on the line from theta_init to the solution: the coordinate along
it, and the Euclidean norm of the residual (not squared). The shape of this
plot is not informative in high dimension (Figure 11); the ratio of the
residual to ||theta_t|| is: the paper finds the line captures at least 2/3 of
the parameter norm at all times.
"""
from __future__ import annotations

import numpy as np

from ..path import distance_travelled, project_trajectory
from .common import UsageError, run_figure, table
from .mnist import Experiment, add_data_arguments, figure_title

DESCRIPTION = "Figure 13: projection of the maxout SGD trajectory on the init -> solution line."


def compute(args):
    exp = Experiment(args)
    run = exp.model("mnist_pi")
    if not bool((run.theta_final != run.theta_init).any()):
        raise UsageError("fig13: the best-validation parameters are the initial ones (the validation error never "
                         "improved), so there is no line to project on; train longer (e.g. --profile paper).")
    p = project_trajectory(run.trajectory_rows(), run.theta_init, run.theta_final)
    length, ratio = distance_travelled(run.trajectory_rows())
    residual_share = p.residual / np.maximum(p.norm, 1e-30)
    arrays = {"coord": p.coord, "residual": p.residual, "norm": p.norm, "epochs": np.arange(p.coord.size),
              "residual_over_norm": residual_share}
    summary = {**exp.settings(), "distance": p.distance, "max_residual": float(p.residual.max()),
               "max_residual_over_norm": float(residual_share.max()),
               "epoch_of_max": int(np.argmax(residual_share)), "path_length": length,
               "path_length_over_distance": ratio, "epochs": int(p.coord.size - 1)}
    return arrays, summary


def plot(arrays, summary):
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11.5, 4.6), layout="constrained")
    points = left.scatter(arrays["coord"], arrays["residual"], c=arrays["epochs"], cmap="viridis", s=18, zorder=3)
    left.plot(arrays["coord"], arrays["residual"], color="0.6", lw=0.8)
    left.plot([0], [0], "o", color="k", label=r"$\theta_{init}$")
    left.plot([summary["distance"]], [0], "*", color="C3", ms=13, label="solution")
    left.set_xlabel("projection on the line from init to solution")
    left.set_ylabel(r"norm of the residual ($L^2$, not squared)")
    left.legend(fontsize=8)
    fig.colorbar(points, ax=left, label="epoch")
    right.plot(arrays["epochs"], arrays["residual_over_norm"], "-o", ms=3)
    right.axhline(1 / 3, color="C3", ls="--", lw=1, label="1/3: the paper's bound (the line keeps 2/3 of the norm)")
    share = summary["max_residual_over_norm"]
    right.annotate(f"largest: {share:.3f} (epoch {summary['epoch_of_max']})",
                   (summary["epoch_of_max"], share), xytext=(0, 10), textcoords="offset points", ha="center",
                   fontsize=8, arrowprops=dict(arrowstyle="->", lw=0.8))
    right.set_xlabel("epoch")
    right.set_ylabel(r"$\|$residual$\|$ / $\|\theta_t\|$")
    right.set_ylim(0, max(0.5, 1.2 * float(arrays["residual_over_norm"].max())))  # room for the label
    right.legend(fontsize=8)
    fig.suptitle(figure_title("Figure 13", "how far SGD strays from the init → solution line (one point per epoch)",
                              "maxout + dropout MLP", summary), fontsize=11.5)
    return fig


def finding(summary) -> str:
    """The largest residual fraction against the paper's bound of 1/3, in one sentence."""
    share, epoch = summary["max_residual_over_norm"], summary["epoch_of_max"]
    said = (f"largest residual / ||theta_t|| = {share:.3f} (epoch {epoch} of {summary['epochs']}); "
            "the paper: at most 1/3 = 0.333 (the line keeps at least 2/3 of the parameter norm)")
    if share <= 1 / 3:
        return said + ": within the paper's bound at every recorded epoch"
    return said + ": above it at some epochs"


def report(summary):
    rows = [("epochs recorded", summary["epochs"]), ("||solution - init||", f"{summary['distance']:.4g}"),
            ("max residual norm", f"{summary['max_residual']:.4g}"),
            ("max residual / ||theta_t||", f"{summary['max_residual_over_norm']:.3f} (epoch {summary['epoch_of_max']})"),
            ("path length / straight distance", f"{summary['path_length_over_distance']:.2f}")]
    lines = ["  " + line for line in table(rows, ("quantity", "value"))] + [finding(summary)]
    if summary.get("warnings"):
        lines.append("no comparison with the paper: see the warning above (a network that never left chance level "
                     "says nothing about the paper's claim)")
    return lines


def main(argv=None):
    return run_figure("fig13", DESCRIPTION, compute, plot, report, add_data_arguments, argv=argv)
