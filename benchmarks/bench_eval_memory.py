"""Peak memory of evaluation: the paper's conv net (``cifar10_maxout``, 16 million parameters) over many images.

    python benchmarks/bench_eval_memory.py [--images 2000] [--alphas 2] [--budget-mb 1024]

Measures, in one process, the peak of the temporaries (NumPy allocations traced
by ``tracemalloc``) and the growth of the process's peak resident memory while

- ``model.loss`` evaluates the deterministic network over the images, and
- ``linear_path`` sweeps ``--alphas`` points of the line between two random inits;

both in chunks chosen by the evaluation memory budget
(``$MINILINPATH_EVAL_MEMORY_MB``, set here from ``--budget-mb``). The data
themselves (images x 3,072 float32) are allocated before the measurement and
not counted. Before evaluation kept no caches, 1,000 images x 2 alphas raised
the peak by 11.1 GB; the target is under 2 GB whatever the number of images.
"""
from __future__ import annotations

import argparse
import os
import resource
import time
import tracemalloc

import minilinpath  # noqa: F401  (first, before NumPy: minilinpath/threads.py says why)
import numpy as np


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--alphas", type=int, default=2)
    parser.add_argument("--budget-mb", type=float, default=1024)
    args = parser.parse_args(argv)
    os.environ["MINILINPATH_EVAL_MEMORY_MB"] = str(args.budget_mb)

    from minilinpath import models
    from minilinpath.path import linear_path

    model = models.get("cifar10_maxout")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.images, 3072), dtype=np.float32)
    y = rng.integers(0, 10, args.images)
    theta0, theta1 = model.init(0), model.init(1)
    chunk = model.evaluation_chunk(np.float32)
    print(f"cifar10_maxout, {args.images} images, budget {args.budget_mb:g} MB -> {chunk} images per pass "
          f"(estimate {model.eval_bytes_per_example() / 2**20:.1f} MB per image)")
    rss_before = peak_rss_bytes()
    for label, work in (("model.loss", lambda: model.loss(theta0, (X, y))),
                        (f"linear_path, {args.alphas} alphas",
                         lambda: linear_path(model, theta0, theta1, (X, y), np.linspace(0, 1, args.alphas),
                                             progress=False))):
        tracemalloc.start()
        started = time.perf_counter()
        work()
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"{label:>24}: peak temporaries {peak / 2**30:.2f} GiB, peak RSS growth "
              f"{(peak_rss_bytes() - rss_before) / 2**30:.2f} GiB, {seconds:.1f} s")


if __name__ == "__main__":
    main()
