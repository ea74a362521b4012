"""The ``minilinpath`` console script: every figure and the analyses beyond the line, as subcommands.

    minilinpath                      what there is to run
    minilinpath fig9 [--help] ...    the paper's figures (the same as python -m minilinpath.fig9)
    minilinpath plane [--help] ...   J on a plane through parameter space, with the SGD trajectory
    minilinpath curvature [...]      d2J/dalpha2 along the line, Hessian eigenvalues at chosen points

Each subcommand takes the figure options (``--profile``, ``--dataset``,
``--device``, ``--out``, ``--replot``, ...) and reports a user error as one
line starting with ``error:`` and exit status 2.
"""
from __future__ import annotations

import importlib
import sys

from . import __version__

ANALYSES = {
    "headline": ("figures.headline", "the test-set error (or perplexity) of a figure's trained model beside the "
                                     "paper's headline number"),
    "plane": ("figures.plane", "J on a plane (init, solution, second solution; PCA / random / the paper's "
                               "directions), with the SGD trajectory and its distance from the plane"),
    "curvature": ("figures.curvature", "d2J/dalpha2 along the init -> solution line and the top / most negative "
                                       "Hessian eigenvalues at chosen points"),
    "curve": ("figures.curves", "a Bézier curve and a polygonal chain with trained bends between two solutions "
                                "(Garipov et al. 2018), beside the straight line and its barrier"),
    "instability": ("figures.instability", "linear mode connectivity (Frankle et al. 2020): the barrier between "
                                           "two children branched at epoch k, against k"),
    "study": ("figures.study", "many runs over a grid of settings x seeds on Dask: how often the init -> solution "
                               "line is monotone, bump heights, distance travelled (Lucas et al. 2021)"),
}


def usage() -> str:
    from .__main__ import FIGURES

    lines = [f"minilinpath {__version__}: the linear path experiments of Goodfellow, Vinyals & Saxe (ICLR 2015)", "",
             "usage: minilinpath COMMAND [--help] [options]", "", "the paper's figures:"]
    lines += [f"  fig{number:<10d} {what}" for number, what in FIGURES.items()]
    lines += ["", "beyond the line:"] + [f"  {name:<13s} {what}" for name, (_, what) in ANALYSES.items()]
    lines += ["", "Start with: minilinpath fig9"]
    return "\n".join(lines)


def main(argv=None) -> int:
    """Dispatch ``argv`` (default: the command line) to a figure or an analysis; returns the exit status."""
    from .__main__ import FIGURES

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help", "list"):
        print(usage())
        return 0
    if argv[0] == "--version":
        print(f"minilinpath {__version__}")
        return 0
    command, rest = argv[0], argv[1:]
    if command in ANALYSES:
        module = ANALYSES[command][0]
    elif command.startswith("fig") and command[3:].isdigit() and int(command[3:]) in FIGURES:
        module = f"figures.{command}"
    else:
        known = ", ".join([f"fig{n}" for n in FIGURES] + list(ANALYSES))
        print(f"error: unknown command {command!r}; choose one of {known} (see minilinpath --help)", file=sys.stderr)
        return 2
    return importlib.import_module(f"minilinpath.{module}").main(rest)


if __name__ == "__main__":
    sys.exit(main())
