"""``minilinpath instability``: linear mode connectivity of two children branched at epoch k.

Frankle, Dziugaite, Roy & Carbin (2020), "Linear Mode Connectivity and the
Lottery Ticket Hypothesis": from one initial point, train to epoch k, then train
two copies to the end with different data orders (and dropout masks), and
measure the barrier on the straight line between their solutions,

    B = max_a [ J((1 - a) theta_1 + a theta_2) - ((1 - a) J(theta_1) + a J(theta_2)) ],

for the loss and the error rate, on the training and the validation set, for
every k of ``--k`` (k = 0: two ordinary runs from one init). The procedure and
its choices are in :mod:`minilinpath.path.instability`; every run is cached.

Writes ``instability.png`` (the barriers against k, and the children's lines),
``instability.npz`` (every line and its ends), ``instability.json`` (settings
and the table) and ``instability.csv`` (the table).
"""
from __future__ import annotations

import csv
import io as text_io
from dataclasses import replace

import numpy as np

from .. import models
from ..experiments import check_data_fits, dataset_key, preset_name, runs_root
from ..path.instability import instability
from ..train import recipe_for
from .common import MAX_EPOCHS, MAX_LINE_POINTS, UsageError, int_between, nonnegative_int, run_figure, table
from .mnist import Experiment, add_data_arguments, chance_warning, store_curve

NAME = "instability"
DESCRIPTION = "Linear mode connectivity (Frankle et al. 2020): the barrier between two children trained from " \
              "the parent's state at epoch k with different data orders, against k."
MODELS = ("relu", "mnist_valid", "mnist_pi", "sigmoid")
COLUMNS = ("k", "barrier_loss_train", "barrier_loss_valid", "barrier_error_train", "barrier_error_valid",
           "child1_valid_error", "child2_valid_error", "distance")
STABLE = 0.02  # Frankle et al. call a network stable when its error barrier is below 2%


def add_arguments(parser):
    parser.add_argument("--model", default="relu", choices=MODELS,
                        help="the paper's MLP: ReLU without dropout (quick, deterministic), ReLU with dropout, "
                             "maxout with dropout, sigmoid with dropout")
    parser.add_argument("--k", type=int_between(0, MAX_EPOCHS), nargs="+", default=[0, 1, 2, 5, 10],
                        help="epochs at which the two children branch off the parent")
    parser.add_argument("--data-seeds", type=nonnegative_int, nargs=2, default=[1, 2], metavar=("D1", "D2"),
                        help="the two children's data-order (and dropout-mask) seeds; --seed draws the init and "
                             "the parent's data order")
    parser.add_argument("--epochs", type=int_between(1, MAX_EPOCHS), default=40,
                        help="every child trains to this epoch, without early stopping (the end of training)")
    parser.add_argument("--alphas", type=int_between(3, MAX_LINE_POINTS), default=25,
                        help="points of each line on [0, 1]")
    add_data_arguments(parser)


def compute(args):
    if args.data_seeds[0] == args.data_seeds[1]:
        raise UsageError(f"--data-seeds {args.data_seeds[0]} {args.data_seeds[1]}: the two children need "
                         "different data seeds.")
    if max(args.k) >= args.epochs:
        raise UsageError(f"--k {max(args.k)}: every k must be below --epochs {args.epochs} (the children "
                         "train from epoch k to that epoch).")
    exp = Experiment(args)
    preset = preset_name(args.model, args.profile)
    model = models.get(preset)
    check_data_fits(model, args.dataset, exp.train, exp.valid)
    recipe = replace(recipe_for(preset), max_epochs=args.epochs, patience=None)
    key = dataset_key(args.dataset)
    result = instability(model, exp.train, exp.valid, recipe, args.seed, args.data_seeds, args.k,
                         runs_root(args.runs_dir) / key, stem=f"{args.model}-seed{args.seed}-{args.profile}-lmc",
                         labels={"dataset": key, "profile": args.profile}, alphas=np.linspace(0, 1, args.alphas),
                         chunk_size=args.chunk_size, retrain=args.retrain)
    arrays, rows = {}, result.table()
    for branch in result.branches:
        store_curve(arrays, f"k{branch.k}", branch.line, *(c.theta_last for c in branch.children))
        for d, child in zip(result.data_seeds, branch.children):
            warning = chance_warning(f"the child of k = {branch.k} with data seed {d}",
                                     child.history[-1]["valid_error"], model.n_classes)
            if warning:
                exp.warnings.append(warning)
    for column in COLUMNS:
        arrays[f"table/{column}"] = np.array([_cell(row, column) for row in rows])
    settings = exp.settings()
    summary = {**settings, "model": args.model, "seed": args.seed, "data_seeds": list(result.data_seeds),
               "epochs": args.epochs, "ks": [b.k for b in result.branches], "table": rows,
               "warnings": settings["warnings"] + result.warnings,
               "runs": {f"k{b.k}": [str(c.run_dir) for c in b.children] for b in result.branches}}
    return arrays, summary


