"""Atomic file writes: the one way this project puts a file on disk.

Every file minilinpath writes (checkpoints, histories, run descriptions,
figure numbers and pictures, cached data) goes through :func:`atomic_write`:

1. the content is written to a *uniquely named* temporary file in the target's
   own folder (``.<name>.<random>.tmp``), so two processes writing the same
   target never share a temporary file;
2. it is flushed and ``fsync``-ed;
3. ``os.replace`` renames it onto the target, which is atomic on one file
   system: a reader sees the old file or the new one, never a mix or half a file.

If writing fails, the temporary file is removed and the target is untouched.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np


def atomic_write(path, write, binary: bool = True) -> Path:
    """Write ``path`` atomically: ``write(f)`` fills an open temporary file, which then replaces ``path``.

    ``binary`` selects the file mode (``"wb"`` or ``"w"`` with UTF-8).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read the umask is to set it; put it straight back
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once, at import, before any threads start


def write_text(path, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text), binary=False)


def write_json(path, obj, **kwargs) -> Path:
    """``obj`` as indented JSON (``kwargs`` go to ``json.dumps``, e.g. ``default=float``)."""
    return write_text(path, json.dumps(obj, indent=1, **kwargs))


def write_npz(path, **arrays) -> Path:
    """An uncompressed ``.npz`` of NumPy arrays (read it back with ``allow_pickle=False``)."""
    return atomic_write(path, lambda f: np.savez(f, **arrays))


def write_bytes(path, data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data))
