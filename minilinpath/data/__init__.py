"""Data sets: MNIST and Fashion-MNIST (IDX files), and a user's own ``.npz``.

``load_dataset(name)`` returns ``{"train": (X, y), "valid": (X, y)[, "test": (X, y)]}``
with X float32 of shape (N, features) and y int64 class indices.

``name`` is ``"mnist"``, ``"fashion-mnist"``, ``"cifar10"`` (GCN + ZCA
preprocessed, 40,000 / 10,000 / test), ``"mnist-test"`` (the official
MNIST test set alone, split 8,000 / 2,000: a small real set for quick checks)
or ``"npz:PATH"``: a file with
arrays ``X_train``, ``y_train``, ``X_valid``, ``y_valid`` (optionally
``X_test``, ``y_test``), read without pickle; no checksum is needed for it.

What ``npz:`` accepts (everything else is a one-line :class:`DataError`
raised before any training):

- X: integers or floats, shape (N, ...), flattened to (N, features); all X
  arrays of one kind (integer or float) and of the same width. Integer pixels
  within 0..255 are divided by 255 (said once on stderr); integers outside
  0..255 are refused (scale them yourself). NaN or infinity is refused.
  Floats far outside [0, 1] (below -5 or above 5, see ``FAR_OUTSIDE``) get a
  one-line note on stderr and are used as they are.
- y: integer class labels >= 0 and below ``MAX_CLASSES`` (100,000), shape (N,)
  (floats, even whole-numbered ones, are refused; whether the labels fit the
  model's classes is checked later).
- at least 2 training and 1 validation example; no object (pickled) arrays.
"""
from __future__ import annotations

import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .cifar10 import load_cifar10
from .download import DataError, cache_dir, fetch
from .mnist import load_mnist, load_mnist_test_only, load_pair, locate_files, parse_idx


# Floats beyond this (either sign) are "far outside [0, 1]": the paper's models, initialisations and
# learning rates assume inputs of order 1. The usual slip, pixels left at 0..255 as floats, reaches
# 255 and is caught. Standardised data (z-scores, pylearn2-style GCN with unit variance per value) lies
# mostly within a few units, but its extremes can pass 5: for it the note is a false alarm, which is
# why it is a note on stderr and never an error (the values are used as they are).
FAR_OUTSIDE = 5.0
MAX_CLASSES = 100_000  # labels below this: a network has one output per class (a label of 1e9 would ask for a
                      # softmax of a billion outputs and end in MemoryError, not in a message naming the label)
SAVE_HINT = "save it with np.savez(path, X_train=..., y_train=..., X_valid=..., y_valid=...)"


def _array(f, path: Path, key: str) -> np.ndarray:
    try:
        return f[key]
    except ValueError as exc:
        if "pickle" not in str(exc):  # a damaged array header
            raise DataError(f"{path}: {key} cannot be read ({' '.join(str(exc).split())}); the file is corrupt: "
                            f"{SAVE_HINT} again.") from exc
        kind = "np.int64" if key.startswith("y") else "np.float32"
        raise DataError(f"{path}: {key} is an object array (dtype=object), which is not read (no pickle); convert "
                        f"it to a numeric array (e.g. np.asarray({key}, dtype={kind})) and {SAVE_HINT}.") from exc
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataError(f"{path}: {key} cannot be read ({' '.join(str(exc).split())}); the file is truncated "
                        f"or corrupt: {SAVE_HINT} again.") from exc


