"""Forward + backward of each convolution of the CIFAR-10 maxout network against its matrix products alone and PyTorch.

    python benchmarks/bench_conv_layers.py [--device cpu|gpu] [--batch 64] [--repeats 5]

For the three conv layers of docs/CONFIGS.md section 3 (input, kernel, pad, output
channels as in cifar10_no_aug_valid.yaml), on one minibatch, float32:

- layer: conv_forward + conv_backward as shipped (input gradient included),
  with ``DEFAULT_ALGORITHM`` (im2col);
- fft: the same with the FFT algorithm, where ``conv_algorithm`` counts fewer
  operations for it ("auto" would pick it); the "auto" total adds, per layer,
  the algorithm "auto" picks;
- floor: the three matrix products of im2col (forward, dW, dcols) on arrays of
  the same shapes, nothing else;
- torch (CPU, only if PyTorch can be imported): ``conv2d`` forward and its
  autograd backward (input, weight and bias gradients) on the same arrays.

Every candidate runs ``--repeats`` times, interleaved, and the median is
reported; the ratios (lower is better for layer / x) come from one run.
"""
from __future__ import annotations

import argparse

import minilinpath  # noqa: F401  (first, before NumPy: minilinpath/threads.py says why)
import numpy as np

from minilinpath import backend
from minilinpath.layers.conv import DEFAULT_ALGORITHM, conv_algorithm, conv_backward, conv_forward, output_size
from timing import machine, median_times, try_torch

# (input channels, input size, output channels = units * pieces, kernel, pad): h0, h1, h2 of the paper
LAYERS = {"h0": (3, 32, 192, 8, 4), "h1": (96, 16, 384, 8, 3), "h2": (192, 7, 384, 5, 3)}


def torch_layer(torch, x, W, b, dout, pad):
    tx, tW, tb = (torch.from_numpy(a).requires_grad_(True) for a in (x, W, b))
    tdout = torch.from_numpy(dout)

    def run():
        out = torch.nn.functional.conv2d(tx, tW, tb, padding=pad)
        out.backward(tdout)
        tx.grad = tW.grad = tb.grad = None
    return run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=backend.DEVICES, default="cpu")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    xp = backend.xp_for(args.device)
    torch = try_torch() if args.device == "cpu" else None
    rng = np.random.default_rng(0)
    print(f"device {args.device}, batch {args.batch}, float32, median of {args.repeats}; {machine()}")
    if torch is None:
        print("  (PyTorch not importable" + (" or not on the CPU" if args.device != "cpu" else "") + ": no PyTorch column)")
    else:
        print(f"  PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
    totals = {}
    for name, (C, size, F, k, pad) in LAYERS.items():
        x_np = rng.standard_normal((args.batch, C, size, size), dtype=np.float32)
        W_np = 0.01 * rng.standard_normal((F, C, k, k), dtype=np.float32)
        b_np = np.zeros(F, np.float32)
        out_size = output_size(size, k, 1, pad)
        dout_np = rng.standard_normal((args.batch, F, out_size, out_size), dtype=np.float32)
        x, W, b, dout = (xp.asarray(a) for a in (x_np, W_np, b_np, dout_np))
        algorithm = conv_algorithm(x.shape, W.shape, 1, pad)

        def layer(algorithm=None):
            _, cache = conv_forward(x, W, b, 1, pad, algorithm=algorithm)
            conv_backward(dout, cache)

        cols = xp.zeros((C * k * k, args.batch * out_size * out_size), np.float32)
        Wm = W.reshape(F, -1)
        dout_f = xp.zeros((F, args.batch * out_size * out_size), np.float32)

        def floor():
            Wm @ cols, dout_f @ cols.T, Wm.T @ dout_f

        fns = {"layer": layer, "floor": floor}
        if algorithm == "fft":
            fns["fft"] = lambda: layer("fft")
        if torch is not None:
            fns["torch"] = torch_layer(torch, x_np, W_np, b_np, dout_np, pad)
        t = median_times(fns, xp, args.repeats)
        del cols, dout_f
        for key, value in t.items():
            totals[key] = totals.get(key, 0.0) + value
        totals["auto"] = totals.get("auto", 0.0) + t.get(algorithm, t["layer"])
        line = (f"  {name}: {C}x{size}x{size} -> {F}x{out_size}x{out_size}, kernel {k}, pad {pad} "
                f"[{DEFAULT_ALGORITHM}; auto: {algorithm}]: layer {t['layer'] * 1e3:7.1f} ms, "
                f"floor {t['floor'] * 1e3:7.1f} ms")
        if "fft" in t:
            line += f", fft {t['fft'] * 1e3:7.1f} ms"
        line += f"; layer/floor {t['layer'] / t['floor']:.2f}"
        if "torch" in t:
            line += f", torch {t['torch'] * 1e3:7.1f} ms, layer/torch {t['layer'] / t['torch']:.2f}"
            if "fft" in t:
                line += f", fft/torch {t['fft'] / t['torch']:.2f}"
        print(line)
    line = (f"  all three: layer {totals['layer'] * 1e3:7.1f} ms, floor {totals['floor'] * 1e3:7.1f} ms, "
            f"auto {totals['auto'] * 1e3:7.1f} ms; layer/floor {totals['layer'] / totals['floor']:.2f}")
    if "torch" in totals:
        line += (f", torch {totals['torch'] * 1e3:7.1f} ms, layer/torch {totals['layer'] / totals['torch']:.2f}, "
                 f"auto/torch {totals['auto'] / totals['torch']:.2f}")
    print(line)


if __name__ == "__main__":
    main()
