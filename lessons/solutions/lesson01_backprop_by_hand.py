"""Reference solutions of lesson 1 (same names as the exercises).

The library's plain versions of the same layers, forward and backward, are in minilinpath/layers/reference.py
(affine_backward, sigmoid_backward, maxout_backward, dropout_backward, softmax_cross_entropy): what these
answers compute, and what the library's fast layers are tested equal to.
"""
import numpy as np


def affine_backward(dout, x, W):
    return dout @ W.T, x.T @ dout, dout.sum(axis=0)


def relu_backward(dout, x):
    return dout * (x > 0)


def sigmoid_backward(dout, s):
    return dout * s * (1.0 - s)


def maxout_backward(dout, z, k):
    # minilinpath.layers.reference.maxout_forward keeps this argmax as a one-hot; its maxout_backward multiplies
    N, U = dout.shape
    pieces = z.reshape(N, U, k)
    first = pieces.argmax(axis=2)                      # argmax returns the first maximum
    dz = np.zeros_like(pieces)
    n, u = np.meshgrid(np.arange(N), np.arange(U), indexing="ij")
    dz[n, u, first] = dout
    return dz.reshape(N, U * k)


def dropout_backward(dout, mask, scale):
    return dout * mask * scale


def softmax_cross_entropy(logits, y):
    N = logits.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -logp[np.arange(N), y].mean()
    dlogits = np.exp(logp)
    dlogits[np.arange(N), y] -= 1.0
    return loss, dlogits / N


def mlp_loss_and_grad(params, X, y):
    # the lesson's namespace provides the student's layer backward functions; here we use our own
    z0 = X @ params["h0.W"] + params["h0.b"]
    h0 = np.maximum(z0, 0)
    z1 = h0 @ params["h1.W"] + params["h1.b"]
    h1 = np.maximum(z1, 0)
    logits = h1 @ params["y.W"] + params["y.b"]
    loss, dlogits = softmax_cross_entropy(logits, y)
    grads = {}
    dh1, grads["y.W"], grads["y.b"] = affine_backward(dlogits, h1, params["y.W"])
    dh0, grads["h1.W"], grads["h1.b"] = affine_backward(relu_backward(dh1, z1), h0, params["h1.W"])
    _, grads["h0.W"], grads["h0.b"] = affine_backward(relu_backward(dh0, z0), X, params["h0.W"])
    return loss, grads
