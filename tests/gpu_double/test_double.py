"""The CuPy double's own tests: each rule of tests/gpu_double (array.py, namespace.py) holds.

These run on every test run, with or without MINILINPATH_TEST_GPU: they use the double's modules directly and
touch ``sys.modules`` only through monkeypatch (restored after each test). Expected values are written out by hand.
"""
from __future__ import annotations

import copy
import json
import sys

import numpy as np
import pytest

from minilinpath import backend
from tests.gpu_double import CUPY_VERSION, modules
from tests.gpu_double.array import SYNCS
from tests.gpu_double.names import NAMES, RECORD_FILE


@pytest.fixture
def cp():
    return modules()["cupy"]


@pytest.fixture
def cupyx():
    return modules()["cupyx"]


@pytest.fixture
def a(cp):
    return cp.asarray(np.array([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]))


# ---------------------------------------------------------------------------------------------------------------
# The array type


def test_arrays_are_their_own_type_from_module_cupy(cp, a):
    assert type(a).__module__ == "cupy" and type(a).__name__ == "ndarray"
    assert isinstance(a, cp.ndarray) and not isinstance(a, np.ndarray)
    assert backend.is_cupy_array(a) and not backend.is_cupy_array(np.zeros(2))


@pytest.mark.parametrize("convert", [np.asarray, np.array, np.ascontiguousarray, lambda x: np.float64(x),
                                     lambda x: np.testing.assert_array_equal(x, 0.0)])
def test_no_implicit_conversion_to_numpy(a, convert):
    with pytest.raises(TypeError, match="Implicit conversion to a NumPy array is not allowed"):
        convert(a)


def test_get_and_asnumpy_round_trip_as_copies(cp, a):
    host = np.array([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]])
    for out in (a.get(), cp.asnumpy(a)):
        assert type(out) is np.ndarray
        np.testing.assert_array_equal(out, host)
        out[0, 0] = 99.0  # host and device memory are separate
    assert a.get()[0, 0] == 0.0
    source = np.array([1.0, 2.0])
    device = cp.asarray(source)
    source[0] = 7.0
    assert device.get().tolist() == [1.0, 2.0]
    assert cp.asnumpy([1, 2]).tolist() == [1, 2]  # a host value passes through asnumpy


def test_python_scalars_of_size_one_arrays_are_synchronising_reads(cp, a):
    before = SYNCS["count"]
    assert float(a[1, 2]) == 5.0 and int(a[1, 1]) == 4 and bool(a[0, 1]) is True
    assert float(cp.asarray([2.5])) == 2.5 and a.sum().item() == 15.0
    assert SYNCS["count"] - before == 5
    with pytest.raises(TypeError, match="size-1"):
        float(a)
    with pytest.raises(ValueError, match="ambiguous"):
        bool(a)
    with pytest.raises(TypeError):
        range(cp.asarray(3))  # CuPy's ndarray has no __index__


def test_indexing_and_reductions_stay_on_the_device(cp, a):
    for value in (a[0, 1], a.sum(), a.max(), cp.linalg.norm(a), np.mean(a)):
        assert backend.is_cupy_array(value) and value.shape == ()
    assert float(np.mean(a)) == 2.5  # NEP 18: numpy.mean on a device array runs cupy.mean
    row = a[1]
    row[0] = -1.0  # a view writes through, as on the device
    assert a.get()[1, 0] == -1.0
    assert [r.get().tolist() for r in a] == [[0.0, 1.0, 2.0], [-1.0, 4.0, 5.0]]


@pytest.mark.parametrize("operation", [
    lambda a, h: a + h, lambda a, h: h + a, lambda a, h: a * h, lambda a, h: h - a, lambda a, h: a @ h.T,
    lambda a, h: np.add(a, h), lambda a, h: np.maximum(h, a), lambda a, h: modules()["cupy"].multiply(a, h),
    lambda a, h: modules()["cupy"].concatenate([a, h]), lambda a, h: modules()["cupy"].where(a > 1, a, h),
    lambda a, h: np.concatenate([a, h]), lambda a, h: a.__iadd__(h), lambda a, h: a.dot(h.T),
])
def test_mixing_a_device_array_with_a_numpy_array_raises(a, operation):
    host = np.ones((2, 3))
    with pytest.raises(TypeError, match="Unsupported type <class 'numpy.ndarray'>"):
        operation(a, host)


