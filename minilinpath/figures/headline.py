"""The paper's headline numbers: test-set error (or perplexity) of each trained model, beside the paper's.

The paper (Section 3, Appendix A) and the configurations it used (docs/CONFIGS.md)
report, on the official test sets:

    model                                   paper          source
    maxout MLP + dropout (mnist_pi)         0.94 %         pylearn2 maxout README: 94 mistakes
    + adversarial training                  0.782 %        the paper, Section 3: 78.2 mistakes on average
    ReLU MLP + dropout (mnist_valid)        1.08 %         pylearn2 dropout README
    sigmoid MLP + dropout (sigmoid)         1.66 %         the paper, Appendix A
    conv maxout, CIFAR-10 (cifar10_maxout)  11.68 %        the maxout paper (ICML 2013), no augmentation
    medium dropout LSTM, PTB (ptb_medium)   82.7 perplexity  Zaremba et al. 2014, Table 1

``minilinpath headline --model mnist_pi --profile paper --dataset mnist`` trains
(or reuses from the run cache) exactly the model a figure uses and evaluates the
solution the figure's line ends at on the test split. A data set without a test
split (``mnist-test``, ``npz:``, ``ptb-valid``) is evaluated on its validation
split, and the report says so: those numbers are not comparable with the paper's.
"""
from __future__ import annotations

import math

from .. import backend
from .common import UsageError, run_figure
from .mnist import add_data_arguments

# (model, adversarial) -> (the paper's number, what it is, where it comes from)
PAPER = {
    ("mnist_pi", False): (0.0094, "test error", "pylearn2 maxout README (94 mistakes), docs/CONFIGS.md section 1"),
    ("mnist_pi", True): (0.00782, "test error", "the paper, Section 3 (78.2 mistakes on average)"),
    ("mnist_valid", False): (0.0108, "test error", "pylearn2 dropout README, docs/CONFIGS.md section 2"),
    ("sigmoid", False): (0.0166, "test error", "the paper, Appendix A"),
    ("cifar10_maxout", False): (0.1168, "test error", "maxout paper (ICML 2013), docs/CONFIGS.md section 3"),
    ("ptb_medium", False): (82.7, "test perplexity", "Zaremba et al. 2014, Table 1 (docs/CONFIGS.md section 6a)"),
}
# the data set each of those numbers was measured on
PAPER_DATASETS = {"mnist_pi": "mnist", "mnist_valid": "mnist", "sigmoid": "mnist", "cifar10_maxout": "cifar10",
                  "ptb_medium": "ptb"}
MODELS = sorted({name for name, _ in PAPER} | {"relu", "mpdbm"})
DESCRIPTION = "The paper's headline test-set numbers, for the models the figures train."


def add_arguments(parser):
    add_data_arguments(parser, sweeps=False)  # one evaluation, no sweep: no --chunk-size
    parser.add_argument("--model", default="mnist_pi", choices=MODELS, help="which trained model to evaluate")
    parser.add_argument("--adversarial", action="store_true", help="the maxout network with adversarial training")


def compute(args):
    if args.adversarial and args.model != "mnist_pi":
        raise UsageError("--adversarial goes with --model mnist_pi only (the paper trains no other model that way).")
    if args.model == "ptb_medium":
        measured, kind, split, n, best_epoch = language_model_number(args)
    else:
        measured, kind, split, n, best_epoch = classifier_number(args)
    paper = PAPER.get((args.model, args.adversarial))
    paper_dataset = PAPER_DATASETS.get(args.model)
    comparable = (split == "test" and args.profile == "paper" and paper is not None
                  and args.dataset == paper_dataset)
    return {}, {"model": args.model, "adversarial": args.adversarial, "dataset": args.dataset,
                "profile": args.profile, "quantity": kind, "split": split, "examples": n, "measured": measured,
                "best_epoch": best_epoch, "paper": paper[0] if paper else None,
                "paper_source": paper[2] if paper else None, "paper_dataset": paper_dataset,
                "comparable": comparable}


