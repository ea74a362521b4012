"""Element-wise non-linearities and their derivatives.

Conventions pinned by the tests:
- ReLU'(0) = 0 (the gradient passes only where x > 0);
- the logistic sigmoid is computed as (1 + tanh(x/2)) / 2, which never
  overflows (no warnings for large |x|); its error is at most a rounding
  error in absolute terms (relative accuracy drops for x << -30, where
  sigmoid(x) < 1e-13);
- backward passes use the saved *outputs* where the derivative is a function
  of them: sigmoid' = s (1 - s), tanh' = 1 - t^2.
"""
from __future__ import annotations

from .. import backend
from ._checks import require_float


def relu_forward(x):
    """out = max(x, 0); cache: the boolean mask x > 0."""
    require_float("x", x)
    mask = x > 0
    return x * mask, mask


def relu_backward(dout, mask):
    """dx = dout where x > 0, else 0 (so ReLU'(0) = 0)."""
    return dout * mask


def sigmoid(x):
    """Logistic function 1 / (1 + e^-x), written as (1 + tanh(x/2)) / 2 to avoid overflow.

    Reference: :func:`minilinpath.layers.reference.sigmoid` (a rounding error apart, in absolute terms).
    """
    xp = backend.get_xp(x)
    return 0.5 * (1.0 + xp.tanh(0.5 * x))


def sigmoid_forward(x):
    """out = sigmoid(x); cache: out.

    Reference: :func:`minilinpath.layers.reference.sigmoid` (a rounding error apart, in absolute terms).
    """
    require_float("x", x)
    s = sigmoid(x)
    return s, s


def sigmoid_backward(dout, s):
    """dx = dout * s * (1 - s).

    Reference: :func:`minilinpath.layers.reference.sigmoid_backward` (the same operations).
    """
    return dout * s * (1.0 - s)


def tanh_forward(x):
    """out = tanh(x); cache: out."""
    require_float("x", x)
    t = backend.get_xp(x).tanh(x)
    return t, t


def tanh_backward(dout, t):
    """dx = dout * (1 - t^2)."""
    return dout * (1.0 - t * t)


def identity_forward(x):
    return x, None


def identity_backward(dout, _cache):
    return dout


ACTIVATIONS = {
    "relu": (relu_forward, relu_backward),
    "sigmoid": (sigmoid_forward, sigmoid_backward),
    "tanh": (tanh_forward, tanh_backward),
    "linear": (identity_forward, identity_backward),
}


# ----------------------------------------------------------------------------- evaluation (no backward)
# The same functions computed in place, keeping nothing for a backward pass: what evaluation uses
# (model.loss, predict, the linear path). Each gives bit for bit the values of its *_forward above.

def relu_inplace(x):
    """x <- max(x, 0) as x * (x > 0), in place; returns x."""
    xp = backend.get_xp(x)
    return xp.multiply(x, x > 0, out=x)


def sigmoid_inplace(x):
    """x <- (1 + tanh(x/2)) / 2, in place; returns x.

    Reference: :func:`minilinpath.layers.reference.sigmoid` (a rounding error apart, in absolute terms).
    """
    xp = backend.get_xp(x)
    x *= 0.5
    xp.tanh(x, out=x)
    x += 1.0
    x *= 0.5
    return x


def tanh_inplace(x):
    xp = backend.get_xp(x)
    return xp.tanh(x, out=x)


EVAL_ACTIVATIONS = {"relu": relu_inplace, "sigmoid": sigmoid_inplace, "tanh": tanh_inplace,
                    "linear": lambda x: x}
