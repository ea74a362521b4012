"""MNIST and Fashion-MNIST: IDX parsing, locating or downloading the files, pylearn2's split.

Split (pylearn2 ``datasets.mnist.MNIST``, docs/CONFIGS.md section 1): the first
50,000 training images are ``train``, the last 10,000 are ``valid``, and the
official 10,000 test images are ``test``; no shuffling. Pixels are float32 in
[0, 1] (divided by 255). Images are flattened to 784 values in row-major order.

Where the files come from, in this order:

1. ``data_dir`` if given: only there, never downloading (offline use);
2. the cache folder (``$MINILINPATH_DATA`` or ``~/.cache/minilinpath``)/<dataset>;
3. for Fashion-MNIST, Debian's package ``dataset-fashion-mnist``
   (``/usr/share/datasets/fashion-mnist``);
4. a download from the canonical mirrors into the cache, checked by MD5.

Every file is checked against recorded checksums, whichever form it has:

- a ``.gz`` is accepted if its MD5 is the published archive MD5, or if its
  *decompressed* content has the recorded content MD5 (Debian and some
  mirrors recompress the archives, which changes the archive's MD5 but not
  the content);
- an uncompressed IDX file is accepted only if its content MD5 is recorded
  and matches.

Anything else (a forged file with a valid header, another data set's file
under the same name, a truncated download) is a one-line :class:`DataError`
naming the file, the expected MD5(s), and the URL to fetch it from. Content
MD5s are recorded for all eight files of MNIST and Fashion-MNIST (sources
beside the values below). The IDX header, dimensions and exact length are
checked as well, and gzip's own CRC catches truncation.
"""
from __future__ import annotations

import gzip
import hashlib
import struct
import sys
import zlib
from pathlib import Path

import numpy as np

from .download import DataError, cache_dir, fetch

