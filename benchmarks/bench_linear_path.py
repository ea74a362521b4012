"""The linear path's fast sweep against the plain one, measured in one run.

    python benchmarks/bench_linear_path.py [--device cpu|gpu] [--examples 60000] [--alphas 50] [--repeats 3]

- plain: for each alpha, set theta(alpha) and run the whole network over the data set;
- fast: ``linear_path`` as shipped: X W0 and X W1 once per chunk of data, reused for every alpha;
- torch (CPU, only if PyTorch can be imported): PyTorch's naive loop, for each
  alpha set theta(alpha) and run the whole network over the data (no_grad).

Model: the maxout ``mnist_pi`` network (1,233,610 parameters), float32, the
deterministic network (no dropout), random data of MNIST's shape. The speed-up
is plain / fast and torch / fast (higher is better); the curves are also checked to agree.
"""
from __future__ import annotations

import argparse

import minilinpath  # noqa: F401  (first, before NumPy: minilinpath/threads.py says why)
import numpy as np

from minilinpath import backend, models
from minilinpath.path import linear_path
from timing import machine, median_times, try_torch


def torch_sweep(torch, model, theta0, theta1, X, y, alphas, chunk=10_000):
    """For each alpha: theta(alpha) into PyTorch tensors, the maxout network's mean NLL over all of X."""
    t0, t1 = (torch.from_numpy(np.asarray(backend.to_numpy(t))) for t in (theta0, theta1))
    Xt, yt = torch.from_numpy(backend.to_numpy(X)), torch.from_numpy(backend.to_numpy(y))
    names = ["h0", "h1", "y"]
    k = model.pieces
    layout = model.layout

    def run():
        curve = []
        with torch.no_grad():
            for a in alphas:
                theta = (1 - a) * t0 + a * t1
                p = {n: theta[layout[n].offset:layout[n].offset + int(np.prod(layout[n].shape))].view(*layout[n].shape)
                     for n in [f"{m}.{w}" for m in names for w in ("W", "b")]}
                total = 0.0
                for start in range(0, Xt.shape[0], chunk):
                    h = Xt[start:start + chunk]
                    for m in names[:-1]:
                        z = torch.addmm(p[f"{m}.b"], h, p[f"{m}.W"])
                        h = z.view(z.shape[0], -1, k).amax(2)
                    logits = torch.addmm(p["y.b"], h, p["y.W"])
                    total += float(torch.nn.functional.cross_entropy(logits, yt[start:start + chunk], reduction="sum"))
                curve.append(total / Xt.shape[0])
        return np.array(curve)
    return run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=backend.DEVICES, default="cpu")
    parser.add_argument("--examples", type=int, default=60_000)
    parser.add_argument("--alphas", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3, help="rounds; each candidate's median is reported")
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

    fns = {"fast": lambda: sweep(True), "plain": lambda: sweep(False)}
    torch = try_torch() if args.device == "cpu" else None
    if torch is not None:
        run = torch_sweep(torch, model, theta0, theta1, X, y, alphas)
        fns["torch"] = lambda: curves.setdefault("torch", run())
    sweep(True)  # warm-up (memory pools, BLAS threads); the rounds below interleave the candidates
    t = median_times(fns, xp, args.repeats, warmup=False)
    fast, plain = curves[True], curves[False]
    agree = float(np.max(np.abs(fast.J_train - plain.J_train) / np.abs(plain.J_train)))
    print(f"device {args.device}: mnist_pi, {args.examples:,} examples, {args.alphas} alphas, float32, "
          f"median of {args.repeats}; {machine()}")
    print(f"  plain sweep   {t['plain']:8.2f} s")
    print(f"  fast sweep    {t['fast']:8.2f} s")
    print(f"  speed-up      {t['plain'] / t['fast']:8.2f}x   (curves agree to {agree:.1e} relative)")
    if torch is None:
        print("  (PyTorch not importable" + (" or not on the CPU" if args.device != "cpu" else "") + ": no PyTorch comparison)")
        return
    agree_t = float(np.max(np.abs(curves["torch"] - fast.J_train) / np.abs(fast.J_train)))
    print(f"  PyTorch {torch.__version__} naive loop {t['torch']:8.2f} s   fast sweep is {t['torch'] / t['fast']:.2f}x "
          f"faster (curves agree to {agree_t:.1e} relative)")


if __name__ == "__main__":
    main()