def test_scalars_and_zero_d_numpy_arrays_mix_freely(a):
    expected = [[2.0, 3.0, 4.0], [5.0, 6.0, 7.0]]
    for scalar in (2, 2.0, np.float64(2.0), np.float32(2.0), np.array(2.0)):
        assert (a + scalar).get().tolist() == expected
        assert (scalar + a).get().tolist() == expected


def test_lists_are_not_ufunc_operands(cp, a):
    with pytest.raises(TypeError, match="Unsupported type <class 'list'>"):
        cp.add(a[0], [1.0, 2.0, 3.0])


def test_ufunc_out_must_be_a_device_array(cp, a):
    out = cp.empty((2, 3))
    assert cp.multiply(a, 2.0, out=out) is out and out.get()[1].tolist() == [6.0, 8.0, 10.0]
    with pytest.raises(TypeError, match="Unsupported type"):
        cp.multiply(a, 2.0, out=np.empty((2, 3)))


def test_writing_host_data_into_a_device_array(cp, a):
    a[:] = np.full((2, 3), 7.0)  # the whole array: allowed (a copy in)
    assert a.get().tolist() == [[7.0] * 3] * 2
    with pytest.raises(ValueError, match="non-scalar numpy.ndarray cannot be used for fill"):
        a[0] = np.zeros(3)
    a[0] = cp.asarray(np.zeros(3))
    a[1, 2] = 1.5
    a[np.array([1]), 0] = 2.5  # a host index array is copied to the device, as CuPy does
    assert a.get().tolist() == [[0.0, 0.0, 0.0], [2.5, 7.0, 1.5]]


def test_asarray_of_a_device_array_of_that_dtype_is_no_copy(cp, a):
    assert cp.asarray(a) is a and cp.asarray(a, dtype=np.float64) is a
    other = cp.asarray(a, dtype=np.float32)
    assert other is not a and other.dtype == np.float32
    assert cp.array(a) is not a and cp.array(a, copy=False) is a
    stacked = cp.asarray([a[0], a[1]])
    assert stacked.get().tolist() == a.get().tolist()
    with pytest.raises(TypeError, match="Implicit conversion"):
        cp.array([0.0, 1.0, a[0, 0]])


def test_only_cupys_attributes(cp, a):
    assert a.shape == (2, 3) and a.ndim == 2 and a.dtype == np.float64 and a.T.shape == (3, 2)
    with pytest.raises(AttributeError, match="cupy.ndarray has no attribute 'itemset'"):
        a.itemset  # NumPy's ndarray has it; CuPy's does not  # noqa: B018
    with pytest.raises(AttributeError, match="no attribute 'ctypes'"):
        a.ctypes  # noqa: B018
    with pytest.raises(NotImplementedError, match="does not imitate"):
        a.flat  # noqa: B018
    assert copy.deepcopy(a).get().tolist() == a.get().tolist()


# ---------------------------------------------------------------------------------------------------------------
# The namespace


def test_the_recorded_names_came_from_real_cupy():
    record = json.loads(RECORD_FILE.read_text())
    assert record["cupy_version"] == CUPY_VERSION and CUPY_VERSION.count(".") == 2
    assert {"asarray", "asnumpy", "ndarray", "random", "cuda", "linalg", "fft"} <= NAMES["cupy"]
    assert {"scatter_add", "scipy"} <= NAMES["cupyx"]
    assert {"random", "standard_normal", "integers"} <= NAMES["cupy.random.Generator"]
    assert "normal" not in NAMES["cupy.random.Generator"]  # CuPy's Generator has no normal(): recorded so


@pytest.mark.parametrize("namespace, name", [("cupy", "nonexistent_function"), ("cupy", "nanpercentile_of_x"),
                                             ("cupy.linalg", "matrix_transpose_x"), ("cupyx", "add_at")])
def test_a_name_real_cupy_lacks_raises_loudly(namespace, name):
    with pytest.raises(AttributeError, match=f"CuPy {CUPY_VERSION} does not have it"):
        getattr(modules()[namespace], name)


