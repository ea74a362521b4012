"""Figure 12: gradient descent on a convex problem of 100,000 dimensions, projected like Fig. 11.

Linear regression y = x W with W of shape (500, 200) (100,000 parameters),
inputs x ~ N(0, I) (2,000 examples, summarised by their moments) and
noise-free targets from a known W*, so the true solution is W* exactly. Every
run starts from the same random W and is projected on the line from that
start to W*; the runs differ in learning rate epsilon and momentum mu. In such
a high dimension the curves share one simple shape; what tells them apart is
how far they stray from the line (the maximum residual norm).
"""
from __future__ import annotations

import itertools

import numpy as np

from .. import backend
from ..models import DeepLinear, Moments
from ..optim import gradient_descent
from ..path import project_trajectory
from ..progress import progress_bar
from .common import run_figure, table

DESCRIPTION = "Figure 12: projection vs residual norm for gradient descent with several learning rates and momenta."
D_IN, D_OUT, N_EXAMPLES = 500, 200, 2_000
RUNS = [(0.01, 0.0), (0.05, 0.0), (0.2, 0.0), (0.01, 0.9), (0.05, 0.5), (0.05, 0.9)]  # (epsilon, mu)
STEPS = {"quick": 300, "paper": 1000}


def convex_problem(seed, xp=np):
    """Moments of a noise-free regression problem, its exact solution W*, and a random start (flat vectors)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N_EXAMPLES, D_IN))
    W_true = rng.standard_normal((D_IN, D_OUT)) / np.sqrt(D_IN)
    Sxx = X.T @ X / N_EXAMPLES
    moments = Moments(xp.asarray(Sxx), xp.asarray(Sxx @ W_true), float(np.sum(W_true * (Sxx @ W_true))))
    start = rng.standard_normal(D_IN * D_OUT) / np.sqrt(D_IN)
    return moments, xp.asarray(W_true.reshape(-1)), xp.asarray(start)


def compute(args):
    xp = backend.xp_for()
    model = DeepLinear((D_IN, D_OUT))
    moments, solution, start = convex_problem(args.seed, xp)
    steps = STEPS[args.profile]
    arrays, rows = {}, []
    for lr, mu in progress_bar(RUNS, desc="gradient descent runs", unit="run"):
        steps_taken = (theta for _step, theta, _J in gradient_descent(model, start, moments, lr, mu, steps))
        p = project_trajectory(itertools.chain([start], steps_taken), start, solution)
        key = f"lr{lr}_mu{mu}"
        arrays[f"{key}/coord"], arrays[f"{key}/residual"] = p.coord, p.residual
        rows.append({"lr": lr, "momentum": mu, "max_residual": float(p.residual.max()),
                     "max_residual_over_distance": float(p.residual.max() / p.distance),
                     "final_coord_over_distance": float(p.coord[-1] / p.distance)})
    return arrays, {"runs": rows, "steps": steps, "dimension": D_IN * D_OUT,
                    "distance": float(backend.to_float(xp.linalg.norm(solution - start)))}


def plot(arrays, summary):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.5, 5.5))
    for i, run in enumerate(summary["runs"]):
        key = f"lr{run['lr']}_mu{run['momentum']}"
        ax.plot(arrays[f"{key}/coord"], arrays[f"{key}/residual"], lw=1.8, color=f"C{i}",
                label=fr"$\epsilon$ = {run['lr']}, $\mu$ = {run['momentum']}  (max residual {run['max_residual']:.3f})")
    ax.plot([0], [0], "o", color="k", label="start")
    ax.plot([summary["distance"]], [0], "*", color="C3", ms=14, label="true solution")
    ax.set_xlabel("projection on the line from the start to the true solution")
    ax.set_ylabel("norm of the residual")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(f"Figure 12 — gradient descent on a convex problem in {summary['dimension']:,} dimensions "
                 f"({summary['steps']} steps)", fontsize=11)
    fig.tight_layout()
    return fig


def report(summary):
    rows = [(r["lr"], r["momentum"], f"{r['max_residual']:.4f}", f"{r['max_residual_over_distance']:.3f}",
             f"{r['final_coord_over_distance']:.3f}") for r in summary["runs"]]
    return ([f"{summary['dimension']:,}-dimensional convex problem, start-to-solution distance "
             f"{summary['distance']:.3f}, {summary['steps']} steps per run:"]
            + ["  " + line for line in table(rows, ("epsilon", "mu", "max residual", "max residual / distance",
                                                     "reached (coord / distance)"))])


def main(argv=None):
    return run_figure("fig12", DESCRIPTION, compute, plot, report, argv=argv)
