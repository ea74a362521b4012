"""MNIST and Fashion-MNIST: IDX parsing, locating or downloading the files, pylearn2's split.

Split (pylearn2 ``datasets.mnist.MNIST``, CONFIGS.md section 1): the first
50,000 training images are ``train``, the last 10,000 are ``valid``, and the
official 10,000 test images are ``test``; no shuffling. Pixels are float32 in
[0, 1] (divided by 255). Images are flattened to 784 values in row-major order.

Where the files come from, in this order:

1. ``data_dir`` if given: only there, never downloading (offline use);
2. the cache folder (``$MINILINPATH_DATA`` or ``~/.cache/minilinpath``)/<dataset>;
3. for Fashion-MNIST, Debian's package ``dataset-fashion-mnist``
   (``/usr/share/datasets/fashion-mnist``);
4. a download from the canonical mirrors into the cache, checked by MD5.

A ``.gz`` file is accepted if its MD5 is the published one, or if it was
recompressed (as Debian and some mirrors do) and its *decompressed* content
has the MD5 recorded below. Either way the IDX header, dimensions and exact
length are checked, and gzip's own CRC catches truncation.
"""
from __future__ import annotations

import gzip
import hashlib
import struct
import sys
import zlib
from pathlib import Path

import numpy as np

from .download import DataError, cache_dir, fetch, md5_of

FILES = {  # role -> file name
    "train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte",
}
DATASETS = {
    "mnist": {
        # torchvision/datasets/mnist.py (CONFIGS.md section 7): mirrors and MD5 of the .gz files
        "mirrors": ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"],
        "gz_md5": {"train_images": "f68b3c2dcbeaaa9fbdd348bbdeb94873", "train_labels": "d53e105ee54ea40749a09fcbcd1e9432",
                   "test_images": "9fb629c4189551a2d022fa330f9573f3", "test_labels": "ec29112dd5afa0611ce80d1b7f02629c"},
        # MD5 of the decompressed files, computed here on the project's shared copy of the official
        # test set (shared/data/mnist-t10k, 7,840,016 + 10,008 bytes); none recorded for the train files
        "content_md5": {"test_images": "2646ac647ad5339dbf082846283269ea",
                        "test_labels": "27ae3e4e09519cfbb04c329615203637"},
        "system_dirs": [],
    },
    "fashion-mnist": {
        # torchvision/datasets/mnist.py FashionMNIST.resources: mirror and MD5 of the .gz files
        "mirrors": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
        "gz_md5": {"train_images": "8d4fb7e6c68d591d4c3dfef9ec88bf0d", "train_labels": "25c81989df183df01b3e8a0aad5dffbe",
                   "test_images": "bef4ecab320f06d8554ea6380940ec79", "test_labels": "bb300cfdad3c16e7a12a480ee83cd310"},
        # MD5 of the decompressed files, computed here on Debian's dataset-fashion-mnist
        # 0.0~git20200523.55506a9-1 (it recompresses the published archives)
        "content_md5": {"train_images": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
                        "train_labels": "9018921c3c673c538a1fc5bad174d6f9",
                        "test_images": "8181f5470baa50b63fa0f6fddb340f0a",
                        "test_labels": "15d484375f8d13e6eb1aabb0c3f46965"},
        "system_dirs": [Path("/usr/share/datasets/fashion-mnist")],
    },
}
N_TRAIN = 50_000  # pylearn2: examples 0-49,999 train, 50,000-59,999 valid


def parse_idx(raw: bytes, source: str = "IDX data") -> np.ndarray:
    """Parse an IDX file (unsigned bytes) into an array, checking its header and length."""
    if len(raw) < 4:
        raise DataError(f"{source}: {len(raw)} bytes is too short for an IDX header.")
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08 or ndim not in (1, 3):
        raise DataError(f"{source}: not an unsigned-byte IDX file (magic {raw[:4].hex()}; "
                        "expected 00000801 for labels or 00000803 for images).")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{source}: truncated IDX header.")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise DataError(f"{source}: {len(raw)} bytes, but its header {shape} needs {expected}; "
                        "the file is truncated or corrupt. Delete it and fetch it again.")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def read_idx_file(path, expected_gz_md5: str | None = None, expected_content_md5: str | None = None) -> np.ndarray:
    """Read an IDX file (``.gz`` or uncompressed), verifying what can be verified."""
    path = Path(path)
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(path.read_bytes())
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{path}: not a valid gzip file ({exc}); it is truncated or corrupt. "
                            "Delete it and fetch it again.") from exc
        if expected_gz_md5 and md5_of(path) != expected_gz_md5:
            content = hashlib.md5(raw, usedforsecurity=False).hexdigest()
            if expected_content_md5 and content != expected_content_md5:
                raise DataError(f"{path}: checksum mismatch (neither the published archive MD5 "
                                f"{expected_gz_md5} nor the content MD5 {expected_content_md5}); do not use it.")
    else:
        raw = path.read_bytes()
    return parse_idx(raw, str(path))


def _find(directory: Path, filename: str):
    for candidate in (directory / (filename + ".gz"), directory / filename):
        if candidate.exists():
            return candidate
    return None


