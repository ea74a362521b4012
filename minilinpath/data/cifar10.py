"""CIFAR-10 (the python version): download, safe loading, and pylearn2's preprocessing.

Loading is safe by construction: the archive's MD5 is checked first (and each
member's MD5 as torchvision records them), and only then are the pickles read,
by an unpickler that admits nothing but the few NumPy functions that rebuild a
plain array, plus dicts, lists, numbers and strings. A pickle that asks for
anything else (a function to call, a class to build) is an error, and nothing
of it runs.

Preprocessing (pylearn2 ``make_cifar10_gcn_whitened.py``, docs/CONFIGS.md section 3):

1. global contrast normalisation, per image x of 3,072 values (R, G, B planes):
   x <- 55 (x - mean(x)) / ||x - mean(x)||  (left unscaled if the norm is below 1e-8);
2. ZCA whitening fitted on all 50,000 training images:
   C = (X - mu)^T (X - mu) / N + 0.1 I = V diag(lambda) V^T,  P = V diag(1/sqrt(lambda)) V^T,
   x <- (x - mu) P  (the test images use the training mu and P).

The preprocessed arrays are cached as ``.npz`` next to the archive. Split: the
first 40,000 training images train, the last 10,000 validate.
"""
from __future__ import annotations

import hashlib
import io
import pickle
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np

from ..io import write_npz
from .download import DataError, locate_verified

URLS = ["https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"]
ARCHIVE = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
# torchvision/datasets/cifar.py (docs/CONFIGS.md section 7b)
ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
MEMBER_MD5 = {"data_batch_1": "c99cafc152244af753f735de768cd75f", "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
              "data_batch_3": "54ebc095f3ab1f0389bbae665268c751", "data_batch_4": "634d18415352ddfa80567beed471001a",
              "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb", "test_batch": "40351d587109b95175f43aff81a1287e"}
TRAIN_MEMBERS = [f"data_batch_{i}" for i in range(1, 6)]
GCN_SCALE, ZCA_FILTER_BIAS = 55.0, 0.1


def _reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct as fn  # NumPy 2
    except ImportError:  # pragma: no cover - NumPy 1
        from numpy.core.multiarray import _reconstruct as fn
    return fn


class DataOnlyUnpickler(pickle.Unpickler):
    """Rebuilds plain NumPy arrays, dicts, lists, numbers and strings; refuses every other global."""

    def find_class(self, module, name):
        allowed = {
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): np.dtype,
            ("numpy.core.multiarray", "_reconstruct"): _reconstruct(),
            ("numpy._core.multiarray", "_reconstruct"): _reconstruct(),
            ("_codecs", "encode"): _latin1_encode,  # how protocol-2 pickles written by Python 3 store bytes
        }
        if (module, name) not in allowed:
            raise DataError(f"the CIFAR-10 pickle asks for {module}.{name}; only plain arrays, lists, dicts, numbers "
                            "and strings are accepted, so this file is refused.")
        return allowed[(module, name)]


def _latin1_encode(text, encoding="latin1"):
    if encoding not in ("latin1", "latin-1"):
        raise DataError(f"unexpected string encoding {encoding!r} in the CIFAR-10 pickle.")
    return text.encode("latin1")


