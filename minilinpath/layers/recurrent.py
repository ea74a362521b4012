"""Long short-term memory (LSTM), one step and a whole sequence, with backpropagation through time.

One step, for inputs x (N, D), previous state h, c (N, H), weights Wx (D, 4H),
Wh (H, 4H) and bias b (4H,)::

    a = x Wx + h Wh + b                       (N, 4H), four blocks of H columns:
    i = sigmoid(a[:, 0:H])                    input gate
    f = sigmoid(a[:, H:2H])                   forget gate
    g = tanh(a[:, 2H:3H])                     cell candidate
    o = sigmoid(a[:, 3H:4H])                  output gate
    c' = f * c + i * g
    h' = o * tanh(c')

The gate blocks are in PyTorch's order [input, forget, cell candidate, output].
A sequence runs this step for t = 0 .. T-1; its backward pass walks the steps
in reverse, carrying dh and dc from step t+1 to step t (backpropagation through
time), and the weight gradients of all steps are summed (the weights are shared).

Both forward functions check their inputs: one floating dtype for all six
arrays (mixing float32 and float64 is refused, as in the other layers) and
shapes that fit together.
"""
from __future__ import annotations

from typing import NamedTuple

from .. import backend
from ._checks import require_float, require_ndim, require_same_dtype
from .activations import sigmoid


class StepCache(NamedTuple):
    x: object
    h_prev: object
    c_prev: object
    gates: object   # (N, 4H): i, f, g, o after their non-linearities
    tanh_c: object  # (N, H): tanh(c')
    Wx: object
    Wh: object


def _gates(a, H):
    """Apply sigmoid to the i, f, o blocks and tanh to the g block of a (N, 4H), in a new array."""
    xp = backend.get_xp(a)
    gates = sigmoid(a)
    gates[:, 2 * H:3 * H] = xp.tanh(a[:, 2 * H:3 * H])
    return gates


def _check_inputs(x, h, c, Wx, Wh, b, sequence: bool) -> None:
    """x (N, D) for a step or (N, T, D) for a sequence; h, c (N, H); Wx (D, 4H), Wh (H, 4H), b (4H,); one float dtype."""
    h_name, c_name = ("h0", "c0") if sequence else ("h_prev", "c_prev")
    x_hint = "(N, T, D)" if sequence else "(N, D)"
    named = {"x": x, h_name: h, c_name: c, "Wx": Wx, "Wh": Wh, "b": b}
    for name, a in named.items():
        require_float(name, a)
    require_ndim("x", x, 3 if sequence else 2, x_hint)
    for name, a, ndim, hint in ((h_name, h, 2, "(N, H)"), (c_name, c, 2, "(N, H)"), ("Wx", Wx, 2, "(D, 4H)"),
                                ("Wh", Wh, 2, "(H, 4H)"), ("b", b, 1, "(4H,)")):
        require_ndim(name, a, ndim, hint)
    N, D, H = x.shape[0], x.shape[-1], h.shape[1]
    if (tuple(c.shape) != (N, H) or h.shape[0] != N or tuple(Wx.shape) != (D, 4 * H)
            or tuple(Wh.shape) != (H, 4 * H) or tuple(b.shape) != (4 * H,)):
        shapes = ", ".join(f"{name} {tuple(a.shape)}" for name, a in named.items())
        raise ValueError(f"LSTM shapes do not fit: {shapes}; with N = {N}, D = {D} (from x) and H = {H} (from "
                         f"{h_name}) they must be x {x_hint}, {h_name} and {c_name} (N, H), Wx (D, 4H), Wh (H, 4H), "
                         "b (4H,).")
    require_same_dtype(**named)


def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    """One LSTM step: x (N, D), h_prev and c_prev (N, H) -> ``(h, c, cache)``, h and c (N, H)."""
    _check_inputs(x, h_prev, c_prev, Wx, Wh, b, sequence=False)
    a = x @ Wx + h_prev @ Wh + b
    return _step_from_preactivation(a, x, h_prev, c_prev, Wx, Wh)


def _step_from_preactivation(a, x, h_prev, c_prev, Wx, Wh):
    H = h_prev.shape[1]
    xp = backend.get_xp(a)
    gates = _gates(a, H)
    i, f, g, o = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:3 * H], gates[:, 3 * H:]
    c = f * c_prev + i * g
    tanh_c = xp.tanh(c)
    return o * tanh_c, c, StepCache(x, h_prev, c_prev, gates, tanh_c, Wx, Wh)


