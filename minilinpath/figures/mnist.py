"""What the MNIST figures (1-5, 13) share: data and model options, cached training, curves and metric tables."""
from __future__ import annotations

import numpy as np

from .. import backend
from ..experiments import load_splits, trained
from ..path import alpha_grid, barrier_height, linear_path, summarize
from .common import MAX_CHUNK, int_between, table


# what each model preset is, in words (titles and reports name models this way, never by preset name alone)
MODEL_WORDS = {"mnist_pi": "maxout + dropout MLP", "mnist_valid": "ReLU + dropout MLP",
               "relu": "ReLU MLP without dropout", "sigmoid": "sigmoid + dropout MLP",
               "cifar10_maxout": "convolutional maxout network (+ dropout)", "mpdbm": "MP-DBM",
               "ptb_medium": "dropout LSTM language model"}
DATASET_WORDS = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10",
                 "mnist-test": "the MNIST test set", "ptb": "Penn Treebank", "ptb-valid": "the Penn Treebank validation text"}


# mnist_pi_continued.yaml trains its second stage on the training *and* validation examples (the paper's recipe)
STAGE2_WARNING = ("the maxout network's second training stage (the paper's recipe) trains on the validation "
                  "examples too, so its validation J and error here are not held out; for a held-out number use "
                  "minilinpath headline (the test split).")


def model_words(name: str) -> str:
    """A model preset in words, e.g. 'ReLU + dropout MLP' for ``mnist_valid`` (unknown names as they are)."""
    return MODEL_WORDS.get(name, name)


def data_words(summary: dict) -> str:
    """The data set of a figure's summary in words, with its sizes when known: 'Fashion-MNIST, 10,000 / 2,000'."""
    dataset = summary["dataset"]
    words = f"npz file {dataset[4:].rsplit('/', 1)[-1]}" if dataset.startswith("npz:") else \
        DATASET_WORDS.get(dataset, dataset)
    if "n_train" in summary and "n_valid" in summary:
        words += f" ({summary['n_train']:,} training / {summary['n_valid']:,} validation examples)"
    return words


def figure_title(figure: str, quantity: str, model: str, summary: dict) -> str:
    """A figure's title: what is plotted, of which model, on which data, with which training profile."""
    return f"{figure} — {quantity}\n{model}, {data_words(summary)}, {summary['profile']} profile"


def add_data_arguments(parser, sweeps: bool = True):
    """--dataset, --data-dir, --runs-dir, --retrain, and --chunk-size for a command that sweeps (``sweeps``)."""
    parser.add_argument("--dataset", default="mnist",
                        help="mnist, fashion-mnist, cifar10, mnist-test (the official MNIST test set alone, "
                             "8,000/2,000: a small real set) or npz:PATH (your own X_train, y_train, X_valid, y_valid)")
    parser.add_argument("--data-dir", default=None, help="read the data files from this folder, never downloading")
    parser.add_argument("--runs-dir", default=None,
                        help="where trained models are cached (default $MINILINPATH_RUNS or ~/.cache/minilinpath/runs)")
    if sweeps:
        parser.add_argument("--chunk-size", type=int_between(1, MAX_CHUNK), default=None,
                            help="examples per forward pass of the sweeps (default: the model's own evaluation chunk)")
    add_retrain_argument(parser)


def add_retrain_argument(parser):
    parser.add_argument("--retrain", action="store_true",
                        help="train the models again even if the run cache holds them (the old run folders are "
                             "moved aside, not deleted); use it when a run folder is reported damaged")


def chance_warning(name: str, best_error: float, n_classes: int) -> str | None:
    """A plain statement when a classifier never got clearly better than guessing, else None.

    "Never left chance level": its best validation error stayed within 5 points
    of the error of guessing uniformly, 1 - 1/n_classes.
    """
    chance = 1.0 - 1.0 / n_classes
    if best_error >= chance - 0.05:
        return (f"{name} never left chance level (best validation error {best_error:.1%}; guessing gives "
                f"{chance:.1%}): the curves describe an untrained network and say nothing about the paper's claims. "
                "Check the data (labels matching images?) or train longer.")
    return None


