"""The sigmoid network's rise just after alpha = 0, and where it comes from.

Goodfellow, Vinyals & Saxe (2015), "Qualitatively characterizing neural network
optimization problems", Appendix A: the sigmoid network's line from theta_0 to
the solution theta_1 is not flat near alpha = 0. This script measures that rise
and tests one explanation of it, one change at a time.

(a) J(theta(alpha)), theta(alpha) = (1 - alpha) theta_0 + alpha theta_1, on the
    first ``--line-examples`` training examples (deterministic network) at 26
    alphas in [0, 0.25]; the rise max_alpha J(alpha) - J(0) and the alpha where
    it peaks.
(b) The mechanism. The preset starts its hidden weights tiny (U(+-0.0089),
    U(+-0.0575)) and the softmax layer at zero, so near alpha = 0 every sigmoid
    unit outputs about 1/2 whatever the input, and the logits are about

        logits(alpha) ~ alpha s,   s = (W_y1 - W_y0)^T (1/2 ones) + (b_y1 - b_y0)     (n_classes,)

    (= W_y^T (1/2) + b_y of the solution, since the softmax layer starts at 0):
    class scores that do not depend on the input. With balanced classes their
    NLL is log K + alpha^2 var(s) / 2 + O(alpha^3) (var over the K classes), a
    rise that the input-dependent part of the logits must overcome. Reported:
    std(s), the quadratic prediction alpha*^2 var(s)/2 at the rise's peak
    alpha*, the exact NLL of the constant logits alpha* s minus log K (the
    class frequencies of the line set included), and std(s) again with the
    last hidden layer's measured mean output at alpha = 0 in place of 1/2.
(c) ``--learning-rates``: train the quick sigmoid net (``sigmoid_quick``) with
    the quick recipe (``train.QUICK_RECIPES``) but each given learning rate,
    nothing else changed, and report (a), (b) and the best validation error
    per rate. The quick recipe's own rate (0.25) gives exactly the run of the
    figures' quick profile (same run folder).

Without ``--learning-rates`` the script takes the sigmoid run of ``--profile``
(quick, paper-capped or paper) as the figures do
(``minilinpath.experiments.trained``): cached in ``--runs-dir``, trained there
if missing. ``--cached-only`` refuses to train (for a run cache that must stay
as it is).

Time, on one core of a busy 2-core CPU: a quick sigmoid run on mnist-test trained
96-117 epochs (early stopping) of 2.5-20 s each, depending on the load (5-35
minutes per learning rate); the line sweep takes seconds. The numbers in the reproduction notes come from

    OPENBLAS_NUM_THREADS=1 python docs/experiments/sigmoid_rise.py --dataset mnist-test \
        --data-dir /path/to/mnist-t10k --runs-dir /tmp/runs --out /tmp/sigmoid_rise \
        --learning-rates 0.097259 0.25 1.0

    OPENBLAS_NUM_THREADS=1 python docs/experiments/sigmoid_rise.py --dataset fashion-mnist \
        --data-dir /path/to/fashion-mnist --runs-dir /path/to/runs --profile paper-capped --cached-only \
        --out /tmp/sigmoid_rise_fm
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from minilinpath import models
from minilinpath.experiments import (PROFILES, capped, dataset_key, load_splits, preset_name, run_folder_name,
                                     runs_root, trained)
from minilinpath.path import linear_path
from minilinpath.train import describe_run, recipe_for, train

sys.path.insert(0, str(Path(__file__).resolve().parent))  # script_io.py lies beside this script
from script_io import positive, run_experiment  # noqa: E402

ALPHAS = np.linspace(0.0, 0.25, 26)  # steps of 0.01 from the initial point




def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--dataset", default="mnist-test", help="fashion-mnist, mnist or mnist-test")
    parser.add_argument("--data-dir", default=None, help="folder with the data set's files (never downloads)")
    parser.add_argument("--runs-dir", default=None, help="run cache (default $MINILINPATH_RUNS or ~/.cache/...)")
    parser.add_argument("--out", type=Path, default=Path("out"), help="folder for sigmoid_rise.{png,npz,json}")
    parser.add_argument("--profile", default="quick", choices=PROFILES)
    parser.add_argument("--learning-rates", type=positive(float), nargs="+", default=None,
                        help="train the quick sigmoid net with the quick recipe but each of these learning rates")
    parser.add_argument("--line-examples", type=positive(int), default=5_000,
                        help="first training examples J is evaluated on along the line")
    parser.add_argument("--cached-only", action="store_true",
                        help="use only runs already in --runs-dir; never train (refuse if a run is missing)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--replot", action="store_true", help="redraw the PNG from the saved numbers")
    args = parser.parse_args(argv)
    if args.seed < 0:
        parser.error(f"--seed must be >= 0, got {args.seed}")
    if args.learning_rates is not None and args.profile != "quick":
        parser.error("--learning-rates changes the quick recipe; use it with --profile quick")
    if args.learning_rates is not None and args.cached_only:
        parser.error("--cached-only reads the profile's own run; drop --learning-rates or --cached-only")
    return args


# ------------------------------------------------------------------------------------------- the numbers
def rise_on_grid(J, alphas):
    """J(0), the largest rise max_alpha J(alpha) - J(0) on the grid, and the alpha where it peaks."""
    peak = int(np.argmax(J))
    return {"J0": float(J[0]), "rise": float(J[peak] - J[0]), "peak_alpha": float(alphas[peak])}


def constant_scores(model, theta0, theta1, hidden_output=0.5):
    """s (n_classes,): the change of the logits per unit alpha if the last hidden layer output ``hidden_output``.

    logits(alpha) = h(alpha) W_y(alpha) + b_y(alpha), and W_y, b_y are affine in alpha; with h fixed at
    ``hidden_output`` (a scalar, 1/2 for sigmoid units at theta ~ 0, or a vector of the last hidden layer's
    width) the logits are s0 + alpha s with s = (W_y1 - W_y0)^T h + (b_y1 - b_y0). s0 = 0 when the softmax
    layer starts at zero, as in the paper's sigmoid preset.
    """
    p0, p1 = model.unflatten(np.asarray(theta0, np.float64)), model.unflatten(np.asarray(theta1, np.float64))
    dW, db = p1["y.W"] - p0["y.W"], p1["y.b"] - p0["y.b"]
    h = np.broadcast_to(np.asarray(hidden_output, np.float64), (dW.shape[0],))
    return h @ dW + db


def last_hidden_mean(model, theta, X):
    """The mean over the examples of the last sigmoid layer's output (its width,) at ``theta``."""
    if model.activation != "sigmoid":
        raise ValueError(f"{model.name} has {model.activation} units; this measures sigmoid networks.")
    p = model.unflatten(np.asarray(theta, np.float64))
    h = np.asarray(X, np.float64)
    for name in model.layer_names[:-1]:
        h = 1.0 / (1.0 + np.exp(-(h @ p[f"{name}.W"] + p[f"{name}.b"])))
    return h.mean(axis=0)


