"""``minilinpath study``: many runs over a grid of settings, each with its init -> solution line, on Dask.

In the spirit of Lucas, Bae, Zhang, Fort, Zemel & Grosse (2021), "Analyzing Monotonic Linear Interpolation
in Neural Network Loss Landscapes": every combination of the settings given (activation, width, depth,
learning rate, momentum, init scale, dropout, adversarial training, data set) is trained with every seed,
and for each run the table records whether J falls monotonically along the line from theta_0 to theta_T,
the largest bump, ||theta_T - theta_0||, and the final errors (definitions: minilinpath.study.table).

    minilinpath study --activation relu sigmoid maxout --init-scale 1 3 --seeds 4 --dataset mnist-test \\
        --data-dir DATA --epochs 10 --out out/study
    minilinpath study --spec study.toml                      # the same settings from a file (JSON or TOML)
    minilinpath study ... --scheduler tcp://host:8786         # on a running Dask cluster
    minilinpath study ... --executor local                    # in this process, no Dask

Writes ``study.csv`` (the table), ``study.json`` (the table, the spec and the summary), ``study.npz`` and
``study.png``: the fraction of monotone lines per setting, the bump height against the init scale and
against the distance travelled. Every run and its line are kept in the run cache: an interrupted study, run
again, does only what had not finished.
"""
from __future__ import annotations

from argparse import SUPPRESS

import numpy as np

from ..study import ExecutorError, SpecError, StudyFailed, StudySpec, read_spec, run_study
from ..study.executors import max_local_workers, worker_limit_message
from ..study.spec import ACTIVATIONS, MAX_RUNS, OPTIMIZERS, UPPER
from ..study.table import COLUMNS, SETTINGS, cells, fraction_monotone, to_csv, varied_axes
from .common import UsageError, int_between, positive_int, run_figure, table

DESCRIPTION = ("Many runs over a grid of settings x seeds on Dask (a LocalCluster by default): each run's "
               "init -> solution line, monotone or not, its largest bump and the distance travelled "
               "(Lucas et al. 2021).")


def add_arguments(parser):
    axes = parser.add_argument_group("the grid (each takes one or more values; a study runs every combination)")
    axes.add_argument("--activation", nargs="+", choices=ACTIVATIONS, default=SUPPRESS, help="default: relu")
    axes.add_argument("--width", nargs="+", type=int_between(1, UPPER["width"]), default=SUPPRESS,
                      help="units per hidden layer (default: the paper network's quick- or paper-sized width)")
    axes.add_argument("--depth", nargs="+", type=int_between(1, UPPER["depth"]), default=SUPPRESS,
                      help="hidden layers (default: 2)")
    axes.add_argument("--learning-rate", nargs="+", type=float, default=SUPPRESS,
                      help="constant SGD step size (default: 0.1)")
    axes.add_argument("--momentum", nargs="+", type=float, default=SUPPRESS, help="constant momentum (default: 0.5)")
    axes.add_argument("--init-scale", nargs="+", type=float, default=SUPPRESS,
                      help="multiplies every layer's init range (default: 1, the paper's)")
    axes.add_argument("--dropout", nargs="+", type=float, default=SUPPRESS,
                      help="probability of dropping a hidden unit in training (default: 0)")
    axes.add_argument("--adversarial", nargs="+", choices=("no", "yes"), default=SUPPRESS,
                      help="train on the FGSM objective (default: no)")
    axes.add_argument("--optimizer", nargs="+", choices=OPTIMIZERS, default=SUPPRESS,
                      help="sgd (momentum SGD, default), adam or rmsprop (learning rate default 0.001)")
    axes.add_argument("--batchnorm", nargs="+", choices=("no", "yes"), default=SUPPRESS,
                      help="batch normalization before each nonlinearity (default: no)")
    axes.add_argument("--dataset", nargs="+", default=SUPPRESS,
                      help="mnist, fashion-mnist, cifar10, mnist-test or npz:PATH (default: mnist)")
    runs = parser.add_argument_group("the runs")
    runs.add_argument("--spec", default=SUPPRESS,
                      help="read the study from this .json or .toml file (keys: minilinpath.study.StudySpec); "
                           "options given on the command line replace the file's")
    runs.add_argument("--seeds", type=int_between(1, MAX_RUNS), default=SUPPRESS,
                      help="seeds per setting, counting from --seed (default: 1, from 0)")
    runs.add_argument("--epochs", type=int_between(1, UPPER["epochs"]), default=SUPPRESS,
                      help="epochs every run trains (default: 10)")
    runs.add_argument("--alphas", type=int_between(3, UPPER["alphas"]), default=SUPPRESS,
                      help="points of the line on [0, 1], at least 3 (2 points are always 'monotone') (default: 51)")
    runs.add_argument("--data-dir", default=SUPPRESS, help="read the data files from this folder, never downloading")
    runs.add_argument("--runs-dir", default=None,
                      help="where trained models are cached (default $MINILINPATH_RUNS or ~/.cache/minilinpath/runs)")
    runs.add_argument("--limit", type=positive_int, default=SUPPRESS,
                      help="do only the first N runs (in table order) this time; run again for the rest")
    where = parser.add_argument_group("where the tasks run")
    where.add_argument("--executor", choices=("dask", "local"), default="dask",
                       help="dask: a LocalCluster on this machine, or the cluster at --scheduler; local: this process")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786")
    where.add_argument("--workers", type=positive_int, default=2,
                       help="worker processes of the LocalCluster (one thread and one BLAS thread each; at most one per CPU core)")
    parser.set_defaults(profile=None, seed=None)  # not given: the spec file's value, else quick and 0