class Experiment:
    """Data on the selected device plus access to the cached trained models of one figure run."""

    def __init__(self, args):
        self.args = args
        self.xp = backend.xp_for()
        self.train, self.valid = load_splits(args.dataset, args.data_dir, args.profile, self.xp)
        self.warnings = []  # plain statements about degenerate results, printed before the report

    def model(self, name, seed=None, adversarial=False, **overrides):
        run = trained(name, self.args.seed if seed is None else seed, self.args.profile, self.args.dataset,
                      self.train, self.valid, adversarial=adversarial, runs_dir=self.args.runs_dir,
                      retrain=self.args.retrain, **overrides)
        errors = [h["valid_error"] for h in run.history if h.get("valid_error") is not None]
        label = (f"{model_words(name)}{' with adversarial training' if adversarial else ''} ({name}), "
                 f"seed {self.args.seed if seed is None else seed}")
        warning = chance_warning(label, min(errors), run.model.n_classes) if errors else None
        if warning and warning not in self.warnings:
            self.warnings.append(warning)
        if len(run.run_dirs) > 1 and STAGE2_WARNING not in self.warnings:
            self.warnings.append(STAGE2_WARNING)
        return run

    def path(self, model, theta0, theta1, alphas, valid=True):
        distance = backend.to_float(backend.get_xp(theta0).linalg.norm(theta1 - theta0))
        if distance == 0.0:
            self.warnings.append("a line of length zero: both ends are the same parameters, so J is constant "
                                 "along it (did training change nothing?).")
        return linear_path(model, theta0, theta1, self.train, alphas, self.valid if valid else None,
                           chunk_size=self.args.chunk_size)

    def init_to_solution(self, name, arrays, metrics, key=None, adversarial=False, grid="paper"):
        """Train (or reuse) ``name``, sweep the line from its init to its solution, and file the curve
        and its metrics under ``key`` (default: the model name). Returns the trained run."""
        key = key or name
        run = self.model(name, adversarial=adversarial)
        result = self.path(run.model, run.theta_init, run.theta_final, alpha_grid(grid))
        store_curve(arrays, key, result, run.theta_init, run.theta_final)
        metrics[key] = curve_metrics(result)
        return run

    def settings(self):
        return {"dataset": self.args.dataset, "profile": self.args.profile,
                "n_train": int(self.train[0].shape[0]), "n_valid": int(self.valid[0].shape[0]),
                "warnings": list(self.warnings)}


def store_curve(arrays: dict, key: str, result, theta0, theta1) -> None:
    """Put one curve and its endpoints into a figure's arrays under ``key/``."""
    arrays.update(result.arrays(prefix=f"{key}/"))
    arrays[f"{key}/theta0"] = backend.to_numpy(theta0)
    arrays[f"{key}/theta1"] = backend.to_numpy(theta1)


def curve_metrics(result, tol: float = 1e-4, barrier: bool = False) -> dict:
    """The metrics of a curve's training J (see minilinpath.path.metrics for the definitions).

    ``barrier``: also the barrier heights, meaningful between two solutions
    (from an initial point, J lies above the chord wherever the start is flat).
    """
    m = summarize(result.alphas, result.J_train, tol)
    has_ends = np.any(np.isclose(result.alphas, 0.0, rtol=0, atol=1e-9)) and \
        np.any(np.isclose(result.alphas, 1.0, rtol=0, atol=1e-9))
    m.update({"alpha_first": float(result.alphas[0]), "J_first": float(result.J_train[0]),
              "alpha_last": float(result.alphas[-1]), "J_last": float(result.J_train[-1]),
              "min_J": float(result.J_train.min()), "argmin_alpha": float(result.alphas[np.argmin(result.J_train)])})
    if barrier and has_ends:
        m["barrier_mean"], m["barrier_mean_alpha"] = barrier_height(result.alphas, result.J_train, "mean")
        m["barrier_chord"], _ = barrier_height(result.alphas, result.J_train, "chord")
    at1 = np.isclose(result.alphas, 1.0, rtol=0, atol=1e-9)
    if result.error_valid is not None and at1.any():
        m["valid_error_at_1"] = float(result.error_valid[at1][0])
    return m


def metrics_table(named_metrics: dict) -> list:
    """Rows of the metric table every path figure prints."""
    rows = []
    for name, m in named_metrics.items():
        minima = ", ".join(f"{a:.3g}" for a in m["local_minima"]) or "none"
        rows.append((name, "yes" if m["monotone"] else "no", f"{m['largest_bump']:.3g}", minima,
                     f"{m['J_first']:.4g} at {m['alpha_first']:.3g}", f"{m['min_J']:.4g} at {m['argmin_alpha']:.3g}",
                     f"{m['barrier_chord']:.3g}" if "barrier_chord" in m else "-",
                     f"{m['valid_error_at_1']:.2%}" if "valid_error_at_1" in m else "-"))
    header = ("curve", "monotone on [0,1]", "largest bump", "sampled local minima at alpha", "J at start", "lowest J",
              "barrier above chord", "valid error at 1")
    return ["metrics of the training objective along each line (definitions: minilinpath.path.metrics):"] + \
        ["  " + line for line in table(rows, header)]


def plot_curve(ax, arrays, key, label="", color=None, valid=True, log=False):
    alphas = arrays[f"{key}/alphas"]
    ax.plot(alphas, arrays[f"{key}/J_train"], "-", color=color, lw=1.8, label=f"{label} train".strip())
    if valid and f"{key}/J_valid" in arrays:
        ax.plot(alphas, arrays[f"{key}/J_valid"], "--", color=color, lw=1.4, label=f"{label} validation".strip())
    for a in (0.0, 1.0):
        if alphas[0] <= a <= alphas[-1]:
            ax.axvline(a, color="0.6", lw=0.8, ls=":")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(r"$\alpha$")
    ax.set_ylabel(r"$J(\theta)$ (mean negative log-likelihood)")
    ax.set_xlim(alphas[0], alphas[-1])
