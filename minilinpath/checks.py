"""Checks of plain numbers: one clear line instead of a silent truncation by ``int()`` or a run that cannot end.

Where the package checks its inputs (one place per kind of input, one rule per question):

- **plain numbers** (counts, sizes, seeds, rates, probabilities): here. :func:`whole_number` is the package's
  one whole-number rule (3 and 3.0 are whole; 2.5, NaN, infinity, True and "3" are not), :func:`real_number`
  its one rule for a real number within bounds (a rate > 0, a momentum in [0, 1), ...). The trainers
  (:mod:`minilinpath.train`, :mod:`minilinpath.train_lm`), the schedules (:mod:`minilinpath.optim`) and the
  models use these two.
- **arrays given to a layer** (dtype, number of dimensions, an ``out=`` buffer): ``minilinpath/layers/_checks.py``,
  the layers' own place.
- **inputs of the analysis** (a batch's examples, a point on a line or a plane): :mod:`minilinpath.path.checks`.
- **a model against the contract** (the names the tools need, the optional abilities): :mod:`minilinpath.contract`.
- **training data and a run's start point**: ``TrainingSettings`` in :mod:`minilinpath.train` (checked once, when
  the settings are made, before anything is written).
"""
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
    iterations, a chunk of examples, a batch size, a number of epochs, a seed.) The package's one whole-number
    rule: 3 and 3.0 are whole, 2.5, NaN, True and "3" are not. The int it returns is what to keep: 3.0 and
    ``np.int64(3)`` become the 3 that a run's description (and so its fingerprint) holds."""
    if not is_whole_number(value) or (least is not None and value < least):
        bound = "" if least is None else f" >= {least}"
        raise ValueError(f"{what} must be a whole number{bound}, got {value!r}.")
    return int(value)


def real_number(value, what: str, holds, condition: str):
    """``value`` as a Python number if it is a real number (not a bool) for which ``holds(value)`` is true; else
    ValueError "<what> must be <condition>, got ...".

    ``holds`` states the bounds, e.g. ``lambda v: 0 < v < math.inf`` with ``condition="a finite number > 0"``.
    NaN fails every comparison, so a ``holds`` written with <, <= refuses it. A NumPy scalar becomes the Python
    number of the same value (``.item()``: JSON files hold it); any other number is returned as it is."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not holds(value):
        raise ValueError(f"{what} must be {condition}, got {value!r}.")
    return value.item() if isinstance(value, np.generic) else value
