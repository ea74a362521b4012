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


def whole_number(value, what: str, least: int | None = None) -> int:
    """``value`` as an int if :func:`is_whole_number` (and ``>= least`` when given); else ValueError
    "<what> must be a whole number [>= least], got ...". (Sizes and counts: a model's widths, its number of
    iterations, a chunk of examples.) The package's one whole-number rule: 3 and 3.0 are whole, 2.5, NaN,
    True and "3" are not."""
    if not is_whole_number(value) or (least is not None and value < least):
        bound = "" if least is None else f" >= {least}"
        raise ValueError(f"{what} must be a whole number{bound}, got {value!r}.")
    return int(value)