def predicted_rise(s, alpha):
    """The small-alpha rise of the input-independent logits alpha s: alpha^2 var(s) / 2 (var over classes)."""
    return float(alpha) ** 2 * float(np.var(s)) / 2.0


def constant_logits_rise(s, alpha, y):
    """The exact NLL of the constant logits alpha s on labels y, minus its value log K at alpha = 0."""
    z = float(alpha) * np.asarray(s, np.float64)
    log_normaliser = np.log(np.sum(np.exp(z - z.max()))) + z.max()
    return float(np.mean(log_normaliser - z[np.asarray(y)]) - np.log(z.size))


def measure(model, theta0, theta1, line_set, alphas=ALPHAS):
    """(J on the grid, the row of numbers (a) and (b) for one run)."""
    J = linear_path(model, theta0, theta1, line_set, alphas, progress=False).J_train
    row = rise_on_grid(J, alphas)
    s = constant_scores(model, theta0, theta1)
    s_measured = constant_scores(model, theta0, theta1, last_hidden_mean(model, theta0, line_set[0]))
    row.update({"std_s": float(np.std(s)), "std_s_measured_h": float(np.std(s_measured)),
                "predicted_rise": predicted_rise(s, row["peak_alpha"]),
                "constant_logits_rise": constant_logits_rise(s, row["peak_alpha"], line_set[1]),
                "s": [float(v) for v in s]})
    return J, row


def finished_run(folder: Path) -> bool:
    """True when ``folder`` holds a run whose training ended (its ``state.npz`` says why it stopped)."""
    state = folder / "state.npz"
    if not state.is_file():
        return False
    with np.load(state, allow_pickle=False) as f:
        return bool(json.loads(str(f["meta"])).get("stopped"))


