"""Lesson 6 — mean-field inference as a recurrent network, and why the MP-DBM's path can differ.

Run it:  python lessons/lesson06_mean_field_as_a_network.py     (about a minute)

A deep Boltzmann machine defines a probability over pixels, hidden units and
the label; inferring the masked variables exactly is intractable, so the
MP-DBM runs mean-field inference: a fixed number of sweeps, each replacing a
layer's values by the sigmoid (or softmax) of its total input from the layers
next to it. Written out, 14 sweeps are a 14-step recurrent network whose
weights are shared across steps (each W used upward *and*, transposed,
downward). Training differentiates the prediction error through all of it.

1. We run the inference on a few digits with half of the pixels hidden and
   watch the filled-in pixels converge, sweep by sweep.
2. We check the hand-written gradient through the unrolled inference.
3. We train a small MP-DBM briefly and walk the straight line from its
   initial to its final parameters. Unlike a feed-forward network, the
   objective here is the output of an iterative procedure started from
   large sparse weights, so the curve has more room for non-convex features
   (the paper finds a secondary minimum of high error on it).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from minilinpath.data import load_dataset, load_pair
from minilinpath.gradcheck import directional_check
from minilinpath.models import MPDBM
from minilinpath.path import linear_path, summarize
from minilinpath.train import Recipe, train


def digits(n_train):
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist-t10k"
    if (shared / "t10k-images-idx3-ubyte.gz").exists():
        X, y = load_pair(shared / "t10k-images-idx3-ubyte.gz", shared / "t10k-labels-idx1-ubyte.gz")
        return (X[:n_train], y[:n_train]), (X[8000:9000], y[8000:9000])
    splits = load_dataset("mnist")
    return tuple(a[:n_train] for a in splits["train"]), tuple(a[:1000] for a in splits["valid"])


def watch_inpainting(model, theta, X, y, iterations):
    """How the filled-in pixels move, sweep by sweep: the 'hidden state' of the recurrent network."""
    rng = np.random.default_rng(0)
    m_v = (rng.random(X.shape) < 0.5).astype(X.dtype)
    m_y = np.ones(X.shape[0], X.dtype)
    errors = []
    for k in range(1, iterations + 1):
        probe = MPDBM(n_visible=model.n_visible, hidden=model.hidden, n_classes=model.n_classes, iterations=k)
        state, _ = probe.infer(theta, X, np.zeros((X.shape[0], model.n_classes), X.dtype), m_v, m_y)
        errors.append(float(np.abs(state["v"] - X)[m_v == 1].mean()))
        print(f"  after {k:2d} sweep(s): mean |filled-in pixel - true pixel| = {errors[-1]:.4f}")
    return errors


def main(run_dir="lesson06-run", epochs=8, n_train=5000, iterations=5, alphas=9):
    train_set, valid = digits(n_train)
    model = MPDBM(n_visible=784, hidden=(100, 100), n_classes=10, iterations=iterations,
                  pixel_means=train_set[0].mean(axis=0))
    print("3. (first) train a small MP-DBM briefly, so the inference has something to say")
    recipe = Recipe(batch_size=100, learning_rate=15.146493, momentum=0.5, max_epochs=epochs, patience=None)
    result = train(model, train_set, valid, recipe, run_dir, seed=0, progress=False, log=None)
    print(f"  validation classification error {result.best_valid_error:.2%}")

    print("1. inference as a recurrent network: filling in half of the pixels")
    errors = watch_inpainting(model, result.theta_best, valid[0][:50], valid[1][:50], iterations)

    print("2. the gradient through the unrolled inference, against central differences (float64)")
    small = MPDBM(n_visible=784, hidden=(6, 5), n_classes=10, iterations=3, pixel_means=train_set[0].mean(axis=0))
    theta = small.init(0, dtype=np.float64)
    X, y = train_set[0][:5].astype(np.float64), train_set[1][:5]
    masks = small.draw_masks(np.random.default_rng(1), 5, np.float64)
    _, grad = small.loss_and_grad(theta, (X, y), masks=masks)
    checks = directional_check(lambda t: small.loss_and_grad(t, (X, y), masks=masks)[0], grad, theta,
                               np.random.default_rng(2), n_directions=3)
    worst = max(c[2] for c in checks)
    print(f"  worst relative error along 3 random directions: {worst:.1e}")

    print("3. the linear path from init to solution")
    path = linear_path(model, result.theta_init, result.theta_best, train_set, np.linspace(0, 1.5, alphas), valid,
                       progress=False)
    metrics = summarize(path.alphas, path.J_train)
    for a, J, err in zip(path.alphas, path.J_train, path.error_valid):
        print(f"    alpha {a:4.2f}   J {J:.4f}   validation error {err:6.2%}")
    print(f"  monotone on [0, 1]: {metrics['monotone']}, local minima at {metrics['local_minima']}")
    return errors, worst, metrics


if __name__ == "__main__":
    main()
