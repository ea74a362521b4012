"""What every lesson of the course shares: settings, data with an offline fallback, figures, and the checks.

A lesson's first code cell holds its settings, plain Python the student edits::

    DATA_DIR = None        # a folder with the data files, or None for the synthetic stand-in
    USE_SOLUTIONS = False  # True: every exercise uses its reference answer from lessons/solutions/
    SMALL = False          # True: the smallest settings that still show the effect (what the tests run)

and ``course = Course("lessonNN_name", data_dir=DATA_DIR, solutions=USE_SOLUTIONS, small=SMALL)`` reads them
together with the script's command line and the environment:

- the data folder: the first command-line argument, else ``DATA_DIR``, else ``MINILINPATH_DATA_DIR``; with none
  of them the lesson uses a synthetic data set and says so. Nothing else is read: no cache, no download, nothing
  outside the checkout but the folder named here;
- the solutions: on if ``USE_SOLUTIONS`` is True, or ``--solutions`` is given, or ``MINILINPATH_SOLUTIONS=1``;
  every ``@course.exercise`` stub is then replaced by the function of the same name in
  ``lessons/solutions/lessonNN_name.py`` (the reference answers);
- small settings: on if ``SMALL`` is True, or ``--small``, or ``MINILINPATH_LESSON_SMALL=1`` (used by CI).

Each exercise is a stub that raises ``NotImplementedError``. The cell after it calls ``course.check(fn)``, which
looks the exercise up by name in :data:`CHECKS` (see ``lessons/checks.py``), compares the student's answer with
central differences in float64 and with minilinpath's own implementation, prints a verdict with the relative
errors and a hint for the usual mistakes, and stops the lesson there if the exercise is not done or not right
yet: in a notebook with :class:`ExerciseNotDone`, which IPython shows as its one message (no traceback), so Run
All stops at the exercise; as a script with ``SystemExit`` (the message on stderr, exit status 1).
"""
from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TRUE = ("1", "true", "yes", "on")


class ExerciseNotDone(Exception):
    """Raised in a notebook by :meth:`Course.check` when an exercise is not done or not right yet.

    IPython shows an exception that has a ``_render_traceback_`` method by the lines that method returns, in
    place of a traceback (IPython's "custom exception tracebacks", documented in its guide to integrating with
    IPython): the student sees one message, not a crash, and Run All stops at this cell. A ``SystemExit`` would
    not do: IPython adds "An exception has occurred, use %tb to see the full traceback" and a warning about how
    to exit.
    """

    def _render_traceback_(self) -> list[str]:
        return [str(self)]


