"""What every figure script shares: the command line, saving numbers and PNGs, replotting.

A figure is three functions:

- ``compute(args) -> (arrays, summary)``: the numbers (a dict of NumPy arrays)
  and a JSON-friendly summary (the metrics the script prints);
- ``plot(arrays, summary) -> matplotlib Figure``: drawing only, never computing;
- ``report(summary) -> list of lines``: the short text printed at the end.

:func:`run_figure` parses the command line, computes (or, with ``--replot``,
loads the saved numbers), writes ``figN.npz``, ``figN.json`` and ``figN.png``
into ``--out``, and prints the report.
"""
from __future__ import annotations

import argparse
import math
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import filelock
import numpy as np

from .. import __version__, backend, io
from ..allocator import keep_freed_memory
from ..data import DataError
from ..params import LayoutMismatchError
from ..runs import DamagedRunError, RunMismatchError
from ..train import TrainingDiverged


class UsageError(ValueError):
    """A command-line argument or setting that cannot work, found before any computing."""


# errors that come from the user's data, files or settings, reported as one clear line each
USER_ERRORS = (UsageError, DataError, LayoutMismatchError, RunMismatchError, DamagedRunError, TrainingDiverged,
               backend.BackendError)


class FigureArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr (``error: ...``) and exit status 2."""

    def error(self, message):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def int_at_least(lowest: int):
    """An argparse type: a whole number >= ``lowest`` (a bad one is argparse's one-line error)."""
    def parse(text: str) -> int:
        value = int(text)
        if value < lowest:
            raise argparse.ArgumentTypeError(f"must be >= {lowest}, got {value}")
        return value
    parse.__name__ = f"a whole number >= {lowest}"  # argparse names the type in its message
    return parse


nonnegative_int, positive_int = int_at_least(0), int_at_least(1)


def int_between(lowest: int, highest: int):
    """An argparse type: a whole number in [lowest, highest] (the upper bound keeps a typo from asking for
    more memory than any machine has)."""
    at_least = int_at_least(lowest)

    def parse(text: str) -> int:
        value = at_least(text)
        if value > highest:
            raise argparse.ArgumentTypeError(f"must be <= {highest:,}, got {value:,}")
        return value
    parse.__name__ = f"a whole number from {lowest} to {highest}"
    return parse


# Upper bounds of the options that size work (README, "Limits"): each is checked as the command line is read,
# before anything starts, so that a typo (--alphas 100000000) is one line, not hours of work or a full memory.
MAX_EPOCHS = 10_000          # epochs of one training run (the paper's longest schedules are a few hundred)
MAX_LINE_POINTS = 10_001     # points of a line or curve on [0, 1] (a step of 1e-4)
MAX_CHUNK = 1_000_000        # examples per evaluation pass (and per Hessian)
# a study's own bounds (also for spec files and the Python API): minilinpath.study.spec.UPPER


def finite_float(text: str) -> float:
    """An argparse type: a finite number (no inf, no nan)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


finite_float.__name__ = "a finite number"


def folder_path(text: str) -> Path:
    """An argparse type for ``--out``: a non-empty path (an empty one would silently mean the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path; name a folder (e.g. out)")
    return Path(text)


folder_path.__name__ = "a folder"


TRAINING_PROFILES = ("quick", "paper-capped", "paper")  # = minilinpath.experiments.PROFILES (tested)


def figure_parser(name: str, description: str, profiles=("quick", "paper")) -> argparse.ArgumentParser:
    parser = FigureArgumentParser(prog=f"minilinpath {name}", description=description,
                                  formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    help_text = "quick: minutes on a laptop CPU; paper: the paper's sizes"
    if "paper-capped" in profiles:
        help_text += ("; paper-capped: the paper's networks and schedules stopped after "
                      "60 epochs (an hour or two on a CPU)")
    parser.add_argument("--profile", choices=profiles, default="quick", help=help_text)
    parser.add_argument("--device", choices=backend.DEVICES, default=None,
                        help="cpu (NumPy) or gpu (CuPy); default: $MINILINPATH_DEVICE or cpu")
    parser.add_argument("--out", type=folder_path, default=Path("out"), help="folder for the PNG and the numbers")
    parser.add_argument("--seed", type=nonnegative_int, default=0, help="seed of every random choice")
    parser.add_argument("--replot", action="store_true",
                        help="redraw the PNG from the numbers saved in --out, computing nothing")
    return parser


def check_writable_folder(path: Path, flag: str) -> None:
    """Raise UsageError unless ``path`` is a folder we can write into, or can be created as one.

    Nothing is left behind: a missing folder is not created here (only its
    nearest existing parent is tried), and the trial file is removed at once.
    """
    path = Path(path).expanduser()
    existing = path
    while not existing.exists():
        if existing.is_symlink():
            raise UsageError(f"{flag} {path}: {existing} is a broken symbolic link.")
        existing = existing.parent
    if not existing.is_dir():
        what = "is a file, not a folder" if existing == path else f"cannot be created: {existing} is a file"
        raise UsageError(f"{flag} {path} {what}; choose a folder.")
    try:  # the only reliable test (permissions, read-only mounts, root): write a file and remove it
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot write into {existing} ({exc.strerror or exc}); "
                         "choose a folder you can write to.") from None


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (multi-line messages joined with '; ')."""
    return "; ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or type(exc).__name__


def numbers_files(out: Path, name: str, arrays: dict, settings: dict) -> list:
    """``name.npz`` (arrays, no pickle) and ``name.json`` (settings + summary) as ``(path, write, binary)`` for
    :func:`minilinpath.io.replace_together` (the JSON is made here, so a setting it cannot hold fails first)."""
    arrays = {k: backend.to_numpy(v) for k, v in arrays.items()}
    text = json.dumps(settings, indent=1, default=float)
    return [(out / f"{name}.npz", lambda f: np.savez(f, **arrays), True),
            (out / f"{name}.json", lambda f: f.write(text), False)]


def save_numbers(out: Path, name: str, arrays: dict, settings: dict) -> list:
    """Write ``name.npz`` and ``name.json`` together: both replaced, or neither (a full disk)."""
    return io.replace_together(numbers_files(out, name, arrays, settings))


def figure_files(out: Path, name: str, fig, numbers: list, extra_texts: dict) -> list:
    """Every file of one run of a figure, as ``(path, write, binary)``: its numbers (none for ``--replot``), the
    PNG, and extra text files (``{file name: text}``, e.g. a CSV of the table)."""
    png = (out / f"{name}.png", lambda f: fig.savefig(f, dpi=130, bbox_inches="tight", format="png"), True)
    texts = [(out / file, (lambda text: lambda f: f.write(text))(text), False) for file, text in extra_texts.items()]
    return numbers + [png] + texts


def disk_error(exc: OSError, out: Path, runs: Path | None) -> str:
    """One line for a disk error, naming the folder it happened in: the run cache or ``--out`` (a full disk, a
    read-only folder), or else the file itself."""
    where = Path(exc.filename).expanduser() if exc.filename else None
    reason = exc.strerror or one_line(exc)

    def inside(folder) -> bool:
        if folder is None or where is None:
            return False
        folder = Path(folder).expanduser().resolve()
        return where.resolve() == folder or folder in where.resolve().parents

    if inside(runs):
        return (f"could not write into the run cache {runs} ({reason}: {where}); the trained epochs stored before "
                f"are kept: free some space there or choose another --runs-dir, then run the same command again.")
    if inside(out):
        return (f"could not write the results into {out} ({reason}: {where}); the previous results there are "
                f"unchanged: free some space or choose another --out.")
    return f"a file could not be written or read ({reason}{f': {where}' if where else ''}); nothing was replaced."


def stdout_closed() -> bool:
    """Whether the reader of standard output has gone (``| head -1`` ended): a pipe with no reader."""
    try:
        import select
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, ValueError, OSError, ImportError):   # no file descriptor (captured output), no poll
        return False


def end_quietly_on_closed_stdout() -> int:
    """What a command does when its reader closed standard output: stop without a word, with 141 (128 +
    SIGPIPE), as a shell command killed by the closed pipe would. Standard output then goes to /dev/null, so
    that Python's own flush at exit does not print an error either."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, ValueError, OSError):
        pass
    return 141


def load_numbers(out: Path, name: str):
    npz, js = out / f"{name}.npz", out / f"{name}.json"
    if not npz.exists() or not js.exists():
        raise UsageError(f"--replot needs {npz} and {js}; run without --replot first.")
    try:
        with open(npz, "rb") as fh, np.load(fh, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        settings = json.loads(js.read_text())
        summary = settings["summary"]
        if settings.get("figure") != name or not isinstance(summary, dict):
            raise ValueError(f"it holds the numbers of {settings.get('figure')!r}")
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same answer
        raise UsageError(f"--replot cannot read {npz} / {js} ({type(exc).__name__}: {one_line(exc)}); "
                         "run the figure again without --replot.") from None
    return arrays, settings, summary


def figure_lock(out: Path, name: str) -> filelock.FileLock:
    """The lock that makes one process at a time write (or read) the three files of figure ``name`` in ``out``,
    so they always come from one run."""
    return filelock.FileLock(out / f".{name}.lock")


def check_eval_budget() -> None:
    """The evaluation memory budget ($MINILINPATH_EVAL_MEMORY_MB) must be readable before anything runs."""
    from ..memory import eval_memory_budget
    try:
        eval_memory_budget()
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def check_thread_setting() -> None:
    """The element-wise threads ($MINILINPATH_THREADS, $OMP_NUM_THREADS, $OPENBLAS_NUM_THREADS) must be readable."""
    from .. import threads
    try:
        threads.worker_count()
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def keep_freed_memory_setting() -> None:
    """Let malloc keep freed memory (``$MINILINPATH_KEEP_FREED_MEMORY`` must be 0, 1 or unset)."""
    try:
        keep_freed_memory()
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def replot(plot, arrays, summary, out: Path, name: str):
    """Draw saved numbers; numbers that do not fit the figure (another figure's, edited) are a UsageError."""
    try:
        return plot(arrays, summary)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise UsageError(f"--replot: the numbers in {out} are not {name}'s or are incomplete "
                         f"({type(exc).__name__}: {one_line(exc)}); run the figure again without --replot.") from None


def select_device(args, devices) -> str:
    device = args.device or backend.current()  # BackendError for a bad MINILINPATH_DEVICE
    if device not in devices:
        source = "--device gpu" if args.device else "MINILINPATH_DEVICE=gpu"
        raise UsageError(f"this figure computes on the CPU only (a tiny problem; a GPU would not help), but "
                         f"{source} asks for the GPU; use --device cpu or unset MINILINPATH_DEVICE.")
    backend.use(device)  # BackendError when the GPU is asked for and missing: never a silent CPU run
    return device


TRAINING_FIGURES = ("fig1", "fig2", "fig3", "fig4", "fig5", "fig6", "fig7", "fig8", "fig13", "plane", "curvature",
                    "headline", "curve", "instability", "study")


def run_figure(name: str, description: str, compute, plot, report, add_arguments=None, argv=None,
               devices=backend.DEVICES, extras=None) -> int:
    """Parse the command line, check it, compute (or load with ``--replot``), save, draw, report.

    Every user error -- a bad argument or setting, a device that is missing,
    an output folder that cannot be written, bad data, a damaged run folder --
    is one line on stderr and exit status 2, found before any computing where
    it can be. Only a bug gives a traceback.
    """
    parser = figure_parser(name, description, TRAINING_PROFILES if name in TRAINING_FIGURES else ("quick", "paper"))
    if add_arguments:
        add_arguments(parser)
    args = parser.parse_args(argv)
    out: Path = args.out.expanduser()
    started = time.perf_counter()
    try:
        keep_freed_memory_setting()  # large temporaries reuse freed memory (minilinpath.allocator)
        select_device(args, devices)
        check_eval_budget()
        check_thread_setting()
        check_writable_folder(out, "--out")
        if hasattr(args, "runs_dir"):  # figures that train: the run cache must be writable too
            from ..experiments import runs_root
            check_writable_folder(runs_root(args.runs_dir), "--runs-dir" if args.runs_dir is not None else
                                  "the run cache ($MINILINPATH_RUNS or ~/.cache/minilinpath/runs)")
        if args.replot:
            if not out.is_dir():
                raise UsageError(f"--replot needs the folder {out} with {name}.npz and {name}.json; "
                                 "run without --replot first.")
            with figure_lock(out, name):
                arrays, settings, summary = load_numbers(out, name)
        else:
            arrays, summary = compute(args)
            settings = {"figure": name, "minilinpath": __version__, "device": backend.current(),
                        "arguments": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                        "seconds": round(time.perf_counter() - started, 3), "summary": summary}
        fig = replot(plot, arrays, summary, out, name) if args.replot else plot(arrays, summary)
        png = out / f"{name}.png"
        numbers = [] if args.replot else numbers_files(out, name, arrays, settings)
        extra_texts = extras(summary) if extras else {}  # e.g. a CSV of the table, from the same run
        out.mkdir(parents=True, exist_ok=True)
        with figure_lock(out, name):  # the npz, json, png (and extras) of one run: all replaced, or none
            replaced = png.exists()
            io.replace_together(figure_files(out, name, fig, numbers, extra_texts))
    except USER_ERRORS as exc:  # a problem the user can fix: say what and how, without a traceback
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: trained models keep every finished epoch; run the same command to resume.",
              file=sys.stderr)
        return 130
    except BrokenPipeError as exc:
        if stdout_closed():  # the reader of the printed lines has gone: no error to report
            return end_quietly_on_closed_stdout()
        print(f"error: {disk_error(exc, out, runs_folder(args))}", file=sys.stderr)
        return 2
    except OSError as exc:  # the disk filled up, a folder vanished: nothing half-written is left behind
        print(f"error: {disk_error(exc, out, runs_folder(args))}", file=sys.stderr)
        return 2
    import matplotlib.pyplot as plt

    plt.close(fig)
    try:
        for line in summary.get("warnings", []) if isinstance(summary, dict) else []:
            print(f"warning: {line}")
        for line in report(summary):  # (a replot's summary was checked by drawing it)
            print(line)
        note = " (replaced the previous files of this figure)" if replaced and not args.replot else ""
        listed = "".join(f", {file}" for file in extra_texts)
        print(f"wrote {png}" + ("" if args.replot else f", {name}.npz and {name}.json") + listed + f" in {out}{note} "
              f"[{time.perf_counter() - started:.1f}s]")
        sys.stdout.flush()
    except BrokenPipeError:  # the files are written; the reader of the report has gone
        return end_quietly_on_closed_stdout()
    return 0


def runs_folder(args) -> Path | None:
    """The run cache of a figure that trains (``--runs-dir`` or its default), None for the others."""
    if not hasattr(args, "runs_dir"):
        return None
    from ..experiments import runs_root
    try:
        return runs_root(args.runs_dir)
    except Exception:  # noqa: BLE001 - only to name a folder in an error message
        return None


def table(rows, headers) -> list:
    """Format rows as an aligned text table (a list of lines)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    fmt = lambda r: "  ".join(c.rjust(w) for c, w in zip(r, widths))  # noqa: E731
    return [fmt(cells[0]), fmt(["-" * w for w in widths])] + [fmt(r) for r in cells[1:]]
