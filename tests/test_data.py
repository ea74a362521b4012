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

from .conftest import FASHION_DEBIAN, MNIST_T10K

MNIST = mnist_module.DATASETS["mnist"]


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
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
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


def one_line(info) -> str:
    """The message of a caught DataError, which must be a single line."""
    message = str(info.value)
    assert "\n" not in message, message
    return message


def test_corrupt_gzip_is_a_clear_error(tmp_path):
    raw, _ = idx_images(2)
    good = gzip.compress(raw)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte.gz: not a valid gzip file.*Delete it and fetch https"
                                        r"://ossci-datasets.s3.amazonaws.com/mnist/t10k-images-idx3-ubyte.gz") as info:
        mnist_module.read_idx_file(tmp_path / "t10k-images-idx3-ubyte.gz")
    one_line(info)


def test_recompressed_file_with_wrong_content_is_refused(tmp_path):
    raw, _ = idx_images(2)
    path = tmp_path / "x-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(raw))
    with pytest.raises(DataError, match=r"x-idx3-ubyte.gz: checksum mismatch.*expected the published archive MD5 "
                                        r"0{32} or the content MD5 1{32}.*Delete it and fetch http://h/x.gz") as info:
        mnist_module.read_idx_file(path, expected_gz_md5="0" * 32, expected_content_md5="1" * 32, url="http://h/x.gz")
    one_line(info)
    right = hashlib.md5(raw).hexdigest()
    assert mnist_module.read_idx_file(path, expected_gz_md5="0" * 32, expected_content_md5=right).shape == (2, 28, 28)
    published = hashlib.md5(path.read_bytes()).hexdigest()
    images = mnist_module.read_idx_file(path, expected_gz_md5=published, expected_content_md5="1" * 32)
    assert images.shape == (2, 28, 28)


def test_gz_with_wrong_md5_and_no_content_md5_is_refused(tmp_path):
    """Formerly accepted: a .gz whose archive MD5 is wrong, with no content MD5 to fall back on."""
    path = tmp_path / "x-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_images(2)[0]))
    with pytest.raises(DataError, match=r"checksum mismatch.*archive MD5 0{32} or the content MD5 none recorded"):
        mnist_module.read_idx_file(path, expected_gz_md5="0" * 32)


def test_every_mnist_and_fashion_file_has_a_recorded_content_md5():
    for name, spec in mnist_module.DATASETS.items():
        assert sorted(spec["content_md5"]) == sorted(mnist_module.FILES), name
        assert all(len(v) == 32 and int(v, 16) >= 0 for v in spec["content_md5"].values())
    assert MNIST["content_md5"]["train_images"] == "6bbc9ace898e44ae57da46a324031adb"
    assert MNIST["content_md5"]["train_labels"] == "a25bea736e30d166cdddb491f175f624"


def test_forged_mnist_gz_with_valid_headers_is_refused(tmp_path):
    """Made-up pixels in the real format: the training files used to load and train."""
    write_fake_mnist(tmp_path / "fake")
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz: checksum mismatch.*published archive MD5 "
                                        r"f68b3c2dcbeaaa9fbdd348bbdeb94873 or the content MD5 "
                                        r"6bbc9ace898e44ae57da46a324031adb.*Delete it and fetch https://") as info:
        load_dataset("mnist", data_dir=tmp_path / "fake")
    one_line(info)


def test_data_dir_with_forged_uncompressed_files_is_refused(tmp_path):
    write_fake_mnist(tmp_path / "raw", gz=False)
    with pytest.raises(DataError, match=r"raw/train-images-idx3-ubyte: checksum mismatch: MD5 [0-9a-f]{32}, expected "
                                        r"6bbc9ace898e44ae57da46a324031adb .*Delete it and fetch https:"
                                        r"//ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz") as info:
        load_dataset("mnist", data_dir=tmp_path / "raw")
    one_line(info)


