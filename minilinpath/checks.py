"""Checks of plain numbers that several modules share: one clear line instead of a silent truncation by ``int()``."""
from __future__ import annotations

import math
import numbers

import numpy as np


def is_whole_number(value) -> bool:
    """True for a whole number (an int, a NumPy integer or a float such as 3.0); False for 2.5, NaN, infinity, a
    bool or a string (``int()`` would truncate 2.5 silently, and a bool is not a count)."""
    return (isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and math.isfinite(value)
            and value == int(value))


def whole_number(value, what: str) -> int:
    """``value`` as an int if :func:`is_whole_number`; else ValueError "<what> must be a whole number, got ...".
    (Sizes and counts: a model's widths, its number of iterations.)"""
    if not is_whole_number(value):
        raise ValueError(f"{what} must be a whole number, got {value!r}.")
    return int(value)
