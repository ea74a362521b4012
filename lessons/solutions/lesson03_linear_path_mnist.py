"""Reference solutions of lesson 3."""
import numpy as np


def fast_sweep(model, theta0, theta1, X, y, alphas):
    p0, p1 = model.unflatten(theta0), model.unflatten(theta1)
    z0 = X @ p0["h0.W"] + p0["h0.b"]                  # (N, H): the two big products, once for all alphas
    dz = X @ p1["h0.W"] + p1["h0.b"] - z0             # z(alpha) = z0 + alpha dz
    names = model.layer_names[1:]
    out = []
    for a in map(float, alphas):  # a Python float keeps float32 arrays float32 (a NumPy float64 would not)
        h = np.maximum(z0 + a * dz, 0)
        for name in names:
            W = (1 - a) * p0[f"{name}.W"] + a * p1[f"{name}.W"]
            b = (1 - a) * p0[f"{name}.b"] + a * p1[f"{name}.b"]
            z = h @ W + b
            h = np.maximum(z, 0) if name != "y" else z
        shifted = h - h.max(axis=1, keepdims=True)
        logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        out.append(-logp[np.arange(len(y)), y].mean())
    return np.array(out)
