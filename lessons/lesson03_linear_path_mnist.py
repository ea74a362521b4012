"""Lesson 3 — the linear path experiment on a real network: train, interpolate, read the curve.

Run it:  python lessons/lesson03_linear_path_mnist.py       (about a minute on a laptop)

1. Train a ReLU network on handwritten digits (no dropout, so J is deterministic).
2. Walk the straight line from its initial parameters theta_i to its solution
   theta_f, theta(a) = (1 - a) theta_i + a theta_f, and evaluate J on the whole
   training and validation sets at every a, including a > 1.
   Reading the curve: near a = 0 it is flat (the initial point sits near a
   saddle: all units look alike), then J falls without a bump, and beyond
   a = 1 the validation J rises first (overfitting along the line).
3. Two solutions from two seeds: each is a minimum on the line between them,
   with a barrier in the middle. A random point to a solution: no other
   minimum on the way.
The metrics (monotone? largest bump? local minima? barrier?) are defined in
minilinpath.path.metrics; the lesson prints them for each line.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from minilinpath.data import load_dataset, load_pair
from minilinpath.models import MLP
from minilinpath.path import barrier_height, linear_path, random_point, summarize
from minilinpath.train import Recipe, train


def digits(train_examples=None):
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist-t10k"
    if (shared / "t10k-images-idx3-ubyte.gz").exists():
        X, y = load_pair(shared / "t10k-images-idx3-ubyte.gz", shared / "t10k-labels-idx1-ubyte.gz")
        train_set, valid = (X[:8000], y[:8000]), (X[8000:], y[8000:])
    else:
        splits = load_dataset("mnist")
        train_set, valid = splits["train"], splits["valid"]
    if train_examples:
        train_set = tuple(a[:train_examples] for a in train_set)
    return train_set, valid


def describe(name, result):
    m = summarize(result.alphas, result.J_train)
    minima = ", ".join(f"{a:.2f}" for a in m["local_minima"]) or "none"
    print(f"  {name}: monotone on [0, 1]: {m['monotone']}, largest bump {m['largest_bump']:.3g}, "
          f"local minima at alpha = {minima}")
    return m


def main(run_dir="lesson03-runs", epochs=10, train_examples=None, out="lesson03-out"):
    train_set, valid = digits(train_examples)
    model = MLP(n_in=784, hidden=(200, 200), activation="relu", n_classes=10, init_ranges=(0.05, 0.05, 0.05))
    recipe = Recipe(batch_size=100, learning_rate=0.1, momentum=0.5, max_epochs=epochs, patience=None)

    print("1. train two networks from two seeds")
    runs = [train(model, train_set, valid, recipe, Path(run_dir) / f"seed{s}", seed=s, progress=False, log=None)
            for s in (0, 1)]
    for s, r in enumerate(runs):
        print(f"  seed {s}: best validation error {r.best_valid_error:.2%} at epoch {r.best_epoch}")

    print("2. the line from init to solution, alpha from 0 to 1.5")
    alphas = np.linspace(0, 1.5, 31)
    init_path = linear_path(model, runs[0].theta_init, runs[0].theta_best, train_set, alphas, valid, progress=False)
    init_metrics = describe("init -> solution", init_path)

    print("3. between the two solutions, and from a random point")
    between = linear_path(model, runs[0].theta_best, runs[1].theta_best, train_set, np.linspace(-0.2, 1.2, 29),
                          valid, progress=False)
    describe("solution -> solution", between)
    height, where = barrier_height(between.alphas, between.J_train, "mean")
    print(f"  barrier: {height:.3g} above the mean of the two ends, at alpha = {where:.2f}")
    start = random_point(model, seed=3)
    from_random = linear_path(model, start, runs[0].theta_best, train_set, np.linspace(0, 1, 21), progress=False)
    random_metrics = describe("random point -> solution", from_random)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for ax, r, title in zip(axes, (init_path, between, from_random),
                            ("init -> solution", "solution -> solution", "random point -> solution")):
        ax.plot(r.alphas, r.J_train, label="train")
        if r.J_valid is not None:
            ax.plot(r.alphas, r.J_valid, "--", label="validation")
        ax.set_title(title)
        ax.set_xlabel(r"$\alpha$")
        ax.set_ylabel("J")
        ax.legend()
    axes[2].set_yscale("log")
    Path(out).mkdir(parents=True, exist_ok=True)
    fig.savefig(Path(out) / "lesson03_paths.png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    print(f"  figure: {Path(out) / 'lesson03_paths.png'}")
    return init_metrics, height, random_metrics


if __name__ == "__main__":
    main()
