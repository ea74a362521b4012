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

from .. import backend, threads
from ._checks import require_float, require_ndim, require_out, require_same_dtype


class StepCache(NamedTuple):
    x: object
    h_prev: object
    c_prev: object
    gates: object   # (N, 4H): i, f, g, o after their non-linearities
    tanh_c: object  # (N, H): tanh(c')
    Wx: object
    Wh: object


def _gate_scales(H, dtype, xp, rows=None):
    """Per-column (alpha, beta) with gates = alpha * tanh(alpha * a) + beta: (1/2, 1/2) on i, f, o, (1, 0) on g.

    sigmoid(a) = (1 + tanh(a/2)) / 2 (the library's sigmoid), so all four
    blocks are one tanh; halving is exact in binary floating point, so the
    values are bit for bit those of sigmoid and tanh applied block by block.
    Shape (4H,), or (rows, 4H) with every row the same: NumPy multiplies two
    arrays of one shape faster than it broadcasts a row (11 instead of 17 us
    per step of ``ptb_small``'s (20, 800) gates, measured), the same numbers.
    """
    alpha = xp.full(4 * H, 0.5, dtype=dtype)
    beta = xp.full(4 * H, 0.5, dtype=dtype)
    alpha[2 * H:3 * H], beta[2 * H:3 * H] = 1.0, 0.0
    if rows is None:
        return alpha, beta
    return tuple(xp.ascontiguousarray(xp.broadcast_to(v, (rows, 4 * H))) for v in (alpha, beta))


def _gates(a, H, out=None, scales=None):
    """Sigmoid on the i, f, o blocks and tanh on the g block of a (N, 4H), into ``out`` (a new array if None)."""
    xp = backend.get_xp(a)
    alpha, beta = _gate_scales(H, a.dtype, xp) if scales is None else scales
    gates = xp.multiply(a, alpha, out=out)
    xp.tanh(gates, out=gates)
    gates *= alpha
    gates += beta
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
    """One LSTM step: x (N, D), h_prev and c_prev (N, H) -> ``(h, c, cache)``, h and c (N, H).

    Reference: :func:`minilinpath.layers.reference.lstm_step_forward` (to rounding: the reference writes the
    sigmoid as 1 / (1 + e^-x)).
    """
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
    """Gradients of one step: ``(dx, dh_prev, dc_prev, dWx, dWh, db)`` from dL/dh' and dL/dc'.

    Reference: :func:`minilinpath.layers.reference.lstm_step_backward` (to rounding).
    """
    da, dc_prev = _step_backward_to_preactivation(dh, dc, cache)
    return da @ cache.Wx.T, da @ cache.Wh.T, dc_prev, cache.x.T @ da, cache.h_prev.T @ da, da.sum(axis=0)


class SequenceCache(NamedTuple):
    """Everything time-major (T, N, ...), so that step t is one contiguous block."""
    x: object       # (N, T, D) the inputs
    h0: object      # (N, H)
    c0: object      # (N, H)
    gates: object   # (T, N, 4H): i, f, g, o of every step after their non-linearities
    cs: object      # (T, N, H): c_t
    tanh_cs: object  # (T, N, H): tanh(c_t)
    hs: object      # (T, N, H): h_t
    Wx: object
    Wh: object


def lstm_forward(x, h0, c0, Wx, Wh, b):
    """Run T steps over x (N, T, D) from the state (h0, c0), each (N, H).

    Reference: :func:`minilinpath.layers.reference.lstm_forward` (to rounding: a loop over the step).

    Returns ``(hs (N, T, H), (h_T, c_T), cache)``. The input products x_t Wx of
    all steps are one matrix product (N*T, D) x (D, 4H) computed up front; only
    h Wh has to wait for the previous step. The steps write into arrays
    allocated once, time-major (T, N, ...), and the gate non-linearities run
    in place (one tanh, see ``_gates``); ``hs`` is returned as an (N, T, H)
    view of the time-major array.
    """
    _check_inputs(x, h0, c0, Wx, Wh, b, sequence=True)
    xp = backend.get_xp(x, Wx)
    N, T, _ = x.shape
    H = h0.shape[1]
    xWx = (x.reshape(N * T, x.shape[-1]) @ Wx).reshape(N, T, 4 * H)     # widths written out: N or T may be 0
    gates = xp.empty((T, N, 4 * H), dtype=x.dtype)          # (T, N, 4H): x_t Wx + b, then the gates, in place
    xp.add(xWx.transpose(1, 0, 2), b, out=gates)            # one pass: the bias added as it is made time-major
    cs, tanh_cs, hs = (xp.empty((T, N, H), dtype=x.dtype) for _ in range(3))
    scales = _gate_scales(H, x.dtype, xp, rows=N)
    hWh = xp.empty((N, 4 * H), dtype=x.dtype)
    ig = xp.empty((N, H), dtype=x.dtype)
    h, c = h0, c0
    for t in range(T):
        a = gates[t]
        a += xp.matmul(h, Wh, out=hWh)                    # a = x_t Wx + b + h Wh
        _gates(a, H, out=a, scales=scales)
        i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
        c = xp.multiply(f, c, out=cs[t])
        c += xp.multiply(i, g, out=ig)                    # c_t = f c_{t-1} + i g
        xp.tanh(c, out=tanh_cs[t])
        h = xp.multiply(o, tanh_cs[t], out=hs[t])         # h_t = o tanh(c_t)
    return hs.transpose(1, 0, 2), (h, c), SequenceCache(x, h0, c0, gates, cs, tanh_cs, hs, Wx, Wh)


