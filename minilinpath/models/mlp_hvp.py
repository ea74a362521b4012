"""The exact Hessian-vector product of an MLP's deterministic network (Pearlmutter's R-operator, by hand).

:class:`~minilinpath.models.MLP` declares it as ``hessian_vector_product(theta, batch, v)``, the
ability the curvature tools (:mod:`minilinpath.path.curvature`) use instead of central differences of the
gradient when a model has it (see :mod:`minilinpath.contract`). The math is in :func:`mlp_hvp`'s docstring.
"""
from __future__ import annotations

from .. import backend
from ..layers import softmax_cross_entropy


def _act_derivatives(activation, z):
    """(f'(z), f''(z)) of an element-wise activation (f'' = 0 for ReLU and the identity, a.e.)."""
    xp = backend.get_xp(z)
    if activation == "relu":
        return (z > 0).astype(z.dtype), None
    if activation == "linear":
        return xp.ones_like(z), None
    if activation == "sigmoid":
        s = 0.5 * (1.0 + xp.tanh(0.5 * z))
        d1 = s * (1.0 - s)
        return d1, d1 * (1.0 - 2.0 * s)
    if activation == "tanh":
        t = xp.tanh(z)
        d1 = 1.0 - t * t
        return d1, -2.0 * t * d1
    raise ValueError(f"no exact Hessian-vector product for activation {activation!r}.")


def mlp_hvp(model, theta, batch, v):
    """H v for an :class:`~minilinpath.models.MLP`'s deterministic network, exactly (Pearlmutter's R-operator).

    With R{.} the directional derivative along v (the tangent), for layers
    i = 0 .. L (the last is the softmax layer), h_0 = X:

    forward:      z_i = h_i W_i + b_i,                 h_{i+1} = f(z_i)
    tangents:     Rz_i = Rh_i W_i + h_i V_i + c_i,     Rh_{i+1} = f'(z_i) Rz_i     (Rh_0 = 0)
    loss:         p = softmax(z_L), delta_L = (p - onehot(y)) / N,
                  R delta_L = p * (Rz_L - sum_c p Rz_L) / N
    backward:     g_W_i = h_i^T delta_i,  g_b_i = sum_n delta_i,   e_i = delta_i W_i^T,
                  delta_{i-1} = f'(z_{i-1}) e_i
    R-backward:   R g_W_i = Rh_i^T delta_i + h_i^T R delta_i,  R g_b_i = sum_n R delta_i,
                  R e_i = R delta_i W_i^T + delta_i V_i^T,
                  R delta_{i-1} = f'(z_{i-1}) R e_i + f''(z_{i-1}) Rz_{i-1} e_i

    where (V_i, c_i) are v's pieces for (W_i, b_i). For maxout, f picks the
    winning piece of each unit (the first maximum, as the model does), f' routes
    to it and f'' = 0. The result, (R g_W_i, R g_b_i) flattened, is H v.
    """
    X, y = batch
    model.check_batch(theta, X, y)
    xp = backend.get_xp(theta)
    v = xp.asarray(v, dtype=theta.dtype)
    P, V = model.layout.unflatten(theta), model.layout.unflatten(v)
    names, k = model.layer_names, model.pieces
    n = X.shape[0]
    hs, Rhs, zs, Rzs, gates = [X], [None], [], [], []
    h, Rh = X, None
    for i, name in enumerate(names):
        W, b, VW, Vb = P[f"{name}.W"], P[f"{name}.b"], V[f"{name}.W"], V[f"{name}.b"]
        z = h @ W + b
        Rz = h @ VW + Vb if Rh is None else Rh @ W + h @ VW + Vb
        zs.append(z)
        Rzs.append(Rz)
        if name == "y":
            break
        if model.activation == "maxout":
            grouped = z.reshape(n, -1, k)
            win = grouped.argmax(axis=2)[..., None]                     # (N, U, 1): the first maximum
            h = xp.take_along_axis(grouped, win, axis=2)[..., 0]
            Rh = xp.take_along_axis(Rz.reshape(n, -1, k), win, axis=2)[..., 0]
            gates.append(win)
        else:
            d1, d2 = _act_derivatives(model.activation, z)
            h = (ACT_VALUES[model.activation])(z)
            Rh = d1 * Rz
            gates.append((d1, d2))
        hs.append(h)
        Rhs.append(Rh)
    logits, Rlogits = zs[-1], Rzs[-1]
    _, delta = softmax_cross_entropy(logits, y)                          # (p - onehot) / N
    shifted = logits - logits.max(axis=1, keepdims=True)
    p = xp.exp(shifted)
    p /= p.sum(axis=1, keepdims=True)
    Rdelta = p * (Rlogits - (p * Rlogits).sum(axis=1, keepdims=True)) / n
    out = xp.empty_like(theta)
    R = model.layout.unflatten(out)
    for i in reversed(range(len(names))):
        name = names[i]
        h, Rh = hs[i], Rhs[i]
        R[f"{name}.W"][...] = h.T @ Rdelta if Rh is None else Rh.T @ delta + h.T @ Rdelta
        R[f"{name}.b"][...] = Rdelta.sum(axis=0)
        if i == 0:
            break
        W, VW = P[f"{name}.W"], V[f"{name}.W"]
        e, Re = delta @ W.T, Rdelta @ W.T + delta @ VW.T
        if model.activation == "maxout":
            win = gates[i - 1]
            units = e.shape[1]
            delta = xp.zeros((n, units, k), dtype=e.dtype)
            Rdelta_new = xp.zeros((n, units, k), dtype=e.dtype)
            xp.put_along_axis(delta, win, e[..., None], axis=2)
            xp.put_along_axis(Rdelta_new, win, Re[..., None], axis=2)
            delta, Rdelta = delta.reshape(n, -1), Rdelta_new.reshape(n, -1)
        else:
            d1, d2 = gates[i - 1]
            new_delta = d1 * e
            Rdelta = d1 * Re + (d2 * Rzs[i - 1] * e if d2 is not None else 0.0)
            delta = new_delta
    return out


ACT_VALUES = {"relu": lambda z: z * (z > 0), "linear": lambda z: z,
              "sigmoid": lambda z: 0.5 * (1.0 + backend.get_xp(z).tanh(0.5 * z)),
              "tanh": lambda z: backend.get_xp(z).tanh(z)}
