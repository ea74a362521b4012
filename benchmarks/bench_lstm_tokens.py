"""Training speed of the ptb_small LSTM language model against its matrix products alone, in one run.

    python benchmarks/bench_lstm_tokens.py [--device cpu|gpu] [--windows 30]

- training: what ``train_language_model`` does per window (20 x 20 tokens):
  forward, backpropagation through time, gradient clipping, SGD update;
- floor: the same matrix products and nothing else (per layer the input
  product for all steps, then one h Wh per step; the softmax layer; their
  backward counterparts), on arrays of the same shapes.

Reports tokens per second for both and their ratio (floor / training time).
Random token ids over PTB's 10,000 words; float32.
"""
from __future__ import annotations

import argparse

import numpy as np

from minilinpath import backend, models
from minilinpath.train_lm import clip_global_norm
from timing import best_time

B, T = 20, 20


def train_windows(model, theta, data, xp):
    state = None
    for i in range(data.shape[1] // T - 1):
        batch = (data[:, i * T:(i + 1) * T], data[:, i * T + 1:(i + 1) * T + 1])
        _, grad, state = model.loss_and_grad(theta, batch, state=state, return_state=True)
        grad *= T
        clip_global_norm(grad, 5.0)
        grad *= 1.0
        theta -= grad


def floor_windows(model, theta, n_windows, xp):
    p = model.unflatten(theta)
    H, V = model.hidden, model.vocab_size
    x = xp.zeros((B * T, H), np.float32)
    h = xp.zeros((B, H), np.float32)
    da = xp.zeros((B * T, 4 * H), np.float32)
    da_t = xp.zeros((B, 4 * H), np.float32)
    dlogits = xp.zeros((B * T, V), np.float32)
    for _ in range(n_windows):
        for l in range(model.layers):
            x @ p[f"lstm{l}.Wx"]
            for _t in range(T):
                h @ p[f"lstm{l}.Wh"]
        x @ p["y.W"]
        x.T @ dlogits, dlogits @ p["y.W"].T
        for l in range(model.layers):
            for _t in range(T):
                da_t @ p[f"lstm{l}.Wh"].T, h.T @ da_t
            da @ p[f"lstm{l}.Wx"].T, x.T @ da


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=backend.DEVICES, default="cpu")
    parser.add_argument("--windows", type=int, default=30)
    args = parser.parse_args(argv)
    xp = backend.xp_for(args.device)
    model = models.get("ptb_small")
    theta = model.init(0, xp=xp)
    data = xp.asarray(np.random.default_rng(0).integers(0, model.vocab_size, size=(B, (args.windows + 1) * T + 1)))
    train_windows(model, theta, data[:, :3 * T + 1], xp)  # warm-up
    timings = {"training": best_time(lambda: train_windows(model, theta, data, xp), xp),
               "floor": best_time(lambda: floor_windows(model, theta, args.windows, xp), xp)}
    tokens = args.windows * B * T
    print(f"device {args.device}: ptb_small ({model.size:,} parameters), {args.windows} windows of {B}x{T} tokens")
    print(f"  training     {tokens / timings['training']:10,.0f} tokens/s")
    print(f"  GEMM floor   {tokens / timings['floor']:10,.0f} tokens/s")
    print(f"  ratio training time / floor time  {timings['training'] / timings['floor']:.2f}")


if __name__ == "__main__":
    main()
