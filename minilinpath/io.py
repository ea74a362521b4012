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

Files that belong together (a figure's ``.npz``, ``.json`` and ``.png``) go through
:func:`replace_together`: every one is written to its temporary first, and only
when all are on disk are they renamed onto their targets. A write that fails (a
full disk) leaves every previous file as it was: the set is replaced whole or not
at all. (A rename writes no data, so it does not fail for want of space.)
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
    tmp = _write_temporary(path, write, binary)
    try:
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def replace_together(files) -> list:
    """Write several files as one: ``files`` is a list of ``(path, write, binary)`` as for :func:`atomic_write`.

    Every file is written to a temporary beside its target and fsync-ed; only when all of them are written are
    they renamed onto their targets, one after another. If any write fails, every temporary is removed and no
    target has changed. Returns the paths.
    """
    written = []  # (temporary, target)
    try:
        for path, write, binary in files:
            written.append((_write_temporary(Path(path), write, binary), Path(path)))
        while written:
            tmp, path = written[0]
            os.replace(tmp, path)
            written.pop(0)
    except BaseException:
        for tmp, _ in written:
            Path(tmp).unlink(missing_ok=True)
        raise
    return [Path(path) for path, _, _ in files]


def _write_temporary(path: Path, write, binary: bool) -> str:
    """A uniquely named temporary file beside ``path``, filled by ``write(f)``, flushed and fsync-ed, with the
    usual permissions; removed again if anything fails. Returns its name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual permissions
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None:  # a full disk: name the file it could not write
            exc.filename = str(path)
        raise
    return tmp


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
