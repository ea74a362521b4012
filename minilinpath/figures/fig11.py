"""Figure 11: random walks as a control for the trajectory plots of Appendix B.

A Gaussian random walk of 1,000 steps (each step N(0, I)) in d dimensions;
step 900 plays the part of "the solution", as early stopping would choose it,
and the walk goes on for 100 more steps. Each point is projected on the line
from the start to step 900: the coordinate along it against the norm of the
residual. As d grows the picture converges to one fixed shape, so the shape of
such a plot says little about how an optimiser moves.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..path import project_trajectory, random_walk
from ..progress import progress_bar
from .common import int_between, run_figure, table

DESCRIPTION = "Figure 11: projection vs residual norm for Gaussian random walks of growing dimension."
N_STEPS, SOLUTION_STEP = 1000, 900
DIMS = {"quick": [2, 10, 100, 1_000, 10_000, 100_000], "paper": [2, 10, 100, 1_000, 10_000, 100_000, 1_000_000]}


def walk_projection(dim, seed, xp=np):
    """Project a replayable walk on the line from its start to its step-900 point."""
    for step, theta in enumerate(random_walk(dim, N_STEPS, seed, xp)):
        if step == SOLUTION_STEP:
            solution = theta
            break
    start = xp.zeros(dim)
    return project_trajectory(random_walk(dim, N_STEPS, seed, xp), start, solution)


def compute(args):
    xp = backend.xp_for()
    dims = DIMS[args.profile] if args.max_dim is None else [d for d in DIMS["paper"] if d <= args.max_dim]
    arrays, rows = {}, []
    for dim in progress_bar(dims, desc="random walks", unit="walk"):
        p = walk_projection(dim, [args.seed, dim], xp)
        arrays[f"d{dim}/coord"], arrays[f"d{dim}/residual"] = p.coord, p.residual
        arrays[f"d{dim}/distance"] = np.array(p.distance)
    largest = dims[-1]
    ref_c = arrays[f"d{largest}/coord"] / float(arrays[f"d{largest}/distance"])
    ref_r = arrays[f"d{largest}/residual"] / float(arrays[f"d{largest}/distance"])
    for dim in dims:
        dist = float(arrays[f"d{dim}/distance"])
        c, r = arrays[f"d{dim}/coord"] / dist, arrays[f"d{dim}/residual"] / dist
        rows.append({"dim": dim, "max_residual_over_distance": float(r.max()),
                     "mean_gap_to_largest_dim": float(np.mean(np.hypot(c - ref_c, r - ref_r)))})
    return arrays, {"dims": dims, "n_steps": N_STEPS, "solution_step": SOLUTION_STEP, "per_dim": rows,
                    "profile": args.profile}


def plot(arrays, summary):
    import matplotlib.pyplot as plt

    dims = summary["dims"]
    cols = 4 if len(dims) > 6 else 3
    nrows = -(-len(dims) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.7 * nrows), squeeze=False,
                             layout="constrained")
    steps = np.arange(summary["n_steps"] + 1)
    for ax, dim in zip(axes.flat, dims):
        c, r = arrays[f"d{dim}/coord"], arrays[f"d{dim}/residual"]
        points = ax.scatter(c, r, c=steps, cmap="viridis", s=4)
        s = summary["solution_step"]
        ax.plot([c[s]], [r[s]], "*", color="C3", ms=12, label=f"step {s} (\"solution\")")
        ax.plot([c[0]], [r[0]], "o", color="k", ms=5, label="start")
        ax.set_title(f"d = {dim:,}", fontsize=10)
        ax.set_xlabel("projection on start → step 900")
        ax.set_ylabel("norm of the residual")
        ax.legend(fontsize=7, loc="upper left")
    for ax in list(axes.flat)[len(dims):]:
        ax.axis("off")
    fig.colorbar(points, ax=axes, shrink=0.6, label="step")
    fig.suptitle(f"Figure 11 — residual norm vs projection on the start → step-900 line, for Gaussian random walks "
                 f"of 1,000 steps (no model, no data;\n{summary['profile']} profile: d up to {dims[-1]:,}): "
                 "the shape converges as the dimension grows", fontsize=12)
    return fig


def report(summary):
    rows = [(f"{r['dim']:,}", f"{r['max_residual_over_distance']:.3f}", f"{r['mean_gap_to_largest_dim']:.3f}")
            for r in summary["per_dim"]]
    return (["random walks of 1,000 steps, 'solution' at step 900; curves scaled by the start-to-solution distance:"]
            + ["  " + line for line in table(rows, ("dimension", "max residual / distance",
                                                     f"mean gap to d={summary['dims'][-1]:,}"))])


def add_arguments(parser):
    parser.add_argument("--max-dim", type=int_between(min(DIMS["paper"]), max(DIMS["paper"])), default=None,
                        help="largest dimension to draw (up to 1,000,000; default: 100,000 for quick, 1e6 for paper)")


def main(argv=None):
    return run_figure("fig11", DESCRIPTION, compute, plot, report, add_arguments, argv=argv)
