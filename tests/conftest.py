"""Shared test fixtures: the gpu marker, paths to the shared real data, float64 helpers."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

# MINILINPATH_TEST_GPU=double: the strict CuPy double (tests/gpu_double) stands in for CuPy, so every `gpu` test runs
# without a GPU. It must be in sys.modules before minilinpath.backend first looks for CuPy, hence before that import.
GPU_DOUBLE = os.environ.get("MINILINPATH_TEST_GPU", "").strip().lower()
if GPU_DOUBLE == "double":
    from tests.gpu_double import install as _install_gpu_double

    _install_gpu_double()
elif GPU_DOUBLE:
    raise pytest.UsageError(f"MINILINPATH_TEST_GPU={GPU_DOUBLE!r}: the only value is 'double' (or leave it unset)")

from minilinpath import backend  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# The project's small real data sets (MNIST test set, PTB validation text) reach the tests only through this
# variable, which .ci/run sets; tests that need them skip, saying so, when it is unset.
SHARED_DATA = Path(os.environ.get("MINILINPATH_TEST_DATA", "/nonexistent-set-MINILINPATH_TEST_DATA")).expanduser()
MNIST_T10K = SHARED_DATA / "mnist-t10k"
FASHION_DEBIAN = Path("/usr/share/datasets/fashion-mnist")


def pytest_collection_modifyitems(config, items):
    if backend.gpu_available():
        return
    skip = pytest.mark.skip(reason="needs CuPy and a CUDA device (or MINILINPATH_TEST_GPU=double for the CuPy double)")
    for item in items:
        if item.get_closest_marker("gpu") is not None:  # the mark, not a name containing "gpu"
            item.add_marker(skip)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def mnist_t10k():
    """The official MNIST test set from the shared folder, as (X, y); skips when absent."""
    images = MNIST_T10K / "t10k-images-idx3-ubyte.gz"
    if not images.exists():
        pytest.skip(f"shared MNIST test set not found at {MNIST_T10K}")
    from minilinpath.data import load_pair
    return load_pair(images, MNIST_T10K / "t10k-labels-idx1-ubyte.gz")


@pytest.fixture
def cupy():
    return pytest.importorskip("cupy")


def write_blobs_npz(path, dim: int, seed: int, n_train: int, n_valid: int, scale: float = 1.0):
    """A tiny 3-class problem saved as an npz data set (X_train, y_train, X_valid, y_valid): Gaussian blobs in
    ``dim`` dimensions around centres drawn N(0, 1.5^2), each point centre + N(0, I), times ``scale``."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0.0, 1.5, size=(3, dim))

    def draw(n):
        y = rng.integers(0, 3, n)
        X = (centers[y] + rng.normal(size=(n, dim))).astype(np.float32)
        return (X / scale if scale != 1.0 else X), y.astype(np.int64)

    (X, y), (Xv, yv) = draw(n_train), draw(n_valid)
    np.savez(path, X_train=X, y_train=y, X_valid=Xv, y_valid=yv)
    return path


class ModelWithout:
    """``model`` seen through a wrapper that lacks the attributes named in ``HIDDEN`` (a subclass sets it): how the
    analysis treats a model without an ability. Everything else is the wrapped model's own."""

    HIDDEN: tuple = ()

    def __init__(self, model):
        self._model = model

    def __getattr__(self, name):
        if name in self.HIDDEN:
            raise AttributeError(name)
        return getattr(self._model, name)