def test_numpy_names_cupy_lacks_are_refused(cp):
    lacking = sorted(n for n in dir(np) if not n.startswith("_") and n not in NAMES["cupy"])
    assert lacking, "NumPy has names CuPy lacks"
    for name in lacking[:20]:
        with pytest.raises(AttributeError):
            getattr(cp, name)


def test_names_cupy_has_but_the_double_does_not_imitate_say_so(cp):
    with pytest.raises(NotImplementedError, match="cupy.fuse exists in CuPy"):
        cp.fuse(lambda x: x)


def test_classes_and_constants_are_numpys(cp):
    assert cp.float32 is np.float32 and cp.dtype is np.dtype and cp.pi == np.pi and cp.newaxis is None


def test_ufunc_methods(cp, a):
    assert cp.add.reduce(a, axis=0).get().tolist() == [3.0, 5.0, 7.0]
    target = cp.zeros(3)
    cp.add.at(target, cp.asarray([0, 0, 2]), 1.0)
    assert target.get().tolist() == [2.0, 0.0, 1.0]


def test_scatter_add_accumulates_repeated_indices(cp, cupyx):
    target = cp.zeros(4)
    cupyx.scatter_add(target, cp.asarray([1, 1, 3, 1]), cp.asarray([1.0, 2.0, 5.0, 4.0]))
    assert target.get().tolist() == [0.0, 7.0, 0.0, 5.0]
    with pytest.raises(TypeError, match="Unsupported type"):
        cupyx.scatter_add(target, cp.asarray([0]), np.array([1.0]))


def test_default_rng_has_only_cupys_generator_methods(cp):
    first, second = cp.random.default_rng(5), cp.random.default_rng(5)
    x, y = first.random((2, 3)), second.random((2, 3))
    assert backend.is_cupy_array(x) and x.get().tolist() == y.get().tolist()
    assert first.standard_normal(4, dtype=np.float32).dtype == np.float32
    ints = first.integers(0, 3, size=50).get()
    assert ints.min() >= 0 and ints.max() <= 2
    for missing in ("normal", "permutation", "choice", "shuffle"):
        with pytest.raises(AttributeError, match="cupy.random.Generator has no attribute"):
            getattr(first, missing)
    with pytest.raises(TypeError, match="float32 and float64"):
        first.random(3, dtype=np.int64)


def test_one_cuda_device_that_synchronises(cp):
    assert cp.cuda.runtime.getDeviceCount() == 1
    device = cp.cuda.Device()
    assert device.id == 0 and device.synchronize() is None
    with cp.cuda.Device(0):
        pass
    with pytest.raises(cp.cuda.runtime.CUDARuntimeError):
        cp.cuda.Device(1)


def test_backend_selects_the_double_once_installed(monkeypatch):
    """What conftest's hook does: with the double in sys.modules, the backend finds a GPU and uses the double."""
    built = modules()
    for name, module in built.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(backend, "_selected", None)
    assert backend.gpu_available()
    backend.use("gpu")
    assert backend.xp_for() is built["cupy"]
    on_gpu = backend.to_device(np.array([1.0, 2.0]), "gpu")
    assert backend.is_cupy_array(on_gpu) and backend.to_numpy(on_gpu).tolist() == [1.0, 2.0]
    assert backend.to_float(on_gpu.sum()) == 3.0
    target = built["cupy"].zeros(3)
    backend.add_at(target, built["cupy"].asarray([2, 2]), 1.0)
    assert target.get().tolist() == [0.0, 0.0, 2.0]


def test_an_out_of_bounds_index_array_wraps_around_as_cupy_does(cp):
    """Rule 9: CuPy wraps an integer index array (NumPy raises IndexError); a plain int index is still refused."""
    a = cp.asarray(np.array([10.0, 11.0, 12.0]))
    assert cp.asnumpy(a[np.array([1, 3, -4])]).tolist() == [11.0, 10.0, 12.0]
    b = cp.asarray(np.arange(6.0).reshape(2, 3))
    assert cp.asnumpy(b[np.arange(2), np.array([4, 0])]).tolist() == [1.0, 3.0]
    with pytest.raises(IndexError):
        a[3]
