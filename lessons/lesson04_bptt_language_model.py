"""Lesson 4 — backpropagation through time, checked; then the linear path of a language model.

Run it:  python lessons/lesson04_bptt_language_model.py      (about a minute)

1. A recurrent network applies the same weights at every time step, so its
   gradient is the *sum* over steps of each step's contribution, computed by
   walking the steps backwards and carrying dL/dh and dL/dc from step t+1 to
   step t. We write that loop for an LSTM, using the library's one-step
   backward, and check it against central differences in float64.
2. We train a small LSTM language model on real text (the Penn Treebank) with
   truncated BPTT, the state carried from window to window, and walk the
   straight line from its initial to its final parameters, evaluating J on
   the whole text stream at each alpha.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from minilinpath.data import ptb
from minilinpath.gradcheck import numerical_vjp, rel_error
from minilinpath.layers.recurrent import lstm_step_backward, lstm_step_forward
from minilinpath.models import LSTMLanguageModel
from minilinpath.path import linear_path, summarize
from minilinpath.train_lm import LMRecipe, train_language_model


# ---------------------------------------------------------------- step 1
def my_lstm_forward(xs, h0, c0, Wx, Wh, b):
    """Run the step function over xs (N, T, D); keep every step's cache for the backward pass."""
    h, c, caches, hs = h0, c0, [], []
    for t in range(xs.shape[1]):
        h, c, cache = lstm_step_forward(xs[:, t], h, c, Wx, Wh, b)
        hs.append(h)
        caches.append(cache)
    return np.stack(hs, axis=1), caches


def my_bptt(dhs, caches):
    """Your backpropagation through time: return (dxs, dh0, dc0, dWx, dWh, db). (The solution; try it first.)"""
    N, T, H = dhs.shape
    dh, dc = np.zeros((N, H)), np.zeros((N, H))
    dxs, dWx, dWh, db = [None] * T, 0.0, 0.0, 0.0
    for t in reversed(range(T)):
        # the loss reaches h_t directly (dhs[:, t]) and through step t+1 (dh carried back)
        dxs[t], dh, dc, gWx, gWh, gb = lstm_step_backward(dh + dhs[:, t], dc, caches[t])
        dWx, dWh, db = dWx + gWx, dWh + gWh, db + gb  # shared weights: gradients add up
    return np.stack(dxs, axis=1), dh, dc, dWx, dWh, db


def check_my_bptt(seed=0):
    rng = np.random.default_rng(seed)
    N, T, D, H = 2, 5, 3, 4
    inputs = [rng.standard_normal((N, T, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H)),
              0.5 * rng.standard_normal((D, 4 * H)), 0.5 * rng.standard_normal((H, 4 * H)),
              0.5 * rng.standard_normal(4 * H)]
    dhs = rng.standard_normal((N, T, H))
    _, caches = my_lstm_forward(*inputs)
    grads = my_bptt(dhs, caches)
    errors = {}
    for k, name in enumerate(("dx", "dh0", "dc0", "dWx", "dWh", "db")):
        def f(a, k=k):
            args = list(inputs)
            args[k] = a
            return my_lstm_forward(*args)[0]
        errors[name] = rel_error(grads[k], numerical_vjp(f, inputs[k], dhs))
        print(f"  {name}: relative error {errors[name]:.1e}")
    return errors


# ---------------------------------------------------------------- step 2
def main(run_dir="lesson04-run", epochs=4, hidden=64, alphas=11, out="lesson04-out"):
    print("1. backpropagation through time against central differences")
    errors = check_my_bptt()
    if max(errors.values()) > 1e-8:
        raise SystemExit("fix my_bptt before going on")

    print("2. a language model on the Penn Treebank validation text (90% to train, 10% held out)")
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "ptb"
    corpus = ptb.load_ptb_valid_split(shared if (shared / "ptb.valid.txt").exists() else None)
    train_data, valid_data = ptb.batchify(corpus["train"], 20), ptb.batchify(corpus["valid"], 20)
    vocab = len(corpus["vocabulary"])
    model = LSTMLanguageModel(vocab_size=vocab, hidden=hidden, layers=2, steps=20, init_range=0.1)
    recipe = LMRecipe(batch_size=20, learning_rate=1.0, decay=2.0, max_epoch=epochs - 1, max_max_epoch=epochs)
    result = train_language_model(model, train_data, valid_data, recipe, run_dir, seed=0, progress=False)
    unigram = ptb.unigram_perplexity(corpus["train"], corpus["valid"], vocab)
    print(f"  held-out perplexity {result.history[-1]['valid_perplexity']:.1f} (a unigram model: {unigram:.1f})")

    path = linear_path(model, result.theta_init, result.theta_last, ptb.stream_pairs(train_data),
                       np.linspace(0, 1.5, alphas), ptb.stream_pairs(valid_data), progress=False)
    metrics = summarize(path.alphas, path.J_train)
    print(f"  along the line: monotone on [0, 1]: {metrics['monotone']}, largest bump {metrics['largest_bump']:.3g}")
    for a, J in zip(path.alphas, path.J_train):
        print(f"    alpha {a:4.2f}   J {J:6.3f}   perplexity {np.exp(J):8.1f}")
    Path(out).mkdir(parents=True, exist_ok=True)
    path.save(Path(out) / "lesson04_path.npz", overwrite=True)
    return errors, result, unigram, metrics


if __name__ == "__main__":
    main()
