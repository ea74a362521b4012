"""Data sets: MNIST and Fashion-MNIST (IDX files), and a user's own ``.npz``.

``load_dataset(name)`` returns ``{"train": (X, y), "valid": (X, y)[, "test": (X, y)]}``
with X float32 of shape (N, features) and y int64 class indices.

``name`` is ``"mnist"``, ``"fashion-mnist"``, ``"cifar10"`` (GCN + ZCA
preprocessed, 40,000 / 10,000 / test), ``"mnist-test"`` (the official
MNIST test set alone, split 8,000 / 2,000: a small real set for quick checks)
or ``"npz:PATH"``: a file with
arrays ``X_train``, ``y_train``, ``X_valid``, ``y_valid`` (optionally
``X_test``, ``y_test``), read without pickle; no checksum is needed for it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .cifar10 import load_cifar10
from .download import DataError, cache_dir, fetch
from .mnist import load_mnist, load_mnist_test_only, load_pair, locate_files, parse_idx


def load_npz(path, dtype=np.float32) -> dict:
    """A user's data set from ``.npz`` (see the module docstring for the array names)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"npz data set {path} does not exist.")
    try:
        f = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path} is not a readable .npz file: {exc}") from exc
    with f:
        missing = [k for k in ("X_train", "y_train", "X_valid", "y_valid") if k not in f.files]
        if missing:
            raise DataError(f"{path} lacks {', '.join(missing)}; it holds {', '.join(f.files) or 'nothing'}. "
                            "Save it with np.savez(path, X_train=..., y_train=..., X_valid=..., y_valid=...).")
        splits = {}
        for split in ("train", "valid", "test"):
            if f"X_{split}" not in f.files:
                continue
            X, y = f[f"X_{split}"], f[f"y_{split}"]
            if X.ndim < 2 or y.ndim != 1 or X.shape[0] != y.shape[0]:
                raise DataError(f"{path}: X_{split} {X.shape} and y_{split} {y.shape} do not match "
                                "(need X (N, ...) and y (N,)).")
            if y.dtype.kind not in "iu":
                raise DataError(f"{path}: y_{split} must hold integer class labels, got {y.dtype}.")
            splits[split] = (X.reshape(X.shape[0], -1).astype(dtype), y.astype(np.int64))
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
