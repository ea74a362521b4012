"""python -m minilinpath: what there is to run."""
FIGURES = {
    1: "maxout on MNIST, with and without adversarial training", 2: "sigmoid and ReLU networks",
    3: "maxout, ReLU and sigmoid on one log axis", 4: "high-resolution paths of a ReLU network",
    5: "solution to solution, random point to solution", 6: "convolutional maxout network (CIFAR-10)",
    7: "the MP-DBM", 8: "dropout LSTM language model (Penn Treebank)", 9: "deep linear regression: init to solution",
    10: "deep linear regression: two solutions, far point", 11: "random-walk controls",
    12: "gradient descent on a convex problem", 13: "the maxout SGD trajectory around the straight line",
}


def main(argv=None):
    """``python -m minilinpath [COMMAND ...]``: the same as the ``minilinpath`` console script; without a
    command it lists what there is to run."""
    from .cli import main as cli_main

    return cli_main([] if argv is None else argv)


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
