"""python -m minilinpath: what there is to run."""
from . import __version__

FIGURES = {
    1: "maxout on MNIST, with and without adversarial training", 2: "sigmoid and ReLU networks",
    3: "maxout, ReLU and sigmoid on one log axis", 4: "high-resolution paths of a ReLU network",
    5: "solution to solution, random point to solution", 6: "convolutional maxout network (CIFAR-10)",
    7: "the MP-DBM", 8: "dropout LSTM language model (Penn Treebank)", 9: "deep linear regression: init to solution",
    10: "deep linear regression: two solutions, far point", 11: "random-walk controls",
    12: "gradient descent on a convex problem", 13: "the maxout SGD trajectory around the straight line",
}


def main(argv=None):
    """Without arguments, list what there is to run; with them, the same as the ``minilinpath`` console script
    (``python -m minilinpath plane --help``)."""
    if argv:
        from .cli import main as cli_main

        return cli_main(argv)
    print(f"minilinpath {__version__}: the linear path experiments of Goodfellow, Vinyals & Saxe (ICLR 2015)\n")
    for number, what in FIGURES.items():
        print(f"  python -m minilinpath.fig{number:<3d} {what}")
    print("  minilinpath plane        J on a plane through parameter space, with the SGD trajectory")
    print("  minilinpath curvature    d2J/dalpha2 along the line, Hessian eigenvalues at chosen points")
    print("\nEach takes --help (also as `minilinpath fig9 ...`). Start with: python -m minilinpath.fig9")
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
