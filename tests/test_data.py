"""Data: IDX parsing, locating files, downloads against a local HTTP server, pylearn2's split."""
import gzip
import hashlib
import http.server
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

from minilinpath.data import DataError, fetch, load_dataset, load_npz, load_pair, locate_files, parse_idx
from minilinpath.data import mnist as mnist_module

from .conftest import FASHION_DEBIAN


def idx_images(n, rows=28, cols=28, seed=0):
    pixels = np.random.default_rng(seed).integers(0, 256, size=(n, rows, cols), dtype=np.uint8)
    return struct.pack(">HBBIII", 0, 8, 3, n, rows, cols) + pixels.tobytes(), pixels


def idx_labels(labels):
    return struct.pack(">HBBI", 0, 8, 1, len(labels)) + np.asarray(labels, dtype=np.uint8).tobytes()


def write_fake_mnist(folder: Path, n_train=60_010, n_test=20, gz=True):
    """A complete set of four IDX files with made-up content, in the real format."""
    folder.mkdir(parents=True, exist_ok=True)
    contents = {
        "train-images-idx3-ubyte": idx_images(n_train, 2, 2, seed=1)[0],
        "train-labels-idx1-ubyte": idx_labels(np.arange(n_train) % 10),
        "t10k-images-idx3-ubyte": idx_images(n_test, 2, 2, seed=2)[0],
        "t10k-labels-idx1-ubyte": idx_labels(np.arange(n_test) % 10),
    }
    for name, raw in contents.items():
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return contents


class _Server:
    """A static file server on 127.0.0.1 for download tests (bounded: it serves until the test ends)."""

    def __init__(self, root: Path):
        handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(root), **k)  # noqa: E731
        http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(tmp_path):
    s = _Server(tmp_path / "served")
    (tmp_path / "served").mkdir()
    yield s, tmp_path / "served"
    s.close()


def test_parse_idx_images_and_labels():
    raw, pixels = idx_images(3)
    np.testing.assert_array_equal(parse_idx(raw), pixels)
    np.testing.assert_array_equal(parse_idx(idx_labels([3, 1, 4])), [3, 1, 4])


def test_parse_idx_rejects_truncated_and_foreign_files():
    raw, _ = idx_images(3)
    with pytest.raises(DataError, match="truncated or corrupt"):
        parse_idx(raw[:-5])
    with pytest.raises(DataError, match="not an unsigned-byte IDX"):
        parse_idx(b"PK\x03\x04" + raw[4:])
    with pytest.raises(DataError, match="too short"):
        parse_idx(b"\x00")


def test_corrupt_gzip_is_a_clear_error(tmp_path):
    raw, _ = idx_images(2)
    good = gzip.compress(raw)
    (tmp_path / "x-idx3-ubyte.gz").write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match="not a valid gzip file"):
        mnist_module.read_idx_file(tmp_path / "x-idx3-ubyte.gz")


def test_recompressed_file_with_wrong_content_is_refused(tmp_path):
    raw, _ = idx_images(2)
    path = tmp_path / "x-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(raw))
    with pytest.raises(DataError, match="checksum mismatch"):
        mnist_module.read_idx_file(path, expected_gz_md5="0" * 32, expected_content_md5="1" * 32)
    right = hashlib.md5(raw).hexdigest()
    assert mnist_module.read_idx_file(path, expected_gz_md5="0" * 32, expected_content_md5=right).shape == (2, 28, 28)


def test_fetch_downloads_and_verifies(server, tmp_path):
    srv, root = server
    (root / "f.bin").write_bytes(b"hello digits")
    dest = fetch([srv.url + "f.bin"], tmp_path / "cache" / "f.bin", hashlib.md5(b"hello digits").hexdigest(),
                 progress=False)
    assert dest.read_bytes() == b"hello digits"
    assert not list((tmp_path / "cache").glob("*.part"))


def test_fetch_checksum_mismatch_leaves_no_file(server, tmp_path):
    srv, root = server
    (root / "f.bin").write_bytes(b"tampered")
    dest = tmp_path / "cache" / "f.bin"
    with pytest.raises(DataError, match="checksum mismatch") as info:
        fetch([srv.url + "f.bin"], dest, "0" * 32, progress=False)
    assert "Download it by hand" in str(info.value)
    assert not dest.exists() and not list((tmp_path / "cache").iterdir())


def test_fetch_falls_back_to_next_mirror(server, tmp_path):
    srv, root = server
    (root / "f.bin").write_bytes(b"ok")
    dest = fetch([srv.url + "missing.bin", srv.url + "f.bin"], tmp_path / "f.bin", hashlib.md5(b"ok").hexdigest(),
                 progress=False)
    assert dest.read_bytes() == b"ok"


