"""J(alpha) along theta(alpha) = (1 - alpha) theta_0 + alpha theta_1 for deep linear regression, exactly.

Convention (the same as ``minilinpath.models.DeepLinear``): row vectors,
y_hat = x W_1 W_2 ... W_L, and

    J = (1/N) sum_n || x_n W_1 ... W_L - y_n ||^2
      = tr(M^T Sxx M) - 2 tr(M^T Sxy) + syy,        M = W_1 ... W_L,

with Sxx = X^T X / N, Sxy = X^T Y / N, syy = ||Y||^2 / N.

Along the line every weight matrix is affine in alpha,
W_l(alpha) = W_l^0 + alpha (W_l^1 - W_l^0), so M(alpha) is a matrix
polynomial of degree L and J(alpha) a polynomial of degree 2L. We compute its
coefficients by multiplying matrix polynomials (coefficient arrays), never by
sampling. The toy problem of the paper (train y = w_1 w_2 x to output 1 at
x = 1) gives J(alpha) = (1 - p(alpha))^2 with p(alpha) = w_1(alpha) w_2(alpha).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.polynomial import Polynomial


def line_polynomial(start, end) -> np.ndarray:
    """Coefficients of W(alpha) = start + alpha (end - start): shape (2, *start.shape)."""
    start, end = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
    if start.shape != end.shape:
        raise ValueError(f"start and end must have the same shape, got {start.shape} and {end.shape}.")
    return np.stack([start, end - start])


def matmul_polynomials(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Product of matrix polynomials given by coefficients A (p+1, m, k) and B (q+1, k, n).

    (A B)_c = sum_{i + j = c} A_i B_j, shape (p+q+1, m, n).
    """
    out = np.zeros((A.shape[0] + B.shape[0] - 1, A.shape[1], B.shape[2]))
    for i in range(A.shape[0]):
        for j in range(B.shape[0]):
            out[i + j] += A[i] @ B[j]
    return out


def data_moments(X, Y):
    """``(Sxx, Sxy, syy)`` = (X^T X / N, X^T Y / N, ||Y||^2 / N) of examples X (N, d_0), Y (N, d_L), N >= 1."""
    if Y is None:
        raise ValueError("give the targets Y along with the examples X.")
    X, Y = np.asarray(X, np.float64), np.asarray(Y, np.float64)
    if X.ndim != 2 or Y.ndim != 2 or X.shape[0] != Y.shape[0]:
        raise ValueError(f"need X (N, d_0) and Y (N, d_L) with the same N, got {X.shape} and {Y.shape}; "
                         "reshape one output to Y[:, None].")
    n = X.shape[0]
    if n == 0:
        raise ValueError("X and Y hold no examples (N = 0); the data moments need N >= 1.")
    return X.T @ X / n, X.T @ Y / n, float((Y * Y).sum()) / n


def matrix_path_polynomial(weights_start, weights_end, Sxx=None, Sxy=None, syy=None, X=None, Y=None) -> Polynomial:
    """J(alpha) as an exact polynomial for W_l(alpha) on the line between two weight lists.

    The data is given either by examples ``X`` (N, d_0), ``Y`` (N, d_L) or by its
    moments ``Sxx`` (d_0, d_0), ``Sxy`` (d_0, d_L), ``syy`` (scalar).
    """
    weights_start, weights_end = list(weights_start), list(weights_end)
    if len(weights_start) != len(weights_end) or not weights_start:
        raise ValueError("need the same, non-zero number of weight matrices at both ends.")
    if X is not None:
        Sxx, Sxy, syy = data_moments(X, Y)
    if Sxx is None or Sxy is None or syy is None:
        raise ValueError("give the data as X and Y, or as Sxx, Sxy and syy.")
    if np.ndim(syy) != 0:
        raise ValueError(f"syy = ||Y||^2 / N is a scalar, got shape {np.shape(syy)}.")
    M = None
    for W0, W1 in zip(weights_start, weights_end):
        P = line_polynomial(np.atleast_2d(W0), np.atleast_2d(W1))
        if P.ndim != 3 or (M is not None and M.shape[2] != P.shape[1]):
            raise ValueError(f"weights must be matrices that chain (d_0, d_1), (d_1, d_2), ...; got shape "
                             f"{P.shape[1:]} after a product of shape {None if M is None else M.shape[1:]}.")
        M = P if M is None else matmul_polynomials(M, P)
    Sxx, Sxy = np.atleast_2d(np.asarray(Sxx, np.float64)), np.atleast_2d(np.asarray(Sxy, np.float64))
    if M.shape[1:] != Sxy.shape or Sxx.shape != (M.shape[1], M.shape[1]):
        raise ValueError(f"shapes do not fit: product {M.shape[1:]}, Sxx {Sxx.shape}, Sxy {Sxy.shape}.")
    degree = 2 * (M.shape[0] - 1)
    coef = np.zeros(degree + 1)
    SM = np.einsum("ij,cjk->cik", Sxx, M)            # Sxx M_c for every coefficient c
    for i in range(M.shape[0]):
        for j in range(M.shape[0]):
            coef[i + j] += np.sum(M[i] * SM[j])      # tr(M_i^T Sxx M_j)
        coef[i] -= 2.0 * np.sum(M[i] * Sxy)          # -2 tr(M_i^T Sxy)
    coef[0] += syy
    return Polynomial(coef)