# options whose argparse name is their StudySpec key (--seed is ``first_seed``, --adversarial no/yes a bool)
SPEC_OPTIONS = ("activation", "width", "depth", "learning_rate", "momentum", "init_scale", "dropout", "dataset", "optimizer",
                "seeds", "epochs", "alphas", "data_dir", "profile")


def spec_from_args(args) -> StudySpec:
    """The spec file's settings (if any), with every option given on the command line replacing its own."""
    given = vars(args)
    values = read_spec(given["spec"]).to_dict() if "spec" in given else {}
    values.update({key: given[key] for key in SPEC_OPTIONS if given.get(key) is not None})
    if given.get("seed") is not None:
        values["first_seed"] = given["seed"]
    for flag in ("adversarial", "batchnorm"):
        if flag in given:
            values[flag] = [v == "yes" for v in given[flag]]
    return StudySpec.from_dict(values, where="the study")


def check_data(spec: StudySpec) -> None:
    """Load every data set once here, so that a missing one is one error before any worker starts."""
    from ..study.tasks import load_data, n_classes_of
    for dataset in spec.dataset:
        n_classes_of(*load_data(dataset, spec.data_dir, spec.profile))  # labels the networks can take


def compute(args):
    try:
        spec = spec_from_args(args)
        if args.executor == "dask" and args.scheduler is None and args.workers > max_local_workers():
            raise ExecutorError(worker_limit_message(args.workers))  # before any data set is read
        if args.scheduler is None:  # a remote cluster's workers may see other files than this machine
            check_data(spec)
        result = run_study(spec, executor=args.executor, scheduler=args.scheduler, n_workers=args.workers,
                           runs_dir=args.runs_dir, limit=getattr(args, "limit", None))
    except (SpecError, ExecutorError) as exc:
        raise UsageError(str(exc)) from None
    except StudyFailed as exc:  # no table of a part of the study: what finished stays in the run cache
        failures = "; ".join(f"{label}: {error}" for label, error in exc.result.failures[:3])
        more = f" (and {len(exc.result.failures) - 3} more)" if len(exc.result.failures) > 3 else ""
        raise UsageError(
            f"{len(exc.result.failures)} of {exc.result.n_runs} runs failed, so no table was written: {failures}"
            f"{more}. The {len(exc.result.rows)} runs that finished are kept in the run cache: run the same command "
            "again to retry only the failed ones. A run folder reported damaged: remove that folder (rm -r) first "
            "(the study has no --retrain); a run that diverged: lower its learning rate or init scale.") from None
    rows = result.rows
    arrays = {f"table/{c}": np.array([row[c] for row in rows]) for c in COLUMNS}
    axes = varied_axes(rows)
    summary = {"spec": spec.to_dict(), "executor": args.executor if args.scheduler is None else args.scheduler,
               "n_runs": result.n_runs, "complete": result.complete, "trained": result.trained,
               "computed": result.computed, "reused": result.reused, "redone": [list(r) for r in result.redone],
               "varied": axes, "columns": list(COLUMNS), "rows": rows,
               "fraction_monotone": {axis: [[value, fraction, n] for value, (fraction, n)
                                            in fraction_monotone(rows, axis).items()] for axis in axes},
               "monotone_overall": sum(bool(r["monotone"]) for r in rows) / max(len(rows), 1),
               "cells": cells(rows)}
    warnings = [f"{label} failed: {error}" for label, error in result.failures[:5]]
    if len(result.failures) > 5:
        warnings.append(f"... and {len(result.failures) - 5} more runs failed.")
    if not result.complete:
        warnings.append(f"partial study: {len(rows)} of {result.n_runs} runs (--limit {getattr(args, 'limit', None)}); "
                        "run the command again without --limit for the rest.")
    summary["failures"] = [list(f) for f in result.failures]
    summary["warnings"] = warnings
    return arrays, summary


