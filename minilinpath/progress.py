"""Progress bars for long loops (tqdm), switched off with ``enabled=False``."""
from __future__ import annotations

from tqdm.auto import tqdm


def progress_bar(iterable, desc: str = "", enabled: bool = True, **kwargs):
    """Wrap ``iterable`` in a tqdm bar that disappears when done; plain iterable if disabled."""
    if not enabled:
        return iterable
    return tqdm(iterable, desc=desc, leave=False, dynamic_ncols=True, **kwargs)
