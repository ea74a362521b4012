"""Reference solutions of lesson 6."""
import numpy as np


def mean_field_backward(model, theta, records, masks, d_final):
    p = model.unflatten(theta)
    grad = np.zeros_like(theta)
    g = model.unflatten(grad)
    m_v, m_y = masks
    mask = {"v": m_v, "y": m_y[:, None]}
    d_state = {}
    for k in reversed(range(len(records))):
        op, inputs, pre, act = records[k]
        d_out = d_state.pop(op.target, None)   # this update overwrote its target: older values start afresh
        d_pre = d_final.get(k)
        if d_out is not None:
            if op.target in mask:
                d_out = mask[op.target] * d_out  # a clamped variable does not depend on the update
            if op.act == "sigmoid":
                step = d_out * act * (1 - act)
            else:
                step = act * (d_out - (d_out * act).sum(axis=1, keepdims=True))
            d_pre = step if d_pre is None else d_pre + step
        if d_pre is None:
            continue
        g[op.bias] += d_pre.sum(axis=0)
        for value, (source, w, transposed, scale) in zip(inputs, op.terms):
            if transposed:     # pre += scale * value @ W^T
                g[w] += scale * d_pre.T @ value
                d_value = scale * d_pre @ p[w]
            else:              # pre += scale * value @ W
                g[w] += scale * value.T @ d_pre
                d_value = scale * d_pre @ p[w].T
            d_state[source] = d_state.get(source, 0) + d_value
    return grad