FILES = {  # role -> file name
    "train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte",
}
DATASETS = {
    "mnist": {
        # torchvision/datasets/mnist.py (docs/CONFIGS.md section 7a): mirrors and MD5 of the .gz files
        "mirrors": ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"],
        "gz_md5": {"train_images": "f68b3c2dcbeaaa9fbdd348bbdeb94873", "train_labels": "d53e105ee54ea40749a09fcbcd1e9432",
                   "test_images": "9fb629c4189551a2d022fa330f9573f3", "test_labels": "ec29112dd5afa0611ce80d1b7f02629c"},
        # MD5 of the decompressed files. Train: recorded by two independent public projects,
        #   prabhuomkar/pytorch-cpp cmake/fetch_mnist.cmake (commit 36a804cf9622c05e8a242b73976eeb272556835a,
        #     MNIST_EXTRACTED_FILE_MD5S, the MD5s of the gunzipped files) and
        #   pralab/secml src/secml/data/loader/c_dataloader_mnist.py (commit 08522a7da8381959a81f338c06cb26d0767333bb,
        #     TRAIN_DATA_MD5 / TRAIN_LABELS_MD5, checked on the file "after unpacking");
        #   both record for t10k exactly the two values below, which were computed here on the project's
        #   shared copy of the official test set (shared/data/mnist-t10k, 7,840,016 + 10,008 bytes).
        "content_md5": {"train_images": "6bbc9ace898e44ae57da46a324031adb",  # 47,040,016 bytes
                        "train_labels": "a25bea736e30d166cdddb491f175f624",  # 60,008 bytes
                        "test_images": "2646ac647ad5339dbf082846283269ea",
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
MNIST_TEST_SPLIT_SEED = 20150101  # the seed of the mnist-test split's permutation (load_mnist_test_only)


def parse_idx(raw: bytes, source: str = "IDX data") -> np.ndarray:
    """Parse an IDX file (unsigned bytes) into an array, checking its header and length."""
    if len(raw) < 4:
        raise DataError(f"{source}: {len(raw)} bytes is too short for an IDX header; delete it and fetch it again.")
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08 or ndim not in (1, 3):
        raise DataError(f"{source}: not an unsigned-byte IDX file (magic {raw[:4].hex()}; "
                        "expected 00000801 for labels or 00000803 for images); delete it and fetch the original file.")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{source}: truncated IDX header; delete it and fetch it again.")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise DataError(f"{source}: {len(raw)} bytes, but its header {shape} needs {expected}; "
                        "the file is truncated or corrupt. Delete it and fetch it again.")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _as_set(value) -> set:
    if value is None:
        return set()
    return {value} if isinstance(value, str) else set(value)


def _either(values) -> str:
    return " or ".join(sorted(values)) if values else "none recorded"


def recorded_checksums(filename: str):
    """``(archive MD5s, content MD5s, URLs)`` recorded for an IDX file name (without ``.gz``), over all data sets."""
    gz, content, urls = set(), set(), []
    for spec in DATASETS.values():
        for role, name in FILES.items():
            if name == filename:
                gz |= _as_set(spec["gz_md5"].get(role))
                content |= _as_set(spec["content_md5"].get(role))
                urls.append(spec["mirrors"][0] + name + ".gz")
    return gz, content, urls


def read_idx_file(path, expected_gz_md5=None, expected_content_md5=None, url: str | None = None) -> np.ndarray:
    """Read an IDX file (``.gz`` or uncompressed), refusing one that matches no recorded checksum.

    ``expected_gz_md5`` (published archive MD5) and ``expected_content_md5``
    (MD5 of the decompressed file) may each be a string or a collection of
    strings. When both are None, the values recorded in :data:`DATASETS` for
    this file name (in any data set) are used; a name with none is refused.
    ``url`` is where the message tells the user to fetch the file from.
    """
    path = Path(path)
    compressed = path.suffix == ".gz"
    name = path.name[:-3] if compressed else path.name
    if expected_gz_md5 is None and expected_content_md5 is None:
        gz_ok, content_ok, urls = recorded_checksums(name)
    else:
        gz_ok, content_ok, urls = _as_set(expected_gz_md5), _as_set(expected_content_md5), [url] if url else []
    if not gz_ok and not content_ok:
        raise DataError(f"{path}: no recorded checksum for {name}, so it cannot be verified; only the files of "
                        f"{' and '.join(sorted(DATASETS))} ({', '.join(FILES.values())}) can be read here. "
                        "Use the original files, or save your data with np.savez and pass --dataset npz:PATH.")
    fetch_from = " or ".join(urls) if urls else "the data set's canonical URL"
    if compressed:
        packed = path.read_bytes()
        try:
            raw = gzip.decompress(packed)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{path}: not a valid gzip file ({exc}); it is truncated or corrupt. "
                            f"Delete it and fetch {fetch_from} again.") from exc
        data = parse_idx(raw, str(path))
        if _md5(packed) not in gz_ok:
            got = _md5(raw)
            if got not in content_ok:
                raise DataError(f"{path}: checksum mismatch: archive MD5 {_md5(packed)}, decompressed MD5 {got}; "
                                f"expected the published archive MD5 {_either(gz_ok)} or the content MD5 "
                                f"{_either(content_ok)} of {name}. Delete it and fetch {fetch_from}.")
        return data
    raw = path.read_bytes()
    data = parse_idx(raw, str(path))
    if not content_ok:
        raise DataError(f"{path}: no recorded checksum for uncompressed {name}; use the published {name}.gz "
                        f"(MD5 {_either(gz_ok)}) from {fetch_from} instead, and delete this file.")
    got = _md5(raw)
    if got not in content_ok:
        raise DataError(f"{path}: checksum mismatch: MD5 {got}, expected {_either(content_ok)} for {name}; "
                        f"it is not the original file. Delete it and fetch {fetch_from} (no need to decompress it).")
    return data


def _find(directory: Path, filename: str):
    for candidate in (directory / (filename + ".gz"), directory / filename):
        if candidate.exists():
            return candidate
    return None


def locate_files(dataset: str = "mnist", data_dir=None, download: bool = True, progress: bool = True) -> dict:
    """Paths of the four IDX files of ``dataset``, found or downloaded as the module docstring says."""
    if dataset not in DATASETS:
        raise DataError(f"unknown dataset {dataset!r}; choose one of {', '.join(sorted(DATASETS))}, mnist-test, "
                        "cifar10, or a file of your own with --dataset npz:PATH.")
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
    """(N, 28, 28) uint8 -> (N, 784) floats in [0, 1], x / 255 computed in ``dtype`` (no float64 temporary;
    for the 256 byte values float32 division gives exactly the float64 quotient rounded to float32)."""
    return np.divide(images.reshape(images.shape[0], -1), np.dtype(dtype).type(255), dtype=dtype)


def load_pair(images_path, labels_path, dtype=np.float32, gz_md5=(None, None), content_md5=(None, None),
              urls=(None, None)):
    """One image file and its label file -> ``(X (N, 784) in [0, 1], y (N,) int64)``.

    Each file is checked as :func:`read_idx_file` says: against ``gz_md5`` /
    ``content_md5`` where given, else against the checksums recorded for its name.
    """
    images = read_idx_file(images_path, gz_md5[0], content_md5[0], urls[0])
    labels = read_idx_file(labels_path, gz_md5[1], content_md5[1], urls[1])
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise DataError(f"{images_path} and {labels_path} do not form a data set: images {images.shape}, "
                        f"labels {labels.shape}; use the image and label files of the same set.")
    if labels.max() > 9:
        raise DataError(f"{labels_path}: label {labels.max()} is outside 0-9; delete it and fetch the original file.")
    return images_to_float(images, dtype), labels.astype(np.int64)


def _checked_pair(spec: dict, paths: dict, part: str, dtype):
    """Load ``part`` ("train" or "test") of a data set, each file checked against the values recorded for it."""
    roles = (f"{part}_images", f"{part}_labels")
    return load_pair(paths[roles[0]], paths[roles[1]], dtype,
                     tuple(spec["gz_md5"].get(r) for r in roles), tuple(spec["content_md5"].get(r) for r in roles),
                     tuple(spec["mirrors"][0] + FILES[r] + ".gz" for r in roles))


def load_mnist(dataset: str = "mnist", data_dir=None, download: bool = True, dtype=np.float32,
               progress: bool = True) -> dict:
    """``{"train": (X, y), "valid": (X, y), "test": (X, y)}`` with pylearn2's split."""
    paths = locate_files(dataset, data_dir, download, progress)
    spec = DATASETS[dataset]
    X, y = _checked_pair(spec, paths, "train", dtype)
    Xt, yt = _checked_pair(spec, paths, "test", dtype)
    if X.shape[0] <= N_TRAIN:
        raise DataError(f"{paths['train_images']}: {X.shape[0]} training images, expected 60,000; "
                        "delete it and fetch the original file.")
    print(f"{dataset}: {X.shape[0]:,} training and {Xt.shape[0]:,} test images from "
          f"{paths['train_images'].parent}", file=sys.stderr)
    return {"train": (X[:N_TRAIN], y[:N_TRAIN]), "valid": (X[N_TRAIN:], y[N_TRAIN:]), "test": (Xt, yt)}


def load_mnist_test_only(data_dir=None, download: bool = True, dtype=np.float32, n_train: int = 8_000,
                         progress: bool = True) -> dict:
    """The official MNIST *test* set alone, split ``n_train`` / rest: a small real data set for quick checks.

    Looks in ``data_dir`` (only there, if given), else the cache, else downloads
    the two test files. Not the paper's split: use it where full MNIST is not at hand.

    The split is a fixed random permutation, ``np.random.default_rng(MNIST_TEST_SPLIT_SEED).permutation(10_000)``:
    its first ``n_train`` indices train, the rest validate, so that both come from the same distribution.
    The file itself is not in random order: its first 5,000 digits come from NIST's training set and its
    last 5,000 from NIST's test set, written by other people (LeCun, Cortes & Burges, "The MNIST database
    of handwritten digits"), so a cut without shuffling validates on the second population only.
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
    X, y = _checked_pair(spec, found, "test", dtype)
    if not 0 < n_train < X.shape[0]:
        raise DataError(f"n_train must be between 1 and {X.shape[0] - 1}, got {n_train}.")
    order = mnist_test_order(X.shape[0])
    train, valid = order[:n_train], order[n_train:]
    return {"train": (X[train], y[train]), "valid": (X[valid], y[valid])}


def mnist_test_order(n: int = 10_000) -> np.ndarray:
    """The fixed order in which :func:`load_mnist_test_only` splits the test set: a permutation of ``0..n-1``."""
    return np.random.default_rng(MNIST_TEST_SPLIT_SEED).permutation(n)
