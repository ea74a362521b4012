"""Array checks shared by the layers: clear errors instead of broadcasting surprises.

This is the layers' own place for checks of the arrays they are given (a floating-point dtype, the number of
dimensions, one dtype for all inputs, an ``out=`` buffer of the right shape and dtype). Checks of plain numbers
(whole numbers, rates) live in :mod:`minilinpath.checks`, whose docstring maps where every other kind of check
lives.
"""
from __future__ import annotations


def require_float(name: str, a) -> None:
    dtype = getattr(a, "dtype", None)
    if dtype is None or dtype.kind != "f":
        raise TypeError(f"{name} must be a floating-point array, got {type(a).__name__} with dtype {dtype}.")


def require_ndim(name: str, a, ndim: int, shape_hint: str) -> None:
    if a.ndim != ndim:
        raise ValueError(f"{name} must have shape {shape_hint}, got shape {tuple(a.shape)}.")


def require_same_dtype(**arrays) -> None:
    dtypes = {name: a.dtype for name, a in arrays.items()}
    if len(set(dtypes.values())) > 1:
        listed = ", ".join(f"{n}: {d}" for n, d in dtypes.items())
        raise TypeError(f"dtypes differ ({listed}); cast them to one dtype (float32 to train, float64 to check).")


def require_out(name: str, out, shape, dtype) -> None:
    """An array given to write a result into must have the result's shape and dtype (None: nothing given)."""
    if out is None:
        return
    got_shape, got_dtype = tuple(getattr(out, "shape", ())), getattr(out, "dtype", None)
    if got_shape != tuple(shape) or got_dtype != dtype:
        raise ValueError(f"{name} must be a {dtype} array of shape {tuple(shape)} to write the result into, got "
                         f"{got_dtype} of shape {got_shape}.")
