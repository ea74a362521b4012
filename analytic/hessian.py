"""The Hessian of deep linear regression in closed form (the ground truth for the curvature tools).

Convention of ``minilinpath.models.DeepLinear``: y_hat = x W_1 ... W_L and

    J(W_1, ..., W_L) = tr(M^T Sxx M) - 2 tr(M^T Sxy) + syy,    M = W_1 W_2 ... W_L,

with Sxx = X^T X / N, Sxy = X^T Y / N. Write P_l = W_1 ... W_l (P_0 = I),
S_l = W_l ... W_L (S_{L+1} = I) and the residual R = Sxx M - Sxy (so dJ/dM = 2R).

Moving every W_l along V_l, M(theta + t V) = M + t dM + t^2 Q + O(t^3) with

    dM = sum_l P_{l-1} V_l S_{l+1},     Q = sum_{l<m} P_{l-1} V_l B_lm V_m S_{m+1},
    B_lm = W_{l+1} ... W_{m-1}  (the identity when m = l + 1),

and the t^2 term of J gives the quadratic form of the Hessian:

    V^T H V = 2 <dM, Sxx dM> + 4 <Q, R>.

With the row-major flattening of our flat theta (vec(A X B) = (A kron B^T) vec(X)):

- the Gauss-Newton part: H_GN = 2 K^T (Sxx kron I) K, where the block of K for
  layer l is P_{l-1} kron S_{l+1}^T (it maps vec V_l to vec dM);
- the residual part couples different layers only: for l < m,
  H_lm[(i, j), (k, n)] = 2 B_lm[j, k] C_lm[i, n] with C_lm = P_{l-1}^T R S_{m+1}^T,
  and H_ml = H_lm^T; the diagonal blocks have no residual part (J is quadratic
  in each single W_l).

At a global minimum R = 0 and H = H_GN (positive semi-definite); at the origin
of the paper's toy problem (J = (1 - w_1 w_2)^2) H = [[0, -2], [-2, 0]], with
eigenvalues -2 and 2: a saddle.
"""
from __future__ import annotations

from functools import reduce

import numpy as np

from .interpolation import data_moments


def _moments(Sxx, Sxy, X, Y):
    if X is not None:
        return data_moments(X, Y)[:2]
    if Sxx is None or Sxy is None:
        raise ValueError("give the data as X and Y, or as Sxx and Sxy.")
    return np.atleast_2d(np.asarray(Sxx, np.float64)), np.atleast_2d(np.asarray(Sxy, np.float64))


def _chain(mats, n):
    """The product of ``mats`` in order, or the n x n identity for an empty list."""
    return reduce(np.matmul, mats) if mats else np.eye(n)


def deep_linear_hessian(weights, Sxx=None, Sxy=None, X=None, Y=None, parts: bool = False):
    """The exact Hessian of J with respect to the flat vector (W_1, ..., W_L), each row-major.

    ``weights``: the list W_1, ..., W_L (shapes (d_{l-1}, d_l)); the data as
    examples ``X`` (N, d_0), ``Y`` (N, d_L) or moments ``Sxx``, ``Sxy``.
    Returns the (P, P) matrix, P = sum_l d_{l-1} d_l; with ``parts`` the pair
    ``(Gauss-Newton part, residual part)`` whose sum it is.
    """
    Ws = [np.atleast_2d(np.asarray(W, np.float64)) for W in weights]
    if not Ws:
        raise ValueError("need at least one weight matrix.")
    if any(W.ndim != 2 for W in Ws):
        raise ValueError(f"weights must be matrices, got shapes {[W.shape for W in Ws]}.")
    for a, b in zip(Ws, Ws[1:]):
        if a.shape[1] != b.shape[0]:
            raise ValueError(f"weights do not chain: {a.shape} then {b.shape}.")
    Sxx, Sxy = _moments(Sxx, Sxy, X, Y)
    L, d0, dL = len(Ws), Ws[0].shape[0], Ws[-1].shape[1]
    if Sxx.shape != (d0, d0) or Sxy.shape != (d0, dL):
        raise ValueError(f"data shapes do not fit: Sxx {Sxx.shape}, Sxy {Sxy.shape} for d_0 = {d0}, d_L = {dL}.")
    P = [_chain(Ws[:l], d0) for l in range(L + 1)]               # P[l] = W_1 ... W_l
    S = [_chain(Ws[l:], Ws[l].shape[0]) for l in range(L)] + [np.eye(dL)]  # S[l] = W_{l+1} ... W_L (0-based l)
    M = P[L]
    R = Sxx @ M - Sxy
    sizes = [W.size for W in Ws]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    # Gauss-Newton part: K maps the flat V to vec(dM); 0-based layer l has P_{l} on the left, S_{l+1} on the right
    K = np.concatenate([np.kron(P[l], S[l + 1].T) for l in range(L)], axis=1)
    gn = 2.0 * K.T @ np.kron(Sxx, np.eye(dL)) @ K
    res = np.zeros_like(gn)
    for l in range(L):
        for m in range(l + 1, L):
            B = _chain(Ws[l + 1:m], Ws[l].shape[1])               # W_{l+1} ... W_{m-1} (0-based), d_l x d_{m-1}
            C = P[l].T @ R @ S[m + 1].T                            # (d_{l-1}, d_m) in 1-based widths
            block = 2.0 * np.einsum("in,jk->ijkn", C, B).reshape(sizes[l], sizes[m])
            res[offsets[l]:offsets[l + 1], offsets[m]:offsets[m + 1]] = block
            res[offsets[m]:offsets[m + 1], offsets[l]:offsets[l + 1]] = block.T
    return (gn, res) if parts else gn + res


def toy_hessian(w1: float, w2: float) -> np.ndarray:
    """The Hessian of the paper's toy problem J = (1 - w1 w2)^2: [[2 w2^2, 4 w1 w2 - 2], [4 w1 w2 - 2, 2 w1^2]]."""
    off = 4.0 * w1 * w2 - 2.0
    return np.array([[2.0 * w2 * w2, off], [off, 2.0 * w1 * w1]])