def in_notebook() -> bool:
    """True inside a running Jupyter kernel (figures are shown inline there; the command line is the kernel's,
    not ours). Importing ipykernel is not enough: the kernel's shell must be running this code."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None


# ------------------------------------------------------------------------------------------------ verdicts
@dataclass
class Verdict:
    """The outcome of one exercise check: ``status`` is "pass", "fail" or "not implemented"."""
    exercise: str
    status: str
    errors: dict = field(default_factory=dict)   # label -> relative error
    problems: list = field(default_factory=list)  # one line each: what is wrong and a hint

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def report(self) -> str:
        head = {"pass": "PASS", "fail": "FAIL", "not implemented": "not implemented yet"}[self.status]
        lines = [f"[{self.exercise}] {head}"]
        if self.errors:
            lines.append("    relative errors: " + ", ".join(f"{k} {v:.1e}" for k, v in self.errors.items()))
        lines += [f"    - {p}" for p in self.problems]
        return "\n".join(lines)


def rel(a, b) -> float:
    """max |a - b| / max(|a| + |b|), the usual comparison (minilinpath.gradcheck.rel_error), float64."""
    from minilinpath.gradcheck import rel_error
    return rel_error(np.asarray(a, np.float64), np.asarray(b, np.float64))


def diagnose(label: str, mine, want, n: int | None = None) -> str | None:
    """Why ``mine`` differs from ``want``, for the mistakes people make most; None if no pattern fits."""
    mine, want = np.asarray(mine, np.float64), np.asarray(want, np.float64)
    if not np.isfinite(mine).all():
        return f"{label} has NaN or inf entries: an overflow (subtract the row maximum before exp?)."
    if not mine.any() and want.any():
        return f"{label} is all zeros."
    if mine.ndim == 2 and mine.shape == want.shape[::-1] == want.shape and rel(mine, want.T) < 1e-7:
        return f"{label} is the transpose of the right answer: check which side each factor multiplies on."
    scale = float((mine * want).sum() / max((want * want).sum(), 1e-300))
    if scale and rel(mine, scale * want) < 1e-7:
        if n and np.isclose(scale, n):
            return f"{label} is {n} times too large (N = {n}): divide by the batch size once."
        if n and np.isclose(scale, 1 / n):
            return f"{label} is {n} times too small (N = {n}): you divided by the batch size twice."
        if np.isclose(scale, -1):
            return f"{label} has the wrong sign."
        return f"{label} is the right answer times {scale:.4g}: a missing or extra constant factor."
    return None


class Checker:
    """Collects comparisons for one exercise and turns them into a :class:`Verdict`."""

    def __init__(self, exercise: str):
        self.exercise, self.errors, self.problems = exercise, {}, []

    def shape(self, label, mine, shape) -> bool:
        got = getattr(mine, "shape", None)
        if got is None:
            self.problems.append(f"{label} is {type(mine).__name__}, not an array of shape {tuple(shape)}.")
            return False
        if tuple(got) != tuple(shape):
            extra = " (the transpose)" if tuple(got) == tuple(shape)[::-1] else ""
            self.problems.append(f"{label} has shape {tuple(got)}{extra}, want {tuple(shape)}: "
                                 "a gradient has the shape of what it is the gradient of.")
            return False
        return True

    def close(self, label, mine, want, tol, n=None, hint=None) -> bool:
        """Record rel(mine, want) under ``label``; a problem (with a diagnosis and ``hint``) if above ``tol``."""
        if not self.shape(label, mine, np.shape(want)):
            return False
        err = rel(mine, want)
        self.errors[label] = err
        if err <= tol:
            return True
        why = diagnose(label, mine, want, n) or f"{label} differs (relative error {err:.1e}, want < {tol:.0e})."
        self.problems.append(why + (f" Hint: {hint}" if hint else ""))
        return False

    def note(self, problem: str) -> None:
        self.problems.append(problem)

    def verdict(self) -> Verdict:
        return Verdict(self.exercise, "fail" if self.problems else "pass", self.errors, self.problems)


def run_check(name: str, check, fn) -> Verdict:
    """Run ``check(fn)``; a stub's NotImplementedError becomes a "not implemented" verdict, any other error a fail."""
    try:
        return check(fn)
    except NotImplementedError:
        return Verdict(name, "not implemented",
                       problems=[f"write {name} in the cell above (its docstring says what to return), "
                                 "then run this cell again"])
    except Exception as exc:  # the student's code raised: report it, do not crash the notebook
        return Verdict(name, "fail", problems=[f"your {name} raised {type(exc).__name__}: {exc}"])


# ------------------------------------------------------------------------------------------------ figures
def figure_problems(fig) -> list[str]:
    """What a reader would miss in ``fig`` (after it was drawn): every plot (colour bars aside) needs a title and
    both axis labels, and every legend and annotation must lie inside the figure, uncut."""
    problems, renderer = [], fig.canvas.get_renderer()
    frame = fig.bbox
    for i, ax in enumerate(fig.axes):
        if getattr(ax, "_colorbar", None) is not None:
            continue
        name = f"plot {i + 1} ({ax.get_title() or 'untitled'})"
        if not ax.get_title() and not ax.get_title(loc="left"):
            problems.append(f"{name} has no title")
        for axis, label in (("x", ax.get_xlabel()), ("y", ax.get_ylabel())):
            if not label:
                problems.append(f"{name} has no {axis} label")
        boxes = [ax.get_legend()] if ax.get_legend() is not None else []
        boxes += [t for t in ax.texts if t.get_visible()]
        for box in boxes:
            extent = box.get_window_extent(renderer)
            inside = ax.bbox if box in ax.texts else frame
            if (extent.x0 < inside.x0 - 1 or extent.x1 > inside.x1 + 1 or extent.y0 < inside.y0 - 1
                    or extent.y1 > inside.y1 + 1):
                what = "its legend" if box is ax.get_legend() else f"the label {box.get_text()!r}"
                problems.append(f"{name}: {what} is cut off")
    return problems


def minima(metrics: dict) -> str:
    """The local minima of ``minilinpath.path.summarize``'s metrics as people write them: "0.90, 1.20" or "none"."""
    return ", ".join(f"{round(float(a), 2) + 0.0:.2f}" for a in metrics["local_minima"]) or "none"  # no "-0.00"


