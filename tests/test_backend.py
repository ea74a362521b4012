import numpy as np
import pytest

from minilinpath import backend


def test_default_device_is_cpu(monkeypatch):
    monkeypatch.setattr(backend, "_selected", None)
    monkeypatch.delenv("MINILINPATH_DEVICE", raising=False)
    assert backend.current() == "cpu"
    assert backend.xp_for() is np


def test_environment_variable_selects_device(monkeypatch):
    monkeypatch.setattr(backend, "_selected", None)
    monkeypatch.setenv("MINILINPATH_DEVICE", "tpu")
    with pytest.raises(backend.BackendError, match="MINILINPATH_DEVICE='tpu'"):
        backend.current()


def test_unknown_device_is_rejected():
    with pytest.raises(backend.BackendError, match="unknown device 'cuda'"):
        backend.use("cuda")


@pytest.mark.skipif(backend.gpu_available(), reason="this machine has a GPU")
def test_gpu_request_without_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(backend, "_selected", None)
    with pytest.raises(backend.BackendError, match="--device cpu"):
        backend.use("gpu")
    assert backend.current() == "cpu"  # nothing silently switched


def test_get_xp_numpy_and_scalars():
    assert backend.get_xp(np.ones(2), None, 3.0) is np


def test_add_at_accumulates_repeated_indices():
    target = np.zeros(4)
    backend.add_at(target, np.array([1, 1, 3, 1]), np.array([1.0, 2.0, 5.0, 4.0]))
    np.testing.assert_array_equal(target, [0, 7, 0, 5])


def test_rng_is_reproducible_from_seed():
    a = backend.rng([7, 2, 3]).random(5)
    b = backend.rng([7, 2, 3]).random(5)
    c = backend.rng([7, 2, 4]).random(5)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_to_float_and_to_numpy():
    assert backend.to_float(np.array(2.5)) == 2.5
    assert isinstance(backend.to_numpy([1, 2]), np.ndarray)


@pytest.mark.gpu
def test_gpu_helpers_match_numpy(cupy):
    target = cupy.zeros(4)
    backend.add_at(target, cupy.asarray([1, 1, 3, 1]), cupy.asarray([1.0, 2.0, 5.0, 4.0]))
    np.testing.assert_array_equal(target.get(), [0, 7, 0, 5])
    assert backend.get_xp(cupy.ones(2)) is cupy
    with pytest.raises(backend.BackendError, match="mix"):
        backend.get_xp(cupy.ones(2), np.ones(2))
    r1 = backend.rng([1, 2], cupy).random(3)
    r2 = backend.rng([1, 2], cupy).random(3)
    np.testing.assert_array_equal(r1.get(), r2.get())
