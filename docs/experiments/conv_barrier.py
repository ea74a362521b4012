"""Figure 6's barrier near the start, and whether it depends on the initial scale.

Goodfellow, Vinyals & Saxe (2015), "Qualitatively characterizing neural network
optimization problems", Sec. 4 and Fig. 6: on the line from the initial
parameters theta_0 to the solution theta_1 of a convolutional maxout network
(CIFAR-10) there is "a single barrier ... near where the network is
initialized", which "may simply correspond to the network being initialized
with too large of random weights".

This script tests that explanation by changing one thing, the initial range r
(every weight and kernel U(-r, r), biases 0):

1. for each r in ``--init-ranges`` (default 0.005, the paper's, and 0.05, the quick preset's)
   train the quick conv maxout network (``cifar10_maxout_quick`` on 28x28
   images: conv 8x2 5x5, conv 16x2 5x5, dense 100x5, softmax; dropout and norm
   limits as in the paper) with the paper's CIFAR-10 recipe (batch 128,
   momentum 0.5 -> 0.6, conv layers at 0.05 of the learning rate, linear
   decay) but a learning rate of ``--learning-rate`` (default 0.5 instead of
   0.17, so that r = 0.005 leaves the plateau around theta = 0 in minutes),
   early stopping with ``--patience`` epochs, at most ``--max-epochs``;
2. evaluate J(theta(alpha)), theta(alpha) = (1 - alpha) theta_0 + alpha theta_1,
   on the first ``--line-examples`` training examples (the deterministic
   network) at 51 alphas in [0, 0.25] (Fig. 6's zoom) and at alpha = i/9,
   i = 0..19 (the whole line);
3. report the rise max_alpha J(alpha) - J(0) in the zoom and where it peaks,
   with the validation error the run reached; and the same for the line to
   the first epoch whose validation error is at most ``--matched-error``
   (runs that trained for different numbers of epochs compared like for like).

The trained runs are cached in ``--runs-dir`` (reused by a second call).
Time, measured on one core of a busy 2-core CPU with the default 10,000 /
2,000 Fashion-MNIST examples: 20-30 s per epoch (r = 0.005 spends its first 10
epochs on the plateau around theta = 0), so about 25 minutes for r = 0.005 over
60 epochs and 6 minutes for r = 0.05 over 12, then about 3.5 minutes of line
sweeps per initial range. The numbers of docs/experiments/fig6_init_scale.png come from

    python docs/experiments/conv_barrier.py --data-dir /path/to/fashion-mnist --runs-dir /tmp/runs \
        --out /tmp/conv_barrier --init-ranges 0.005 0.05 --max-epochs 60 12 --matched-error 0.2
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from minilinpath import models
from minilinpath.data import load_dataset
from minilinpath.experiments import image_shape, run_folder_name, runs_root
from minilinpath.path import alpha_grid, linear_path
from minilinpath.train import describe_run, recipe_for, train

sys.path.insert(0, str(Path(__file__).resolve().parent))  # script_io.py lies beside this script
from script_io import positive, run_experiment  # noqa: E402

ZOOM = np.linspace(0.0, 0.25, 51)  # Fig. 6 (right): near the initial point




def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--dataset", default="fashion-mnist", help="fashion-mnist, mnist or mnist-test")
    parser.add_argument("--data-dir", default=None, help="folder with the data set's files (never downloads)")
    parser.add_argument("--runs-dir", default=None, help="run cache (default $MINILINPATH_RUNS or ~/.cache/...)")
    parser.add_argument("--out", type=Path, default=Path("out"), help="folder for conv_barrier.{png,npz,json}")
    parser.add_argument("--init-ranges", type=positive(float), nargs="+", default=[0.005, 0.05])
    parser.add_argument("--learning-rate", type=positive(float), default=0.5)
    parser.add_argument("--max-epochs", type=positive(int), nargs="+", default=[60],
                        help="the epoch cap: one for every initial range, or one per range (in their order)")
    parser.add_argument("--matched-error", type=positive(float), default=0.2,
                        help="also draw each run's line to the first epoch with at most this validation error "
                             "(a like-for-like comparison of runs that trained for different times)")
    parser.add_argument("--patience", type=positive(int), default=15)
    parser.add_argument("--n-train", type=positive(int), default=10_000, help="first training examples used")
    parser.add_argument("--n-valid", type=positive(int), default=2_000, help="first validation examples used")
    parser.add_argument("--line-examples", type=positive(int), default=2_000,
                        help="training examples J is evaluated on along the lines")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--replot", action="store_true", help="redraw the PNG from the saved numbers")
    args = parser.parse_args(argv)
    if args.seed < 0:
        parser.error(f"--seed must be >= 0, got {args.seed}")
    if len(args.max_epochs) not in (1, len(args.init_ranges)):
        parser.error(f"--max-epochs needs 1 or {len(args.init_ranges)} values (one per initial range)")
    if len(args.max_epochs) == 1:
        args.max_epochs = args.max_epochs * len(args.init_ranges)
    return args


def train_one(args, init_range, max_epochs, train_set, valid_set, shape):
    """Train (or reuse) the quick conv net from U(-init_range, init_range); returns (model, TrainResult)."""
    model = models.get("cifar10_maxout_quick", input_shape=shape, init_range=init_range)
    recipe = replace(recipe_for("cifar10_maxout"), learning_rate=args.learning_rate, max_epochs=max_epochs,
                     patience=args.patience)
    labels = {"dataset": args.dataset, "experiment": "conv_barrier"}
    description = describe_run(model, recipe, args.seed, train_set, valid_set, labels=labels)
    folder = run_folder_name(f"conv-init{init_range:g}-seed{args.seed}", description)
    run_dir = runs_root(args.runs_dir) / args.dataset / folder
    print(f"init range {init_range:g}: {run_dir}", flush=True)
    result = train(model, train_set, valid_set, recipe, run_dir, seed=args.seed, labels=labels,
                   description=description)
    return model, result


def rise(J):
    """J(0), and the largest rise of J above J(0) on the zoom and the alpha where it peaks."""
    peak = int(np.argmax(J))
    return {"J0": float(J[0]), "rise_above_J0": float(J[peak] - J[0]), "peak_alpha": float(ZOOM[peak])}


def compute(args):
    splits = load_dataset(args.dataset, data_dir=args.data_dir, download=False)
    train_set = tuple(a[:args.n_train] for a in splits["train"])
    valid_set = tuple(a[:args.n_valid] for a in splits["valid"])
    line_set = tuple(a[:args.line_examples] for a in train_set)
    shape = image_shape(args.dataset, int(train_set[0].shape[1]))
    arrays, rows = {}, []
    for r, cap in zip(args.init_ranges, args.max_epochs):
        model, run = train_one(args, r, cap, train_set, valid_set, shape)
        errors = [h["valid_error"] for h in run.history]
        matched = next((e for e, err in enumerate(errors) if e > 0 and err <= args.matched_error), None)
        key = f"r{r:g}"
        zoom = linear_path(model, run.theta_init, run.theta_best, line_set, ZOOM)
        whole = linear_path(model, run.theta_init, run.theta_best, line_set, alpha_grid("paper"))
        arrays.update({f"{key}/zoom_J_train": zoom.J_train, f"{key}/whole_J_train": whole.J_train,
                       f"{key}/valid_error_by_epoch": np.array(errors)})
        row = {"init_range": r, "max_epochs": cap, "best_epoch": run.best_epoch, "epochs": len(run.history) - 1,
               "stopped": run.stopped, "best_valid_error": run.best_valid_error, "J_solution": float(whole.J_train[9]),
               **rise(zoom.J_train), "matched_epoch": matched}
        if matched is not None:  # theta after that epoch, from the recorded trajectory
            theta_matched = np.array(run.trajectory_rows()[matched], dtype=run.theta_init.dtype)
            line = linear_path(model, run.theta_init, theta_matched, line_set, ZOOM)
            arrays[f"{key}/matched_zoom_J_train"] = line.J_train
            row.update({"matched_error": errors[matched],
                        **{f"matched_{k}": v for k, v in rise(line.J_train).items()}})
        rows.append(row)
    arrays.update({"zoom_alphas": ZOOM, "whole_alphas": alpha_grid("paper")})
    return arrays, {"rows": rows, "arguments": {k: str(v) for k, v in vars(args).items()}}


def plot(arrays, summary):
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11.5, 4.5), layout="constrained")
    for i, row in enumerate(summary["rows"]):
        key, color = f"r{row['init_range']:g}", f"C{i}"
        label = f"init U(±{row['init_range']:g}): {row['best_valid_error']:.1%} error"
        right.plot(arrays["zoom_alphas"], arrays[f"{key}/zoom_J_train"] - row["J0"], color=color, label=label)
        if f"{key}/matched_zoom_J_train" in arrays:
            right.plot(arrays["zoom_alphas"], arrays[f"{key}/matched_zoom_J_train"] - row["J0"], color=color, ls="--",
                       lw=1, label=f"  to epoch {row['matched_epoch']} ({row['matched_error']:.1%} error)")
        left.plot(arrays["whole_alphas"], arrays[f"{key}/whole_J_train"], "-o", ms=3, color=color, label=label)
    right.axhline(0.0, color="0.6", lw=0.8, ls=":")
    right.set_xlabel(r"$\alpha$")
    right.set_ylabel(r"$J(\alpha) - J(0)$ (train)")
    right.set_title(r"near the initial point, $\alpha \in [0, 0.25]$", fontsize=10)
    left.set_xlabel(r"$\alpha$")
    left.set_ylabel("J (train)")
    left.set_yscale("log")
    left.axvline(1.0, color="0.6", lw=0.8, ls=":")
    left.set_title("the whole line", fontsize=10)
    for ax in (left, right):
        ax.legend(fontsize=8)
    fig.suptitle("Figure 6's barrier near the start vs the initial scale (quick conv maxout, "
                 f"{summary['arguments']['dataset']})", fontsize=11)
    return fig


def report(summary):
    print(f"{'init range':>10} {'line to':>9} {'valid error':>11} {'J(0)':>8} {'rise above J(0)':>15} {'at alpha':>8}")
    for row in summary["rows"]:
        print(f"{row['init_range']:>10g} {'epoch ' + str(row['best_epoch']):>9} {row['best_valid_error']:>11.2%} "
              f"{row['J0']:>8.4f} {row['rise_above_J0']:>15.3g} {row['peak_alpha']:>8.3f}   (best epoch of "
              f"{row['epochs']}: {row['stopped']})")
        if row.get("matched_epoch") is not None:
            print(f"{'':>10} {'epoch ' + str(row['matched_epoch']):>9} {row['matched_error']:>11.2%} "
                  f"{row['matched_J0']:>8.4f} {row['matched_rise_above_J0']:>15.3g} {row['matched_peak_alpha']:>8.3f}"
                  "   (the first epoch at or below --matched-error)")


def main(argv=None):
    return run_experiment("conv_barrier", parse_args(argv), compute, plot, report)


if __name__ == "__main__":
    sys.exit(main())