def test_download_into_cache_then_load_with_split(server, tmp_path, monkeypatch):
    srv, root = server
    contents = write_fake_mnist(root)
    md5s = {role: hashlib.md5((root / (name + ".gz")).read_bytes()).hexdigest()
            for role, name in mnist_module.FILES.items()}
    fake = {"mirrors": [srv.url], "gz_md5": md5s, "content_md5": {}, "system_dirs": []}
    monkeypatch.setitem(mnist_module.DATASETS, "mnist", fake)
    monkeypatch.setenv("MINILINPATH_DATA", str(tmp_path / "cache"))
    splits = load_dataset("mnist")
    assert (tmp_path / "cache" / "mnist" / "train-images-idx3-ubyte.gz").exists()
    assert splits["train"][0].shape == (50_000, 4) and splits["valid"][0].shape == (10_010, 4)
    assert splits["test"][0].shape == (20, 4)
    all_train = parse_idx(contents["train-images-idx3-ubyte"]).reshape(60_010, 4) / 255.0
    np.testing.assert_allclose(splits["valid"][0], all_train[50_000:], rtol=1e-6)  # no shuffling
    np.testing.assert_array_equal(splits["train"][1][:12], np.arange(12) % 10)
    assert splits["train"][0].dtype == np.float32 and 0 <= splits["train"][0].min() <= splits["train"][0].max() <= 1


def test_missing_data_dir_and_missing_files(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        locate_files("mnist", data_dir=tmp_path / "nope")
    (tmp_path / "partial").mkdir()
    write_fake_mnist(tmp_path / "partial")
    (tmp_path / "partial" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"missing in .*t10k-labels-idx1-ubyte\[.gz\].*https://"):
        locate_files("mnist", data_dir=tmp_path / "partial")


def test_data_dir_with_uncompressed_files(tmp_path):
    write_fake_mnist(tmp_path / "raw", gz=False)
    splits = load_dataset("mnist", data_dir=tmp_path / "raw")
    assert splits["train"][0].shape == (50_000, 4)


def test_offline_without_files_never_downloads(tmp_path, monkeypatch):
    monkeypatch.setenv("MINILINPATH_DATA", str(tmp_path / "empty"))
    monkeypatch.setitem(mnist_module.DATASETS["mnist"], "system_dirs", [])
    with pytest.raises(DataError, match="downloading is off"):
        locate_files("mnist", download=False)


def test_unknown_dataset():
    with pytest.raises(DataError, match="npz:PATH"):
        load_dataset("cifar100")


def test_npz_dataset(tmp_path, rng):
    path = tmp_path / "mine.npz"
    np.savez(path, X_train=rng.random((5, 2, 3)), y_train=np.arange(5), X_valid=rng.random((2, 2, 3)),
             y_valid=np.array([0, 1]))
    splits = load_dataset(f"npz:{path}")
    assert splits["train"][0].shape == (5, 6) and "test" not in splits
    np.savez(tmp_path / "bad.npz", X_train=np.zeros((3, 2)), y_train=np.zeros(3, int))
    with pytest.raises(DataError, match="lacks X_valid, y_valid"):
        load_npz(tmp_path / "bad.npz")
    np.savez(tmp_path / "floaty.npz", X_train=np.zeros((3, 2)), y_train=np.zeros(3), X_valid=np.zeros((1, 2)),
             y_valid=np.zeros(1, int))
    with pytest.raises(DataError, match="integer class labels"):
        load_npz(tmp_path / "floaty.npz")
    (tmp_path / "garbage.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable"):
        load_npz(tmp_path / "garbage.npz")


def test_real_mnist_test_set(mnist_t10k):
    X, y = mnist_t10k
    assert X.shape == (10_000, 784) and X.dtype == np.float32
    assert X.min() == 0.0 and X.max() == 1.0
    # label counts stated in the shared data README
    np.testing.assert_array_equal(np.bincount(y), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])


@pytest.mark.skipif(not (FASHION_DEBIAN / "train-images-idx3-ubyte.gz").exists(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_debian_fashion_mnist_is_found(tmp_path, monkeypatch):
    monkeypatch.setenv("MINILINPATH_DATA", str(tmp_path / "empty-cache"))
    paths = locate_files("fashion-mnist", download=False)
    assert paths["train_images"].parent == FASHION_DEBIAN
    X, y = load_pair(paths["test_images"], paths["test_labels"],
                     gz_md5=(mnist_module.DATASETS["fashion-mnist"]["gz_md5"]["test_images"], None),
                     content_md5=(mnist_module.DATASETS["fashion-mnist"]["content_md5"]["test_images"], None))
    assert X.shape == (10_000, 784) and np.bincount(y).tolist() == [1000] * 10
