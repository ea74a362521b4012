"""Training speed of the ptb_small LSTM language model against its matrix products alone and PyTorch, in one run.

    python benchmarks/bench_lstm_tokens.py [--device cpu|gpu] [--windows 30] [--repeats 5]

- training: what ``train_language_model`` does per window (20 x 20 tokens):
  forward, backpropagation through time, gradient clipping, SGD update;
- floor: the same matrix products and nothing else (per layer the input
  product for all steps, then one h Wh per step; the softmax layer; their
  backward counterparts), on arrays of the same shapes;
- torch (CPU, only if PyTorch can be imported): the same model in PyTorch
  (``nn.Embedding``, a 2-layer ``nn.LSTM``, ``nn.Linear``, cross-entropy),
  the same windows, state carried and detached, ``clip_grad_norm_``, SGD.

Reports tokens per second and the ratios of the times (lower is better for
training / x); each candidate runs ``--repeats`` times, interleaved, median.
Random token ids over PTB's 10,000 words; float32.
"""
from __future__ import annotations

import argparse

import minilinpath  # noqa: F401  (first, before NumPy: minilinpath/threads.py says why)
import numpy as np

from minilinpath import backend, models
from minilinpath.train_lm import clipped_sgd_step
from timing import machine, median_times, try_torch

B, T = 20, 20


def train_windows(model, theta, data, xp):
    state = None
    for i in range(data.shape[1] // T - 1):
        batch = (data[:, i * T:(i + 1) * T], data[:, i * T + 1:(i + 1) * T + 1])
        _, grad, state = model.loss_and_grad(theta, batch, state=state, return_state=True)
        clipped_sgd_step(theta, grad, T, 5.0, 1.0)


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


def torch_windows(torch, model, data_np, n_windows):
    """The same training windows in PyTorch: forward, backward, clip at 5, SGD with learning rate 1."""
    torch.manual_seed(0)
    H, V = model.hidden, model.vocab_size

    class LM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(V, H)
            self.lstm = torch.nn.LSTM(H, H, model.layers, batch_first=True)
            self.out = torch.nn.Linear(H, V)

        def forward(self, x, state):
            h, state = self.lstm(self.embed(x), state)
            return self.out(h.reshape(-1, H)), state

    net = LM()
    for p in net.parameters():
        torch.nn.init.uniform_(p, -model.init_range, model.init_range)
    data = torch.from_numpy(np.asarray(data_np))

    def run():
        state = None
        for i in range(n_windows):
            x, y = data[:, i * T:(i + 1) * T], data[:, i * T + 1:(i + 1) * T + 1]
            logits, state = net(x, state)
            state = tuple(s.detach() for s in state)
            loss = torch.nn.functional.cross_entropy(logits, y.reshape(-1)) * T
            net.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            with torch.no_grad():
                for p in net.parameters():
                    p.sub_(p.grad)
    return run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=backend.DEVICES, default="cpu")
    parser.add_argument("--windows", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    xp = backend.xp_for(args.device)
    model = models.get("ptb_small")
    theta = model.init(0, xp=xp)
    data_np = np.random.default_rng(0).integers(0, model.vocab_size, size=(B, (args.windows + 1) * T + 1))
    data = xp.asarray(data_np)
    train_windows(model, theta, data[:, :3 * T + 1], xp)  # warm-up
    fns = {"training": lambda: train_windows(model, theta, data, xp),
           "floor": lambda: floor_windows(model, theta, args.windows, xp)}
    torch = try_torch() if args.device == "cpu" else None
    if torch is not None:
        fns["torch"] = torch_windows(torch, model, data_np, args.windows)
    timings = median_times(fns, xp, args.repeats)
    tokens = args.windows * B * T
    print(f"device {args.device}: ptb_small ({model.size:,} parameters), {args.windows} windows of {B}x{T} tokens, "
          f"median of {args.repeats}; {machine()}")
    print(f"  training     {tokens / timings['training']:10,.0f} tokens/s")
    print(f"  GEMM floor   {tokens / timings['floor']:10,.0f} tokens/s")
    if torch is not None:
        print(f"  PyTorch {torch.__version__} ({torch.get_num_threads()} threads) "
              f"{tokens / timings['torch']:10,.0f} tokens/s")
    line = f"  ratio training time / floor time  {timings['training'] / timings['floor']:.2f}"
    if torch is not None:
        line += f"; training time / PyTorch time  {timings['training'] / timings['torch']:.2f}"
    else:
        line += "  (PyTorch not importable: no PyTorch comparison)"
    print(line)


if __name__ == "__main__":
    main()