def _groups(rows, key):
    values = sorted({row[key] for row in rows})
    return values, {v: [r for r in rows if r[key] == v] for v in values}


def plot(arrays, summary):
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    rows = summary["rows"]
    if not rows:
        raise ValueError("the table has no rows")
    fig, (bars, by_scale, by_distance, by_cell) = plt.subplots(1, 4, figsize=(21, 4.8), layout="constrained")
    # 1. fraction of monotone lines, per value of every setting that varies
    labels, fractions, counts, colors = [], [], [], []
    for k, axis in enumerate(summary["varied"] or ["activation"]):
        for value, (fraction, n) in fraction_monotone(rows, axis).items():
            labels.append(f"{axis.replace('_', ' ')} {value:g}" if isinstance(value, float) else f"{axis} {value}")
            fractions.append(fraction)
            counts.append(n)
            colors.append(f"C{k}")
    positions = np.arange(len(labels))
    bars.bar(positions, fractions, color=colors)
    for x, f, n in zip(positions, fractions, counts):
        bars.annotate(f"{f:.0%}\n(n={n})", (x, f), ha="center", va="bottom", fontsize=8)
    bars.set_xticks(positions, labels, fontsize=8, rotation=35, ha="right", rotation_mode="anchor")
    bars.set_ylim(0, 1.18)
    bars.set_ylabel("fraction of runs whose line is monotone")
    bars.set_title("monotone linear interpolation, per setting", fontsize=10)
    # 2 and 3: bump height against the init scale and against the distance travelled, one colour per activation
    activations, by_activation = _groups(rows, "activation")
    for i, activation in enumerate(activations):
        group = by_activation[activation]
        scale = np.array([r["init_scale"] for r in group]) * (1.0 + 0.04 * (i - (len(activations) - 1) / 2))
        bump = np.array([r["largest_bump"] for r in group])
        by_scale.scatter(scale, bump, color=f"C{i}", label=activation, s=28, alpha=0.8, edgecolors="k", linewidths=0.4,
                         clip_on=False)
        distance = np.array([r["distance"] for r in group])
        by_distance.scatter(distance, bump, color=f"C{i}", label=activation, s=28, alpha=0.8, edgecolors="k",
                            linewidths=0.4, clip_on=False)
    positive = [r["largest_bump"] for r in rows if r["largest_bump"] > 0]
    for ax in (by_scale, by_distance):  # symmetric log: the monotone runs (bump 0) stay on the picture
        ax.set_yscale("symlog", linthresh=min(positive) if positive else 1e-3)
        ax.set_ylim(bottom=0)
        ax.set_ylabel("largest bump of training J along the line (0: monotone)")
        ax.legend(fontsize=8, title="activation", title_fontsize=8)
        ax.grid(alpha=0.3)
    scales = sorted({r["init_scale"] for r in rows})
    by_scale.set_xscale("log")
    by_scale.set_xticks(scales, [f"{s:g}" for s in scales])
    by_scale.xaxis.set_minor_formatter(NullFormatter())
    by_scale.set_xlabel("init scale (x the paper's init range)")
    by_scale.set_title("bump height against the init scale", fontsize=10)
    distances = [r["distance"] for r in rows]
    if min(distances) > 0 and max(distances) > 10 * min(distances):  # a log axis only for a wide range
        by_distance.set_xscale("log")
        by_distance.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        by_distance.xaxis.set_major_formatter(FormatStrFormatter("%g"))
        by_distance.xaxis.set_minor_formatter(NullFormatter())
    by_distance.set_xlabel(r"distance travelled $\|\theta_T - \theta_0\|$")
    by_distance.set_title("bump height against the distance travelled", fontsize=10)
    _plot_cells(by_cell, summary.get("cells") or cells(rows))
    spec = summary["spec"]
    fig.suptitle(f"study of {len(rows)} runs on {', '.join(spec['dataset'])} ({spec['epochs']} epochs each, "
                 f"{spec['profile']} profile): {summary['monotone_overall']:.0%} of the lines are monotone",
                 fontsize=12)
    return fig