# ------------------------------------------------------------------------------------------- the runs
def profile_run(args, train_set, valid_set):
    """The profile's sigmoid run (as the figures take it); with --cached-only, refuse to train."""
    if args.cached_only:  # the folder trained() would use: the same description, so the same fingerprint
        preset = preset_name("sigmoid", args.profile)
        description = describe_run(models.get(preset), capped(recipe_for(preset), args.profile), args.seed,
                                   train_set, valid_set, labels={"dataset": dataset_key(args.dataset),
                                                                 "profile": args.profile})
        folder = (runs_root(args.runs_dir) / dataset_key(args.dataset)
                  / run_folder_name(f"sigmoid-seed{args.seed}-{args.profile}", description))
        if not finished_run(folder):
            raise FileNotFoundError(f"--cached-only: no finished sigmoid run at {folder}; train it first or drop "
                                    "--cached-only")
    run = trained("sigmoid", args.seed, args.profile, args.dataset, train_set, valid_set, runs_dir=args.runs_dir)
    best = min(h["valid_error"] for h in run.history)
    return run.model, run.theta_init, run.theta_final, best, len(run.history) - 1


def rate_run(args, learning_rate, train_set, valid_set):
    """The quick sigmoid net trained with the quick recipe but ``learning_rate`` (cached in --runs-dir)."""
    model = models.get("sigmoid_quick")
    recipe = replace(recipe_for("sigmoid_quick"), learning_rate=learning_rate)
    labels = {"dataset": dataset_key(args.dataset), "profile": "quick"}  # as trained(): lr 0.25 is its run
    description = describe_run(model, recipe, args.seed, train_set, valid_set, labels=labels)
    folder = run_folder_name(f"sigmoid-seed{args.seed}-quick", description)
    run_dir = runs_root(args.runs_dir) / dataset_key(args.dataset) / folder
    print(f"learning rate {learning_rate:g}: {run_dir}", flush=True)
    result = train(model, train_set, valid_set, recipe, run_dir, seed=args.seed, labels=labels,
                   description=description)
    return model, result.theta_init, result.theta_best, result.best_valid_error, len(result.history) - 1


def compute(args):
    train_set, valid_set = load_splits(args.dataset, data_dir=args.data_dir, profile=args.profile)
    line_set = tuple(a[:args.line_examples] for a in train_set)
    runs = ([("profile " + args.profile, None)] if args.learning_rates is None
            else [(f"lr {lr:g}", lr) for lr in args.learning_rates])
    arrays, rows = {"alphas": ALPHAS}, []
    for label, lr in runs:
        model, theta0, theta1, best_error, epochs = (profile_run(args, train_set, valid_set) if lr is None
                                                     else rate_run(args, lr, train_set, valid_set))
        J, row = measure(model, theta0, theta1, line_set)
        arrays[f"{label}/J_train"] = J
        rows.append({"run": label, "learning_rate": lr, "best_valid_error": best_error, "epochs": epochs, **row})
    return arrays, {"rows": rows, "arguments": {k: str(v) for k, v in vars(args).items()}}


# ------------------------------------------------------------------------------------------- output
def plot(arrays, summary):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5), layout="constrained")
    for i, row in enumerate(summary["rows"]):
        J = arrays[f"{row['run']}/J_train"]
        ax.plot(arrays["alphas"], J - row["J0"], "-o", ms=3, color=f"C{i}",
                label=f"{row['run']}: {row['best_valid_error']:.1%} error, std(s) {row['std_s']:.2f}")
        ax.plot(arrays["alphas"], arrays["alphas"] ** 2 * row["std_s"] ** 2 / 2, ":", color=f"C{i}", lw=1)
    ax.axhline(0.0, color="0.6", lw=0.8)
    top = max(0.1, 1.3 * max(r["rise"] for r in summary["rows"]))
    ax.set_ylim(-top, top)
    ax.set_xlabel(r"$\alpha$")
    ax.set_ylabel(r"$J(\alpha) - J(0)$ (train)")
    ax.legend(fontsize=8, title=r"dotted: $\alpha^2$ var(s)/2 (input-independent part)", title_fontsize=8)
    ax.set_title(f"sigmoid net near the initial point ({summary['arguments']['dataset']})", fontsize=10)
    return fig


def report(summary):
    print(f"{'run':>16} {'valid err':>9} {'epochs':>6} {'J(0)':>7} {'rise':>7} {'at alpha':>8} {'std(s)':>7} "
          f"{'a*^2 var(s)/2':>13} {'NLL(a* s)-logK':>14} {'std(s), h measured':>18}")
    for r in summary["rows"]:
        print(f"{r['run']:>16} {r['best_valid_error']:>9.2%} {r['epochs']:>6} {r['J0']:>7.4f} {r['rise']:>7.4f} "
              f"{r['peak_alpha']:>8.2f} {r['std_s']:>7.3f} {r['predicted_rise']:>13.4f} "
              f"{r['constant_logits_rise']:>14.4f} {r['std_s_measured_h']:>18.3f}")


def main(argv=None):
    return run_experiment("sigmoid_rise", parse_args(argv), compute, plot, report)


if __name__ == "__main__":
    sys.exit(main())
