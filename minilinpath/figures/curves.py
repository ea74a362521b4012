"""``minilinpath curve``: a trained curve between two solutions, beside the straight line of Figure 5.

The two solutions are Figure 5's: the same network trained from seeds
``--seed`` and ``--seed + 1`` (the same cached runs as ``minilinpath fig5``).
Between them, starting from the straight line itself:

- a Bézier curve phi(t) = sum_i C(n, i) t^i (1 - t)^(n - i) p_i of degree
  n = ``--bends`` + 1 (one bend: (1 - t)^2 theta_a + 2t(1 - t) b + t^2 theta_b);
- a polygonal chain through ``--bends`` bend points at t = k / (bends + 1);

their bends trained by SGD with momentum on E_{t ~ U(0,1)} J(phi(t)) (one t
per minibatch, the model's own training objective with its dropout masks;
Garipov et al. 2018, "Loss Surfaces, Mode Connectivity, and Fast Ensembling
of DNNs"; see :mod:`minilinpath.path.curves`). Then J (training and
validation) and the validation error of the deterministic network along t,
for the line, the Bézier curve and the chain, and the barrier of each
(:func:`minilinpath.path.barrier_height`: the highest J above the mean of the
two ends, and above the chord).
"""
from __future__ import annotations

import math

import numpy as np

from ..experiments import image_shape, preset_name
from ..path import barrier_height
from ..path.curves import curve_path, line_curve, train_curve
from ..train import recipe_for
from .common import MAX_EPOCHS, UsageError, int_between, run_figure, table

MAX_BENDS = 16  # each bend is a copy of theta trained alongside: more is slow and says nothing new
MAX_POINTS = 10_001  # points along t: beyond this a typo would only ask for more memory
from .mnist import Experiment, add_data_arguments, store_curve

DESCRIPTION = ("Curves between two solutions (Garipov et al. 2018): a Bézier curve and a polygonal chain with "
               "trained bend points, beside Figure 5's straight line, with the barrier along each.")
MODELS = ("mnist_pi", "relu", "mnist_valid", "sigmoid", "cifar10_maxout", "mpdbm")
PATHS = (("line", "straight line", "C0"), ("bezier", "Bézier curve", "C3"), ("chain", "polygonal chain", "C2"))


def add_arguments(parser):
    parser.add_argument("--model", default="mnist_pi", choices=MODELS,
                        help="the network whose two solutions are joined (mnist_pi: Figure 5's maxout network)")
    parser.add_argument("--bends", type=int_between(1, MAX_BENDS), default=1,
                        help="trainable bend points of each curve (Bézier degree = bends + 1)")
    parser.add_argument("--curve-epochs", type=int_between(1, MAX_EPOCHS), default=10,
                        help="passes over the training set while training each curve")
    parser.add_argument("--lr", type=float, default=None,
                        help="learning rate of the bends (default: half the initial learning rate of the model's "
                             "own training recipe)")
    parser.add_argument("--momentum", type=float, default=0.9, help="momentum of the bends, in [0, 1)")
    parser.add_argument("--points", type=int_between(3, MAX_POINTS), default=41,
                        help="evaluation points along t in [0, 1] (the chain's bend points are always added)")
    add_data_arguments(parser)


def evaluation_grid(points: int, bends: int) -> np.ndarray:
    """``points`` evenly spaced t's on [0, 1] together with the chain's knots k / (bends + 1)."""
    return np.union1d(np.linspace(0.0, 1.0, points), np.arange(bends + 2) / (bends + 1))


def path_metrics(result) -> dict:
    """Barrier heights (both variants of minilinpath.path.metrics) and the worst values along a path."""
    t, J = result.alphas, result.J_train
    m = {"barrier_mean": barrier_height(t, J, "mean")[0], "barrier_chord": barrier_height(t, J, "chord")[0],
         "barrier_t": barrier_height(t, J, "mean")[1], "max_J_train": float(J.max()),
         "max_J_t": float(t[int(np.argmax(J))]), "J_ends": [float(J[0]), float(J[-1])]}
    if result.J_valid is not None:
        m["max_J_valid"] = float(result.J_valid.max())
    if result.error_valid is not None:
        m["max_error_valid"] = float(result.error_valid.max())
        m["max_error_t"] = float(t[int(np.argmax(result.error_valid))])
        m["error_valid_ends"] = [float(result.error_valid[0]), float(result.error_valid[-1])]
    return m


