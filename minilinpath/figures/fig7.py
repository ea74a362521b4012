"""Figure 7: the multi-prediction deep Boltzmann machine (MP-DBM) on MNIST.

Left: the linear path from the initial parameters to the solution: the
multi-prediction objective J (train and validation, with fixed masks) and the
validation classification error; the paper finds a secondary local minimum
of high error on this line. A point is named a secondary minimum only when it
is one (:func:`secondary_minima`): an interior local minimum of J separated
from the solution's own basin by a rise. The grid point just past alpha = 1
is often a little lower than the solution, in the same basin: that is not
one, and the figure says "no secondary minimum found" when there is none.
Right: the SGD trajectory in 3-D: the two horizontal axes are the components
of theta that capture its extremes (the direction from the start to the
solution, and the direction to the epoch farthest from that line,
orthogonalised), the vertical axis is the validation J of each epoch; the
straight line is drawn in the same coordinates, to see whether SGD passed near
a secondary minimum. SGD's first epoch jumps far (in our runs, half-way to the
solution), so the panel leaves epoch 0 out and scales every axis to epochs 1
to the end; its title says so.
"""
from __future__ import annotations

import numpy as np

from ..path import alpha_grid, local_minima
from ..path.trajectory import extreme_components
from .common import run_figure, table
from .mnist import Experiment, add_data_arguments, curve_metrics, figure_title, metrics_table, store_curve

DESCRIPTION = "Figure 7: the MP-DBM's linear path and its SGD trajectory in 3-D."
FIRST_SHOWN_EPOCH = 1  # the 3-D panel starts here: the first epoch's jump dwarfs the rest of the trajectory
MINIMUM_TOL = 1e-4  # rises smaller than this fraction of J's range are wiggles, not barriers (as the metric table)


def padded_range(values, pad: float = 0.05) -> tuple:
    """(low, high) of ``values``, widened by ``pad`` of the span on each side (a flat set gets a unit span)."""
    low, high = float(np.min(values)), float(np.max(values))
    span = high - low if high > low else max(abs(high), 1.0)
    return low - pad * span, high + pad * span


def solution_basin(J, at_solution: int) -> int:
    """The sample where J ends up by stepping downhill from the solution's sample ``at_solution``.

    The grid point just past alpha = 1 is often a little lower than the
    solution itself (the line leaves the solution's basin a little further
    on); that point is the bottom of the solution's own basin, not another
    minimum.
    """
    i = at_solution
    while True:
        lower = [k for k in (i - 1, i + 1) if 0 <= k < len(J) and J[k] < J[i]]
        if not lower:
            return i
        i = min(lower, key=lambda k: J[k])


def secondary_minima(alphas, J, tol: float = MINIMUM_TOL) -> list:
    """Indices of the minima of J along the line other than the solution's: the paper's "secondary local minimum".

    A sample i counts when it is
    - a local minimum of the samples (minilinpath.path.local_minima, rises
      smaller than ``tol`` times J's range ignored),
    - interior: not the first or last sample (at the end of the grid J may go on falling), and
    - separated from the solution's basin (see :func:`solution_basin`) by a
      rise: between i and the bottom b of that basin, J climbs more than
      ``tol`` times J's range above max(J[i], J[b]).
    ``alphas`` must contain 1.0 (the solution).
    """
    alphas, J = np.asarray(alphas, dtype=np.float64), np.asarray(J, dtype=np.float64)
    at_one = np.flatnonzero(np.abs(alphas - 1.0) <= 1e-9)
    if at_one.size == 0:
        raise ValueError("secondary_minima needs a sample at alpha = 1 (the solution).")
    rise = tol * max(float(J.max() - J.min()), 1e-12)
    bottom = solution_basin(J, int(at_one[0]))
    found = []
    for i in local_minima(J, rise):
        if i in (0, len(J) - 1) or i == bottom:
            continue
        lo, hi = min(i, bottom), max(i, bottom)
        if J[lo:hi + 1].max() > max(J[i], J[bottom]) + rise:
            found.append(i)
    return found


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

    def point(i):
        return {"alpha": float(result.alphas[i]), "J_train": float(result.J_train[i]),
                "valid_error": float(result.error_valid[i])}

    bottom = solution_basin(result.J_train, int(np.flatnonzero(np.abs(result.alphas - 1.0) <= 1e-9)[0]))
    minima = [point(i) for i in secondary_minima(result.alphas, result.J_train)]
    # how close SGD came to each secondary minimum (in parameter space, via the plane's coordinates)
    for m in minima:
        gap = np.hypot(plane.a - m["alpha"] * plane.distance, plane.b)
        m["closest_epoch"], m["closest_distance"] = int(np.argmin(gap)), float(gap.min())
    return arrays, {**exp.settings(), "metrics": metrics, "minima": minima, "solution_basin_bottom": point(bottom),
                    "distance": plane.distance, "sheep_epoch": plane.sheep, "model": repr(run.model)}


