"""Reference solutions of lesson 4."""
import numpy as np


def lstm_step_backward(dh, dc, cache):
    H = dh.shape[1]
    i, f, g, o = (cache.gates[:, k * H:(k + 1) * H] for k in range(4))
    dc_total = dc + dh * o * (1 - cache.tanh_c ** 2)          # c' reaches the loss directly and through h'
    da = np.concatenate([dc_total * g * i * (1 - i),            # input gate
                         dc_total * cache.c_prev * f * (1 - f),  # forget gate
                         dc_total * i * (1 - g ** 2),            # cell candidate
                         dh * cache.tanh_c * o * (1 - o)], axis=1)  # output gate
    return (da @ cache.Wx.T, da @ cache.Wh.T, dc_total * f, cache.x.T @ da, cache.h_prev.T @ da,
            da.sum(axis=0))


def bptt(dhs, caches):
    N, T, H = dhs.shape
    dh, dc = np.zeros((N, H)), np.zeros((N, H))
    dxs, dWx, dWh, db = [None] * T, 0.0, 0.0, 0.0
    for t in reversed(range(T)):
        dxs[t], dh, dc, gWx, gWh, gb = lstm_step_backward(dh + dhs[:, t], dc, caches[t])
        dWx, dWh, db = dWx + gWx, dWh + gWh, db + gb
    return np.stack(dxs, axis=1), dh, dc, dWx, dWh, db