def compute(args):
    if not 0.0 <= args.momentum < 1.0:
        raise UsageError(f"--momentum must lie in [0, 1), got {args.momentum}.")
    if args.lr is not None and not (args.lr > 0 and math.isfinite(args.lr)):
        raise UsageError(f"--lr must be a positive number, got {args.lr}.")
    recipe = recipe_for(preset_name(args.model, args.profile))
    lr = recipe.learning_rate / 2 if args.lr is None else args.lr
    exp = Experiment(args)
    overrides = {"input_shape": image_shape(args.dataset, int(exp.train[0].shape[1]))} \
        if args.model == "cifar10_maxout" else {}
    first = exp.model(args.model, seed=args.seed, **overrides)
    second = exp.model(args.model, seed=args.seed + 1, **overrides)
    model, theta_a, theta_b = first.model, first.theta_final, second.theta_final
    ts = evaluation_grid(args.points, args.bends)

    arrays, metrics, histories = {}, {}, {}
    line = exp.path(model, theta_a, theta_b, ts)
    store_curve(arrays, "line", line, theta_a, theta_b)
    metrics["line"] = path_metrics(line)
    for kind in ("bezier", "chain"):
        fit = train_curve(model, line_curve(kind, theta_a, theta_b, args.bends), exp.train,
                          epochs=args.curve_epochs, batch_size=recipe.batch_size, lr=lr, momentum=args.momentum,
                          seed=args.seed, progress=True, log=print)
        result = curve_path(model, fit.curve, exp.train, ts, exp.valid)
        arrays.update(result.arrays(prefix=f"{kind}/"))
        arrays.update(fit.curve.arrays(prefix=f"{kind}/"))  # the control points: phi(t) anywhere
        arrays[f"{kind}/train_objective"] = np.array([h["train_objective"] for h in fit.history])
        metrics[kind] = path_metrics(result)
        histories[kind] = fit.history
    summary = {**exp.settings(), "model": args.model, "seeds": [args.seed, args.seed + 1], "bends": args.bends,
               "curve_epochs": args.curve_epochs, "lr": lr, "momentum": args.momentum,
               "batch_size": recipe.batch_size, "metrics": metrics, "histories": histories}
    return arrays, summary


def plot(arrays, summary):
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12.5, 4.8), layout="constrained")
    for key, label, color in PATHS:
        t = arrays[f"{key}/alphas"]
        m = summary["metrics"][key]
        left.plot(t, arrays[f"{key}/J_train"], "-", color=color, lw=1.8,
                  label=f"{label}: train (barrier {m['barrier_mean']:.3g})")
        if f"{key}/J_valid" in arrays:
            left.plot(t, arrays[f"{key}/J_valid"], "--", color=color, lw=1.2, label=f"{label}: validation")
        if f"{key}/error_valid" in arrays:
            right.plot(t, 100 * arrays[f"{key}/error_valid"], "-", color=color, lw=1.8, label=f"{label}: validation")
        if f"{key}/error_train" in arrays:
            right.plot(t, 100 * arrays[f"{key}/error_train"], ":", color=color, lw=1.4, label=f"{label}: train")
    left.set_yscale("log")
    left.set_xlabel("t  (line: alpha)")
    left.set_ylabel(r"$J(\phi(t))$ (mean negative log-likelihood)")
    left.set_title("J along the three paths (barrier: max J above the mean of the ends)", fontsize=10)
    left.legend(fontsize=7.5)
    right.set_xlabel("t  (line: alpha)")
    right.set_ylabel("classification error (%)")
    right.set_title("error of the deterministic network along the paths", fontsize=10)
    right.legend(fontsize=7.5)
    for ax in (left, right):
        ax.set_xlim(0, 1)
    bends = summary["bends"]
    fig.suptitle(f"{summary['model']} on {summary['dataset']} ({summary['profile']} profile): solutions of seeds "
                 f"{summary['seeds'][0]} and {summary['seeds'][1]}, curves with {bends} trained bend"
                 f"{'s' if bends > 1 else ''} ({summary['curve_epochs']} epochs)", fontsize=11)
    return fig


def report(summary):
    m = summary["metrics"]
    rows = []
    for key, label, _ in PATHS:
        p = m[key]
        rows.append((label, f"{p['barrier_mean']:.4g}", f"{p['barrier_chord']:.4g}",
                     f"{p['max_J_train']:.4g} at {p['max_J_t']:.3g}",
                     f"{p['max_error_valid']:.2%} at {p['max_error_t']:.3g}" if "max_error_valid" in p else "-"))
    lines = ["  " + line for line in table(rows, ("path", "barrier above mean of ends", "barrier above chord",
                                                  "max training J at t", "max validation error at t"))]
    line_barrier = m["line"]["barrier_mean"]
    for key, label, _ in PATHS[1:]:
        if line_barrier > 0:
            lines.append(f"the {label} removes {1 - m[key]['barrier_mean'] / line_barrier:.1%} of the straight line's "
                         f"barrier ({m[key]['barrier_mean']:.4g} against {line_barrier:.4g})")
    return lines


def main(argv=None):
    return run_figure("curve", DESCRIPTION, compute, plot, report, add_arguments, argv=argv)
