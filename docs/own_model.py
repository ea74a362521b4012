"""Your own model, from scratch, through the line, a plane and the curvature tools.

A two-layer tanh network for classification, written here with NumPy only,
keeping the model contract of :mod:`minilinpath.contract`:

- ``layout``: a :class:`minilinpath.params.Layout` naming the pieces of theta;
- ``loss(theta, batch)``: the mean cross-entropy (deterministic);
- ``loss_and_grad(theta, batch, rng=None)``: the same and its gradient, flat like theta;
- ``error_rate(theta, batch)``: optional, for classifiers.

:class:`TwoLayerTanhFast` adds one optional ability of the contract,
:class:`~minilinpath.contract.FirstLayerSweep` (four names): the line and the
plane then compute X W1 once per chunk and run only the rest of the network at
every point, with the same numbers to rounding.

Run it: ``python docs/own_model.py`` (a few seconds, writes nothing).
"""
import numpy as np

from minilinpath.contract import Classifier, FirstLayerSweep
from minilinpath.params import Layout
from minilinpath.path import (evaluate_plane, grid_around, hessian_eigenvalues, line_curvature, linear_path,
                              plane_through, summarize)


class TwoLayerTanh:
    """p(y | x) = softmax(tanh(x W1 + b1) W2 + b2); J = mean cross-entropy."""

    def __init__(self, n_in, hidden, n_classes):
        self.layout = Layout([("W1", (n_in, hidden)), ("b1", (hidden,)), ("W2", (hidden, n_classes)),
                              ("b2", (n_classes,))])

    def init(self, seed):
        theta = np.random.default_rng(seed).normal(0.0, 0.1, self.layout.size)
        return theta

    def _forward(self, theta, X):
        p = self.layout.unflatten(theta)
        h = np.tanh(X @ p["W1"] + p["b1"])
        logits = h @ p["W2"] + p["b2"]
        logits = logits - logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        return p, h, probs

    def loss(self, theta, batch):
        X, y = batch
        _, _, probs = self._forward(theta, X)
        return float(-np.log(probs[np.arange(len(y)), y]).mean())

    def loss_and_grad(self, theta, batch, rng=None):
        X, y = batch
        p, h, probs = self._forward(theta, X)
        n = len(y)
        loss = float(-np.log(probs[np.arange(n), y]).mean())
        dlogits = probs.copy()
        dlogits[np.arange(n), y] -= 1.0
        dlogits /= n                                   # dJ/dlogits = (p - onehot) / N
        grad = np.empty_like(theta)
        g = self.layout.unflatten(grad)
        g["W2"][...] = h.T @ dlogits
        g["b2"][...] = dlogits.sum(axis=0)
        dz = (dlogits @ p["W2"].T) * (1.0 - h * h)     # back through tanh
        g["W1"][...] = X.T @ dz
        g["b1"][...] = dz.sum(axis=0)
        return loss, grad

    def error_rate(self, theta, batch):
        X, y = batch
        return float((self._forward(theta, X)[2].argmax(axis=1) != y).mean())


class TwoLayerTanhFast(TwoLayerTanh):
    """The same network with the first-layer trick (:class:`minilinpath.contract.FirstLayerSweep`).

    The first layer's linear part X W1 is linear in W1, so along a line
    X W1(alpha) = (1 - alpha) X W1_0 + alpha X W1_1: the sweeps compute the
    products once per chunk and hand this class the first layer's output at
    each point.
    """

    first_layer_weights = "W1"                 # the layout name of the first layer's weights

    def first_linear(self, X, W):
        return X @ W                           # (N, hidden): the first layer's linear part, no bias

    def first_bias(self, theta, z_linear):
        return z_linear + self.layout.unflatten(theta)["b1"]

    def evaluate_from_first_output(self, theta, z0, y, masks=None):
        """(sum of the NLL, number of errors) over a chunk whose first layer's output z0 = X W1 + b1 is given."""
        p = self.layout.unflatten(theta)
        logits = np.tanh(z0) @ p["W2"] + p["b2"]
        logits = logits - logits.max(axis=1, keepdims=True)
        log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return float(-log_probs[np.arange(len(y)), y].sum()), float((logits.argmax(axis=1) != y).sum())


def make_data(seed, n=400):
    """Three Gaussian blobs in 2-D."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centres = np.array([[0.0, 2.0], [-1.8, -1.0], [1.8, -1.0]])
    return centres[y] + rng.normal(0.0, 0.8, (n, 2)), y


def train(model, theta, batch, steps=300, lr=0.5):
    """Plain gradient descent; returns the final theta and the trajectory."""
    trajectory = [theta.copy()]
    for _ in range(steps):
        theta = theta - lr * model.loss_and_grad(theta, batch)[1]
        trajectory.append(theta.copy())
    return theta, trajectory


def main(steps=300, grid=15):
    model = TwoLayerTanh(2, 16, 3)
    assert isinstance(model, Classifier)  # the contract, checked the typing way
    train_set, valid_set = make_data(0), make_data(1)
    theta_init = model.init(seed=0)
    theta_final, trajectory = train(model, theta_init, train_set, steps)
    theta_other, _ = train(model, model.init(seed=1), train_set, steps)

    line = linear_path(model, theta_init, theta_final, train_set, np.linspace(-0.25, 1.25, 31), valid=valid_set,
                       progress=False)
    print("line:", summarize(line.alphas, line.J_train))
    fast_model = TwoLayerTanhFast(2, 16, 3)
    assert isinstance(fast_model, FirstLayerSweep)  # an optional ability, declared by having its four names
    fast_line = linear_path(fast_model, theta_init, theta_final, train_set, line.alphas, progress=False)
    print(f"line with the first-layer trick: largest difference {np.abs(fast_line.J_train - line.J_train).max():.1e}")

    plane = plane_through(theta_init, theta_final, theta_other, names=("init", "solution", "solution 2"))
    a, b = grid_around(plane, n=grid)
    surface = evaluate_plane(model, plane, train_set, a, b, valid=valid_set, progress=False)
    print(f"plane: lowest J {np.nanmin(surface.J_train):.4f} on a {grid} x {grid} grid")

    curvature = line_curvature(model, theta_init, theta_final, train_set, [0.0, 0.5, 1.0])
    top = hessian_eigenvalues(model, theta_final, train_set, k=3, which="LA")
    bottom = hessian_eigenvalues(model, theta_init, train_set, k=3, which="SA")
    print("d2J/dalpha2 at alpha = 0, 0.5, 1:", np.round(curvature, 4))
    print("top eigenvalues at the solution:", np.round(top.values, 4))
    print("smallest eigenvalues at the start:", np.round(bottom.values, 4))
    return line, surface, curvature, top, bottom, trajectory


if __name__ == "__main__":
    main()
