"""What the evidence scripts in docs/experiments share: a positive-number argument type and the save / replot /
draw / report sequence (``NAME.npz`` + ``NAME.json`` written atomically, ``NAME.png`` drawn from them)."""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from minilinpath import io
from minilinpath.data import DataError


def positive(kind):
    """An argparse type: a number of type ``kind`` (int, float) that is > 0."""
    def parse(text):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value
    parse.__name__ = f"a positive {kind.__name__}"
    return parse


def run_experiment(name: str, args, compute, plot, report) -> int:
    """Compute (or, with ``args.replot``, load) the numbers, save them, draw ``name.png``, print the report.

    A user error (missing data, a missing file to replot, a bad value) is one line on stderr and exit status 2.
    """
    out = args.out.expanduser()
    try:
        if args.replot:
            with open(out / f"{name}.npz", "rb") as fh, np.load(fh, allow_pickle=False) as f:
                arrays = {k: f[k] for k in f.files}
            summary = json.loads((out / f"{name}.json").read_text())
        else:
            arrays, summary = compute(args)
            out.mkdir(parents=True, exist_ok=True)
            io.write_npz(out / f"{name}.npz", **arrays)
            io.write_json(out / f"{name}.json", summary)
    except (DataError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    fig = plot(arrays, summary)
    io.atomic_write(out / f"{name}.png", lambda f: fig.savefig(f, dpi=130, format="png"))
    report(summary)
    print(f"wrote {out / f'{name}.png'}" + ("" if args.replot else ", .npz and .json"))
    return 0