def plot(arrays, summary):
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(13, 5.6), layout="constrained")
    left = fig.add_subplot(1, 2, 1)
    alphas = arrays["mpdbm/alphas"]
    curves = left.plot(alphas, arrays["mpdbm/J_train"], "-o", ms=3, label="train J")
    curves += left.plot(alphas, arrays["mpdbm/J_valid"], "--", label="validation J")
    left.set_xlabel(r"$\alpha$")
    left.set_ylabel("multi-prediction objective J")
    left.axvline(1.0, color="0.6", ls=":", lw=0.8)
    err = left.twinx()
    curves += err.plot(alphas, 100 * arrays["mpdbm/error_valid"], color="C3", lw=1, label="validation error (%)")
    err.set_ylabel("validation classification error (%)", color="C3")
    for m in summary["minima"]:
        left.annotate(f"secondary minimum, {m['valid_error']:.0%} error", (m["alpha"], m["J_train"]),
                      xytext=(0, 16), textcoords="offset points", ha="center", fontsize=8,
                      arrowprops=dict(arrowstyle="->"))
    if not summary["minima"]:
        bottom = summary["solution_basin_bottom"]
        left.text(0.5, 0.97, f"no secondary minimum found on this line\n(J is lowest at alpha = {bottom['alpha']:.3g}, "
                  "in the solution's own basin)", transform=left.transAxes, ha="center", va="top", fontsize=8.5,
                  bbox=dict(facecolor="white", edgecolor="0.7"))
    left.legend(curves, [c.get_label() for c in curves], loc="lower left", fontsize=8)  # both axes' curves
    left.set_title("J and the validation error along the line from init to solution", fontsize=10)

    right = fig.add_subplot(1, 2, 2, projection="3d")
    a, b, J = arrays["trajectory/a"], arrays["trajectory/b"], arrays["trajectory/J_valid"]
    shown = slice(FIRST_SHOWN_EPOCH, None) if a.size > FIRST_SHOWN_EPOCH + 1 else slice(None)
    a_lim, b_lim, J_lim = (padded_range(v[shown]) for v in (a, b, J))
    right.plot(a[shown], b[shown], J[shown], "-o", ms=3, color="C1", label="SGD, one point per epoch")
    for t in sorted({shown.start or 0, a.size - 1}):
        right.text(a[t], b[t], J[t], f" epoch {t}", fontsize=8, color="C1")
    along = alphas * summary["distance"]
    line = (alphas >= 0) & (alphas <= 1.0 + 1e-9) & (along >= a_lim[0]) & (along <= a_lim[1])
    line &= (arrays["mpdbm/J_valid"] >= J_lim[0]) & (arrays["mpdbm/J_valid"] <= J_lim[1])
    right.plot(along[line], np.zeros(line.sum()), arrays["mpdbm/J_valid"][line], "-o", ms=2.5,
               color="C0", lw=2, label="the straight line (its part in this box)")
    right.set(xlim=a_lim, ylim=(min(b_lim[0], -0.05 * (b_lim[1] - b_lim[0])), b_lim[1]), zlim=J_lim)
    right.view_init(elev=22, azim=-125)
    right.set_xlabel("toward the solution")
    right.set_ylabel("toward the farthest epoch")
    right.set_zlabel("validation J")
    right.legend(fontsize=8, loc="upper left")
    title = "the SGD trajectory over the two extreme components"
    if shown.start:
        title += (f"\n(epoch 0, the start at (0, 0, J = {J[0]:.3g}), left out: its jump to epoch 1 would set the "
                  "scale;\nevery axis spans epochs 1 to the end)")
    right.set_title(title, fontsize=9)
    fig.suptitle(figure_title("Figure 7", "the multi-prediction objective J along the line, and SGD's path in 3-D",
                              "MP-DBM (multi-prediction deep Boltzmann machine)", summary), fontsize=11.5)
    return fig


def finding(summary) -> str:
    """The secondary minima found on the line, or that there is none, in one sentence."""
    bottom = summary["solution_basin_bottom"]
    basin = (f"the solution's own basin bottoms out at alpha = {bottom['alpha']:.3g} "
             f"(train J {bottom['J_train']:.4g}, validation error {bottom['valid_error']:.1%})")
    if not summary["minima"]:
        return f"no secondary minimum found on this line; {basin}"
    found = ", ".join(f"alpha = {m['alpha']:.3g} ({m['valid_error']:.1%} validation error)" for m in summary["minima"])
    return f"secondary minima of J (separated from the solution's basin by a rise): {found}; {basin}"


def report(summary):
    lines = metrics_table(summary["metrics"]) + [finding(summary)]
    if summary["minima"]:
        rows = [(f"{m['alpha']:.3g}", f"{m['J_train']:.4g}", f"{m['valid_error']:.2%}", m["closest_epoch"],
                 f"{m['closest_distance']:.3g}") for m in summary["minima"]]
        lines += ["secondary minima of J along the line:"] + [
            "  " + line for line in table(rows, ("alpha", "train J", "valid error", "nearest SGD epoch",
                                                 "its distance (in the plane)"))]
    return lines + [f"(start-to-solution distance {summary['distance']:.3g}; the second axis of the 3-D panel points "
                    f"at epoch {summary['sheep_epoch']}, the one farthest from the line)"]


def main(argv=None):
    return run_figure("fig7", DESCRIPTION, compute, plot, report, add_data_arguments, argv=argv)
