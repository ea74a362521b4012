"""Lesson 1 — write a layer's backward pass, check it numerically, train a network on real digits.

Run it:  python lessons/lesson01_backprop_by_hand.py        (about a minute on a laptop)

What you will do
----------------
1. Derive and write the backward pass of an affine layer, out = x W + b.
2. Check it against central differences, the way every layer of minilinpath is checked.
3. Train a small ReLU network with dropout on handwritten digits, using the
   library's flat-parameter models and trainer, and watch the validation error fall.

The derivation (step 1)
-----------------------
For out[n, m] = sum_d x[n, d] W[d, m] + b[m] and an upstream gradient
G = dL/dout of shape (N, M), the chain rule gives

    dL/dx[n, d] = sum_m G[n, m] W[d, m]      ->  dx = G W^T     (N, D)
    dL/dW[d, m] = sum_n x[n, d] G[n, m]      ->  dW = x^T G     (D, M)
    dL/db[m]    = sum_n G[n, m]              ->  db = G summed over the batch

Each gradient has the shape of the thing it is the gradient of: a quick
check that catches most transposition mistakes.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from minilinpath import models
from minilinpath.data import DataError, load_dataset, load_pair
from minilinpath.gradcheck import numerical_vjp, rel_error
from minilinpath.layers import affine_forward
from minilinpath.train import Recipe, train


# ---------------------------------------------------------------- step 1
def my_affine_backward(dout, x, W):
    """Your backward pass of out = x W + b: return (dx, dW, db). (This is the solution; try it yourself first.)"""
    dx = dout @ W.T
    dW = x.T @ dout
    db = dout.sum(axis=0)
    return dx, dW, db


# ---------------------------------------------------------------- step 2
def check_my_backward(seed=0):
    """Compare each gradient with a numerical vector-Jacobian product, in float64."""
    rng = np.random.default_rng(seed)
    x, W, b = rng.standard_normal((4, 5)), rng.standard_normal((5, 3)), rng.standard_normal(3)
    dout = rng.standard_normal((4, 3))  # a random upstream gradient
    dx, dW, db = my_affine_backward(dout, x, W)
    errors = {
        "dx": rel_error(dx, numerical_vjp(lambda a: affine_forward(a, W, b)[0], x, dout)),
        "dW": rel_error(dW, numerical_vjp(lambda a: affine_forward(x, a, b)[0], W, dout)),
        "db": rel_error(db, numerical_vjp(lambda a: affine_forward(x, W, a)[0], b, dout)),
    }
    for name, err in errors.items():
        print(f"  {name}: relative error {err:.1e}  {'ok' if err < 1e-8 else 'WRONG: check your formula'}")
    return errors


# ---------------------------------------------------------------- step 3
def digits():
    """Real handwritten digits: the official MNIST test set when the project's shared copy is at hand
    (split 8,000 / 2,000), else MNIST itself (downloaded once into the cache)."""
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist-t10k"
    if (shared / "t10k-images-idx3-ubyte.gz").exists():
        X, y = load_pair(shared / "t10k-images-idx3-ubyte.gz", shared / "t10k-labels-idx1-ubyte.gz")
        return (X[:8000], y[:8000]), (X[8000:], y[8000:])
    splits = load_dataset("mnist")
    return splits["train"], splits["valid"]


def train_small_network(run_dir="lesson01-run", epochs=8, train_examples=None):
    """The paper's ReLU + dropout network (784 -> 898 -> 1532 -> 10), trained with SGD + momentum."""
    (X, y), valid = digits()
    if train_examples:
        X, y = X[:train_examples], y[:train_examples]
    model = models.get("mnist_valid")  # pylearn2's mnist_valid.yaml network
    print(f"  its parameters are one flat vector of {model.size:,} numbers; the layout names its pieces:")
    print("  " + repr(model.layout).replace("\n", "\n  "))
    recipe = Recipe(batch_size=100, learning_rate=0.1, momentum=0.5, max_epochs=epochs, patience=None)
    print(f"  training {model} on {len(y):,} digits, validating on {len(valid[1]):,}")
    result = train(model, (X, y), valid, recipe, run_dir, seed=0, progress=False)
    print(f"  best validation error {result.best_valid_error:.2%} at epoch {result.best_epoch}")
    return result


def main(run_dir="lesson01-run", epochs=8, train_examples=None):
    print("Step 1-2: the affine backward pass against central differences")
    errors = check_my_backward()
    if max(errors.values()) > 1e-8:
        sys.exit("fix my_affine_backward before going on")
    print("Step 3: train on real digits")
    try:
        return errors, train_small_network(run_dir, epochs, train_examples)
    except DataError as exc:
        sys.exit(f"no digits available: {exc}")


if __name__ == "__main__":
    main()
