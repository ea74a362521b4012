"""Figure 7: the multi-prediction deep Boltzmann machine (MP-DBM) on MNIST.

Left: the linear path from the initial parameters to the solution: the
multi-prediction objective J (train and validation, with fixed masks) and the
validation classification error; the paper finds a secondary local minimum
of high error on this line. Right: the SGD trajectory in 3-D: the two
horizontal axes are the components of theta that capture its extremes (the
direction from the start to the solution, and the direction to the epoch
farthest from that line, orthogonalised), the vertical axis is the validation
J of each epoch; the straight line is drawn in the same coordinates, to see
whether SGD passed near its secondary minimum.
"""
from __future__ import annotations

import numpy as np

from ..path import alpha_grid
from ..path.trajectory import extreme_components
from .common import run_figure, table
from .mnist import Experiment, add_data_arguments, curve_metrics, metrics_table, store_curve

DESCRIPTION = "Figure 7: the MP-DBM's linear path and its SGD trajectory in 3-D."


def compute(args):
    exp = Experiment(args)
    run = exp.model("mpdbm")
    result = exp.path(run.model, run.theta_init, run.theta_final, alpha_grid("paper"))
    arrays = {}
    store_curve(arrays, "mpdbm", result, run.theta_init, run.theta_final)
    plane = extreme_components(run.trajectory_rows, run.theta_init, run.theta_final)
    arrays.update({"trajectory/a": plane.a, "trajectory/b": plane.b,
                   "trajectory/J_valid": np.array([h["valid_nll"] for h in run.history]),
                   "trajectory/valid_error": np.array([h["valid_error"] for h in run.history])})
    metrics = {"mpdbm": curve_metrics(result)}
    minima = [{"alpha": a, "J_train": float(result.J_train[i]), "valid_error": float(result.error_valid[i])}
              for i, a in enumerate(result.alphas) if a in metrics["mpdbm"]["local_minima"]]
    # how close SGD came to each minimum of the line (in parameter space, via the plane's coordinates)
    for m in minima:
        gap = np.hypot(plane.a - m["alpha"] * plane.distance, plane.b)
        m["closest_epoch"], m["closest_distance"] = int(np.argmin(gap)), float(gap.min())
    return arrays, {**exp.settings(), "metrics": metrics, "minima": minima, "distance": plane.distance,
                    "sheep_epoch": plane.sheep, "model": repr(run.model)}


def plot(arrays, summary):
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(12.5, 5), layout="constrained")
    left = fig.add_subplot(1, 2, 1)
    alphas = arrays["mpdbm/alphas"]
    left.plot(alphas, arrays["mpdbm/J_train"], "-o", ms=3, label="train J")
    left.plot(alphas, arrays["mpdbm/J_valid"], "--", label="validation J")
    left.set_xlabel(r"$\alpha$")
    left.set_ylabel("multi-prediction objective J")
    left.axvline(1.0, color="0.6", ls=":", lw=0.8)
    err = left.twinx()
    err.plot(alphas, 100 * arrays["mpdbm/error_valid"], color="C3", lw=1, label="validation error (%)")
    err.set_ylabel("validation classification error (%)", color="C3")
    for m in summary["minima"]:
        left.annotate(f"minimum, {m['valid_error']:.0%} error", (m["alpha"], m["J_train"]), xytext=(0, 14),
                      textcoords="offset points", ha="center", fontsize=8, arrowprops=dict(arrowstyle="->"))
    left.legend(loc="upper center", fontsize=8)
    left.set_title("the linear path", fontsize=10)

    right = fig.add_subplot(1, 2, 2, projection="3d")
    a, b, J = arrays["trajectory/a"], arrays["trajectory/b"], arrays["trajectory/J_valid"]
    right.plot(a, b, J, "-o", ms=3, color="C1", label="SGD, one point per epoch")
    line = (alphas >= 0) & (alphas <= 1.0 + 1e-9)
    right.plot(alphas[line] * summary["distance"], np.zeros(line.sum()), arrays["mpdbm/J_valid"][line], "-",
               color="C0", lw=2, label="the straight line")
    right.set_xlabel("toward the solution")
    right.set_ylabel("toward the farthest epoch")
    right.set_zlabel("validation J")
    right.legend(fontsize=8, loc="upper right")
    right.set_title("the SGD trajectory over the two extreme components", fontsize=10)
    fig.suptitle(f"Figure 7 — MP-DBM, {summary['dataset']} ({summary['profile']} profile)", fontsize=12)
    return fig


def report(summary):
    rows = [(f"{m['alpha']:.3g}", f"{m['J_train']:.4g}", f"{m['valid_error']:.2%}", m["closest_epoch"],
             f"{m['closest_distance']:.3g}") for m in summary["minima"]]
    return metrics_table(summary["metrics"]) + ["minima of J along the line:"] + [
        "  " + line for line in table(rows, ("alpha", "train J", "valid error", "nearest SGD epoch",
                                             "its distance (in the plane)"))] + [
        f"(start-to-solution distance {summary['distance']:.3g}; the second axis points at epoch {summary['sheep_epoch']})"]


def main(argv=None):
    return run_figure("fig7", DESCRIPTION, compute, plot, report, add_data_arguments, argv=argv)
