"""Progress bars for long loops (tqdm), switched off with ``enabled=False``."""
from __future__ import annotations

from tqdm.auto import tqdm


def progress_bar(iterable, desc: str = "", enabled: bool = True, **kwargs):
    """Wrap ``iterable`` in a tqdm bar that disappears when done.

    Plain iterable if ``enabled`` is False; no bar either when the output is not
    a terminal (a log file or CI), where bars would only add noise.
    """
    if not enabled:
        return iterable
    return tqdm(iterable, desc=desc, leave=False, dynamic_ncols=True, disable=None, **kwargs)