def load_npz(path, dtype=np.float32) -> dict:
    """A user's data set from ``.npz``, checked as the module docstring says."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"npz data set {path} does not exist; check the path after npz: ({SAVE_HINT}).")
    fh = open(path, "rb")  # opened here so that it is closed whatever np.load makes of it
    try:
        f = np.load(fh, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        fh.close()
        why = "not a NumPy file" if "pickled" in str(exc) else " ".join(str(exc).split())  # never advise unpickling
        raise DataError(f"{path} is not a readable .npz file ({why}); {SAVE_HINT}.") from None
    if not isinstance(f, np.lib.npyio.NpzFile):
        fh.close()
        raise DataError(f"{path} holds a single array, not a .npz archive of named arrays; {SAVE_HINT}.")
    with fh, f:
        missing = [k for k in ("X_train", "y_train", "X_valid", "y_valid") if k not in f.files]
        if missing:
            raise DataError(f"{path} lacks {', '.join(missing)}; it holds {', '.join(f.files) or 'nothing'}. "
                            f"{SAVE_HINT[0].upper() + SAVE_HINT[1:]}.")
        if ("X_test" in f.files) != ("y_test" in f.files):
            have, lack = ("X_test", "y_test") if "X_test" in f.files else ("y_test", "X_test")
            raise DataError(f"{path} has {have} but no {lack}; save both or neither.")
        raw = {}
        for split in ("train", "valid", "test"):
            if f"X_{split}" in f.files:
                raw[split] = (_array(f, path, f"X_{split}"), _array(f, path, f"y_{split}"))
    return _check_npz(path, raw, dtype)


def _check_npz(path: Path, raw: dict, dtype) -> dict:
    width = None
    for split, (X, y) in raw.items():
        xk, yk = f"X_{split}", f"y_{split}"
        if X.ndim < 2 or y.ndim != 1 or X.shape[0] != y.shape[0]:
            raise DataError(f"{path}: {xk} {X.shape} and {yk} {y.shape} do not match; need {xk} of shape "
                            f"(N, features...) and {yk} of shape (N,).")
        if X.dtype.kind not in "iuf":
            raise DataError(f"{path}: {xk} has dtype {X.dtype}; it must hold integer pixels 0-255 or floats: "
                            f"convert it (e.g. {xk}.astype(np.float32)) and save again.")
        if y.dtype.kind not in "iu":
            hint = " (whole-numbered floats too: labels must be stored as integers)" if y.dtype.kind == "f" else ""
            raise DataError(f"{path}: {yk} must hold integer class labels, got {y.dtype}{hint}; "
                            f"save {yk}.astype(np.int64).")
        w = int(np.prod(X.shape[1:]))
        if w == 0:
            raise DataError(f"{path}: {xk} {X.shape} has no features; save the data with one row per example.")
        if width is None:
            width = w
        elif w != width:
            raise DataError(f"{path}: {xk} has {w} features per example but X_train has {width}; "
                            "all X arrays must have the same width.")
        if y.size and y.min() < 0:
            raise DataError(f"{path}: {yk} holds negative labels (min {y.min()}); class labels must be 0, 1, 2, ...")
        if y.size and y.max() >= MAX_CLASSES:  # a softmax of that many classes would not fit in memory
            raise DataError(f"{path}: {yk} holds the label {y.max():,}, but class labels must be 0, 1, 2, ... "
                            f"below {MAX_CLASSES:,} (a network has one output per class); renumber them.")
    kinds = {X.dtype.kind in "iu" for X, _ in raw.values()}
    if len(kinds) > 1:
        raise DataError(f"{path}: some X arrays hold integers and others floats ("
                        + ", ".join(f"X_{s} {X.dtype}" for s, (X, _) in raw.items())
                        + "); save them all the same way (integer pixels 0-255 or floats in [0, 1]).")
    n_train, n_valid = raw["train"][0].shape[0], raw["valid"][0].shape[0]
    if n_train < 2 or n_valid == 0:
        raise DataError(f"{path}: {n_train} training and {n_valid} validation examples are too few to train on; "
                        "need at least 2 training and 1 validation example.")
    if "test" in raw and raw["test"][0].shape[0] == 0:
        raise DataError(f"{path}: X_test holds no examples; add some or drop X_test and y_test.")

    integer = kinds == {True}
    splits = {}
    if integer:
        lo = min(int(X.min()) for X, _ in raw.values())
        hi = max(int(X.max()) for X, _ in raw.values())
        if lo < 0 or hi > 255:
            raise DataError(f"{path}: integer pixels range from {lo} to {hi}, outside 0-255; scale X to floats "
                            "(e.g. in [0, 1]) yourself and save again.")
        print(f"{path}: integer pixels (0-255) scaled to [0, 1] by dividing by 255.", file=sys.stderr)
        for split, (X, y) in raw.items():
            splits[split] = ((X.reshape(X.shape[0], -1) / 255.0).astype(dtype), y.astype(np.int64))
        return splits
    far = []
    for split, (X, y) in raw.items():
        with np.errstate(over="ignore"):  # values too large for dtype become inf, refused just below
            Xc = X.reshape(X.shape[0], -1).astype(dtype)
        finite = np.isfinite(Xc)
        if not finite.all():
            raise DataError(f"{path}: X_{split} holds {Xc.size - int(finite.sum())} NaN or infinite value(s) "
                            f"(as {np.dtype(dtype).name}); fix or drop those examples and save again.")
        lo, hi = float(Xc.min()), float(Xc.max())
        if lo < -FAR_OUTSIDE or hi > FAR_OUTSIDE:
            far.append(f"X_{split} {lo:g}..{hi:g}")
        splits[split] = (Xc, y.astype(np.int64))
    if far:
        print(f"{path}: note: values far outside [0, 1] ({', '.join(far)}); if these are 0-255 pixels, "
              "divide them by 255 before saving. Using them as they are.", file=sys.stderr)
    return splits


def load_dataset(name: str = "mnist", data_dir=None, download: bool = True, dtype=np.float32) -> dict:
    """Load a data set by name (``mnist``, ``fashion-mnist`` or ``npz:PATH``)."""
    if name.startswith("npz:"):
        return load_npz(name[4:], dtype)
    if name == "mnist-test":
        return load_mnist_test_only(data_dir, download, dtype)
    if name == "cifar10":
        return load_cifar10(data_dir, download, dtype=dtype)
    return load_mnist(name, data_dir=data_dir, download=download, dtype=dtype)


__all__ = ["DataError", "cache_dir", "fetch", "load_cifar10", "load_dataset", "load_mnist", "load_mnist_test_only", "load_npz", "load_pair",
           "locate_files", "parse_idx"]