def _cell(row: dict, column: str):
    """A column of the table from one of its rows (the two children's errors are one list in the row)."""
    if column.startswith("child"):
        return row["child_valid_errors"][int(column[5]) - 1]
    return row[column]


def plot(arrays, summary):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5), layout="constrained")
    ks = arrays["table/k"]
    for ax, kind, scale, unit in ((axes[0, 0], "loss", 1.0, "mean NLL"), (axes[0, 1], "error", 100.0, "% error")):
        ax.plot(ks, scale * arrays[f"table/barrier_{kind}_train"], "o-", color="C0", label="training set")
        ax.plot(ks, scale * arrays[f"table/barrier_{kind}_valid"], "s--", color="C1", label="validation set")
        title = f"{kind} barrier between the two children"
        if kind == "error":  # the 2% line only where it does not flatten the curves into the axis
            highest = scale * max(arrays["table/barrier_error_train"].max(), arrays["table/barrier_error_valid"].max())
            if highest >= 0.25 * 100 * STABLE:
                ax.axhline(100 * STABLE, color="0.5", lw=0.8, ls=":", label="2% (Frankle et al.'s 'stable')")
            else:
                title += "\n(all far below the 2% that Frankle et al. call stable)"
            ax.axhline(100 / summary["n_valid"], color="C1", lw=0.8, ls=":",
                       label=f"one validation example ({1 / summary['n_valid']:.2%})")
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xticks(ks, [str(int(k)) for k in ks])
        ax.set_xlabel("k (epoch at which the children branch)")
        ax.set_ylabel(f"barrier above the chord ({unit})")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(ks)))
    for color, k in zip(colors, ks):
        alphas = arrays[f"k{int(k)}/alphas"]
        axes[1, 0].plot(alphas, arrays[f"k{int(k)}/J_train"], "-", color=color, lw=1.5, label=f"k = {int(k)}")
        axes[1, 1].plot(alphas, 100 * arrays[f"k{int(k)}/error_valid"], "-", color=color, lw=1.5,
                        label=f"k = {int(k)}")
    for ax, what in ((axes[1, 0], "training J (mean NLL)"), (axes[1, 1], "validation error (%)")):
        ax.set_xlabel(r"$\alpha$: $(1-\alpha)\,\theta_1 + \alpha\,\theta_2$ (child 1 → child 2)")
        ax.set_ylabel(what)
        ax.set_title(f"{what} along the line between the children", fontsize=10)
        ax.legend(fontsize=8)
    d1, d2 = summary["data_seeds"]
    fig.suptitle(f"Instability: {summary['model']} on {summary['dataset']} ({summary['profile']} profile), seed "
                 f"{summary['seed']}, children's data seeds {d1} and {d2}, trained to epoch {summary['epochs']}",
                 fontsize=11)
    return fig


def report(summary):
    rows = [(r["k"], f"{r['barrier_loss_train']:.3g}", f"{r['barrier_loss_valid']:.3g}",
             f"{r['barrier_error_train']:.2%}", f"{r['barrier_error_valid']:.2%}",
             " / ".join(f"{e:.2%}" for e in r["child_valid_errors"]), f"{r['distance']:.3g}")
            for r in summary["table"]]
    lines = ["barrier above the chord between the two children (definition: minilinpath.path.instability):"]
    lines += ["  " + line for line in table(rows, ("k", "loss train", "loss valid", "error train", "error valid",
                                                   "children's valid errors", "||theta_1 - theta_2||"))]
    first, last = summary["table"][0], summary["table"][-1]
    if len(summary["table"]) > 1:
        one_example = 1.0 / summary["n_valid"]
        for name, unit in (("error", ".2%"), ("loss", ".3g")):
            a, b = first[f"barrier_{name}_valid"], last[f"barrier_{name}_valid"]
            if name == "error" and abs(b - a) < one_example:
                change = "stays within one validation example"
            else:
                change = "falls" if b < a else "does not fall"
            lines.append(f"validation {name} barrier {change} from k = {first['k']} to k = {last['k']}: "
                         f"{a:{unit}} -> {b:{unit}}")
    stable = [r["k"] for r in summary["table"] if r["barrier_error_valid"] < STABLE]
    lines.append(f"stable (validation error barrier < 2%) at k = {', '.join(map(str, stable))}" if stable
                 else "not stable (validation error barrier >= 2%) at any k asked")
    return lines


def csv_table(summary) -> dict:
    """``instability.csv``: the table of ``instability.json``, written with the figure's other files (all, or
    none)."""
    buffer = text_io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows([[_cell(row, column) for column in COLUMNS] for row in summary["table"]])
    return {f"{NAME}.csv": buffer.getvalue()}


def main(argv=None):
    return run_figure(NAME, DESCRIPTION, compute, plot, report, add_arguments, argv=argv, extras=csv_table)
