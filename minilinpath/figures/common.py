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
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from .. import __version__, backend
from ..data import DataError
from ..params import LayoutMismatchError
from ..train import RunMismatchError, TrainingDiverged

# errors that come from the user's data, files or settings, reported as one clear line each
USER_ERRORS = (DataError, LayoutMismatchError, RunMismatchError, TrainingDiverged, backend.BackendError)


def figure_parser(name: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m minilinpath.{name}", description=description,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--profile", choices=("quick", "paper"), default="quick",
                        help="quick: minutes on a laptop CPU; paper: the paper's sizes")
    parser.add_argument("--device", choices=backend.DEVICES, default=None,
                        help="cpu (NumPy) or gpu (CuPy); default: $MINILINPATH_DEVICE or cpu")
    parser.add_argument("--out", type=Path, default=Path("out"), help="folder for the PNG and the numbers")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    parser.add_argument("--replot", action="store_true",
                        help="redraw the PNG from the numbers saved in --out, computing nothing")
    return parser


def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def save_numbers(out: Path, name: str, arrays: dict, settings: dict) -> list:
    """Write ``name.npz`` (arrays, no pickle) and ``name.json`` (settings + summary)."""
    out.mkdir(parents=True, exist_ok=True)
    arrays = {k: backend.to_numpy(v) for k, v in arrays.items()}

    def write_npz(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    _write_atomic(out / f"{name}.npz", write_npz)
    _write_atomic(out / f"{name}.json", lambda tmp: tmp.write_text(json.dumps(settings, indent=1, default=float)))
    return [out / f"{name}.npz", out / f"{name}.json"]


def load_numbers(out: Path, name: str):
    npz, js = out / f"{name}.npz", out / f"{name}.json"
    if not npz.exists() or not js.exists():
        raise FileNotFoundError(f"--replot needs {npz} and {js}; run without --replot first.")
    with np.load(npz, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    return arrays, json.loads(js.read_text())


def run_figure(name: str, description: str, compute, plot, report, add_arguments=None, argv=None) -> int:
    parser = figure_parser(name, description)
    if add_arguments:
        add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        if args.device:
            backend.use(args.device)
    except backend.BackendError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out: Path = args.out
    started = time.perf_counter()
    if args.replot:
        try:
            arrays, settings = load_numbers(out, name)
        except FileNotFoundError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        summary = settings["summary"]
    else:
        try:
            arrays, summary = compute(args)
        except USER_ERRORS as exc:  # a problem the user can fix: say what and how, without a traceback
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("\ninterrupted: trained models keep every finished epoch; run the same command to resume.",
                  file=sys.stderr)
            return 130
        settings = {"figure": name, "minilinpath": __version__, "device": backend.current(),
                    "arguments": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                    "seconds": round(time.perf_counter() - started, 3), "summary": summary}
        save_numbers(out, name, arrays, settings)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plot(arrays, summary)
    png = out / f"{name}.png"
    replaced = png.exists()
    out.mkdir(parents=True, exist_ok=True)
    _write_atomic(png, lambda tmp: fig.savefig(tmp, dpi=130, bbox_inches="tight", format="png"))
    plt.close(fig)
    for line in report(summary):
        print(line)
    note = " (replaced the previous files of this figure)" if replaced and not args.replot else ""
    print(f"wrote {png}" + ("" if args.replot else f", {name}.npz and {name}.json") + f" in {out}{note} "
          f"[{time.perf_counter() - started:.1f}s]")
    return 0


def table(rows, headers) -> list:
    """Format rows as an aligned text table (a list of lines)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    fmt = lambda r: "  ".join(c.rjust(w) for c, w in zip(r, widths))  # noqa: E731
    return [fmt(cells[0]), fmt(["-" * w for w in widths])] + [fmt(r) for r in cells[1:]]
