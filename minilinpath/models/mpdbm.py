"""The multi-prediction deep Boltzmann machine (Goodfellow, Mirza, Courville & Bengio, NIPS 2013).

Variables: visible pixels v (784, binary), hidden layers h0 and h1 (binary),
and the label y (a 10-way softmax unit). Energy-based model, trained through
its *inference*: for each example a random mask chooses which pixels and
whether the label are to be predicted (each with probability 0.5); the other
variables are clamped to their observed values; mean-field inference runs a
fixed number of iterations; the cost is how well the final mean-field values
predict the masked variables. The gradient is backpropagated through the
unrolled iterations, by hand (a recurrent network, in effect).

Mean-field updates (each ``sigma`` is the logistic function, q the current
values, m the masks, clamped variables keep their data values)::

    h0 <- sigma(q_v W0 + q_h1 W1^T + b0)
    h1 <- sigma(q_h0 W1 + q_y Wc^T + b1)
    y  <- m_y * softmax(q_h1 Wc + bc) + (1 - m_y) * onehot(label)
    v  <- m_v * sigma(q_h0 W0^T + bv) + (1 - m_v) * x

Start: masked pixels at sigma(bv), a masked label at softmax(bc), hidden
layers at 0. First pass (Salakhutdinov & Hinton's weight doubling, pylearn2's
``WeightDoubling``): bottom-up only, with doubled bottom-up weights for h0 and
h1 (not for the top layer y): h0 = sigma(2 q_v W0 + b0), h1 = sigma(2 h0 W1 + b1),
y = softmax(h1 Wc + bc). Each later iteration (``iterations`` - 1 of them)
updates, as pylearn2's ``do_inpainting`` does, the even layers (h0, y), then
the visible layer, then the odd layer (h1).

Cost (pylearn2 ``MultiPrediction``, supervised)::

    J = (1 / (N * 784)) sum_{n, i} m_v[n, i] BCE(x[n, i], z_v[n, i])
        + (1 / 784) (1 / N) sum_n m_y[n] NLL(label_n | z_y[n])

with z_v, z_y the final pre-activations (so both terms are computed stably
from logits). ``loss`` evaluates J with *fixed* masks and the pixel
intensities as targets, a deterministic function of theta (common random
numbers along a linear path). The fixed masks come from one helper,
:meth:`MPDBM.fixed_masks`: chunk by chunk of ``EVAL_CHUNK`` examples, each
chunk's from a generator seeded ``[EVAL_MASK_SEED, start of the chunk]``;
``loss_and_grad`` without ``rng`` or ``masks`` uses the same ones, so its J is
``loss``'s. ``loss_and_grad(rng=...)`` draws fresh masks and binarises the
pixels (Bernoulli samples), as in training. Classification: clamp all pixels,
infer the label.

Parameters: ``v.b`` (784,), ``h0.W`` (784, H0), ``h0.b``, ``h1.W`` (H0, H1),
``h1.b``, ``c.W`` (H1, 10), ``c.b`` (10,).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import backend
from ..checks import whole_number
from ..layers.activations import sigmoid
from ..layers.losses import log_softmax
from ..params import Layout
from .classifier import limit_column_norms

EVAL_CHUNK = 2000
EVAL_MASK_SEED = 20131205  # the fixed masks of ``loss`` (any constant works; this one is the NIPS 2013 date)
MAX_ITERATIONS = 1000      # mean-field settles in tens of iterations (the paper: 14); more is a typo that would exhaust memory


class Update(NamedTuple):
    """One mean-field update: target <- act(sum_k scale_k * source_k @ W_k (or W_k^T) + bias), then masked."""
    target: str
    terms: tuple    # (source, weight name, transposed, scale)
    bias: str
    act: str        # "sigmoid" or "softmax"


def _schedule(iterations: int) -> list:
    """The unrolled inference as a list of updates (see the module docstring)."""
    ops = [Update("v", (), "v.b", "sigmoid"), Update("y", (), "c.b", "softmax"),            # start values
           Update("h0", (("v", "h0.W", False, 2.0),), "h0.b", "sigmoid"),                    # weight doubling
           Update("h1", (("h0", "h1.W", False, 2.0),), "h1.b", "sigmoid"),
           Update("y", (("h1", "c.W", False, 1.0),), "c.b", "softmax")]
    for _ in range(iterations - 1):
        ops += [Update("h0", (("v", "h0.W", False, 1.0), ("h1", "h1.W", True, 1.0)), "h0.b", "sigmoid"),
                Update("y", (("h1", "c.W", False, 1.0),), "c.b", "softmax"),
                Update("v", (("h0", "h0.W", True, 1.0),), "v.b", "sigmoid"),
                Update("h1", (("h0", "h1.W", False, 1.0), ("y", "c.W", True, 1.0)), "h1.b", "sigmoid")]
    return ops


class MPDBM:
    """A two-hidden-layer DBM with a label layer, trained by multi-prediction. See the module docstring."""

    def __init__(self, n_visible=784, hidden=(2087, 3200), n_classes=10, iterations=14, h0_sparse_init=15,
                 h1_init_range=0.00638830865761, c_sparse_init=23, biases=(-0.710467, -0.393587),
                 max_col_norms=(1.809978, 2.666304, 5.175683), mask_prob=0.5, pixel_means=None, name="mpdbm"):
        n_visible, n_classes, iterations = (whole_number(n_visible, "n_visible"), whole_number(n_classes, "n_classes"),
                                            whole_number(iterations, "iterations"))
        hidden = tuple(whole_number(h, "each hidden size") for h in hidden)
        if iterations < 1 or len(hidden) != 2 or min(n_visible, n_classes, *hidden) < 1:
            raise ValueError("need iterations >= 1, two hidden layer sizes and positive sizes.")
        if iterations > MAX_ITERATIONS:
            raise ValueError(f"iterations = {iterations} mean-field iterations is more than {MAX_ITERATIONS}; "
                             "the paper uses 14 (the unrolled inference would exhaust memory).")
        if not 0.0 <= float(mask_prob) <= 1.0:
            raise ValueError(f"mask_prob is a probability in [0, 1], got {mask_prob!r}.")
        if len(biases) != 2 or len(max_col_norms) != 3:
            raise ValueError(f"need biases (h0, h1) and max_col_norms (h0.W, h1.W, c.W), got {len(biases)} and "
                             f"{len(max_col_norms)} values.")
        h0_sparse_init, c_sparse_init = whole_number(h0_sparse_init, "h0_sparse_init"), whole_number(c_sparse_init, "c_sparse_init")
        if min(h0_sparse_init, c_sparse_init) < 0:
            raise ValueError("h0_sparse_init and c_sparse_init count incoming weights per unit: need >= 0.")
        if pixel_means is not None:
            pixel_means = np.asarray(pixel_means, dtype=np.float64)
            if pixel_means.shape != (n_visible,) or not ((pixel_means >= 0) & (pixel_means <= 1)).all():
                raise ValueError(f"pixel_means must be {n_visible} mean intensities in [0, 1] (no NaN), got shape "
                                 f"{pixel_means.shape}.")
        self.n_visible, self.hidden, self.n_classes = n_visible, hidden, n_classes
        self.iterations, self.mask_prob, self.name = iterations, float(mask_prob), name
        self.h0_sparse_init, self.h1_init_range, self.c_sparse_init = h0_sparse_init, h1_init_range, c_sparse_init
        self.biases, self.max_col_norms = tuple(biases), tuple(max_col_norms)
        self.pixel_means = pixel_means
        H0, H1 = self.hidden
        self.layout = Layout([("v.b", (n_visible,)), ("h0.W", (n_visible, H0)), ("h0.b", (H0,)),
                              ("h1.W", (H0, H1)), ("h1.b", (H1,)), ("c.W", (H1, n_classes)), ("c.b", (n_classes,))])
        self.schedule = _schedule(self.iterations)

    def __repr__(self):
        return (f"MPDBM({self.name}: {self.n_visible} -> {self.hidden[0]} -> {self.hidden[1]} + {self.n_classes} labels, "
                f"{self.iterations} mean-field iterations, {self.layout.size:,} parameters)")

    @property
    def size(self):
        return self.layout.size

    uses_dropout = False  # the masks here are the objective itself, not dropout

    def settings(self) -> dict:
        return dict(n_visible=self.n_visible, hidden=list(self.hidden), n_classes=self.n_classes,
                    iterations=self.iterations, h0_sparse_init=self.h0_sparse_init, h1_init_range=self.h1_init_range,
                    c_sparse_init=self.c_sparse_init, biases=list(self.biases), max_col_norms=list(self.max_col_norms),
                    mask_prob=self.mask_prob, name=self.name,
                    pixel_means_given=self.pixel_means is not None)

    # ------------------------------------------------------------ parameters
    def init(self, seed, xp=None, dtype=np.float32):
        """pylearn2's init: sparse N(0, 1) incoming weights (h0: 15 per unit, labels: 23 per class),
        h1 uniform, the hidden biases of the yaml, the visible bias from the pixel marginals."""
        rng = np.random.default_rng(seed)
        theta = np.zeros(self.layout.size)
        p = self.layout.unflatten(theta)
        for name, k in (("h0.W", self.h0_sparse_init), ("c.W", self.c_sparse_init)):
            W = p[name]
            for j in range(W.shape[1]):
                rows = rng.choice(W.shape[0], size=min(k, W.shape[0]), replace=False)
                W[rows, j] = rng.standard_normal(rows.size)
        p["h1.W"][...] = rng.uniform(-self.h1_init_range, self.h1_init_range, p["h1.W"].shape)
        p["h0.b"][...], p["h1.b"][...] = self.biases
        if self.pixel_means is not None:
            means = np.clip(self.pixel_means, 1e-3, 1 - 1e-3)
            p["v.b"][...] = np.log(means / (1 - means))  # logit of the mean intensity (bias_from_marginals)
        return backend.to_device(theta, "gpu" if xp is not None and xp is not np else "cpu", dtype=dtype)

    def unflatten(self, theta):
        return self.layout.unflatten(theta)

    def constrain(self, theta) -> None:
        """Column norm limits of h0.W, h1.W and c.W, in place."""
        p = self.layout.unflatten(theta)
        for name, limit in zip(("h0.W", "h1.W", "c.W"), self.max_col_norms):
            limit_column_norms(p[name], limit)

    # ------------------------------------------------------------ masks
    def draw_masks(self, rng, n, dtype=np.float32):
        """``(m_v (n, 784), m_y (n,))``: 1 where the variable is to be predicted (probability ``mask_prob``)."""
        m_v = (rng.random((n, self.n_visible), dtype=dtype) < self.mask_prob).astype(dtype)
        m_y = (rng.random((n,), dtype=dtype) < self.mask_prob).astype(dtype)
        return m_v, m_y

    def fixed_masks(self, n, xp=np, dtype=np.float32, start=0):
        """The fixed masks ``(m_v (n, 784), m_y (n,))`` of :meth:`loss` for examples start .. start + n - 1.

        Drawn chunk by chunk as :meth:`loss` evaluates a batch: the chunk of
        examples s .. s + EVAL_CHUNK - 1 (s a multiple of EVAL_CHUNK) from a
        NumPy generator seeded ``[EVAL_MASK_SEED, s]`` (on a GPU too, then moved there). So an example's masks depend
        only on its position in the batch, the same for ``loss`` and ``loss_and_grad``.
        """
        if start % EVAL_CHUNK:
            raise ValueError(f"start must be a multiple of EVAL_CHUNK = {EVAL_CHUNK}, got {start}.")
        starts = range(start, start + n, EVAL_CHUNK) or [start]  # an empty batch: one empty chunk
        # drawn by NumPy's generator on every device, then moved: J(theta) is one function, on the CPU and on a
        # GPU (CuPy's generator would draw other masks from the same seed)
        chunks = [self.draw_masks(backend.rng([EVAL_MASK_SEED, s]), min(EVAL_CHUNK, start + n - s), dtype)
                  for s in starts]
        if xp is not np:
            chunks = [(xp.asarray(m_v), xp.asarray(m_y)) for m_v, m_y in chunks]
        if len(chunks) == 1:
            return chunks[0]
        return xp.concatenate([m_v for m_v, _ in chunks]), xp.concatenate([m_y for _, m_y in chunks])

    def _check_X(self, theta, X):
        self.layout.check(theta)
        if getattr(X, "ndim", None) != 2 or X.shape[1] != self.n_visible:
            raise ValueError(f"{self.name}: X must have shape (N, {self.n_visible}), got {getattr(X, 'shape', None)}.")
        if X.dtype != theta.dtype:
            raise TypeError(f"{self.name}: X has dtype {X.dtype} but theta has {theta.dtype}; cast X to theta's dtype.")
        if not bool(((X >= 0) & (X <= 1)).all()):
            raise ValueError(f"{self.name}: X must hold pixel intensities in [0, 1] (no NaN or inf); rescale the data.")

    def _check_batch(self, theta, X, y):
        self._check_X(theta, X)
        if getattr(y, "ndim", None) != 1 or y.shape[0] != X.shape[0] or y.dtype.kind not in "iu":
            raise ValueError(f"{self.name}: y must be ({X.shape[0]},) integer labels, got shape "
                             f"{getattr(y, 'shape', None)}, dtype {getattr(y, 'dtype', None)}.")
        if X.shape[0] == 0:
            raise ValueError(f"{self.name}: the batch holds no examples (N = 0); J is a mean over N >= 1 examples.")
        if int(y.min()) < 0 or int(y.max()) >= self.n_classes:
            raise ValueError(f"{self.name}: labels must lie in 0 .. {self.n_classes - 1}, got {int(y.min())} .. "
                             f"{int(y.max())}.")

    # ------------------------------------------------------------ inference
    def infer(self, theta, X, onehot, m_v, m_y, keep_records: bool = True):
        """Run the unrolled mean-field inference; returns (final states, per-update records).

        Reference: :func:`minilinpath.layers.reference.mean_field_inference` (the updates written out one by
        one, :func:`~minilinpath.layers.reference.mean_field_step` for each later iteration; the same final
        states to rounding), and for the backward pass through them
        :func:`~minilinpath.layers.reference.multi_prediction_loss_and_grad`. Here the updates are a schedule
        of :class:`Update` records (``_schedule``) that one loop runs, so that ``_backward`` can walk the same
        list in reverse.

        ``keep_records=False`` (evaluation: no backward pass follows) keeps only the last update of each
        layer, which the cost needs, instead of every update's pre-activation and activation.
        """
        p = self.layout.unflatten(theta)
        xp = backend.get_xp(theta)
        N = X.shape[0]
        H0, H1 = self.hidden
        state = {"v": X, "y": onehot, "h0": xp.zeros((N, H0), theta.dtype), "h1": xp.zeros((N, H1), theta.dtype)}
        clamp = {"v": (m_v, X), "y": (m_y[:, None], onehot)}
        records, last = [], {}
        for op in self.schedule:
            inputs = [state[source] for source, *_ in op.terms]
            pre = xp.broadcast_to(p[op.bias], (N, p[op.bias].shape[0])).copy()
            for value, (_source, w, transposed, scale) in zip(inputs, op.terms):
                W = p[w].T if transposed else p[w]
                pre += (scale * value) @ W if scale != 1.0 else value @ W
            act = sigmoid(pre) if op.act == "sigmoid" else xp.exp(log_softmax(pre))
            out = act
            if op.target in clamp:
                m, data = clamp[op.target]
                out = m * act + (1.0 - m) * data
            state[op.target] = out
            if keep_records:
                records.append((op, inputs, pre, act))
            else:
                last[op.target] = (op, None, pre, act)
        return state, (records if keep_records else list(last.values()))

    def _cost(self, records, X, labels, m_v, m_y):
        """J and dJ/d(final pre-activations of v and y)."""
        xp = backend.get_xp(X)
        N = X.shape[0]
        last = {op.target: i for i, (op, *_rest) in enumerate(records)}
        z_v, z_y = records[last["v"]][2], records[last["y"]][2]
        # BCE from logits: softplus(z) - x z, softplus(z) = max(z, 0) + log(1 + exp(-|z|))
        softplus = xp.maximum(z_v, 0) + xp.log1p(xp.exp(-xp.abs(z_v)))
        bce = (m_v * (softplus - X * z_v)).sum() / (N * self.n_visible)
        logp = log_softmax(z_y)
        nll = -(m_y * logp[xp.arange(N), labels]).sum() / (N * self.n_visible)
        d_zv = m_v * (sigmoid(z_v) - X) / (N * self.n_visible)
        d_zy = xp.exp(logp)
        d_zy[xp.arange(N), labels] -= 1.0
        d_zy *= m_y[:, None] / (N * self.n_visible)
        return bce + nll, {last["v"]: d_zv, last["y"]: d_zy}

    def _backward(self, theta, records, m_v, m_y, d_pre_extra, grad):
        """Reverse-mode through the updates: gradients of J into the flat ``grad``.

        Walking the updates backwards, ``d_state[name]`` holds dJ/d(current value of that layer). An update
        overwrites its target, so the gradient it receives is used up there and the older value starts afresh.
        """
        p, g = self.layout.unflatten(theta), self.layout.unflatten(grad)
        grad[...] = 0
        mask = {"v": m_v, "y": m_y[:, None]}
        d_state = {}
        for k in reversed(range(len(records))):
            op, inputs, pre, act = records[k]
            d_out = d_state.pop(op.target, None)  # the value before this update gets a fresh gradient
            d_pre = None
            if d_out is not None:
                d_act = mask[op.target] * d_out if op.target in mask else d_out
                if op.act == "sigmoid":
                    d_pre = d_act * act * (1.0 - act)
                else:  # softmax: J^T d = act * (d - sum(d * act))
                    d_pre = act * (d_act - (d_act * act).sum(axis=1, keepdims=True))
            if k in d_pre_extra:
                d_pre = d_pre_extra[k] if d_pre is None else d_pre + d_pre_extra[k]
            if d_pre is None:
                continue
            g[op.bias][...] += d_pre.sum(axis=0)
            for value, (source, w, transposed, scale) in zip(inputs, op.terms):
                if transposed:  # pre += value @ W^T: dW += d_pre^T value, d value = d_pre W
                    g[w][...] += scale * (d_pre.T @ value)
                    d_value = scale * (d_pre @ p[w])
                else:           # pre += value @ W: dW += value^T d_pre, d value = d_pre W^T
                    g[w][...] += scale * (value.T @ d_pre)
                    d_value = scale * (d_pre @ p[w].T)
                d_state[source] = d_value if source not in d_state else d_state[source] + d_value
        return grad

    def _onehot(self, labels, xp, dtype):
        onehot = xp.zeros((labels.shape[0], self.n_classes), dtype=dtype)
        onehot[xp.arange(labels.shape[0]), labels] = 1.0
        return onehot

    # ------------------------------------------------------------ the contract
    def loss_and_grad(self, theta, batch, rng=None, masks=None, binarize=None, out=None):
        """``(J, grad)`` of the multi-prediction objective on ``batch = (X, labels)``.

        With ``rng``: fresh masks and Bernoulli-sampled pixels (training). Else
        ``masks`` (``(m_v, m_y)``) and ``binarize`` (a 0/1 array like X, or None
        for the intensities themselves) fix them; with neither, the fixed masks of :meth:`loss`.
        """
        X, labels = batch
        self._check_batch(theta, X, labels)
        xp = backend.get_xp(theta)
        m_v, m_y = masks if masks is not None else (None, None)
        for given, name, want in ((m_v, "masks[0] (m_v)", X.shape), (m_y, "masks[1] (m_y)", X.shape[:1]),
                                  (binarize, "binarize", X.shape)):
            if given is not None and getattr(given, "shape", None) != want:
                raise ValueError(f"{self.name}: {name} must have shape {want}, like the batch, "
                                 f"got {getattr(given, 'shape', None)}.")
        if out is not None:
            self.layout.check(out, "out")
            if out.dtype != theta.dtype:
                raise TypeError(f"{self.name}: out has dtype {out.dtype} but theta has {theta.dtype}; pass a buffer "
                                "like theta (xp.empty_like(theta)).")
        if rng is not None:
            masks = masks or self.draw_masks(rng, X.shape[0], theta.dtype)
            X = (rng.random(X.shape, dtype=theta.dtype) < X).astype(theta.dtype)
        elif binarize is not None:
            X = binarize.astype(theta.dtype)
        if masks is None:
            masks = self.fixed_masks(X.shape[0], xp, theta.dtype)
        m_v, m_y = masks
        _, records = self.infer(theta, X, self._onehot(labels, xp, theta.dtype), m_v, m_y)
        J, d_pre = self._cost(records, X, labels, m_v, m_y)
        grad = xp.empty_like(theta) if out is None else out
        self._backward(theta, records, m_v, m_y, d_pre, grad)
        return backend.to_float(J), grad

    def loss(self, theta, batch) -> float:
        """J with the fixed masks (:meth:`fixed_masks`) and the pixel intensities as targets: deterministic in theta.

        Evaluated in chunks of EVAL_CHUNK examples: J = sum over chunks of (chunk size / N) * J(chunk).
        """
        X, labels = batch
        self._check_batch(theta, X, labels)
        xp = backend.get_xp(theta)
        N = X.shape[0]
        total = 0.0
        for start in range(0, N, EVAL_CHUNK):
            Xc, yc = X[start:start + EVAL_CHUNK], labels[start:start + EVAL_CHUNK]
            m_v, m_y = self.fixed_masks(Xc.shape[0], xp, theta.dtype, start=start)
            _, records = self.infer(theta, Xc, self._onehot(yc, xp, theta.dtype), m_v, m_y, keep_records=False)
            J, _ = self._cost(records, Xc, yc, m_v, m_y)
            total += backend.to_float(J) * (Xc.shape[0] / N)  # one chunk: exactly J, as loss_and_grad gives
        return total

    def predict(self, theta, X):
        """The label inferred with every pixel clamped (mean-field, the same iterations)."""
        self._check_X(theta, X)
        xp = backend.get_xp(theta)
        out = xp.empty(X.shape[0], dtype=np.int64)
        for start in range(0, X.shape[0], EVAL_CHUNK):
            Xc = X[start:start + EVAL_CHUNK]
            n = Xc.shape[0]
            m_v, m_y = xp.zeros((n, self.n_visible), theta.dtype), xp.ones((n,), theta.dtype)
            state, _ = self.infer(theta, Xc, xp.zeros((n, self.n_classes), theta.dtype), m_v, m_y,
                                  keep_records=False)
            out[start:start + n] = state["y"].argmax(axis=1)
        return out

    def error_rate(self, theta, batch) -> float:
        X, labels = batch
        self._check_batch(theta, X, labels)
        return backend.to_float((self.predict(theta, X) != labels).mean())