def scalar_path_polynomial(w_start, w_end, x=1.0, y=1.0) -> Polynomial:
    """J(alpha) for the scalar network y_hat = w_L ... w_1 x on examples (x, y).

    p(alpha) = prod_l (w_l^0 + alpha (w_l^1 - w_l^0)) has degree L, and
    J(alpha) = mean_n (y_n - x_n p(alpha))^2
             = E[y^2] - 2 E[x y] p(alpha) + E[x^2] p(alpha)^2.
    The defaults x = 1, y = 1 are the paper's toy problem.
    """
    w_start, w_end = np.atleast_1d(np.asarray(w_start, np.float64)), np.atleast_1d(np.asarray(w_end, np.float64))
    if w_start.shape != w_end.shape or w_start.ndim != 1:
        raise ValueError("w_start and w_end must be 1-D arrays of the same length (one scalar weight per layer).")
    if w_start.size == 0:
        raise ValueError("need at least one layer: w_start and w_end are empty.")
    x, y = np.atleast_1d(np.asarray(x, np.float64)), np.atleast_1d(np.asarray(y, np.float64))
    if x.shape != y.shape or x.size == 0:
        raise ValueError(f"x and y must be the same number (>= 1) of examples, got shapes {x.shape} and {y.shape}.")
    p = Polynomial([1.0])
    for a, b in zip(w_start, w_end):
        p = p * Polynomial([a, b - a])
    return np.mean(y * y) - 2.0 * np.mean(x * y) * p + np.mean(x * x) * p * p


class StationaryPoint(NamedTuple):
    alpha: float
    J: float
    kind: str  # "minimum", "maximum" or "flat" (an inflection or higher-order point)


def stationary_points(J: Polynomial, lo: float = -np.inf, hi: float = np.inf, imag_tol: float = 1e-9) -> list:
    """Real roots of dJ/dalpha in [lo, hi], each classified by the sign change of dJ/dalpha.

    A root where dJ/dalpha goes from - to + is a minimum, + to - a maximum,
    and no sign change (e.g. alpha = 0 when J ~ c - alpha^3) is "flat".
    """
    if not np.all(np.isfinite(J.coef)):
        raise ValueError("J has NaN or infinite coefficients (NaN/inf in the weights or data?); nothing to solve.")
    if np.isnan(lo) or np.isnan(hi) or lo > hi:
        raise ValueError(f"need an interval lo <= hi, got lo={lo}, hi={hi}.")
    dJ = J.deriv()
    if dJ.degree() < 1 and np.allclose(dJ.coef, 0):
        return []
    roots = dJ.roots()
    scale = max(1.0, float(np.max(np.abs(roots)))) if roots.size else 1.0
    real = np.sort(roots[np.abs(roots.imag) <= imag_tol * scale].real)
    points = []
    for r in real:
        if not lo - 1e-12 <= r <= hi + 1e-12:
            continue
        if points and abs(r - points[-1].alpha) < 1e-9 * scale:
            continue  # a repeated root, already listed
        # the sign of dJ just left and right of r, at a distance below the gap to any other root
        others = np.abs(real[np.abs(real - r) > 1e-9 * scale] - r)
        eps = 0.25 * min(others.min(), 1.0) if others.size else 0.25
        left, right = dJ(r - eps), dJ(r + eps)
        kind = "minimum" if left < 0 < right else "maximum" if left > 0 > right else "flat"
        points.append(StationaryPoint(float(r), float(J(r)), kind))
    return points


def minima(J: Polynomial, lo: float = -np.inf, hi: float = np.inf) -> list:
    """The local minima of J in [lo, hi] (endpoints of a finite interval are not counted)."""
    return [p for p in stationary_points(J, lo, hi) if p.kind == "minimum"]


def barrier_height(J: Polynomial, variant: str = "mean", lo: float = 0.0, hi: float = 1.0):
    """Height of the barrier on the segment [lo, hi] and where it peaks: ``(height, alpha)``.

    - ``variant="mean"``: max_a J(a) - (J(lo) + J(hi)) / 2 (Frankle et al.'s
      "sup minus mean of the endpoints");
    - ``variant="chord"``: max_a [J(a) - ((1 - t) J(lo) + t J(hi))] with
      t = (a - lo) / (hi - lo), the height above the straight chord (>= 0).
    Computed exactly: the maximum of a polynomial on an interval is at an end
    or at a real root of its derivative.
    """
    if variant not in ("mean", "chord"):
        raise ValueError(f"variant must be 'mean' or 'chord', got {variant!r}.")
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"need a finite segment lo < hi, got lo={lo}, hi={hi}.")
    j_lo, j_hi = J(lo), J(hi)
    if variant == "mean":
        excess = J - 0.5 * (j_lo + j_hi)
    else:
        slope = (j_hi - j_lo) / (hi - lo)
        excess = J - Polynomial([j_lo - slope * lo, slope])
    candidates = [lo, hi] + [p.alpha for p in stationary_points(excess, lo, hi)]
    values = [float(excess(a)) for a in candidates]
    best = int(np.argmax(values))
    return values[best], float(candidates[best])