def lstm_backward(dhs, cache: SequenceCache, dh_T=None, dc_T=None, dWx_out=None, dWh_out=None, db_out=None):
    """Backpropagation through time.

    Reference: :func:`minilinpath.layers.reference.lstm_backward` (to rounding: a loop over the step backward).

    ``dhs`` (N, T, H): dL/dh_t from the layers above; ``dh_T``, ``dc_T``:
    gradients arriving at the final state (e.g. from the next minibatch, or a
    check), zero if None. Returns ``(dx (N, T, D), dh0, dc0, dWx, dWh, db)``;
    ``dWx_out``, ``dWh_out``, ``db_out``, if given, are arrays to write dWx,
    dWh and db into (a model passes views of its flat gradient: no copies).

    Walking t = T-1 ... 0, with dh = dhs_t + (dL/da_{t+1}) Wh^T and dc the
    gradient carried to c_t::

        dc   <- dc + dh * o (1 - tanh(c_t)^2)
        da_i = dc * g i (1 - i)        da_f = dc * c_{t-1} f (1 - f)
        da_g = dc * i (1 - g^2)        da_o = dh * tanh(c_t) o (1 - o)
        dc   <- dc * f                 (to c_{t-1})

    The factors that multiply dc and dh depend on the forward values only, so
    they are computed for all steps at once before the loop; the loop is then
    one small product and five element-wise operations per step. The weight
    gradients need no loop: with A = [da_0; ...; da_{T-1}] (T*N, 4H) and the
    previous states [h_{-1} = h0, h_0, ..., h_{T-2}] stacked the same way,
    dWh = H_prev^T A, dWx = X^T A and db = sum of A's rows: one product each.
    """
    xp = backend.get_xp(dhs)
    N, T, H = dhs.shape
    x, h0, c0, gates, cs, tanh_cs, hs, Wx, Wh = cache
    for name, out, shape in (("dWx_out", dWx_out, Wx.shape), ("dWh_out", dWh_out, Wh.shape),
                             ("db_out", db_out, (4 * H,))):
        require_out(name, out, shape, dhs.dtype)   # before anything is computed or written
    i, f, g, o = gates[..., :H], gates[..., H:2 * H], gates[..., 2 * H:3 * H], gates[..., 3 * H:]
    c_prev = xp.concatenate([c0[None], cs[:-1]])[:T]                  # (T, N, H): c_{t-1} (none when T = 0)
    # factors of dc for the i, f, g blocks, (T, N, 3, H), and of dh for the o block and for dc; element-wise,
    # so each example's depend on that example only: blocks of examples (axis 1 of the time-major arrays) go
    # over threads (minilinpath.threads), every step of each
    dc_factor = xp.empty((T, N, 3, H), dtype=dhs.dtype)
    do_factor, dh_to_dc = xp.empty((T, N, H), dtype=dhs.dtype), xp.empty((T, N, H), dtype=dhs.dtype)

    def examples(lo, hi):
        n = slice(lo, hi)
        i_n, f_n, g_n, o_n, tanh_c_n = i[:, n], f[:, n], g[:, n], o[:, n], tanh_cs[:, n]   # (T, n, H) views
        dc_factor[:, n, 0] = g_n * i_n * (1.0 - i_n)
        dc_factor[:, n, 1] = c_prev[:, n] * f_n * (1.0 - f_n)
        dc_factor[:, n, 2] = i_n * (1.0 - g_n * g_n)
        do_factor[:, n] = tanh_c_n * o_n * (1.0 - o_n)
        dh_to_dc[:, n] = o_n * (1.0 - tanh_c_n * tanh_c_n)

    threads.for_example_blocks(examples, xp, dc_factor, axis=1)
    dhs_t = dhs.transpose(1, 0, 2)                                    # (T, N, H) view
    da = xp.empty((T, N, 4 * H), dtype=dhs.dtype)
    dh = xp.zeros((N, H), dtype=dhs.dtype) if dh_T is None else dh_T  # carried back from step t+1
    dc = xp.zeros((N, H), dtype=dhs.dtype) if dc_T is None else dc_T
    for t in reversed(range(T)):
        dh = dh + dhs_t[t]
        dc = dc + dh * dh_to_dc[t]
        xp.multiply(dc[:, None, :], dc_factor[t], out=da[t, :, :3 * H].reshape(N, 3, H))
        xp.multiply(dh, do_factor[t], out=da[t, :, 3 * H:])
        dc = dc * f[t]
        dh = (Wh @ da[t].T).T    # = da_t Wh^T: this order of the operands ran 1.8x faster, same bits (benchmarks/README)
    da_flat = da.reshape(T * N, 4 * H)
    h_prev = xp.concatenate([h0[None], hs[:-1]])[:T].reshape(T * N, H)
    x_t = x.transpose(1, 0, 2).reshape(T * N, x.shape[-1])             # time-major, like da (a copy)
    dx = (da_flat @ Wx.T).reshape(T, N, Wx.shape[0]).transpose(1, 0, 2)
    dWx = xp.matmul(x_t.T, da_flat, out=dWx_out)
    dWh = xp.matmul(h_prev.T, da_flat, out=dWh_out)
    return dx, dh, dc, dWx, dWh, da_flat.sum(axis=0, out=db_out)