def read_batch(raw: bytes, name: str, expected_md5: str | None):
    """``(data (N, 3072) uint8, labels (N,) int64)`` from one batch file's bytes, checked and safely unpickled."""
    if expected_md5 is not None and hashlib.md5(raw, usedforsecurity=False).hexdigest() != expected_md5:
        raise DataError(f"{name}: checksum mismatch; the archive is corrupt or another version.")
    try:
        batch = DataOnlyUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{name}: not a readable CIFAR-10 batch ({exc}).") from exc
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataError(f"{name}: not a CIFAR-10 batch (no data/labels).")
    data, labels = np.asarray(batch[b"data"]), np.asarray(batch[b"labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or labels.shape != (data.shape[0],):
        raise DataError(f"{name}: data {data.shape} {data.dtype} and labels {labels.shape} are not CIFAR-10's format.")
    return data, labels


def locate_archive(data_dir=None, download: bool = True, progress: bool = True) -> Path:
    """The archive: in ``data_dir`` only if given, else the cache (downloaded if missing); MD5 checked."""
    return locate_verified(ARCHIVE, data_dir, "cifar10", URLS, ARCHIVE_MD5, download, progress)


def read_archive(path: Path) -> dict:
    """``{"train": (data, labels), "test": (data, labels)}``, uint8 images, from the verified archive."""
    batches = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar.getmembers():
                name = Path(member.name).name
                if member.isfile() and name in MEMBER_MD5:
                    batches[name] = read_batch(tar.extractfile(member).read(), name, MEMBER_MD5[name])
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(f"{path}: the archive is truncated or corrupt ({exc}); delete it and download it again.") from exc
    missing = [n for n in MEMBER_MD5 if n not in batches]
    if missing:
        raise DataError(f"{path}: missing {', '.join(missing)} in {FOLDER}/.")
    train = [batches[n] for n in TRAIN_MEMBERS]
    return {"train": (np.concatenate([d for d, _ in train]), np.concatenate([lab for _, lab in train])),
            "test": batches["test_batch"]}


def global_contrast_normalize(X, scale: float = GCN_SCALE, min_divisor: float = 1e-8):
    """Per row: subtract its mean, divide by its L2 norm (unless < min_divisor), multiply by ``scale``.

    Computed in float64 on one copy of X, in place (no further temporaries of X's size).
    """
    X = np.array(X, dtype=np.float64)                     # (N, D), the one copy
    X -= X.mean(axis=1, keepdims=True)
    norms = np.sqrt(np.einsum("ij,ij->i", X, X))          # (N,) row norms without an X * X temporary
    norms[norms < min_divisor] = 1.0
    X *= scale
    X /= norms[:, None]
    return X


ZCA_CHUNK = 5_000  # rows per product while fitting and applying ZCA (bounds the temporaries)


def fit_zca(X, filter_bias: float = ZCA_FILTER_BIAS):
    """``(mean, P)`` of ZCA whitening with a filter bias (pylearn2 ``ZCA``); apply as (x - mean) P.

    C = (1/N) sum_n (x_n - mean)^T (x_n - mean) + filter_bias I = V diag(lambda) V^T, and P = V diag(lambda^-1/2) V^T.
    The covariance is accumulated in float64 chunk by chunk, so no centred copy of X is made.
    """
    X = np.asarray(X, dtype=np.float64)
    mean = X.mean(axis=0)
    C = np.zeros((X.shape[1], X.shape[1]))
    for start in range(0, X.shape[0], ZCA_CHUNK):
        centered = X[start:start + ZCA_CHUNK] - mean
        C += centered.T @ centered
    C /= X.shape[0]
    C += filter_bias * np.eye(X.shape[1])
    eigenvalues, V = np.linalg.eigh(C)
    return mean, (V / np.sqrt(eigenvalues)) @ V.T


def apply_zca(X, mean, P, dtype=np.float32):
    """(X - mean) P, chunk by chunk, into a new array of ``dtype``."""
    out = np.empty(X.shape, dtype=dtype)
    for start in range(0, X.shape[0], ZCA_CHUNK):
        out[start:start + ZCA_CHUNK] = (X[start:start + ZCA_CHUNK] - mean) @ P
    return out


def load_cifar10(data_dir=None, download: bool = True, n_valid: int = 10_000, dtype=np.float32) -> dict:
    """Preprocessed CIFAR-10: ``{"train", "valid", "test"}`` with X (N, 3072) in (C, H, W) order, y (N,)."""
    archive = locate_archive(data_dir, download)
    cached = archive.with_name(f"gcn{GCN_SCALE:g}-zca{ZCA_FILTER_BIAS:g}-{ARCHIVE_MD5[:8]}.npz")
    arrays = _read_preprocessed(cached) if cached.exists() else None
    if arrays is None:
        raw = read_archive(archive)
        train = global_contrast_normalize(raw["train"][0])
        mean, P = fit_zca(train)
        arrays = {"X_train": apply_zca(train, mean, P), "y_train": raw["train"][1]}
        del train
        arrays.update(X_test=apply_zca(global_contrast_normalize(raw["test"][0]), mean, P), y_test=raw["test"][1])
        write_npz(cached, **arrays)
    X, y = arrays["X_train"].astype(dtype), arrays["y_train"]
    cut = X.shape[0] - n_valid
    if cut < 1:
        raise DataError(f"n_valid={n_valid} leaves no training images out of {X.shape[0]}.")
    return {"train": (X[:cut], y[:cut]), "valid": (X[cut:], y[cut:]), "test": (arrays["X_test"].astype(dtype),
                                                                                arrays["y_test"])}


def _read_preprocessed(path):
    """The cached GCN + ZCA arrays, or None when the cache file is unreadable or not what it should be
    (it is derived from the checked archive, so it is simply computed again)."""
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        arrays = {}
    shapes = {k: getattr(arrays.get(k), "shape", None) for k in ("X_train", "y_train", "X_test", "y_test")}
    if None in shapes.values() or shapes["X_train"][1:] != (3072,) or shapes["X_test"][1:] != (3072,) or \
            shapes["X_train"][0] != shapes["y_train"][0] or shapes["X_test"][0] != shapes["y_test"][0] or \
            not all(np.isfinite(arrays[k]).all() for k in ("X_train", "X_test")):
        print(f"{path}: the preprocessed cache is damaged; computing it again from the archive.", file=sys.stderr)
        return None
    return arrays
