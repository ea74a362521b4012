"""Lesson 5 — convolution's backward pass, written and checked; then the linear path of a small conv net.

Run it:  python lessons/lesson05_convolution.py      (about a minute)

1. A convolution out = conv(x, W) + b is linear in x and in W, so its
   backward pass is two more convolutions:

       dW[f, c, p, q] = sum_{n, i, j} dout[n, f, i, j] * x_pad[n, c, i*s + p, j*s + q]
       dx_pad[n, c, i*s + p, j*s + q] += sum_f dout[n, f, i, j] * W[f, c, p, q]
       db[f] = sum_{n, i, j} dout[n, f, i, j]

   We write them with plain loops over the kernel offsets (p, q), easy to
   read, and check them against central differences and against the
   library's im2col version.
2. We train a small convolutional maxout network on real digits and walk the
   straight line from its initial parameters to its solution.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from minilinpath.data import load_dataset, load_pair
from minilinpath.gradcheck import numerical_vjp, rel_error
from minilinpath.layers.conv import conv_backward, conv_forward
from minilinpath.models import ConvMaxout, ConvSpec
from minilinpath.path import linear_path, summarize
from minilinpath.train import Recipe, train


# ---------------------------------------------------------------- step 1
def my_conv_backward(dout, x, W, stride, pad):
    """Your backward pass of conv_forward(x, W, b, stride, pad): (dx, dW, db). (The solution; try it first.)"""
    N, C, H, Wd = x.shape
    F, _, HH, WW = W.shape
    Ho, Wo = dout.shape[2:]
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dx_pad, dW = np.zeros_like(x_pad), np.zeros_like(W)
    for p in range(HH):
        for q in range(WW):
            window = x_pad[:, :, p:p + stride * Ho:stride, q:q + stride * Wo:stride]  # (N, C, Ho, Wo)
            dW[:, :, p, q] = np.einsum("nfij,ncij->fc", dout, window)
            dx_pad[:, :, p:p + stride * Ho:stride, q:q + stride * Wo:stride] += np.einsum("nfij,fc->ncij", dout,
                                                                                          W[:, :, p, q])
    return dx_pad[:, :, pad:pad + H, pad:pad + Wd], dW, dout.sum(axis=(0, 2, 3))


def check_my_conv_backward(seed=0, stride=2, pad=1):
    rng = np.random.default_rng(seed)
    x, W, b = rng.standard_normal((2, 3, 7, 7)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    out, cache = conv_forward(x, W, b, stride, pad)
    dout = rng.standard_normal(out.shape)
    mine = my_conv_backward(dout, x, W, stride, pad)
    numerical = (numerical_vjp(lambda a: conv_forward(a, W, b, stride, pad)[0], x, dout),
                 numerical_vjp(lambda a: conv_forward(x, a, b, stride, pad)[0], W, dout),
                 numerical_vjp(lambda a: conv_forward(x, W, a, stride, pad)[0], b, dout))
    library = conv_backward(dout, cache)
    errors = {}
    for name, m, n, lib in zip(("dx", "dW", "db"), mine, numerical, library):
        errors[name] = max(rel_error(m, n), rel_error(m, lib))
        print(f"  {name}: relative error {errors[name]:.1e} (vs central differences and vs im2col)")
    return errors


# ---------------------------------------------------------------- step 2
def digits(train_examples):
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist-t10k"
    if (shared / "t10k-images-idx3-ubyte.gz").exists():
        X, y = load_pair(shared / "t10k-images-idx3-ubyte.gz", shared / "t10k-labels-idx1-ubyte.gz")
        return (X[:train_examples], y[:train_examples]), (X[8000:], y[8000:])
    splits = load_dataset("mnist")
    return tuple(a[:train_examples] for a in splits["train"]), splits["valid"]


def main(run_dir="lesson05-run", epochs=4, train_examples=4000, alphas=16):
    print("1. convolution's backward pass")
    errors = check_my_conv_backward()
    if max(errors.values()) > 1e-8:
        raise SystemExit("fix my_conv_backward before going on")
    print("2. a small conv maxout network on digits, and its linear path")
    train_set, valid = digits(train_examples)
    model = ConvMaxout(input_shape=(1, 28, 28), conv=(ConvSpec(8, 2, 5, 2, 3, 2), ConvSpec(16, 2, 5, 2, 3, 2)),
                       dense=(50,), dense_pieces=3, n_classes=10, init_range=0.05)
    recipe = Recipe(batch_size=32, learning_rate=0.1, momentum=0.5, max_epochs=epochs, patience=None)
    result = train(model, train_set, valid, recipe, run_dir, seed=0, progress=False)
    print(f"  best validation error {result.best_valid_error:.2%}")
    path = linear_path(model, result.theta_init, result.theta_best, train_set, np.linspace(0, 1.5, alphas), valid,
                       chunk_size=1000, progress=False)
    metrics = summarize(path.alphas, path.J_train)
    print(f"  monotone on [0, 1]: {metrics['monotone']}, largest bump {metrics['largest_bump']:.3g}, "
          f"local minima at {metrics['local_minima']}")
    return errors, result, metrics


if __name__ == "__main__":
    main()