def locate_files(dataset: str = "mnist", data_dir=None, download: bool = True, progress: bool = True) -> dict:
    """Paths of the four IDX files of ``dataset``, found or downloaded as the module docstring says."""
    if dataset not in DATASETS:
        raise DataError(f"unknown dataset {dataset!r}; choose one of {sorted(DATASETS)} "
                        "or a file of your own with --dataset npz:PATH.")
    spec = DATASETS[dataset]
    if data_dir is not None:
        data_dir = Path(data_dir).expanduser()
        if not data_dir.is_dir():
            raise DataError(f"--data-dir {data_dir} does not exist or is not a folder.")
        found = {role: _find(data_dir, name) for role, name in FILES.items()}
        missing = [FILES[r] for r, p in found.items() if p is None]
        if missing:
            raise DataError(f"{dataset}: missing in {data_dir}: {', '.join(m + '[.gz]' for m in missing)}. "
                            f"Fetch them from {spec['mirrors'][0]} (e.g. {spec['mirrors'][0]}{missing[0]}.gz).")
        return found
    candidates = [cache_dir() / dataset] + spec["system_dirs"]
    for directory in candidates:
        found = {role: _find(directory, name) for role, name in FILES.items()}
        if all(found.values()):
            return found
    if not download:
        raise DataError(f"{dataset}: files not found in {', '.join(map(str, candidates))} and downloading is off.")
    target = cache_dir() / dataset
    return {role: fetch([m + name + ".gz" for m in spec["mirrors"]], target / (name + ".gz"),
                        spec["gz_md5"][role], progress=progress)
            for role, name in FILES.items()}


def images_to_float(images: np.ndarray, dtype=np.float32) -> np.ndarray:
    """(N, 28, 28) uint8 -> (N, 784) floats in [0, 1]."""
    return (images.reshape(images.shape[0], -1) / 255.0).astype(dtype)


def load_pair(images_path, labels_path, dtype=np.float32, gz_md5=(None, None), content_md5=(None, None)):
    """One image file and its label file -> ``(X (N, 784) in [0, 1], y (N,) int64)``."""
    images = read_idx_file(images_path, gz_md5[0], content_md5[0])
    labels = read_idx_file(labels_path, gz_md5[1], content_md5[1])
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise DataError(f"{images_path} and {labels_path} do not form a data set: images {images.shape}, "
                        f"labels {labels.shape}.")
    if labels.max() > 9:
        raise DataError(f"{labels_path}: label {labels.max()} is outside 0-9.")
    return images_to_float(images, dtype), labels.astype(np.int64)


def load_mnist(dataset: str = "mnist", data_dir=None, download: bool = True, dtype=np.float32,
               progress: bool = True) -> dict:
    """``{"train": (X, y), "valid": (X, y), "test": (X, y)}`` with pylearn2's split."""
    paths = locate_files(dataset, data_dir, download, progress)
    spec = DATASETS[dataset]
    md5s = spec["gz_md5"], spec["content_md5"]
    X, y = load_pair(paths["train_images"], paths["train_labels"], dtype,
                     (md5s[0]["train_images"], md5s[0]["train_labels"]),
                     (md5s[1].get("train_images"), md5s[1].get("train_labels")))
    Xt, yt = load_pair(paths["test_images"], paths["test_labels"], dtype,
                       (md5s[0]["test_images"], md5s[0]["test_labels"]),
                       (md5s[1].get("test_images"), md5s[1].get("test_labels")))
    if X.shape[0] <= N_TRAIN:
        raise DataError(f"{paths['train_images']}: {X.shape[0]} training images, expected 60,000.")
    print(f"{dataset}: {X.shape[0]:,} training and {Xt.shape[0]:,} test images from "
          f"{paths['train_images'].parent}", file=sys.stderr)
    return {"train": (X[:N_TRAIN], y[:N_TRAIN]), "valid": (X[N_TRAIN:], y[N_TRAIN:]), "test": (Xt, yt)}


def load_mnist_test_only(data_dir=None, download: bool = True, dtype=np.float32, n_train: int = 8_000,
                         progress: bool = True) -> dict:
    """The official MNIST *test* set alone, split ``n_train`` / rest: a small real data set for quick checks.

    Looks in ``data_dir`` (only there, if given), else the cache, else downloads
    the two test files. Not the paper's split: use it where full MNIST is not at hand.
    """
    spec = DATASETS["mnist"]
    roles = ("test_images", "test_labels")
    if data_dir is not None:
        data_dir = Path(data_dir).expanduser()
        found = {r: _find(data_dir, FILES[r]) for r in roles} if data_dir.is_dir() else {}
        if not data_dir.is_dir() or not all(found.values()):
            raise DataError(f"mnist-test: need {FILES['test_images']}[.gz] and {FILES['test_labels']}[.gz] in "
                            f"{data_dir}; fetch them from {spec['mirrors'][0]}.")
    else:
        target = cache_dir() / "mnist"
        found = {r: _find(target, FILES[r]) for r in roles}
        if not all(found.values()):
            if not download:
                raise DataError(f"mnist-test: the test files are not in {target} and downloading is off.")
            found = {r: fetch([m + FILES[r] + ".gz" for m in spec["mirrors"]], target / (FILES[r] + ".gz"),
                              spec["gz_md5"][r], progress=progress) for r in roles}
    X, y = load_pair(found["test_images"], found["test_labels"], dtype, (spec["gz_md5"]["test_images"],
                     spec["gz_md5"]["test_labels"]), (spec["content_md5"]["test_images"],
                                                      spec["content_md5"]["test_labels"]))
    if not 0 < n_train < X.shape[0]:
        raise DataError(f"n_train must be between 1 and {X.shape[0] - 1}, got {n_train}.")
    return {"train": (X[:n_train], y[:n_train]), "valid": (X[n_train:], y[n_train:])}
