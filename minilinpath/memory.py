"""How much memory one evaluation pass may use: the budget every evaluation chunk is sized by.

Evaluation (``loss``, ``predict``, ``error_rate``, validation, the linear path and the planes) splits the data
into chunks small enough for this budget, whatever the model. It lives below both the models and the analysis
tools, which both read it.
"""
from __future__ import annotations

import os

DEFAULT_EVAL_MEMORY_MB = 1024


def eval_memory_budget() -> int:
    """Bytes that one evaluation pass may spend on temporaries: ``$MINILINPATH_EVAL_MEMORY_MB`` megabytes
    (default 1024)."""
    text = os.environ.get("MINILINPATH_EVAL_MEMORY_MB", "").strip()
    if not text:
        return DEFAULT_EVAL_MEMORY_MB << 20
    try:
        megabytes = float(text)
    except ValueError:
        megabytes = -1.0
    if not megabytes > 0:
        raise ValueError(f"MINILINPATH_EVAL_MEMORY_MB={text!r}: give a positive number of megabytes.")
    return int(megabytes * (1 << 20))
