"""The linear path's fast sweep against the plain one, measured in one run.

    python benchmarks/bench_linear_path.py [--device cpu|gpu] [--examples 60000] [--alphas 50]

- plain: for each alpha, set theta(alpha) and run the whole network over the data set;
- fast: ``linear_path`` as shipped: X W0 and X W1 once per chunk of data, reused for every alpha.

Model: the maxout ``mnist_pi`` network (1,233,610 parameters), float32, the
deterministic network (no dropout), random data of MNIST's shape. The speed-up
is plain / fast (higher is better); the curves are also checked to agree.
"""
from __future__ import annotations

import argparse

import numpy as np

from minilinpath import backend, models
from minilinpath.path import linear_path
from timing import best_time


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=backend.DEVICES, default="cpu")
    parser.add_argument("--examples", type=int, default=60_000)
    parser.add_argument("--alphas", type=int, default=50)
    args = parser.parse_args(argv)
    xp = backend.xp_for(args.device)
    model = models.get("mnist_pi")
    rng = np.random.default_rng(0)
    X = xp.asarray(rng.random((args.examples, 784), dtype=np.float32))
    y = xp.asarray(rng.integers(0, 10, size=args.examples))
    theta0, theta1 = model.init(0, xp=xp), model.init(1, xp=xp) * 50  # a "trained" end of larger norm
    alphas = np.linspace(0, 1, args.alphas)

    curves = {}

    def sweep(fast):
        curves[fast] = linear_path(model, theta0, theta1, (X, y), alphas, fast=fast, progress=False)

    sweep(True)  # warm-up (memory pools, BLAS threads)
    t_fast = best_time(lambda: sweep(True), xp, repeats=1)
    t_plain = best_time(lambda: sweep(False), xp, repeats=1)
    fast, plain = curves[True], curves[False]
    agree = float(np.max(np.abs(fast.J_train - plain.J_train) / np.abs(plain.J_train)))
    print(f"device {args.device}: mnist_pi, {args.examples:,} examples, {args.alphas} alphas, float32")
    print(f"  plain sweep   {t_plain:8.2f} s")
    print(f"  fast sweep    {t_fast:8.2f} s")
    print(f"  speed-up      {t_plain / t_fast:8.2f}x   (curves agree to {agree:.1e} relative)")


if __name__ == "__main__":
    main()
