"""Forward + backward of each convolution of the CIFAR-10 maxout network against its matrix products alone.

    python benchmarks/bench_conv_layers.py [--device cpu|gpu] [--batch 128]

For the three conv layers of CONFIGS.md section 3 (input, kernel, pad, output
channels as in cifar10_no_aug_valid.yaml), on one minibatch:

- layer: conv_forward + conv_backward as shipped (im2col, one product, col2im);
- floor: the same three matrix products (forward, dW, dcols) on arrays of the same shapes.

The ratio layer / floor shows what the gathering and scattering cost (lower is better).
"""
from __future__ import annotations

import argparse

import numpy as np

from minilinpath import backend
from minilinpath.layers.conv import conv_backward, conv_forward, output_size
from timing import best_time

# (input channels, input size, output channels = units * pieces, kernel, pad): h0, h1, h2 of the paper
LAYERS = {"h0": (3, 32, 192, 8, 4), "h1": (96, 16, 384, 8, 3), "h2": (192, 7, 384, 5, 3)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=backend.DEVICES, default="cpu")
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args(argv)
    xp = backend.xp_for(args.device)
    rng = np.random.default_rng(0)
    print(f"device {args.device}, batch {args.batch}, float32")
    for name, (C, size, F, k, pad) in LAYERS.items():
        x = xp.asarray(rng.standard_normal((args.batch, C, size, size), dtype=np.float32))
        W = xp.asarray(0.01 * rng.standard_normal((F, C, k, k), dtype=np.float32))
        b = xp.zeros(F, np.float32)
        out_size = output_size(size, k, 1, pad)
        dout = xp.asarray(rng.standard_normal((args.batch, F, out_size, out_size), dtype=np.float32))

        def layer():
            _, cache = conv_forward(x, W, b, 1, pad)
            conv_backward(dout, cache)

        cols = xp.zeros((C * k * k, args.batch * out_size * out_size), np.float32)
        Wm = W.reshape(F, -1)
        dout_f = xp.zeros((F, args.batch * out_size * out_size), np.float32)

        def floor():
            Wm @ cols, dout_f @ cols.T, Wm.T @ dout_f

        layer()
        t_layer, t_floor = best_time(layer, xp), best_time(floor, xp)
        print(f"  {name}: {C}x{size}x{size} -> {F}x{out_size}x{out_size}, kernel {k}, pad {pad}: "
              f"layer {t_layer * 1e3:8.1f} ms, floor {t_floor * 1e3:8.1f} ms, ratio {t_layer / t_floor:.2f}")


if __name__ == "__main__":
    main()
