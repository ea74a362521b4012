"""Figure 13's residual and the initial scale of the maxout network.

Goodfellow, Vinyals & Saxe (2015), "Qualitatively characterizing neural network
optimization problems", Appendix B and Fig. 13: projecting every epoch's
parameters theta_t of the maxout network on the line from theta_init to the
solution, the part the line misses stays small: residual_t / ||theta_t|| at most
about 1/3 ("the line captures at least 2/3 of the parameter norm"). With the
paper's tiny initial weights, U(+-0.005), ||theta_t|| is small in the first
epochs, so the ratio there may say more about the initial scale than about
the path. This script changes one thing, the initial range r:

1. for each r in ``--init-ranges`` (default 0.005, the preset's and the
   paper's, and 0.05) train the quick maxout network (``mnist_pi_quick``, every
   weight layer U(-r, r), biases 0) with its quick recipe
   (``train.QUICK_RECIPES["mnist_pi"]``), cached in ``--runs-dir``
   (``minilinpath.experiments.trained`` with ``init_ranges`` overridden, so
   r = 0.005 is the figures' own quick run);
2. project the recorded trajectory as ``minilinpath.figures.fig13`` does
   (``minilinpath.path.project_trajectory`` on the line from theta_init to the
   solution the run ends at) and report per r: the largest
   residual_t / ||theta_t|| and its epoch, the number of epochs above 1/3, the
   largest residual, the smallest ||theta_t|| after epoch 0, and the best
   validation error.

With ``--profile paper-capped`` (or ``paper``) the run is the profile's
maxout run at r = 0.005 (the paper's; other ranges are refused), read from the
cache; ``--cached-only`` refuses to train (for a run cache that must stay as it is).

Time, on one core of a busy 2-core CPU: a quick maxout run on mnist-test trained
84-92 epochs (early stopping) of 5-22 s each, depending on the load (10-30
minutes per initial range); the projection takes seconds. The numbers in the reproduction notes come from

    OPENBLAS_NUM_THREADS=1 python docs/experiments/fig13_init_scale.py --dataset mnist-test \
        --data-dir /path/to/mnist-t10k --runs-dir /tmp/runs --out /tmp/fig13_init_scale

    OPENBLAS_NUM_THREADS=1 python docs/experiments/fig13_init_scale.py --dataset fashion-mnist \
        --data-dir /path/to/fashion-mnist --runs-dir /path/to/runs --profile paper-capped --cached-only \
        --init-ranges 0.005 --out /tmp/fig13_init_scale_fm
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from minilinpath import models
from minilinpath.experiments import (PROFILES, capped, dataset_key, load_splits, preset_name, run_folder_name,
                                     runs_root, trained)
from minilinpath.models import PRESETS
from minilinpath.path import project_trajectory
from minilinpath.train import describe_run, recipe_for

sys.path.insert(0, str(Path(__file__).resolve().parent))  # script_io.py lies beside this script
from script_io import positive, run_experiment  # noqa: E402

PAPER_RANGE = PRESETS["mnist_pi"]["init_ranges"][0]  # 0.005 for every layer (mnist_pi.yaml)
BOUND = 1 / 3  # the paper: the line keeps at least 2/3 of the parameter norm




def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--dataset", default="mnist-test", help="fashion-mnist, mnist or mnist-test")
    parser.add_argument("--data-dir", default=None, help="folder with the data set's files (never downloads)")
    parser.add_argument("--runs-dir", default=None, help="run cache (default $MINILINPATH_RUNS or ~/.cache/...)")
    parser.add_argument("--out", type=Path, default=Path("out"), help="folder for fig13_init_scale.{png,npz,json}")
    parser.add_argument("--profile", default="quick", choices=PROFILES)
    parser.add_argument("--init-ranges", type=positive(float), nargs="+", default=[PAPER_RANGE, 0.05])
    parser.add_argument("--cached-only", action="store_true",
                        help="use only runs already in --runs-dir; never train (refuse if a run is missing)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--replot", action="store_true", help="redraw the PNG from the saved numbers")
    args = parser.parse_args(argv)
    if args.seed < 0:
        parser.error(f"--seed must be >= 0, got {args.seed}")
    if args.profile != "quick" and args.init_ranges != [PAPER_RANGE]:
        parser.error(f"--profile {args.profile} takes the paper's init range only; add --init-ranges {PAPER_RANGE:g}")
    return args


# ------------------------------------------------------------------------------------------- the numbers
def residual_summary(trajectory_rows, theta_init, theta_final):
    """Figure 13's projection of a trajectory, summarised.

    ``project_trajectory`` gives, per recorded epoch t (row 0 = theta_init), the norm of the part of
    theta_t - theta_init orthogonal to the line (``residual``) and ||theta_t|| (``norm``); the ratio
    residual_t / ||theta_t|| is the share of theta_t the line misses (the paper's bound: 1/3).
    Returns (the ratio per epoch (T,), a dict of the numbers).
    """
    p = project_trajectory(trajectory_rows, theta_init, theta_final)
    ratio = p.residual / np.maximum(p.norm, 1e-30)  # as minilinpath.figures.fig13
    worst = int(np.argmax(ratio))
    return ratio, {"max_residual_over_norm": float(ratio[worst]), "epoch_of_max": worst,
                   "epochs_above_bound": int(np.sum(ratio > BOUND)), "max_residual": float(p.residual.max()),
                   "min_norm_after_epoch0": float(p.norm[1:].min()) if p.norm.size > 1 else float("nan"),
                   "norm_init": float(p.norm[0]), "distance": p.distance, "epochs": int(ratio.size - 1)}


def finished_run(folder: Path) -> bool:
    """True when ``folder`` holds a run whose training ended (its ``state.npz`` says why it stopped)."""
    state = folder / "state.npz"
    if not state.is_file():
        return False
    with np.load(state, allow_pickle=False) as f:
        return bool(json.loads(str(f["meta"])).get("stopped"))


# ------------------------------------------------------------------------------------------- the runs
def check_cached(args, init_range, train_set, valid_set):
    """Refuse (FileNotFoundError) when the run trained() would use is not in --runs-dir."""
    preset = preset_name("mnist_pi", args.profile)
    model = models.get(preset, init_ranges=(init_range,) * 3)
    description = describe_run(model, capped(recipe_for(preset), args.profile), args.seed, train_set, valid_set,
                               labels={"dataset": dataset_key(args.dataset), "profile": args.profile})
    folder = (runs_root(args.runs_dir) / dataset_key(args.dataset)
              / run_folder_name(f"mnist_pi-seed{args.seed}-{args.profile}", description))
    stages = [folder] + ([folder / "stage2"] if args.profile != "quick" else [])  # see experiments.trained
    if not all(finished_run(stage) for stage in stages):
        raise FileNotFoundError(f"--cached-only: no finished maxout run at {folder}; train it first or drop "
                                "--cached-only")


def compute(args):
    train_set, valid_set = load_splits(args.dataset, data_dir=args.data_dir, profile=args.profile)
    arrays, rows = {}, []
    for r in args.init_ranges:
        if args.cached_only:
            check_cached(args, r, train_set, valid_set)
        run = trained("mnist_pi", args.seed, args.profile, args.dataset, train_set, valid_set,
                      runs_dir=args.runs_dir, init_ranges=(r,) * 3)
        if not bool((run.theta_final != run.theta_init).any()):
            raise ValueError(f"init range {r:g}: the solution is the initial point (the validation error never "
                             "improved); there is no line to project on")
        ratio, numbers = residual_summary(run.trajectory_rows(), run.theta_init, run.theta_final)
        stage1 = run.history[:run.trajectories[0].shape[0]]  # the paper's second stage has no validation set
        best = min(range(len(stage1)), key=lambda e: stage1[e]["valid_error"])
        arrays[f"r{r:g}/residual_over_norm"] = ratio
        rows.append({"init_range": r, "best_valid_error": stage1[best]["valid_error"], "best_epoch": best,
                     **numbers})
    return arrays, {"rows": rows, "arguments": {k: str(v) for k, v in vars(args).items()}}


# ------------------------------------------------------------------------------------------- output
def plot(arrays, summary):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5), layout="constrained")
    for i, row in enumerate(summary["rows"]):
        ratio = arrays[f"r{row['init_range']:g}/residual_over_norm"]
        ax.plot(np.arange(ratio.size), ratio, "-o", ms=2.5, color=f"C{i}",
                label=f"init U(±{row['init_range']:g}): max {row['max_residual_over_norm']:.3f} "
                      f"(epoch {row['epoch_of_max']}), {row['best_valid_error']:.2%} error")
    ax.axhline(BOUND, color="C3", ls="--", lw=1, label="1/3: the paper's bound")
    ax.set_xlabel("epoch")
    ax.set_ylabel(r"$\|$residual$\|$ / $\|\theta_t\|$")
    ax.legend(fontsize=8)
    ax.set_title(f"Figure 13's residual vs the initial scale (maxout, {summary['arguments']['dataset']}, "
                 f"{summary['arguments']['profile']})", fontsize=10)
    return fig


def report(summary):
    print(f"{'init range':>10} {'max res/norm':>12} {'at epoch':>8} {'epochs > 1/3':>12} {'max residual':>12} "
          f"{'min norm (t>0)':>14} {'norm init':>9} {'valid error':>11} {'epochs':>6}")
    for r in summary["rows"]:
        print(f"{r['init_range']:>10g} {r['max_residual_over_norm']:>12.3f} {r['epoch_of_max']:>8} "
              f"{r['epochs_above_bound']:>12} {r['max_residual']:>12.3f} {r['min_norm_after_epoch0']:>14.3f} "
              f"{r['norm_init']:>9.3f} {r['best_valid_error']:>11.2%} {r['epochs']:>6}")


def main(argv=None):
    return run_experiment("fig13_init_scale", parse_args(argv), compute, plot, report)


if __name__ == "__main__":
    sys.exit(main())