def _step_backward_to_preactivation(dh, dc, cache: StepCache):
    """dL/da (N, 4H) and dL/dc_prev from the step's upstream gradients dh, dc."""
    xp = backend.get_xp(dh)
    H = dh.shape[1]
    gates, tanh_c = cache.gates, cache.tanh_c
    i, f, g, o = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:3 * H], gates[:, 3 * H:]
    dc = dc + dh * o * (1.0 - tanh_c * tanh_c)     # through h' = o tanh(c')
    da = xp.empty_like(gates)
    da[:, :H] = dc * g * i * (1.0 - i)             # input gate, sigmoid' = s (1 - s)
    da[:, H:2 * H] = dc * cache.c_prev * f * (1.0 - f)
    da[:, 2 * H:3 * H] = dc * i * (1.0 - g * g)    # candidate, tanh' = 1 - t^2
    da[:, 3 * H:] = dh * tanh_c * o * (1.0 - o)
    return da, dc * f


def lstm_step_backward(dh, dc, cache: StepCache):
    """Gradients of one step: ``(dx, dh_prev, dc_prev, dWx, dWh, db)`` from dL/dh' and dL/dc'."""
    da, dc_prev = _step_backward_to_preactivation(dh, dc, cache)
    return da @ cache.Wx.T, da @ cache.Wh.T, dc_prev, cache.x.T @ da, cache.h_prev.T @ da, da.sum(axis=0)


class SequenceCache(NamedTuple):
    x: object       # (N, T, D)
    steps: list     # one StepCache per time step
    Wx: object
    Wh: object


def lstm_forward(x, h0, c0, Wx, Wh, b):
    """Run T steps over x (N, T, D) from the state (h0, c0), each (N, H).

    Returns ``(hs (N, T, H), (h_T, c_T), cache)``. The input products x_t Wx of
    all steps are one matrix product (N*T, D) x (D, 4H) computed up front; only
    h Wh has to wait for the previous step.
    """
    _check_inputs(x, h0, c0, Wx, Wh, b, sequence=True)
    xp = backend.get_xp(x, Wx)
    N, T, _ = x.shape
    H = h0.shape[1]
    ax = (x.reshape(N * T, -1) @ Wx).reshape(N, T, 4 * H) + b
    hs = xp.empty((N, T, H), dtype=x.dtype)
    h, c, steps = h0, c0, []
    for t in range(T):
        h, c, cache = _step_from_preactivation(ax[:, t] + h @ Wh, x[:, t], h, c, Wx, Wh)
        hs[:, t] = h
        steps.append(cache)
    return hs, (h, c), SequenceCache(x, steps, Wx, Wh)


def lstm_backward(dhs, cache: SequenceCache, dh_T=None, dc_T=None):
    """Backpropagation through time.

    ``dhs`` (N, T, H): dL/dh_t from the layers above; ``dh_T``, ``dc_T``:
    gradients arriving at the final state (e.g. from the next minibatch, or a
    check), zero if None. Returns ``(dx (N, T, D), dh0, dc0, dWx, dWh, db)``.
    """
    xp = backend.get_xp(dhs)
    N, T, H = dhs.shape
    dh = xp.zeros((N, H), dtype=dhs.dtype) if dh_T is None else dh_T
    dc = xp.zeros((N, H), dtype=dhs.dtype) if dc_T is None else dc_T
    da_all = xp.empty((N, T, 4 * H), dtype=dhs.dtype)
    dWh = xp.zeros_like(cache.Wh)
    for t in reversed(range(T)):
        step = cache.steps[t]
        da, dc = _step_backward_to_preactivation(dh + dhs[:, t], dc, step)
        da_all[:, t] = da
        dWh += step.h_prev.T @ da
        dh = da @ cache.Wh.T
    da_flat = da_all.reshape(N * T, 4 * H)
    x_flat = cache.x.reshape(N * T, -1)
    dx = (da_flat @ cache.Wx.T).reshape(cache.x.shape)
    return dx, dh, dc, x_flat.T @ da_flat, dWh, da_flat.sum(axis=0)