def _plot_cells(ax, cell_list):
    """4. the fraction of monotone lines per optimizer x batch normalization (one bar group per data set)."""
    datasets = sorted({c["dataset"] for c in cell_list})
    combos = sorted({(c["optimizer"], c["batchnorm"]) for c in cell_list},
                    key=lambda k: (OPTIMIZERS.index(k[0]), k[1]))
    width = 0.8 / max(len(datasets), 1)
    for j, dataset in enumerate(datasets):
        found = {(c["optimizer"], c["batchnorm"]): c for c in cell_list if c["dataset"] == dataset}
        for i, combo in enumerate(combos):
            if combo in found:
                c, x = found[combo], i + (j - (len(datasets) - 1) / 2) * width
                ax.bar(x, c["fraction_monotone"], width=width, color=f"C{j}", label=dataset if i == 0 else None)
                ax.annotate(f"{c['fraction_monotone']:.0%}\nn={c['n']}", (x, c["fraction_monotone"]), ha="center",
                            va="bottom", fontsize=7)
    ax.set_xticks(range(len(combos)), [f"{o}{' + BN' if bn else ''}" for o, bn in combos], fontsize=8)
    ax.set_ylim(0, 1.2)
    ax.set_ylabel("fraction of runs whose line is monotone")
    ax.set_title("per optimizer x batch normalization", fontsize=10)
    ax.legend(fontsize=8, title="data set", title_fontsize=8, loc="lower right")


def report(summary):
    rows, varied = summary["rows"], summary["varied"]
    shown = [c for c in SETTINGS if c in varied or c == "seed"]
    header = shown + ["monotone", "bump", "distance", "gauss", "train err", "valid err"]
    lines = ["  " + line for line in table(
        [[r[c] for c in shown] + ["yes" if r["monotone"] else "no", f"{r['largest_bump']:.3g}", f"{r['distance']:.3g}",
                                  f"{r['gauss_length']:.3g}", f"{r['train_error']:.2%}", f"{r['valid_error']:.2%}"]
         for r in rows], header)]
    for c in summary.get("cells", []):
        lines.append(f"{c['dataset']} {c['optimizer']}{' + BN' if c['batchnorm'] else ''}: "
                     f"{c['fraction_monotone']:.0%} of {c['n']} monotone; mean bump {c['largest_bump']['mean']:.3g}, "
                     f"distance {c['distance']['mean']:.3g}, Gauss length {c['gauss_length']['mean']:.3g}, "
                     f"valid error {c['valid_error']['mean']:.2%}")
    for axis, values in summary["fraction_monotone"].items():
        lines.append(f"monotone by {axis}: " + ", ".join(f"{v}: {f:.0%} of {n}" for v, f, n in values))
    lines.append(f"monotone overall: {summary['monotone_overall']:.0%} of {len(rows)} runs; this call trained "
                 f"{summary['trained']}, swept {summary['computed']} lines and reused {summary['reused']} "
                 f"(executor: {summary['executor']})")
    return lines


def csv_table(summary) -> dict:
    """``study.csv``: the table of ``study.json``, written with the other three files (all four, or none)."""
    return {"study.csv": to_csv(summary["rows"])}


def main(argv=None):
    return run_figure("study", DESCRIPTION, compute, plot, report, add_arguments, argv=argv, devices=("cpu",),
                      extras=csv_table)

