"""One training epoch of the mnist_pi maxout MLP against its matrix-product floor, measured in one run.

    python benchmarks/bench_mlp_epoch.py [--device cpu|gpu] [--examples 60000] [--repeats 3]

- epoch: 60,000 examples, minibatch 100, float32, dropout on, momentum update
  and max-norm constraint, exactly what ``minilinpath.train`` does per batch;
- floor: the same 8 matrix products per batch (3 forward, 5 backward) and
  nothing else, on arrays of the same shapes;
- torch (CPU, only if PyTorch can be imported): the same model and update in PyTorch.

The results are the ratios epoch / floor (lower is better; 1.0 would mean the
element-wise work costs nothing) and epoch / PyTorch. Data are random: the
speed does not depend on pixel values. Every candidate runs ``--repeats``
times, interleaved, and the median is reported.
"""
from __future__ import annotations

import argparse

import minilinpath  # noqa: F401  (first, before NumPy: minilinpath/threads.py says why)
import numpy as np

from minilinpath import backend, models
from minilinpath.optim import momentum_step
from timing import machine, median_times, try_torch

BATCH = 100


def make_data(n, xp):
    rng = np.random.default_rng(0)
    X = rng.random((n, 784), dtype=np.float32)
    y = rng.integers(0, 10, size=n)
    return xp.asarray(X), xp.asarray(y)


def epoch(model, theta, velocity, X, y, xp, seed=0):
    order = np.random.default_rng(seed).permutation(X.shape[0])
    rng = backend.rng(seed, xp)
    grad = xp.empty_like(theta)  # reused, as minilinpath.train does
    for start in range(0, X.shape[0], BATCH):
        idx = order[start:start + BATCH]
        idx = idx if xp is np else xp.asarray(idx)
        model.loss_and_grad(theta, (X[idx], y[idx]), rng=rng, out=grad)
        momentum_step(theta, velocity, grad, 0.01, 0.5)
        model.constrain(theta)


def gemm_floor(model, theta, X, xp):
    p = model.unflatten(theta)
    W0, W1, Wy = p["h0.W"], p["h1.W"], p["y.W"]
    h1 = xp.zeros((BATCH, 240), np.float32)
    dz0 = xp.zeros((BATCH, 1200), np.float32)
    dlog = xp.zeros((BATCH, 10), np.float32)
    for start in range(0, X.shape[0], BATCH):
        x = X[start:start + BATCH]
        x @ W0, h1 @ W1, h1 @ Wy                        # forward
        h1.T @ dlog, dlog @ Wy.T, h1.T @ dz0, dz0 @ W1.T  # backward, layers y and h1
        x.T @ dz0                                       # backward, layer h0 (no input gradient)


def torch_epoch(n):
    import torch

    torch.manual_seed(0)
    l1, l2, ly = torch.nn.Linear(784, 1200), torch.nn.Linear(240, 1200), torch.nn.Linear(240, 10)
    params = list(l1.parameters()) + list(l2.parameters()) + list(ly.parameters())
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.5)
    X = torch.rand(n, 784)
    y = torch.randint(0, 10, (n,))

    def run():
        order = torch.randperm(n)
        for start in range(0, n, BATCH):
            idx = order[start:start + BATCH]
            x = X[idx] * (torch.rand(BATCH, 784) < 0.8)
            h = l1(x).view(BATCH, 240, 5).amax(2) * (torch.rand(BATCH, 240) < 0.5) * 2
            h = l2(h).view(BATCH, 240, 5).amax(2) * (torch.rand(BATCH, 240) < 0.5) * 2
            loss = torch.nn.functional.cross_entropy(ly(h), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                for lin in (l1, l2, ly):  # torch stores W as (out, in): a unit's weights are a row
                    norms = lin.weight.norm(dim=1, keepdim=True)
                    lin.weight.mul_(torch.clamp(1.9365 / norms, max=1.0))
    return run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=backend.DEVICES, default="cpu")
    parser.add_argument("--examples", type=int, default=60_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    xp = backend.xp_for(args.device)
    model = models.get("mnist_pi")
    theta = model.init(0, xp=xp)
    velocity = xp.zeros_like(theta)
    X, y = make_data(args.examples, xp)
    epoch(model, theta, velocity, X[:1000], y[:1000], xp)  # warm-up
    fns = {"epoch": lambda: epoch(model, theta, velocity, X, y, xp), "floor": lambda: gemm_floor(model, theta, X, xp)}
    torch = try_torch() if args.device == "cpu" else None
    if torch is not None:
        fns["torch"] = torch_epoch(args.examples)
    t = median_times(fns, xp, args.repeats, warmup=False)
    print(f"device {args.device}: {args.examples:,} examples, batch {BATCH}, float32, dropout on, "
          f"median of {args.repeats}; {machine()}")
    print(f"  minilinpath epoch   {t['epoch']:8.3f} s")
    print(f"  GEMM floor          {t['floor']:8.3f} s")
    print(f"  ratio epoch/floor   {t['epoch'] / t['floor']:8.2f}")
    if torch is None:
        print("  (PyTorch not importable" + (" or not on the CPU" if args.device != "cpu" else "") + ": no PyTorch comparison)")
    else:
        print(f"  PyTorch {torch.__version__} epoch {t['torch']:8.3f} s   ratio epoch/torch {t['epoch'] / t['torch']:.2f}, "
              f"torch/floor {t['torch'] / t['floor']:.2f}")


if __name__ == "__main__":
    main()