def test_uncompressed_files_load_when_their_content_md5_is_recorded(tmp_path, monkeypatch):
    contents = write_fake_mnist(tmp_path / "raw", gz=False)
    md5s = {role: hashlib.md5(contents[name]).hexdigest() for role, name in mnist_module.FILES.items()}
    monkeypatch.setitem(MNIST, "content_md5", md5s)
    splits = load_dataset("mnist", data_dir=tmp_path / "raw")
    assert splits["train"][0].shape == (50_000, 4) and splits["test"][0].shape == (20, 4)


def test_uncompressed_file_without_recorded_checksum_is_refused(tmp_path, monkeypatch):
    write_fake_mnist(tmp_path / "raw", gz=False)
    monkeypatch.setitem(MNIST, "content_md5", {k: v for k, v in MNIST["content_md5"].items() if k != "train_images"})
    with pytest.raises(DataError, match=r"no recorded checksum for uncompressed train-images-idx3-ubyte; use the "
                                        r"published train-images-idx3-ubyte.gz \(MD5 "
                                        r"f68b3c2dcbeaaa9fbdd348bbdeb94873\) from "
                                        r"https://ossci-datasets.s3.amazonaws.com/mnist/") as info:
        load_dataset("mnist", data_dir=tmp_path / "raw")
    one_line(info)


def test_idx_file_of_unknown_name_is_refused(tmp_path):
    (tmp_path / "mine-idx1-ubyte").write_bytes(idx_labels([1, 2]))
    with pytest.raises(DataError, match=r"mine-idx1-ubyte: no recorded checksum for mine-idx1-ubyte.*npz:PATH") as info:
        mnist_module.read_idx_file(tmp_path / "mine-idx1-ubyte")
    one_line(info)


needs_t10k = pytest.mark.skipif(not (MNIST_T10K / "t10k-images-idx3-ubyte.gz").exists(),
                                reason=f"shared MNIST test set not found at {MNIST_T10K}")


@needs_t10k
def test_real_t10k_recompressed_gz_and_uncompressed_are_accepted(tmp_path):
    shared = MNIST_T10K / "t10k-images-idx3-ubyte.gz"
    # the shared copy is recompressed: accepted through its content MD5, not the archive MD5
    assert hashlib.md5(shared.read_bytes()).hexdigest() != MNIST["gz_md5"]["test_images"]
    assert mnist_module.read_idx_file(shared).shape == (10_000, 28, 28)
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (tmp_path / name).write_bytes(gzip.decompress((MNIST_T10K / (name + ".gz")).read_bytes()))
    labels_md5 = hashlib.md5((tmp_path / "t10k-labels-idx1-ubyte").read_bytes()).hexdigest()
    assert labels_md5 == MNIST["content_md5"]["test_labels"]
    splits = load_dataset("mnist-test", data_dir=tmp_path)
    assert splits["train"][0].shape == (8_000, 784) and splits["valid"][0].shape == (2_000, 784)


@needs_t10k
def test_real_t10k_with_one_changed_pixel_is_refused(tmp_path):
    raw = bytearray(gzip.decompress((MNIST_T10K / "t10k-images-idx3-ubyte.gz").read_bytes()))
    raw[5_000] ^= 0xFF
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(raw)
    with pytest.raises(DataError, match=r"checksum mismatch: MD5 [0-9a-f]{32}, expected "
                                        r"2646ac647ad5339dbf082846283269ea or 8181f5470baa50b63fa0f6fddb340f0a"):
        mnist_module.read_idx_file(tmp_path / "t10k-images-idx3-ubyte")
    (tmp_path / "t10k-images-idx3-ubyte").rename(tmp_path / "plain")
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(bytes(raw), compresslevel=1))
    with pytest.raises(DataError, match=r"checksum mismatch: archive MD5 .*content MD5 "
                                        r"2646ac647ad5339dbf082846283269ea"):
        mnist_module.read_idx_file(tmp_path / "t10k-images-idx3-ubyte.gz")


