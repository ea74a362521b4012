"""CIFAR-10 loading against archives generated in the real format, served from 127.0.0.1; GCN and ZCA."""
import hashlib
import io
import os
import pickle
import tarfile

import numpy as np
import pytest

from minilinpath.data import DataError
from minilinpath.data import cifar10

from .test_data import _Server


def batch_bytes(n, seed, protocol=2):
    rng = np.random.default_rng(seed)
    return pickle.dumps({b"batch_label": b"fake batch", b"labels": rng.integers(0, 10, size=n).tolist(),
                         b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
                         b"filenames": [b"img%d.png" % i for i in range(n)]}, protocol=protocol)


def make_archive(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, raw in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return path


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """A complete fake archive (6 batches of 10 images) whose MD5s are the recorded ones."""
    members = {name: batch_bytes(10, i) for i, name in enumerate(cifar10.MEMBER_MD5)}
    served = tmp_path / "served"
    served.mkdir()
    archive = make_archive(served / cifar10.ARCHIVE, members)
    monkeypatch.setattr(cifar10, "MEMBER_MD5", {n: hashlib.md5(r).hexdigest() for n, r in members.items()})
    monkeypatch.setattr(cifar10, "ARCHIVE_MD5", hashlib.md5(archive.read_bytes()).hexdigest())
    monkeypatch.setenv("MINILINPATH_DATA", str(tmp_path / "cache"))
    server = _Server(served)
    monkeypatch.setattr(cifar10, "URLS", [server.url + cifar10.ARCHIVE])
    yield members, served
    server.close()


def test_download_verify_preprocess_and_split(fake, tmp_path):
    members, _ = fake
    splits = cifar10.load_cifar10(n_valid=10)
    assert splits["train"][0].shape == (40, 3072) and splits["valid"][0].shape == (10, 3072)
    assert splits["test"][0].shape == (10, 3072) and splits["train"][0].dtype == np.float32
    raw = pickle.loads(members["data_batch_1"], encoding="bytes")
    np.testing.assert_array_equal(splits["train"][1][:10], raw[b"labels"])
    cached = list((tmp_path / "cache" / "cifar10").glob("*.npz"))
    assert len(cached) == 1  # the preprocessed arrays, reused next time
    again = cifar10.load_cifar10(n_valid=10)
    np.testing.assert_array_equal(again["valid"][0], splits["valid"][0])


def test_archive_checksum_mismatch_is_never_used(fake, tmp_path, monkeypatch):
    monkeypatch.setattr(cifar10, "ARCHIVE_MD5", "0" * 32)
    with pytest.raises(DataError, match="checksum mismatch"):
        cifar10.load_cifar10(n_valid=10)
    assert not (tmp_path / "cache" / "cifar10" / cifar10.ARCHIVE).exists()


def test_truncated_archive(fake, tmp_path, monkeypatch):
    _, served = fake
    data = (served / cifar10.ARCHIVE).read_bytes()
    offline = tmp_path / "offline"
    offline.mkdir()
    (offline / cifar10.ARCHIVE).write_bytes(data[: len(data) // 2])
    monkeypatch.setattr(cifar10, "ARCHIVE_MD5", hashlib.md5(data[: len(data) // 2]).hexdigest())
    with pytest.raises(DataError, match="truncated or corrupt"):
        cifar10.read_archive(cifar10.locate_archive(offline))


class Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_a_pickle_carrying_code_is_refused(tmp_path, monkeypatch):
    evil = pickle.dumps({b"data": Exploit(), b"labels": []}, protocol=2)
    with pytest.raises(DataError, match="only plain arrays"):
        cifar10.read_batch(evil, "data_batch_1", hashlib.md5(evil).hexdigest())
    with pytest.raises(DataError, match="checksum mismatch"):
        cifar10.read_batch(evil, "data_batch_1", "0" * 32)  # the checksum is checked before any unpickling


def test_reads_python2_style_batches():
    raw = batch_bytes(4, 0, protocol=2)
    data, labels = cifar10.read_batch(raw, "b", None)
    assert data.shape == (4, 3072) and labels.dtype == np.int64


def test_missing_archive_offline(tmp_path):
    with pytest.raises(DataError, match="download it from"):
        cifar10.locate_archive(tmp_path)


def test_global_contrast_normalization(rng):
    X = rng.integers(0, 256, size=(6, 30)).astype(np.float64)
    X[3] = 7.0  # a flat image: norm 0 after centring, left unscaled
    G = cifar10.global_contrast_normalize(X)
    np.testing.assert_allclose(G.mean(axis=1), 0, atol=1e-12)
    norms = np.linalg.norm(G, axis=1)
    np.testing.assert_allclose(np.delete(norms, 3), 55.0, rtol=1e-12)
    assert norms[3] == 0.0


def test_zca_whitens_up_to_the_filter_bias(rng):
    X = rng.standard_normal((500, 6)) @ rng.standard_normal((6, 6))
    mean, P = cifar10.fit_zca(X, filter_bias=0.1)
    Z = (X - mean) @ P
    cov = Z.T @ Z / X.shape[0]
    C = np.cov(X.T, bias=True)
    lam, V = np.linalg.eigh(C + 0.1 * np.eye(6))
    np.testing.assert_allclose(cov, V @ np.diag((lam - 0.1) / lam) @ V.T, atol=1e-10)  # eigenvalues (l - b) / l
    np.testing.assert_allclose(P, P.T, atol=1e-12)  # ZCA: symmetric, the whitening closest to the identity
