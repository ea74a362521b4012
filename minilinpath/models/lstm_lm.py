"""A word-level LSTM language model as a pure function of theta (Zaremba, Sutskever & Vinyals 2014).

For input word ids x (N, T) and the state (h, c) of every layer carried in::

    e_t = embed.W[x_t]                                     (N, H)
    h^1_t, c^1_t = LSTM_1(drop(e_t), h^1_{t-1}, c^1_{t-1})
    h^2_t, c^2_t = LSTM_2(drop(h^1_t), h^2_{t-1}, c^2_{t-1})
    logits_t = drop(h^L_t) y.W + y.b                       (N, V)
    J = mean over n and t of -log softmax(logits_t)[n, target_t]

Dropout goes on the non-recurrent connections only (embedding -> layer 1,
layer l -> layer l+1, last layer -> softmax); h_{t-1} -> h_t is never
dropped. Dropout is inverted: kept units are scaled by 1 / keep_prob, so the
deterministic network (``loss``) uses no masks and no scale. Every parameter,
biases and embedding included, starts U(-init_range, init_range), as in
Zaremba's Torch code.

Parameter names: ``embed.W`` (V, H); for each layer l, ``lstm{l}.Wx`` (H, 4H),
``lstm{l}.Wh`` (H, 4H), ``lstm{l}.b`` (4H,) with gate blocks
[input, forget, cell candidate, output]; ``y.W`` (H, V), ``y.b`` (V,).

A batch is ``(inputs, targets)``, integer arrays of shape (N, T). ``loss``
accepts any length T and walks it in windows of ``steps`` carrying the state
(this is how the whole training stream is evaluated along a linear path);
``loss_and_grad`` backpropagates through one window (truncated BPTT), the
state coming in treated as a constant.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..layers.dropout import draw_mask, dropout_backward, dropout_forward
from ..layers.embedding import embedding_backward, embedding_forward
from ..layers.losses import nll_value, softmax_cross_entropy
from ..layers.affine import affine_backward, affine_forward
from ..layers.recurrent import lstm_backward, lstm_forward
from ..params import Layout


class LSTMLanguageModel:
    """Stacked LSTM language model. ``keep_prob`` = 1 - dropout probability (1.0: no dropout)."""

    def __init__(self, vocab_size=10_000, hidden=200, layers=2, steps=20, init_range=0.1, keep_prob=1.0,
                 name="lstm_lm"):
        if min(vocab_size, hidden, layers, steps) < 1 or not 0.0 < keep_prob <= 1.0 or init_range <= 0:
            raise ValueError("vocab_size, hidden, layers and steps must be >= 1, 0 < keep_prob <= 1, init_range > 0.")
        self.vocab_size, self.hidden, self.layers, self.steps = int(vocab_size), int(hidden), int(layers), int(steps)
        self.init_range, self.keep_prob, self.name = float(init_range), float(keep_prob), name
        H, V = self.hidden, self.vocab_size
        shapes = [("embed.W", (V, H))]
        for l in range(self.layers):
            shapes += [(f"lstm{l}.Wx", (H, 4 * H)), (f"lstm{l}.Wh", (H, 4 * H)), (f"lstm{l}.b", (4 * H,))]
        shapes += [("y.W", (H, V)), ("y.b", (V,))]
        self.layout = Layout(shapes)

    def __repr__(self):
        return (f"LSTMLanguageModel({self.name}: vocabulary {self.vocab_size}, {self.layers} x {self.hidden} units, "
                f"keep {self.keep_prob}, {self.layout.size:,} parameters)")

    @property
    def size(self) -> int:
        return self.layout.size

    @property
    def uses_dropout(self) -> bool:
        return self.keep_prob < 1.0

    def settings(self) -> dict:
        return dict(vocab_size=self.vocab_size, hidden=self.hidden, layers=self.layers, steps=self.steps,
                    init_range=self.init_range, keep_prob=self.keep_prob, name=self.name)

    def init(self, seed, xp=None, dtype=np.float32):
        """Every parameter U(-init_range, init_range), drawn with NumPy from ``seed``."""
        theta = np.random.default_rng(seed).uniform(-self.init_range, self.init_range, size=self.layout.size)
        return backend.to_device(theta, "gpu" if xp is not None and xp is not np else "cpu", dtype=dtype)

    def unflatten(self, theta) -> dict:
        return self.layout.unflatten(theta)

    def constrain(self, theta) -> None:
        """No constraints (gradient clipping happens in the trainer)."""

    def zero_state(self, n, xp=np, dtype=np.float32) -> list:
        """[(h, c)] per layer, all zeros, each (n, H)."""
        return [(xp.zeros((n, self.hidden), dtype), xp.zeros((n, self.hidden), dtype)) for _ in range(self.layers)]

    def draw_masks(self, rng, n, t, dtype=np.float32) -> list:
        """layers + 1 dropout masks of shape (n, t, H): the input of each LSTM layer, then the softmax's."""
        return [draw_mask(rng, (n, t, self.hidden), self.keep_prob, dtype) for _ in range(self.layers + 1)]

    def _check(self, theta, inputs, targets):
        self.layout.check(theta)
        for label, a in (("inputs", inputs), ("targets", targets)):
            if getattr(a, "ndim", None) != 2 or a.dtype.kind not in "iu":
                raise ValueError(f"{self.name}: {label} must be an integer array (batch, steps), "
                                 f"got {getattr(a, 'dtype', None)} of shape {getattr(a, 'shape', None)}.")
        if inputs.shape != targets.shape:
            raise ValueError(f"{self.name}: inputs {inputs.shape} and targets {targets.shape} differ in shape.")

    # ------------------------------------------------------------------ one window
    def _window(self, theta, inputs, targets, state, masks, with_grad):
        p = self.layout.unflatten(theta)
        N, T = inputs.shape
        x, embed_cache = embedding_forward(inputs, p["embed.W"])
        caches, new_state = [], []
        for l in range(self.layers):
            drop = None
            if masks is not None:
                x, drop = dropout_forward(x, self.keep_prob, 1.0 / self.keep_prob, mask=masks[l])
            h0, c0 = state[l]
            x, (hT, cT), lstm_cache = lstm_forward(x, h0, c0, p[f"lstm{l}.Wx"], p[f"lstm{l}.Wh"], p[f"lstm{l}.b"])
            caches.append((drop, lstm_cache))
            new_state.append((hT, cT))
        top_drop = None
        if masks is not None:
            x, top_drop = dropout_forward(x, self.keep_prob, 1.0 / self.keep_prob, mask=masks[-1])
        logits, out_cache = affine_forward(x.reshape(N * T, self.hidden), p["y.W"], p["y.b"])
        loss, dlogits = softmax_cross_entropy(logits, targets.reshape(-1), with_grad=with_grad)
        if not with_grad:
            return loss, None, new_state
        xp = backend.get_xp(theta)
        grad = xp.empty_like(theta)
        g = self.layout.unflatten(grad)
        dx, _, _ = affine_backward(dlogits, out_cache, dW_out=g["y.W"], db_out=g["y.b"])
        dx = dx.reshape(N, T, self.hidden)
        if top_drop is not None:
            dx = dropout_backward(dx, top_drop)
        for l in reversed(range(self.layers)):
            drop, lstm_cache = caches[l]
            # the state carried in is a constant here (truncated BPTT): its gradients dh0, dc0 are dropped
            dx, _dh0, _dc0, _, _, _ = lstm_backward(dx, lstm_cache, dWx_out=g[f"lstm{l}.Wx"],
                                                    dWh_out=g[f"lstm{l}.Wh"], db_out=g[f"lstm{l}.b"])
            if drop is not None:
                dx = dropout_backward(dx, drop)
        embedding_backward(dx, embed_cache, out=g["embed.W"])  # written straight into its place in grad
        return loss, grad, new_state

    def loss_and_grad(self, theta, batch, rng=None, masks=None, state=None, return_state=False):
        """``(loss, grad)`` of the mean per-token NLL of one window (truncated BPTT).

        ``state``: the (h, c) of each layer carried in from the previous window
        (zeros if None); with ``return_state`` the final state is returned as
        well, to carry into the next window. ``rng`` draws dropout masks.
        """
        inputs, targets = batch
        self._check(theta, inputs, targets)
        xp = backend.get_xp(theta)
        N, T = inputs.shape
        state = self.zero_state(N, xp, theta.dtype) if state is None else state
        if rng is not None and masks is None and self.uses_dropout:
            masks = self.draw_masks(rng, N, T, theta.dtype)
        loss, grad, new_state = self._window(theta, inputs, targets, state, masks, with_grad=True)
        loss = nll_value(loss, targets.reshape(-1), self.vocab_size)   # the one number read back per window
        return (loss, grad, new_state) if return_state else (loss, grad)

    def loss(self, theta, batch, state=None) -> float:
        """Mean per-token NLL of the deterministic network over the whole batch, window by window, state carried."""
        inputs, targets = batch
        self._check(theta, inputs, targets)
        xp = backend.get_xp(theta)
        N, L = inputs.shape
        state = self.zero_state(N, xp, theta.dtype) if state is None else state
        total = 0.0
        for start in range(0, L, self.steps):
            window = slice(start, start + self.steps)
            nll, _, state = self._window(theta, inputs[:, window], targets[:, window], state, None, with_grad=False)
            total += nll_value(nll, targets[:, window].reshape(-1), self.vocab_size) * inputs[:, window].size
        return total / max(inputs.size, 1)

    def perplexity(self, theta, batch) -> float:
        """exp(mean per-token NLL)."""
        return float(np.exp(self.loss(theta, batch)))