@needs_t10k
def test_mnist_file_is_refused_as_fashion_mnist():
    fashion = mnist_module.DATASETS["fashion-mnist"]
    with pytest.raises(DataError, match=r"checksum mismatch.*bef4ecab320f06d8554ea6380940ec79.*"
                                        r"8181f5470baa50b63fa0f6fddb340f0a"):
        mnist_module.read_idx_file(MNIST_T10K / "t10k-images-idx3-ubyte.gz", fashion["gz_md5"]["test_images"],
                                   fashion["content_md5"]["test_images"])


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


def test_offline_without_files_never_downloads(tmp_path, monkeypatch):
    monkeypatch.setenv("MINILINPATH_DATA", str(tmp_path / "empty"))
    monkeypatch.setitem(mnist_module.DATASETS["mnist"], "system_dirs", [])
    with pytest.raises(DataError, match="downloading is off"):
        locate_files("mnist", download=False)


def test_unknown_dataset():
    with pytest.raises(DataError, match="npz:PATH"):
        load_dataset("cifar100")


def test_npz_dataset(tmp_path, rng, capsys):
    path = tmp_path / "mine.npz"
    X = rng.random((5, 2, 3))
    np.savez(path, X_train=X, y_train=np.arange(5), X_valid=rng.random((2, 2, 3)), y_valid=np.array([0, 1]))
    splits = load_dataset(f"npz:{path}")
    assert splits["train"][0].shape == (5, 6) and "test" not in splits
    np.testing.assert_allclose(splits["train"][0], X.reshape(5, 6), rtol=1e-6)  # floats in [0, 1]: untouched
    assert splits["train"][0].dtype == np.float32 and splits["train"][1].dtype == np.int64
    assert capsys.readouterr().err == ""
    (tmp_path / "garbage.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable"):
        load_npz(tmp_path / "garbage.npz")


@pytest.mark.parametrize("dtype", [np.uint8, np.int64])
def test_npz_integer_pixels_are_scaled_and_said_once(tmp_path, capsys, dtype):
    path = tmp_path / "ints.npz"
    X = np.array([[0, 255], [51, 102], [3, 4]], dtype=dtype)
    np.savez(path, X_train=X, y_train=np.array([0, 1, 1]), X_valid=X[:1], y_valid=np.array([0]),
             X_test=X[1:], y_test=np.array([1, 0]))
    splits = load_npz(path)
    np.testing.assert_allclose(splits["train"][0], [[0, 1], [0.2, 0.4], [3 / 255, 4 / 255]], rtol=1e-6)
    np.testing.assert_allclose(splits["test"][0], [[0.2, 0.4], [3 / 255, 4 / 255]], rtol=1e-6)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and "dividing by 255" in err


def test_npz_floats_far_outside_unit_range_get_one_note(tmp_path, capsys):
    path = tmp_path / "raw255.npz"
    X = np.array([[0.0, 255.0], [10.0, 20.0], [1.0, 2.0]])
    np.savez(path, X_train=X, y_train=np.array([0, 1, 1]), X_valid=np.array([[-6.0, 1.0]]), y_valid=np.array([0]))
    splits = load_npz(path)
    np.testing.assert_array_equal(splits["train"][0], X)  # used as they are
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err
    assert "far outside [0, 1] (X_train 0..255, X_valid -6..1)" in err and "divide them by 255" in err
    np.savez(path, X_train=X / 60, y_train=np.array([0, 1, 1]), X_valid=np.array([[-4.9, 1.0]]), y_valid=np.array([0]))
    load_npz(path)
    assert capsys.readouterr().err == ""  # within [-5, 5]: no note