# ------------------------------------------------------------------------------------------------ the course
def _env_on(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in TRUE


class Course:
    """One lesson's settings (see the module docstring), its output folders and its exercise bookkeeping."""

    def __init__(self, lesson: str, argv=None, *, data_dir=None, solutions: bool = False, small: bool = False):
        self.lesson, self.number = lesson, lesson[len("lesson"):len("lesson") + 2]
        args = [] if argv is None and in_notebook() else list(sys.argv[1:] if argv is None else argv)
        flags = {a for a in args if a.startswith("-")}
        unknown = flags - {"--solutions", "--small"}
        positional = [a for a in args if not a.startswith("-")]
        if unknown or len(positional) > 1:
            raise SystemExit(f"usage: python lessons/{lesson}.py [DATA_DIR] [--solutions] [--small]"
                             f" (did not understand {' '.join(sorted(unknown) + positional[1:])})")
        self.solutions = bool(solutions) or "--solutions" in flags or _env_on("MINILINPATH_SOLUTIONS")
        self.small = bool(small) or "--small" in flags or _env_on("MINILINPATH_LESSON_SMALL")
        folder = positional[0] if positional else data_dir or os.environ.get("MINILINPATH_DATA_DIR") or None
        self.data_dir = Path(folder).expanduser() if folder else None
        if self.data_dir is not None and not self.data_dir.is_dir():
            raise SystemExit(f"error: the data folder {self.data_dir} does not exist (set DATA_DIR in the lesson's "
                             "first code cell, or give it as the first argument or in MINILINPATH_DATA_DIR).")
        self.out = Path(f"lesson{self.number}-out")
        self.run_dir = Path(f"lesson{self.number}-run")
        self.data_kind = "nodata"
        self.verdicts: dict[str, Verdict] = {}
        self.figure_problems: dict[str, list[str]] = {}
        self._solutions_module = None
        if self.solutions:
            print(f"(using the reference solutions from lessons/solutions/{lesson}.py)")

    # ------------------------------------------------------------------ exercises
    def solution(self, name: str):
        """The reference answer ``name`` from lessons/solutions/<lesson>.py."""
        if self._solutions_module is None:
            path = HERE / "solutions" / f"{self.lesson}.py"
            spec = importlib.util.spec_from_file_location(f"solutions_{self.lesson}", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            self._solutions_module = module
        return getattr(self._solutions_module, name)

    def exercise(self, fn):
        """Decorator for a stub: kept as written, or replaced by the reference solution when solutions are on."""
        if self.solutions:
            return self.solution(fn.__name__)
        return fn

    def check(self, fn, stop: bool = True) -> Verdict:
        """Check the exercise ``fn`` (by its name in CHECKS), print the verdict; stop the lesson unless it passed."""
        from checks import CHECKS
        name = fn.__name__
        verdict = run_check(name, CHECKS[name], fn)
        self.verdicts[name] = verdict
        print(verdict.report())
        if stop and not verdict.passed:
            raise self.stop_at(name, verdict.status)
        return verdict

    def stop_at(self, name: str, status: str) -> Exception:
        """The exception that stops the lesson at exercise ``name``: one message, no traceback, saying what to
        write, where the reference answer is, and how to run the rest of the lesson with the reference answers."""
        todo = (f"Write {name} in its cell (its docstring says what it takes and returns)"
                if status == "not implemented" else f"Fix {name} (the lines above say what is wrong)")
        head = (f"Stopped at the exercise {name}: {status}. {todo} and run the check again; the reference answer "
                f"is {name} in lessons/solutions/{self.lesson}.py.")
        if in_notebook():
            return ExerciseNotDone(f"{head} To run the whole lesson with the reference answers, set "
                                   "USE_SOLUTIONS = True in the first code cell and run all cells again.")
        return SystemExit(f"{head} To run the whole lesson with the reference answers: python lessons/"
                          f"{self.lesson}.py --solutions (or USE_SOLUTIONS = True in its first code cell).")

    def run_folder(self, name: str = "") -> Path:
        """Where a training run of this lesson lives: one folder per setting (full or small, real or synthetic
        data), so a second run of the lesson reuses the trained model instead of clashing with another one."""
        parts = [name, "small" if self.small else "full", self.data_kind]
        return self.run_dir / "-".join(p for p in parts if p)

    # ------------------------------------------------------------------ figures
    def show(self, fig, filename: str) -> Path:
        """Save ``fig`` into the lesson's output folder; show it inline in a notebook, else close it.

        What :func:`figure_problems` finds (a plot without a title or an axis label, a label cut off) is kept in
        ``self.figure_problems[filename]`` and printed, so a lesson's figures can be checked."""
        import matplotlib.pyplot as plt
        self.out.mkdir(parents=True, exist_ok=True)
        path = self.out / filename
        fig.savefig(path, dpi=100, bbox_inches="tight")
        self.figure_problems[filename] = figure_problems(fig)
        for problem in self.figure_problems[filename]:
            print(f"  figure problem: {problem}")
        print(f"  figure saved: {path}")
        if in_notebook():
            plt.show()
        else:
            plt.close(fig)
        return path

    def show_path(self, path, filename: str, ylabel: str = "J", valid_label: str = "validation",
                  title: str = "J along the line from the initial point to the solution") -> Path:
        """Plot a linear path's training (solid) and held-out (dashed) J against alpha, then :meth:`show` it."""
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(path.alphas, path.J_train, label="train")
        if path.J_valid is not None:
            ax.plot(path.alphas, path.J_valid, "--", label=valid_label)
        ax.set_xlabel(r"$\alpha$ (0: initial point, 1: solution)")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend()
        return self.show(fig, filename)

    # ------------------------------------------------------------------ data
    def digits(self, n_train: int, n_valid: int):
        """``(X, y)`` train and validation digits, float32 in [0, 1], shapes (n, 784).

        From ``load_dataset("mnist-test", data_dir=...)`` (the official test set's two files, split 8,000 /
        2,000) when a data folder is given; otherwise a synthetic stand-in, said so (no cache, no download).
        """
        from minilinpath.data import DataError, load_dataset
        if self.data_dir is not None:
            try:
                splits = load_dataset("mnist-test", data_dir=self.data_dir, download=False)
            except DataError as exc:
                raise SystemExit(f"error: {str(exc).splitlines()[0]} (or DATA_DIR = None in the first code cell for "
                                 "synthetic digits)") from None
            (X, y), (Xv, yv) = splits["train"], splits["valid"]
            self.data_kind = "mnist"
            print(f"  MNIST digits from {self.data_dir}: {min(n_train, len(y)):,} to train, "
                  f"{min(n_valid, len(yv)):,} to validate")
            return (X[:n_train], y[:n_train]), (Xv[:n_valid], yv[:n_valid])
        print("  note: no data folder given, so these are synthetic 28x28 'digits' (10 blurred prototypes plus "
              "noise).\n  " + self.how_to_give("t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz"))
        X, y = synthetic_digits(n_train + n_valid, seed=0)
        self.data_kind = "synthetic"
        return (X[:n_train], y[:n_train]), (X[n_train:], y[n_train:])

    def text(self):
        """``(train ids, held-out ids, vocabulary size)``: the Penn Treebank validation text split 90/10 when a
        data folder is given (it must hold ``ptb.valid.txt``), else a synthetic text, said so."""
        from minilinpath.data import DataError, ptb
        if self.data_dir is not None:
            try:
                corpus = ptb.load_ptb_valid_split(self.data_dir, download=False)
            except DataError as exc:
                raise SystemExit(f"error: {str(exc).splitlines()[0]} (or DATA_DIR = None in the first code cell for "
                                 "a synthetic text)") from None
            print(f"  Penn Treebank validation text from {self.data_dir}")
            self.data_kind = "ptb"
            return corpus["train"], corpus["valid"], len(corpus["vocabulary"])
        print("  note: no data folder given, so this is a synthetic text from a random sparse Markov chain over "
              "200 words.\n  " + self.how_to_give("ptb.valid.txt"))
        self.data_kind = "synthetic"
        return synthetic_text(60_000, 6_000, vocab=200, seed=0)

    def how_to_give(self, files: str) -> str:
        """The fallback note's second half: where a student names the data folder, in a notebook and in a shell."""
        return (f"For the real data, put {files} in a folder and name it: in the notebook, DATA_DIR = "
                f"\"that/folder\" in the first code cell; in a shell, python lessons/{self.lesson}.py that/folder "
                "(or MINILINPATH_DATA_DIR=that/folder).")


# ------------------------------------------------------------------------------------------------ fallbacks
def synthetic_digits(n: int, seed: int = 0):
    """n images (n, 784) float32 in [0, 1] and labels (n,): class c is a fixed blurred random pattern plus noise."""
    rng = np.random.default_rng(seed)
    protos = rng.random((10, 28, 28)) < 0.12
    kernel = np.array([1, 4, 6, 4, 1], float) / 16
    blur = np.apply_along_axis(lambda r: np.convolve(r, kernel, "same"), 1, protos.astype(float))
    blur = np.apply_along_axis(lambda r: np.convolve(r, kernel, "same"), 2, blur)
    protos = (blur / blur.max(axis=(1, 2), keepdims=True)).reshape(10, 784)
    y = rng.integers(0, 10, n)
    X = np.clip(protos[y] + 0.15 * rng.standard_normal((n, 784)), 0, 1)
    return X.astype(np.float32), y.astype(np.int64)


def synthetic_text(n_train: int, n_valid: int, vocab: int = 200, seed: int = 0):
    """Token ids from a Markov chain in which each word has 5 likely successors: something an LSTM can learn."""
    rng = np.random.default_rng(seed)
    successors = rng.integers(0, vocab, (vocab, 5))
    ids = np.empty(n_train + n_valid, np.int64)
    ids[0] = 0
    choices = rng.integers(0, 5, ids.size)
    noise = rng.random(ids.size) < 0.1
    random_words = rng.integers(0, vocab, ids.size)
    for t in range(1, ids.size):
        ids[t] = random_words[t] if noise[t] else successors[ids[t - 1], choices[t]]
    return ids[:n_train], ids[n_train:], vocab
