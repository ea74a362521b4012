"""Flat parameters: one 1-D array ``theta`` and a layout that names its pieces.

Every model keeps all of its parameters in a single flat vector. A
:class:`Layout` records, for each named parameter, where it starts in that
vector and its shape, so ``layout.unflatten(theta)["h0.W"]`` is a reshaped
*view* (no copy). This makes the paper's technique one line::

    theta_alpha = (1 - alpha) * theta_init + alpha * theta_final

and an optimizer's state, a checkpoint, or a trajectory point is one array.

Checkpoints are ``.npz`` files holding ``theta`` and the layout table as JSON
text; they are read with ``allow_pickle=False``.
"""
from __future__ import annotations

import json
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import backend, io


def point_on_line(end0, end1, a: float, out, scratch):
    """out = (1 - a) end0 + a end1, written in place (``scratch``: an array like ``out``, for a end1); returns out.

    The roundings of the expression ``(1 - a) * end0 + a * end1``, without its temporaries. Every sweep builds
    theta(alpha) (or a layer's output at alpha) with this one function, so they all give the same bits; ``a``
    is a Python float, which keeps the arrays' dtype.
    """
    xp = backend.get_xp(out)
    xp.multiply(end0, 1.0 - a, out=out)
    xp.multiply(end1, a, out=scratch)
    out += scratch
    return out


class LayoutMismatchError(ValueError):
    """A parameter vector or checkpoint does not fit the model's layout."""


@dataclass(frozen=True)
class Entry:
    name: str
    offset: int
    shape: tuple

    @property
    def size(self) -> int:
        return math.prod(self.shape)


class Layout:
    """Ordered table ``name -> (offset, shape)`` describing a flat parameter vector."""

    def __init__(self, shapes):
        """``shapes``: an iterable of ``(name, shape)`` in storage order."""
        self.entries: list[Entry] = []
        offset = 0
        seen = set()
        for name, shape in shapes:
            shape = tuple(int(s) for s in shape)
            if name in seen:
                raise ValueError(f"parameter name {name!r} appears twice in the layout")
            if any(s < 0 for s in shape):
                raise ValueError(f"parameter {name!r} has a negative dimension in shape {shape}")
            seen.add(name)
            self.entries.append(Entry(name, offset, shape))
            offset += math.prod(shape)
        self.size = offset
        self._by_name = {e.name: e for e in self.entries}

    def __getitem__(self, name) -> Entry:
        return self._by_name[name]

    def __contains__(self, name) -> bool:
        return name in self._by_name

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.entries]

    def __eq__(self, other) -> bool:
        return isinstance(other, Layout) and self.table() == other.table()

    def __repr__(self) -> str:
        rows = "\n".join(f"  {e.name:<12} offset {e.offset:>10}  shape {e.shape}" for e in self.entries)
        return f"Layout({self.size} parameters)\n{rows}"

    def check(self, theta, name: str = "theta") -> None:
        """Raise LayoutMismatchError unless ``theta`` is a 1-D floating array of the right length; ``name`` is
        what the message calls it (e.g. "direction" for a vector in parameter space that is not a theta)."""
        shape = getattr(theta, "shape", None)
        if shape is None or len(shape) != 1:
            raise LayoutMismatchError(
                f"{name} must be a 1-D array of {self.size} parameters, got shape {shape}; "
                "flatten it with layout.flatten(dict) or use model.init(seed)."
            )
        if shape[0] != self.size:
            raise LayoutMismatchError(
                f"{name} has {shape[0]} entries but this layout needs {self.size}; "
                "is it the parameter vector of another model?"
            )
        if theta.dtype.kind != "f":
            raise LayoutMismatchError(f"{name} must be floating point, got dtype {theta.dtype}.")

    def unflatten(self, theta) -> dict:
        """``{name: view}``: reshaped views into ``theta`` (writes go through to theta)."""
        self.check(theta)
        return {e.name: theta[e.offset:e.offset + e.size].reshape(e.shape) for e in self.entries}

    def flatten(self, arrays: dict, xp=np, dtype=np.float32):
        """Pack ``{name: array}`` into a new flat vector (every name required, shapes checked)."""
        missing = [n for n in self.names if n not in arrays]
        extra = [n for n in arrays if n not in self._by_name]
        if missing or extra:
            raise LayoutMismatchError(f"flatten: missing {missing}, unexpected {extra}")
        theta = xp.empty(self.size, dtype=dtype)
        for e in self.entries:
            a = arrays[e.name]
            if tuple(a.shape) != e.shape:
                raise LayoutMismatchError(f"flatten: {e.name} has shape {tuple(a.shape)}, layout says {e.shape}")
            theta[e.offset:e.offset + e.size] = xp.asarray(a, dtype=dtype).reshape(-1)
        return theta

    def table(self) -> list:
        """JSON-friendly table ``[[name, offset, [shape...]], ...]``."""
        return [[e.name, e.offset, list(e.shape)] for e in self.entries]

    @classmethod
    def from_table(cls, table) -> "Layout":
        layout = cls((name, shape) for name, _offset, shape in table)
        for (name, offset, _shape), entry in zip(table, layout.entries):
            if offset != entry.offset:
                raise LayoutMismatchError(f"layout table is inconsistent at {name}: offset {offset} != {entry.offset}")
        return layout

    def describe_difference(self, other: "Layout") -> str:
        """One line per difference between two layouts, for error messages."""
        lines = []
        a, b = dict((e.name, e.shape) for e in self.entries), dict((e.name, e.shape) for e in other.entries)
        for name in a:
            if name not in b:
                lines.append(f"  {name}: in the model, not in the checkpoint")
            elif a[name] != b[name]:
                lines.append(f"  {name}: model shape {a[name]}, checkpoint shape {b[name]}")
        lines += [f"  {name}: in the checkpoint, not in the model" for name in b if name not in a]
        if not lines and self.names != other.names:
            lines.append("  same parameters in a different order")
        return "\n".join(lines)


def save_checkpoint(path, theta, layout: Layout, meta: dict | None = None, overwrite: bool = False) -> Path:
    """Save ``theta`` with its layout (and optional JSON-able ``meta``) as ``.npz``.

    Refuses to replace an existing file unless ``overwrite=True``. The write is
    atomic: a crash leaves either the old file or the new one, never half of one.
    """
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_suffix(path.suffix + ".npz") if path.suffix else path.with_suffix(".npz")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it (or choose another name).")
    layout.check(theta)
    io.write_npz(
        path,
        theta=backend.to_numpy(theta),
        layout=np.array(json.dumps(layout.table())),
        meta=np.array(json.dumps(meta or {})),
    )
    return path


def load_checkpoint(path, layout: Layout | None = None, xp=np):
    """Load ``(theta, layout, meta)`` from a checkpoint written by :func:`save_checkpoint`.

    With ``layout`` given, a checkpoint of another model raises
    :class:`LayoutMismatchError` listing the differences.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist.")
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as f:  # fh: closed even if not a zip
            theta = f["theta"]
            saved = Layout.from_table(json.loads(str(f["layout"])))
            meta = json.loads(str(f["meta"])) if "meta" in f.files else {}
    except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise LayoutMismatchError(f"{path} is not a minilinpath checkpoint one can read (theta + layout): {exc}; "
                                  "it is truncated, damaged or another kind of file.") from exc
    if layout is not None and saved != layout:
        raise LayoutMismatchError(
            f"checkpoint {path} was saved for a different model:\n{layout.describe_difference(saved)}"
        )
    saved.check(theta)
    return xp.asarray(theta), saved, meta