def classifier_number(args):
    from ..experiments import image_shape, load_splits, trained
    from ..data import load_dataset

    xp = backend.xp_for()
    train_set, valid_set = load_splits(args.dataset, args.data_dir, args.profile, xp)
    overrides = {}
    if args.model == "cifar10_maxout":
        overrides["input_shape"] = image_shape(args.dataset, int(train_set[0].shape[1]))
    run = trained(args.model, args.seed, args.profile, args.dataset, train_set, valid_set,
                  adversarial=args.adversarial, runs_dir=args.runs_dir, retrain=args.retrain, **overrides)
    splits = load_dataset(args.dataset, data_dir=args.data_dir)
    split, (X, y) = ("test", splits["test"]) if "test" in splits else ("valid", (valid_set[0], valid_set[1]))
    X, y = backend.to_device(X, backend.current()), backend.to_device(y, backend.current())
    error = run.model.error_rate(run.theta_final, (X, y))
    best = min(range(len(run.history)), key=lambda i: run.history[i].get("valid_error") or math.inf)
    return float(error), "test error" if split == "test" else "validation error", split, int(y.shape[0]), best


def language_model_number(args):
    from ..data import ptb
    from ..experiments import load_text_streams, trained_language_model

    if args.dataset not in ("ptb", "ptb-valid"):
        raise UsageError(f"--model ptb_medium needs --dataset ptb or ptb-valid, not {args.dataset!r}.")
    xp = backend.xp_for()
    train_data, valid_data, vocabulary = load_text_streams(args.dataset, args.data_dir, args.profile, xp=xp)
    run = trained_language_model("ptb_medium", args.seed, args.profile, args.dataset, train_data, valid_data,
                                 len(vocabulary), args.runs_dir, retrain=args.retrain)
    if args.dataset == "ptb":  # Zaremba et al.: one stream, state carried over the whole test text
        split, stream = "test", ptb.load_ptb(args.data_dir)["test"]
        stream = backend.to_device(ptb.batchify(stream, 1), backend.current())
    else:
        split, stream = "valid", valid_data
    perplexity = run.model.perplexity(run.theta_final, ptb.stream_pairs(stream))
    kind = "test perplexity" if split == "test" else "validation perplexity"
    return float(perplexity), kind, split, int(stream.size), len(run.history) - 1


def plot(arrays, summary):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
    scale = 1.0 if "perplexity" in summary["quantity"] else 100.0
    labels, values = ["ours"], [summary["measured"] * scale]
    if summary["paper"] is not None:
        labels.append("paper")
        values.append(summary["paper"] * scale)
    ax.bar(labels, values, color=["C0", "C7"][:len(values)])
    for i, v in enumerate(values):
        ax.text(i, v, f"{v:.3g}", ha="center", va="bottom")
    ax.set_ylabel(summary["quantity"] + ("" if scale == 1.0 else " (%)"))
    name = summary["model"] + (" + adversarial" if summary["adversarial"] else "")
    ax.set_title(f"{name}, {summary['dataset']} ({summary['profile']} profile, {summary['split']} split)", fontsize=9)
    return fig


def report(summary):
    perplexity = "perplexity" in summary["quantity"]
    show = (lambda v: f"{v:.1f}") if perplexity else (lambda v: f"{v:.2%}")
    name = summary["model"] + (" (adversarial)" if summary["adversarial"] else "")
    lines = [f"{name} on {summary['dataset']}, {summary['profile']} profile: {summary['quantity']} "
             f"{show(summary['measured'])} on {summary['examples']:,} {'tokens' if perplexity else 'examples'}"]
    if summary["paper"] is not None:
        lines.append(f"the paper: {show(summary['paper'])} ({summary['paper_source']})")
        if not summary["comparable"]:
            if summary["dataset"] != summary["paper_dataset"]:
                why = f"the paper's number is on {summary['paper_dataset']}, not {summary['dataset']}"
            elif summary["split"] != "test":
                why = "this data set has no test split, so the validation split was used"
            else:
                why = "only the paper profile trains the paper's network with its recipe"
            lines.append("not comparable with the paper: " + why)
    return lines


def main(argv=None):
    return run_figure("headline", DESCRIPTION, compute, plot, report, add_arguments, argv=argv)


if __name__ == "__main__":
    raise SystemExit(main())
