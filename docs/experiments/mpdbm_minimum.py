"""Figure 7's secondary local minimum on the MP-DBM's line: is there one?

Goodfellow, Vinyals & Saxe (2015), "Qualitatively characterizing neural network
optimization problems", Sec. 4 and Fig. 7: on the line from the initial
parameters theta_0 to the solution theta_1 of a multi-prediction deep
Boltzmann machine (Goodfellow et al. 2013) on MNIST, "we find a secondary local
minimum with high error"; the MP-DBM "was initialized with very large, sparse,
weights, which may have contributed". (The text gives neither the minimum's
alpha nor its value or error.)

This script trains an MP-DBM with the paper's initialisation and recipe
(``mpdbm.yaml``: sparse N(0, 1) weights, 14 mean-field iterations, lr 15.1,
momentum 0.5 -> 0.73) at a smaller size (``--hidden``), early stopping with
``--patience`` epochs (at most ``--max-epochs``), then evaluates the
multi-prediction objective J (fixed masks) along
theta(alpha) = (1 - alpha) theta_0 + alpha theta_1 for alpha in [0, 2] step
``--step`` (train J on the first ``--line-examples`` training examples, the
validation J and error on the validation set) and lists every local minimum
of the samples: its alpha, J, validation error, and the rise that separates it
from the solution's basin (the highest J between it and the minimum nearest
alpha = 1). A true secondary minimum is an interior minimum with a positive rise.

Time, measured on one core of a busy 2-core CPU: 21-27 s per epoch at the
default size (hidden 250, 300, the quick preset's) on the 8,000 / 2,000
examples of ``mnist-test`` (about the same at 100, 150: the 784 visible units
and the 14 iterations dominate), so up to ~20 minutes for 50 epochs, plus a few
minutes for the line; the run is cached in ``--runs-dir``. The numbers in the
project's notes come from

    python docs/experiments/mpdbm_minimum.py --dataset mnist-test --data-dir /path/to/mnist-t10k \
        --runs-dir /tmp/runs --out /tmp/mpdbm --hidden 250 300 --max-epochs 50 --step 0.04 --line-examples 1000
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from minilinpath import models
from minilinpath.data import load_dataset
from minilinpath.experiments import run_folder_name, runs_root
from minilinpath.path import linear_path, local_minima
from minilinpath.train import describe_run, recipe_for, train

sys.path.insert(0, str(Path(__file__).resolve().parent))  # script_io.py lies beside this script
from script_io import positive, run_experiment  # noqa: E402

MINIMUM_TOL = 1e-4  # rises smaller than this fraction of J's range along the line are rounding, not minima




def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--dataset", default="mnist-test", help="mnist-test, mnist or fashion-mnist")
    parser.add_argument("--data-dir", default=None, help="folder with the data set's files (never downloads)")
    parser.add_argument("--runs-dir", default=None, help="run cache (default $MINILINPATH_RUNS or ~/.cache/...)")
    parser.add_argument("--out", type=Path, default=Path("out"), help="folder for mpdbm_minimum.{png,npz,json}")
    parser.add_argument("--hidden", type=positive(int), nargs=2, default=[250, 300], metavar=("H0", "H1"))
    parser.add_argument("--max-epochs", type=positive(int), default=50)
    parser.add_argument("--patience", type=positive(int), default=10)
    parser.add_argument("--step", type=positive(float), default=0.02, help="alpha step on [0, 2]")
    parser.add_argument("--line-examples", type=positive(int), default=2_000,
                        help="training examples the train J is evaluated on along the line")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--replot", action="store_true", help="redraw the PNG from the saved numbers")
    args = parser.parse_args(argv)
    if args.seed < 0:
        parser.error(f"--seed must be >= 0, got {args.seed}")
    return args


def minima_table(alphas, J, error):
    """Every local minimum of the samples J (rises below MINIMUM_TOL of J's range ignored), with the rise
    max J(between it and the solution's minimum) - J(it) that separates it from the solution's basin."""
    tol = MINIMUM_TOL * float(J.max() - J.min())
    found = local_minima(J, tol=tol)
    if not found:  # J never falls below J(0): no minimum on the line at all
        return []
    solution = min(found, key=lambda i: abs(alphas[i] - 1.0))
    rows = []
    for i in found:
        lo, hi = sorted((i, solution))
        rows.append({"alpha": float(alphas[i]), "J": float(J[i]), "valid_error": float(error[i]),
                     "is_solution_basin": i == solution,
                     "rise_to_solution_basin": float(J[lo:hi + 1].max() - J[i])})
    return rows


def compute(args):
    splits = load_dataset(args.dataset, data_dir=args.data_dir, download=False)
    train_set, valid_set = splits["train"], splits["valid"]
    model = models.get("mpdbm_quick", hidden=tuple(args.hidden), pixel_means=train_set[0].mean(axis=0))
    recipe = replace(recipe_for("mpdbm"), max_epochs=args.max_epochs, patience=args.patience)
    labels = {"dataset": args.dataset, "experiment": "mpdbm_minimum"}
    description = describe_run(model, recipe, args.seed, train_set, valid_set, labels=labels)
    run_dir = runs_root(args.runs_dir) / args.dataset / run_folder_name(
        f"mpdbm-{args.hidden[0]}x{args.hidden[1]}-seed{args.seed}", description)
    print(f"{model}: {run_dir}", flush=True)
    run = train(model, train_set, valid_set, recipe, run_dir, seed=args.seed, labels=labels,
                description=description)
    alphas = np.round(np.arange(0.0, 2.0 + 1e-9, args.step), 10)
    line_set = tuple(a[:args.line_examples] for a in train_set)
    line = linear_path(model, run.theta_init, run.theta_best, line_set, alphas, valid=valid_set)
    arrays = {"alphas": alphas, "J_train": line.J_train, "J_valid": line.J_valid, "error_train": line.error_train,
              "error_valid": line.error_valid,
              "valid_error_by_epoch": np.array([h["valid_error"] for h in run.history]),
              "valid_J_by_epoch": np.array([h["valid_nll"] for h in run.history])}
    summary = {"model": repr(model), "best_epoch": run.best_epoch, "epochs": len(run.history) - 1,
               "stopped": run.stopped, "best_valid_error": run.best_valid_error,
               "minima_train_J": minima_table(alphas, line.J_train, line.error_valid),
               "minima_valid_J": minima_table(alphas, line.J_valid, line.error_valid),
               "arguments": {k: str(v) for k, v in vars(args).items()}}
    return arrays, summary


def plot(arrays, summary):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.8), layout="constrained")
    a = arrays["alphas"]
    ax.plot(a, arrays["J_train"], "-", marker="o", ms=2, label="train J")
    ax.plot(a, arrays["J_valid"], "--", label="validation J")
    ax.axvline(1.0, color="0.6", ls=":", lw=0.8)
    ax.set_xlabel(r"$\alpha$")
    ax.set_ylabel("multi-prediction objective J (fixed masks)")
    ax.set_yscale("log")
    err = ax.twinx()
    err.plot(a, 100 * arrays["error_valid"], color="C3", lw=1)
    err.set_ylabel("validation error (%)", color="C3")
    for m in summary["minima_train_J"]:
        if not m["is_solution_basin"]:
            ax.annotate(f"local minimum\n{m['valid_error']:.0%} error", (m["alpha"], m["J"]), xytext=(0, 25),
                        textcoords="offset points", ha="center", fontsize=8, arrowprops=dict(arrowstyle="->"))
    ax.legend(loc="upper center", fontsize=8)
    ax.set_title(f"MP-DBM line, {summary['model'].split(',')[0]}; best epoch {summary['best_epoch']}, "
                 f"{summary['best_valid_error']:.1%} error", fontsize=9)
    return fig


def report(summary):
    print(f"{summary['model']}: best epoch {summary['best_epoch']} of {summary['epochs']} "
          f"({summary['stopped']}), validation error {summary['best_valid_error']:.2%}")
    for key in ("minima_train_J", "minima_valid_J"):
        print(f"local minima of {key[7:]} along the line:")
        print(f"  {'alpha':>6} {'J':>9} {'valid error':>11} {'rise to the solution basin':>26}")
        for m in summary[key]:
            tag = "  (the solution's basin)" if m["is_solution_basin"] else ""
            print(f"  {m['alpha']:>6.2f} {m['J']:>9.5f} {m['valid_error']:>11.2%} "
                  f"{m['rise_to_solution_basin']:>26.3g}{tag}")


def main(argv=None):
    return run_experiment("mpdbm_minimum", parse_args(argv), compute, plot, report)


if __name__ == "__main__":
    sys.exit(main())