NPZ_ERRORS = {  # case: (arrays, expected message)
    "missing": (dict(X_train=np.zeros((3, 2)), y_train=np.zeros(3, int)), r"lacks X_valid, y_valid"),
    "float labels": (dict(y_train=np.array([0.0, 1.0, 1.0])), r"y_train must hold integer class labels, got float64 "
                                                               r"\(whole-numbered floats too.*astype\(np.int64\)"),
    "negative labels": (dict(y_valid=np.array([-1])), r"y_valid holds negative labels \(min -1\)"),
    "object X": (dict(X_train=np.array([[0.1, "a"], [0.2, None], [0.3, 1]], dtype=object)),
                 r"X_train is an object array \(dtype=object\).*no pickle.*convert it"),
    "object y": (dict(y_train=np.array([0, 1, "x"], dtype=object)),
                 r"y_train is an object array.*np.asarray\(y_train, dtype=np.int64\)"),
    "nan": (dict(X_train=np.array([[0.1, np.nan], [0.2, 0.3], [0.4, 0.5]])),
            r"X_train holds 1 NaN or infinite value\(s\)"),
    "inf valid": (dict(X_valid=np.array([[np.inf, -np.inf]])), r"X_valid holds 2 NaN or infinite"),
    "too large for float32": (dict(X_valid=np.array([[1e300, 0.0]])), r"X_valid holds 1 NaN or infinite.*float32"),
    "widths": (dict(X_valid=np.zeros((1, 3))), r"X_valid has 3 features per example but X_train has 2"),
    "test width": (dict(X_test=np.zeros((2, 1, 3)), y_test=np.array([0, 1])), r"X_test has 3 features"),
    "ints out of range": (dict(X_train=np.array([[0, 256], [1, 2], [3, 4]]), X_valid=np.array([[0, 1]])),
                          r"integer pixels range from 0 to 256, outside 0-255; scale X"),
    "negative ints": (dict(X_train=np.array([[0, 2], [1, 2], [3, 4]], dtype=np.int8), X_valid=np.array([[-1, 1]])),
                      r"integer pixels range from -1 to 4"),
    "mixed kinds": (dict(X_train=np.array([[0, 2], [1, 2], [3, 4]], dtype=np.uint8)),
                    r"some X arrays hold integers and others floats \(X_train uint8, X_valid float64\)"),
    "bool X": (dict(X_train=np.ones((3, 2), bool)), r"X_train has dtype bool; it must hold integer pixels"),
    "one training example": (dict(X_train=np.zeros((1, 2)), y_train=np.array([0])),
                             r"1 training and 1 validation examples are too few.*at least 2 training"),
    "no validation example": (dict(X_valid=np.zeros((0, 2)), y_valid=np.zeros(0, int)),
                              r"3 training and 0 validation examples are too few"),
    "empty test": (dict(X_test=np.zeros((0, 2)), y_test=np.zeros(0, int)), r"X_test holds no examples"),
    "test without labels": (dict(X_test=np.zeros((2, 2))), r"has X_test but no y_test"),
    "lengths": (dict(y_train=np.array([0, 1])), r"X_train \(3, 2\) and y_train \(2,\) do not match"),
    "no features": (dict(X_train=np.zeros((3, 0)), X_valid=np.zeros((1, 0))), r"X_train \(3, 0\) has no features"),
}


@pytest.mark.parametrize("case", sorted(NPZ_ERRORS))
def test_npz_problems_are_one_line_errors(tmp_path, capsys, case):
    changes, match = NPZ_ERRORS[case]
    arrays = dict(X_train=np.full((3, 2), 0.5), y_train=np.array([0, 1, 1]), X_valid=np.full((1, 2), 0.5),
                  y_valid=np.array([1]))
    arrays.update(changes)
    if case == "missing":
        arrays = changes
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=match) as info:
        load_npz(path)
    assert one_line(info).startswith(str(path)) and capsys.readouterr().err == ""


def test_npz_single_array_file_is_refused(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros(3))
    with pytest.raises(DataError, match=r"x.npy holds a single array, not a .npz archive.*np.savez") as info:
        load_npz(tmp_path / "x.npy")
    one_line(info)
    with pytest.raises(DataError, match=r"nope.npz does not exist; check the path"):
        load_npz(tmp_path / "nope.npz")


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
