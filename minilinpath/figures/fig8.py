"""Figure 8: the linear path of a dropout LSTM language model on the Penn Treebank.

J (mean per-token negative log-likelihood; perplexity = exp J) on the whole
training stream and on the validation stream, evaluated with the LSTM state
carried from window to window, along theta(alpha) from the initial parameters
to the trained ones, for alpha = i/9, i = 0..19. The paper's model is
Zaremba et al.'s regularised LSTM (which size is not stated); ``paper`` uses
the medium one (650 units, dropout 0.5), ``quick`` the same kind with 128
units for 6 epochs.
"""
from __future__ import annotations

import numpy as np

from ..data.ptb import stream_pairs
from ..experiments import load_text_streams, trained_language_model
from ..path import alpha_grid, linear_path
from .common import run_figure
from .mnist import add_retrain_argument, curve_metrics, data_words, metrics_table, plot_curve, store_curve

DESCRIPTION = "Figure 8: linear path of a dropout LSTM language model on the Penn Treebank."
MODEL = "ptb_medium"


def add_arguments(parser):
    parser.add_argument("--dataset", default="ptb", choices=("ptb", "ptb-valid"),
                        help="ptb: Mikolov's three files (downloaded or --data-dir); ptb-valid: ptb.valid.txt alone, "
                             "90%% of it to train and 10%% to evaluate (a small real corpus)")
    parser.add_argument("--data-dir", default=None, help="folder holding ptb.*.txt; never downloads")
    parser.add_argument("--runs-dir", default=None, help="where trained models are cached")
    add_retrain_argument(parser)


def compute(args):
    from .. import backend

    xp = backend.xp_for()
    train_data, valid_data, vocabulary = load_text_streams(args.dataset, args.data_dir, args.profile, xp=xp)
    run = trained_language_model(MODEL, args.seed, args.profile, args.dataset, train_data, valid_data,
                                 len(vocabulary), args.runs_dir, retrain=args.retrain)
    result = linear_path(run.model, run.theta_init, run.theta_final, stream_pairs(train_data), alpha_grid("paper"),
                         stream_pairs(valid_data))
    arrays = {}
    store_curve(arrays, "lstm", result, run.theta_init, run.theta_final)
    metrics = {"lstm": curve_metrics(result)}
    at1 = int(np.argmin(np.abs(result.alphas - 1.0)))
    summary = {"dataset": args.dataset, "profile": args.profile, "model": repr(run.model),
               "train_tokens": int(train_data.size), "valid_tokens": int(valid_data.size),
               "perplexity_train_at_1": float(np.exp(result.J_train[at1])),
               "perplexity_valid_at_1": float(np.exp(result.J_valid[at1])), "metrics": metrics,
               "training": [{k: h[k] for k in ("epoch", "train_perplexity", "valid_perplexity")} for h in run.history],
               "warnings": uniform_warning(min(h["valid_perplexity"] for h in run.history), len(vocabulary))}
    return arrays, summary


def uniform_warning(best_perplexity: float, vocab_size: int) -> list:
    """A plain statement when the model never got clearly better than guessing every word uniformly
    (perplexity = vocabulary size): its best validation perplexity stayed above 90% of that."""
    if best_perplexity >= 0.9 * vocab_size:
        return [f"the language model never left chance level (best validation perplexity {best_perplexity:.0f}; "
                f"guessing uniformly gives {vocab_size}): the curve describes an untrained network."]
    return []


def plot(arrays, summary):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), layout="constrained")
    plot_curve(ax, arrays, "lstm", color="C0")
    ax.set_ylabel(r"$J(\theta)$ (mean per-token NLL; perplexity = $e^J$)")
    right = ax.secondary_yaxis("right", functions=(np.exp, lambda p: np.log(np.maximum(p, 1e-300))))
    right.set_ylabel("perplexity")
    low, high = np.exp(ax.get_ylim())
    nice = [v * 10 ** k for k in range(0, 6) for v in (1, 2, 5)]
    right.set_yticks([v for v in nice if low <= v <= high])
    ax.legend(fontsize=8)
    ax.set_title(f"Figure 8 — J (mean per-token NLL) along the line from init to solution\n"
                 f"dropout LSTM language model, {data_words(summary)} ({summary['train_tokens']:,} training tokens), "
                 f"{summary['profile']} profile", fontsize=10.5)
    return fig


def report(summary):
    return metrics_table(summary["metrics"]) + [
        f"perplexity at alpha = 1: train {summary['perplexity_train_at_1']:.1f}, "
        f"validation {summary['perplexity_valid_at_1']:.1f}"]


def main(argv=None):
    return run_figure("fig8", DESCRIPTION, compute, plot, report, add_arguments, argv=argv)
