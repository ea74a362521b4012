"""Reference solutions of lesson 5."""
import numpy as np


def conv_backward_loops(dout, x, W, stride, pad):
    N, C, H, Wd = x.shape
    F, _, HH, WW = W.shape
    Ho, Wo = dout.shape[2:]
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dx_pad, dW = np.zeros_like(x_pad), np.zeros_like(W)
    for p in range(HH):
        for q in range(WW):
            window = (slice(None), slice(None), slice(p, p + stride * Ho, stride), slice(q, q + stride * Wo, stride))
            dW[:, :, p, q] = np.einsum("nfij,ncij->fc", dout, x_pad[window])
            dx_pad[window] += np.einsum("nfij,fc->ncij", dout, W[:, :, p, q])
    return dx_pad[:, :, pad:pad + H, pad:pad + Wd], dW, dout.sum(axis=(0, 2, 3))


def im2col(x, HH, WW, stride, pad):
    N, C, H, Wd = x.shape
    Ho, Wo = 1 + (H + 2 * pad - HH) // stride, 1 + (Wd + 2 * pad - WW) // stride
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = np.empty((C, HH, WW, N, Ho, Wo))
    for p in range(HH):
        for q in range(WW):
            cols[:, p, q] = x_pad[:, :, p:p + stride * Ho:stride, q:q + stride * Wo:stride].transpose(1, 0, 2, 3)
    return cols.reshape(C * HH * WW, N * Ho * Wo)


def col2im(cols, x_shape, HH, WW, stride, pad):
    N, C, H, Wd = x_shape
    Ho, Wo = 1 + (H + 2 * pad - HH) // stride, 1 + (Wd + 2 * pad - WW) // stride
    cols = cols.reshape(C, HH, WW, N, Ho, Wo)
    dx_pad = np.zeros((N, C, H + 2 * pad, Wd + 2 * pad))
    for p in range(HH):
        for q in range(WW):
            dx_pad[:, :, p:p + stride * Ho:stride, q:q + stride * Wo:stride] += cols[:, p, q].transpose(1, 0, 2, 3)
    return dx_pad[:, :, pad:pad + H, pad:pad + Wd]
