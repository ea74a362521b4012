"""Deep linear regression as a pure function of theta (Section 5 of the paper).

Row-vector convention, matching the dense layers' ``(n_in, n_out)`` weights::

    y_hat = x W_1 W_2 ... W_L                x: (N, d_0), W_l: (d_{l-1}, d_l)
    J(theta) = (1/N) sum_n || y_hat_n - y_n ||^2

i.e. the squared error summed over outputs and averaged over examples (no 1/2).
The paper's toy problem is ``dims=(1, 1, 1)`` with the single example x = 1,
y = 1: J(w_1, w_2) = (1 - w_1 w_2)^2.

The data can be given as examples ``(X, Y)`` or, for large problems, by its
second moments (see :class:`Moments`): J depends on the data only through
Sxx = X^T X / N, Sxy = X^T Y / N and syy = ||Y||^2 / N.

Parameter names are ``h0.W``, ``h1.W``, ... (no biases, as in the paper).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import backend
from ..checks import whole_number
from ..layers import affine_backward, affine_forward
from ..params import Layout


class Moments(NamedTuple):
    """Second moments of a regression data set: J depends on the data only through them."""
    Sxx: object  # (d_0, d_0) = X^T X / N
    Sxy: object  # (d_0, d_L) = X^T Y / N
    syy: float   # ||Y||_F^2 / N

    @classmethod
    def from_data(cls, X, Y) -> "Moments":
        n = X.shape[0]
        if n == 0:
            raise ValueError("Moments.from_data: X and Y hold no examples (N = 0); the moments need N >= 1.")
        return cls(X.T @ X / n, X.T @ Y / n, float(backend.to_float((Y * Y).sum())) / n)


class DeepLinear:
    """y = x W_1 ... W_L with squared error.

    Parameters
    ----------
    dims : layer widths ``(d_0, d_1, ..., d_L)``; depth L = len(dims) - 1.
    init_std : weights start N(0, init_std^2) (small: near the saddle at the origin).
    name : label for checkpoints and figures.
    """

    def __init__(self, dims=(1, 1, 1), init_std=0.01, name="deep_linear"):
        dims = tuple(whole_number(d, "each layer width") for d in dims)
        if len(dims) < 2 or min(dims) < 1:
            raise ValueError(f"dims must list at least two positive widths (d_0, ..., d_L), got {dims}.")
        if not (np.isfinite(init_std) and init_std >= 0):
            raise ValueError(f"init_std must be a finite standard deviation >= 0, got {init_std!r}.")
        self.dims, self.init_std, self.name = dims, float(init_std), name
        self.depth = len(dims) - 1
        self.layout = Layout((f"h{l}.W", (dims[l], dims[l + 1])) for l in range(self.depth))

    def __repr__(self):
        return f"DeepLinear({' x '.join(map(str, self.dims))}, depth {self.depth}, {self.layout.size} parameters)"

    @property
    def size(self) -> int:
        return self.layout.size

    def settings(self) -> dict:
        return dict(dims=list(self.dims), init_std=self.init_std, name=self.name)

    def init(self, seed, xp=None, dtype=np.float32):
        """theta with every weight N(0, init_std^2), drawn with NumPy from ``seed``."""
        theta = np.random.default_rng(seed).normal(0.0, self.init_std, size=self.layout.size)
        return backend.to_device(theta, "gpu" if xp is not None and xp is not np else "cpu", dtype=dtype)

    def unflatten(self, theta) -> dict:
        return self.layout.unflatten(theta)

    def weights(self, theta) -> list:
        p = self.layout.unflatten(theta)
        return [p[f"h{l}.W"] for l in range(self.depth)]

    def end_to_end(self, theta):
        """The product W_1 W_2 ... W_L, shape (d_0, d_L)."""
        M = None
        for W in self.weights(theta):
            M = W if M is None else M @ W
        return M

    def constrain(self, theta) -> None:
        """No constraints (present so the trainer can treat every model alike)."""

    def _check(self, theta, X, Y):
        self.layout.check(theta)
        shape_x, shape_y = getattr(X, "shape", None), getattr(Y, "shape", None)
        if shape_x is None or len(shape_x) != 2 or shape_x[1] != self.dims[0] or shape_y != (shape_x[0], self.dims[-1]):
            raise ValueError(f"{self.name}: need arrays X (N, {self.dims[0]}) and Y (N, {self.dims[-1]}), "
                             f"got {shape_x} and {shape_y}.")
        if shape_x[0] == 0:
            raise ValueError(f"{self.name}: the batch holds no examples (N = 0); J is a mean over N >= 1 examples.")

    # ----------------------------------------------------------- examples
    def loss(self, theta, batch) -> float:
        """J on ``batch``: either ``(X, Y)`` examples or a :class:`Moments`."""
        if isinstance(batch, Moments):
            return self._loss_moments(theta, batch)[0]
        X, Y = batch
        self._check(theta, X, Y)
        residual = X @ self.end_to_end(theta) - Y
        return backend.to_float((residual * residual).sum()) / X.shape[0]

    def loss_and_grad(self, theta, batch, rng=None):
        """``(J, grad)`` by backpropagation through the L linear layers."""
        if isinstance(batch, Moments):
            return self._loss_moments(theta, batch, with_grad=True)
        X, Y = batch
        self._check(theta, X, Y)
        xp = backend.get_xp(theta)
        n = X.shape[0]
        h, caches = X, []
        for W in self.weights(theta):
            h, cache = affine_forward(h, W, xp.zeros(W.shape[1], dtype=W.dtype))
            caches.append(cache)
        residual = h - Y
        dh = (2.0 / n) * residual
        grad = xp.empty_like(theta)
        g = self.layout.unflatten(grad)
        for l in reversed(range(self.depth)):
            dh, dW, _ = affine_backward(dh, caches[l])
            g[f"h{l}.W"][...] = dW
        return backend.to_float((residual * residual).sum()) / n, grad

    # ------------------------------------------------------------ moments
    def _loss_moments(self, theta, m: Moments, with_grad=False):
        """J = tr(M^T Sxx M) - 2 tr(M^T Sxy) + syy with M = W_1 ... W_L.

        dJ/dM = 2 (Sxx M - Sxy); dJ/dW_l = (W_1..W_{l-1})^T dJ/dM (W_{l+1}..W_L)^T.
        """
        self.layout.check(theta)
        d0, dL = self.dims[0], self.dims[-1]
        if getattr(m.Sxx, "shape", None) != (d0, d0) or getattr(m.Sxy, "shape", None) != (d0, dL):
            raise ValueError(f"{self.name}: need Moments with Sxx ({d0}, {d0}) and Sxy ({d0}, {dL}) arrays, got "
                             f"{getattr(m.Sxx, 'shape', None)} and {getattr(m.Sxy, 'shape', None)}.")
        M = self.end_to_end(theta)
        SM = m.Sxx @ M
        J = backend.to_float((M * SM).sum() - 2.0 * (M * m.Sxy).sum()) + m.syy
        if not with_grad:
            return J, None
        xp = backend.get_xp(theta)
        dM = 2.0 * (SM - m.Sxy)
        Ws = self.weights(theta)
        grad = xp.empty_like(theta)
        g = self.layout.unflatten(grad)
        # prefix[l] = W_1 ... W_l (identity for l = 0), suffix products built on the fly
        prefix = [xp.eye(self.dims[0], dtype=theta.dtype)]
        for W in Ws:
            prefix.append(prefix[-1] @ W)
        right = xp.eye(self.dims[-1], dtype=theta.dtype)
        for l in reversed(range(self.depth)):
            g[f"h{l}.W"][...] = prefix[l].T @ dM @ right.T
            right = Ws[l] @ right
        return J, grad


def toy_problem(dtype=np.float64):
    """The paper's toy data set: one example, x = 1, target y = 1."""
    return np.ones((1, 1), dtype=dtype), np.ones((1, 1), dtype=dtype)
