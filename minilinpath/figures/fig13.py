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
from .mnist import Experiment, add_data_arguments

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
    right.axhline(1 / 3, color="C3", ls="--", lw=1, label="1/3: the line keeps 2/3 of the norm")
    right.set_xlabel("epoch")
    right.set_ylabel(r"$\|$residual$\|$ / $\|\theta_t\|$")
    right.set_ylim(0, max(0.5, 1.1 * float(arrays["residual_over_norm"].max())))
    right.legend(fontsize=8)
    fig.suptitle(f"Figure 13 — maxout SGD trajectory, {summary['dataset']} ({summary['profile']} profile)",
                 fontsize=12)
    return fig


def report(summary):
    rows = [("epochs recorded", summary["epochs"]), ("||solution - init||", f"{summary['distance']:.4g}"),
            ("max residual norm", f"{summary['max_residual']:.4g}"),
            ("max residual / ||theta_t||", f"{summary['max_residual_over_norm']:.3f} (epoch {summary['epoch_of_max']})"),
            ("path length / straight distance", f"{summary['path_length_over_distance']:.2f}")]
    if summary.get("warnings"):
        verdict = "no comparison with the paper: see the warning above"
    elif summary["max_residual_over_norm"] <= 1 / 3:
        verdict = "the residual stays within 1/3 of the parameter norm at every epoch, as the paper finds"
    else:
        verdict = (f"the residual exceeds 1/3 of the parameter norm at some epochs (at most "
                   f"{summary['max_residual_over_norm']:.2f}, epoch {summary['epoch_of_max']}); "
                   "the paper finds at most 1/3 for its full-length run")
    return ["  " + line for line in table(rows, ("quantity", "value"))] + [verdict]


def main(argv=None):
    return run_figure("fig13", DESCRIPTION, compute, plot, report, add_data_arguments, argv=argv)
