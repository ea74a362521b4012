"""Does the statistics choice decide whether a batch-normalized network's line is monotone?

The study (``minilinpath study --batchnorm no yes``) evaluates theta(alpha) = (1 - alpha) theta_0 + alpha theta_T
of a BN network with statistics recomputed at every alpha on the training set (the default of
:func:`minilinpath.path.linear_path`). The other choice carries the state beside theta along the line as theta
is carried: mean(alpha) = (1 - alpha) mean_0 + alpha mean_T and likewise the variance. This script takes every
BN run of a finished study (its ``study.json``, the runs from its run cache, nothing trained) and sweeps the
same line with three statistics:

- ``recompute``: as the study;
- ``interpolate (train stats)``: between the training-set statistics of theta_0 and those of theta_T;
- ``interpolate (running)``: between the statistics a fresh network starts with (means 0, variances 1) and the
  running averages training kept (state.npz): the BN network as an evaluation-mode checkpoint holds it.

Usage::

    python docs/experiments/bn_statistics_choice.py STUDY_OUT_DIR --runs-dir RUNS --data-dir DIR

It prints one line per run and the fraction monotone per choice and optimizer (tolerance: the study's).

With ``--function-space`` it measures instead, for every run of the study (BN or not), how far the network's
outputs travel along the line against how far apart they end: on the study's first 1,000 validation inputs,
the Gauss length G (the study's column: softmax outputs) and the chord C = mean_n ||f(x_n; theta_T) -
f(x_n; theta_0)||, for the softmax outputs and for the logits; G / C = 1 when every output moves along a
straight segment, more when it wanders (BN runs: statistics recomputed on the training set, as the study).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from minilinpath.experiments import dataset_key, load_splits
from minilinpath.models import MLP
from minilinpath.params import load_checkpoint
from minilinpath.path import gauss_length, linear_path, output_path, summarize
from minilinpath.study.tasks import GAUSS_INPUTS, MONOTONE_TOL
from minilinpath.train import load_statistics


def load_run(row, runs_dir: Path, data_dir, profile: str):
    """``(model, theta_0, theta_T, train, valid)`` of a study's row, from its run folder (nothing trained)."""
    run_dir = runs_dir / dataset_key(row["dataset"]) / row["run"]
    model = MLP(**json.loads((run_dir / "run.json").read_text())["description"]["model"])
    train_set, valid_set = load_splits(row["dataset"], data_dir, profile)
    theta0 = load_checkpoint(run_dir / "init.npz", model.layout)[0]
    theta1 = load_checkpoint(run_dir / "state.npz", model.layout)[0]
    return run_dir, model, theta0, theta1, train_set, valid_set


def function_space(row, runs_dir: Path, data_dir, profile: str) -> dict:
    """Gauss length and chord of the softmax outputs and of the logits (module docstring)."""
    _, model, theta0, theta1, train_set, valid_set = load_run(row, runs_dir, data_dir, profile)
    alphas = np.linspace(0, 1, 41)
    out = {}
    for output in ("softmax", "logits"):
        f = output_path(model, theta0, theta1, valid_set[0][:GAUSS_INPUTS], alphas, output=output,
                        statistics_data=train_set[0] if row["batchnorm"] else None)
        out[output] = (gauss_length(alphas, f), float(np.linalg.norm(f[-1] - f[0], axis=1).mean()))
    return out


def sweep(row, runs_dir: Path, data_dir, profile: str) -> dict:
    run_dir, model, theta0, theta1, train_set, _ = load_run(row, runs_dir, data_dir, profile)
    alphas = np.linspace(0, 1, 41)
    running = load_statistics(run_dir, "last")
    choices = {"recompute": {},
               "interpolate (train stats)": {"statistics": "interpolate"},
               "interpolate (running)": {"statistics": "interpolate", "end_statistics": (
                   model.fresh_statistics(np, theta0.dtype), {k: v.astype(theta0.dtype) for k, v in running.items()})}}
    out = {}
    for name, options in choices.items():
        J = linear_path(model, theta0, theta1, train_set, alphas, progress=False, **options).J_train
        out[name] = summarize(alphas, J, MONOTONE_TOL)
        out[name]["J"] = J
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study_out", help="the --out folder of a finished study (its study.json)")
    parser.add_argument("--runs-dir", required=True)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--function-space", action="store_true", help="Gauss length against the chord, every run")
    args = parser.parse_args(argv)
    saved = json.loads((Path(args.study_out) / "study.json").read_text())["summary"]
    if args.function_space:
        cells = {}
        for row in saved["rows"]:
            fs = function_space(row, Path(args.runs_dir), args.data_dir, saved["spec"]["profile"])
            cells.setdefault((row["dataset"], row["optimizer"], row["batchnorm"]), []).append(fs)
            print(f"{row['dataset']} {row['optimizer']}{' + BN' if row['batchnorm'] else ''} seed {row['seed']}: "
                  + "; ".join(f"{k} G {g:.4g} chord {c:.4g} G/C {g / c:.4f}" for k, (g, c) in fs.items()), flush=True)
        for key, runs in sorted(cells.items()):
            means = {k: np.mean([r[k][0] / r[k][1] for r in runs]) for k in ("softmax", "logits")}
            logit_g = np.mean([r["logits"][0] for r in runs])
            print(f"{key[0]} {key[1]}{' + BN' if key[2] else ''}: mean G/C softmax {means['softmax']:.4f}, "
                  f"logits {means['logits']:.4f}; mean logit Gauss length {logit_g:.4g}")
        return
    rows = [r for r in saved["rows"] if r["batchnorm"]]
    tally = {}
    for row in rows:
        result = sweep(row, Path(args.runs_dir), args.data_dir, saved["spec"]["profile"])
        parts = []
        for name, m in result.items():
            tally.setdefault((row["optimizer"], name), []).append(m["monotone"])
            parts.append(f"{name}: {'monotone' if m['monotone'] else 'bump %.3g at %.2f' % (m['largest_bump'], m['bump_alpha'])}")
        print(f"{row['dataset']} {row['optimizer']} seed {row['seed']}: " + "; ".join(parts), flush=True)
    for (optimizer, name), flags in sorted(tally.items()):
        print(f"{optimizer:8s} {name:28s} {sum(flags)}/{len(flags)} monotone")


if __name__ == "__main__":
    main()
