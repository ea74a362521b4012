"""Input checks shared by the layers: clear errors instead of broadcasting surprises."""
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
