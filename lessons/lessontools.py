"""What every lesson of the course shares: settings, data with an offline fallback, figures, and the checks.

A lesson starts with ``course = Course("lessonNN_name")``, which reads

- the data folder: the first command-line argument, else the environment variable ``MINILINPATH_DATA_DIR``
  (nothing else: a lesson never looks outside the checkout on its own);
- ``--solutions`` or ``MINILINPATH_SOLUTIONS=1``: every ``@course.exercise`` stub is replaced by the function of
  the same name in ``lessons/solutions/lessonNN_name.py`` (the reference answers);
- ``--small`` or ``MINILINPATH_LESSON_SMALL=1``: the smallest settings that still show the effect (used by CI).

Each exercise is a stub that raises ``NotImplementedError``. The cell after it calls ``course.check(fn)``, which
looks the exercise up by name in :data:`CHECKS` (see ``lessons/checks.py``), compares the student's answer with
central differences in float64 and with minilinpath's own implementation, prints a verdict with the relative
errors and a hint for the usual mistakes, and stops the lesson there (``SystemExit`` with a one-line reason) if the
exercise is not done or not right yet.
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


def in_notebook() -> bool:
    """True inside a Jupyter kernel (figures are shown inline there; the command line is the kernel's, not ours)."""
    return "ipykernel" in sys.modules


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


# ------------------------------------------------------------------------------------------------ the course
class Course:
    """One lesson's settings (see the module docstring), its output folders and its exercise bookkeeping."""

    def __init__(self, lesson: str, argv=None):
        self.lesson, self.number = lesson, lesson[len("lesson"):len("lesson") + 2]
        args = [] if argv is None and in_notebook() else list(sys.argv[1:] if argv is None else argv)
        flags = {a for a in args if a.startswith("-")}
        unknown = flags - {"--solutions", "--small"}
        positional = [a for a in args if not a.startswith("-")]
        if unknown or len(positional) > 1:
            raise SystemExit(f"usage: python lessons/{lesson}.py [DATA_DIR] [--solutions] [--small]"
                             f" (did not understand {' '.join(sorted(unknown) + positional[1:])})")
        self.solutions = "--solutions" in flags or os.environ.get("MINILINPATH_SOLUTIONS", "").lower() in TRUE
        self.small = "--small" in flags or os.environ.get("MINILINPATH_LESSON_SMALL", "").lower() in TRUE
        folder = positional[0] if positional else os.environ.get("MINILINPATH_DATA_DIR") or None
        self.data_dir = Path(folder).expanduser() if folder else None
        if self.data_dir is not None and not self.data_dir.is_dir():
            raise SystemExit(f"error: the data folder {self.data_dir} does not exist (given as the first argument "
                             "or MINILINPATH_DATA_DIR).")
        self.out = Path(f"lesson{self.number}-out")
        self.run_dir = Path(f"lesson{self.number}-run")
        self.data_kind = "nodata"
        self.verdicts: dict[str, Verdict] = {}
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
        """Decorator for a stub: kept as written, or replaced by the reference solution with ``--solutions``."""
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
            how = "(or run the lesson with --solutions to see the reference answers)"
            raise SystemExit(f"Stopped at the exercise {name}: {verdict.status}. Fix it and run again {how}.")
        return verdict

    def run_folder(self, name: str = "") -> Path:
        """Where a training run of this lesson lives: one folder per setting (full or small, real or synthetic
        data), so a second run of the lesson reuses the trained model instead of clashing with another one."""
        parts = [name, "small" if self.small else "full", self.data_kind]
        return self.run_dir / "-".join(p for p in parts if p)

    # ------------------------------------------------------------------ figures
    def show(self, fig, filename: str) -> Path:
        """Save ``fig`` into the lesson's output folder; show it inline in a notebook, else close it."""
        import matplotlib.pyplot as plt
        self.out.mkdir(parents=True, exist_ok=True)
        path = self.out / filename
        fig.savefig(path, dpi=100, bbox_inches="tight")
        print(f"  figure saved: {path}")
        if in_notebook():
            plt.show()
        else:
            plt.close(fig)
        return path

    def show_path(self, path, filename: str, ylabel: str = "J", valid_label: str = "validation") -> Path:
        """Plot a linear path's training (solid) and held-out (dashed) J against alpha, then :meth:`show` it."""
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(path.alphas, path.J_train, label="train")
        if path.J_valid is not None:
            ax.plot(path.alphas, path.J_valid, "--", label=valid_label)
        ax.set_xlabel(r"$\alpha$")
        ax.set_ylabel(ylabel)
        ax.legend()
        return self.show(fig, filename)

    # ------------------------------------------------------------------ data
    def digits(self, n_train: int, n_valid: int):
        """``(X, y)`` train and validation digits, float32 in [0, 1], shapes (n, 784).

        From ``load_dataset("mnist-test", data_dir=...)`` (the official test set's two files, split 8,000 /
        2,000) when a data folder is given, else from the library's cache without downloading; otherwise a
        synthetic stand-in, said so.
        """
        from minilinpath.data import DataError, load_dataset
        try:
            splits = load_dataset("mnist-test", data_dir=self.data_dir, download=False)
            (X, y), (Xv, yv) = splits["train"], splits["valid"]
            where, self.data_kind = self.data_dir or "the minilinpath cache", "mnist"
            print(f"  MNIST digits from {where}: {min(n_train, len(y)):,} to train, {min(n_valid, len(yv)):,} "
                  "to validate")
            return (X[:n_train], y[:n_train]), (Xv[:n_valid], yv[:n_valid])
        except DataError as exc:
            print(f"  note: no MNIST files found ({str(exc).splitlines()[0][:160]}).\n"
                  "  Using synthetic 28x28 'digits' instead (10 blurred prototypes plus noise). For the real ones, "
                  "pass a folder with t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz as the first "
                  "argument or in MINILINPATH_DATA_DIR.")
            X, y = synthetic_digits(n_train + n_valid, seed=0)
            self.data_kind = "synthetic"
            return (X[:n_train], y[:n_train]), (X[n_train:], y[n_train:])

    def text(self):
        """``(train ids, held-out ids, vocabulary size)``: the Penn Treebank validation text split 90/10 when the
        data folder holds ``ptb.valid.txt`` (or the cache does), else a synthetic text, said so."""
        from minilinpath.data import DataError, ptb
        try:
            corpus = ptb.load_ptb_valid_split(self.data_dir, download=False)
            print(f"  Penn Treebank validation text from {self.data_dir or 'the minilinpath cache'}")
            train, valid, vocab = corpus["train"], corpus["valid"], len(corpus["vocabulary"])
            self.data_kind = "ptb"
        except DataError as exc:
            print(f"  note: no Penn Treebank text found ({str(exc).splitlines()[0][:160]}).\n"
                  "  Using a synthetic text from a random sparse Markov chain over 200 words instead; for the real "
                  "one pass a folder with ptb.valid.txt as the first argument or in MINILINPATH_DATA_DIR.")
            train, valid, vocab = synthetic_text(60_000, 6_000, vocab=200, seed=0)
            self.data_kind = "synthetic"
        return train, valid, vocab


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
