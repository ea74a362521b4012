"""Shared test fixtures: the gpu marker, paths to the shared real data, float64 helpers."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from minilinpath import backend

ROOT = Path(__file__).resolve().parents[1]
# The project's small real data sets (MNIST test set, PTB validation text) reach the tests only through this
# variable, which .ci/run sets; tests that need them skip, saying so, when it is unset.
SHARED_DATA = Path(os.environ.get("MINILINPATH_TEST_DATA", "/nonexistent-set-MINILINPATH_TEST_DATA")).expanduser()
MNIST_T10K = SHARED_DATA / "mnist-t10k"
FASHION_DEBIAN = Path("/usr/share/datasets/fashion-mnist")


def pytest_collection_modifyitems(config, items):
    if backend.gpu_available():
        return
    skip = pytest.mark.skip(reason="needs CuPy and a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
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
