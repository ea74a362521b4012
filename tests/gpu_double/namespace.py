"""The double's modules: ``cupy``, ``cupy.random``, ``cupy.linalg``, ``cupy.fft``, ``cupy.cuda`` (with ``runtime``),
``cupyx`` and ``cupyx.scipy``, each holding only the names the real one has (``cupy_names.json``).

How a name ``cupy.X`` is answered, in order:

1. ``X`` not among the recorded names of real CuPy: ``AttributeError`` (the code would fail on a GPU).
2. ``X`` imitated by hand here (``asarray``, ``asnumpy``, ``get_array_module``, ``ndarray``, ``random``, ...).
3. NumPy's ``X`` is a ufunc: a :class:`DeviceUfunc` (``__call__``, ``reduce``, ``accumulate``, ``outer``, ``at``)
   that checks its operands as the array type does and returns device arrays.
4. NumPy's ``X`` is a class or a constant (``float32``, ``dtype``, ``finfo``, ``pi``, ``newaxis``): NumPy's own
   object, as in real CuPy (``cupy.float32 is numpy.float32``).
5. NumPy's ``X`` is a function: the same function behind the walls (device arrays in, device arrays out; a NumPy
   array of one or more dimensions as an argument raises ``TypeError``, as CuPy's functions do, cupy/cupy#147).
6. Anything else CuPy has (``fuse``, ``RawKernel``, memory pools ...): a stub that raises ``NotImplementedError``
   when called.

Choices where CuPy's behaviour needed looking up, with their sources:

- ``cupy.asarray`` and ``cupy.array`` accept host data (NumPy arrays, lists) and copy it to the device
  (cupy/cupy#7825: "It makes an instance of cupy.ndarray on the host, then transfers the data to GPU");
  ``cupy.asarray`` of a device array with the same dtype is that array, no copy (NumPy's rule, which CuPy follows).
  A list of device arrays is stacked on the device (cupy/cupy#3576, fixed); a list mixing device arrays with
  Python numbers raises the implicit-conversion TypeError (cupy/cupy#8389).
- ``cupy.asnumpy(a)`` is ``a.get()`` for a device array and ``numpy.asarray(a)`` otherwise (CuPy's docstring).
- ``cupyx.scatter_add(a, slices, value)`` "behaves identically to numpy.add.at()": repeated indices accumulate
  (https://docs.cupy.dev/en/stable/reference/generated/cupyx.scatter_add.html). CuPy's note that integer-array
  slices need a dtype CUDA's atomicAdd supports is not imitated (float64 atomicAdd exists since compute
  capability 6.0, which every GPU the project would use has).
- ``cupy.random.default_rng(seed)`` returns a ``cupy.random.Generator`` whose methods are only those of
  ``dir(cupy.random.Generator)``, with the signatures recorded in ``cupy_names.json``: it has ``random``,
  ``standard_normal``, ``integers``, ``uniform``, ``binomial`` ... and no ``normal``, ``permutation``, ``choice``
  or ``shuffle``. Its numbers come from NumPy's PCG64, so they are not the numbers a real GPU draws (CuPy uses
  XORWOW); tests compare device results with NumPy only where both sides get the same random inputs.
- ``cupy.cuda.runtime.getDeviceCount()`` is 1 and ``cupy.cuda.Device().synchronize()`` returns at once: the double
  is one device whose work is always finished.
"""
from __future__ import annotations

import functools
import sys
import types

import numpy as np

from . import names
from .array import (IMPLICIT_CONVERSION, SYNCS, apply_ufunc, host_index, is_host_array, ndarray, to_device, to_host,
                    unsupported, wrap)

# ---------------------------------------------------------------------------------------------------------------
# Generic wrappers (rules 3 and 5 of the module docstring)


class DeviceUfunc:
    """``cupy.<name>`` for a NumPy ufunc: operands checked like the array's operators, results on the device."""

    def __init__(self, ufunc: np.ufunc):
        self._ufunc = ufunc
        self.__name__ = ufunc.__name__
        self.nin, self.nout, self.nargs = ufunc.nin, ufunc.nout, ufunc.nargs

    def __call__(self, *inputs, **kwargs):
        return apply_ufunc(self._ufunc, "__call__", inputs, kwargs)

    def reduce(self, *inputs, **kwargs):
        return apply_ufunc(self._ufunc, "reduce", inputs, kwargs)

    def accumulate(self, *inputs, **kwargs):
        return apply_ufunc(self._ufunc, "accumulate", inputs, kwargs)

    def outer(self, *inputs, **kwargs):
        return apply_ufunc(self._ufunc, "outer", inputs, kwargs)

    def at(self, a, indices, b=None):
        where = f"{self.__name__}.at"
        if not isinstance(a, ndarray):
            raise unsupported(a, where)
        self._ufunc.at(a._host, host_index(indices), *(() if b is None else (to_host(b, where),)))

    def __repr__(self):
        return f"<ufunc '{self.__name__}'> (CuPy double)"


def device_function(qualified_name: str, numpy_function):
    """``numpy_function`` behind the walls: device arrays unwrapped, host arrays refused, results wrapped."""

    @functools.wraps(numpy_function)
    def function(*args, **kwargs):
        host_args = to_host(args, qualified_name)
        host_kwargs = {key: to_host(value, qualified_name) for key, value in kwargs.items()}
        return to_device(numpy_function(*host_args, **host_kwargs))

    function.__qualname__ = function.__name__ = qualified_name.rsplit(".", 1)[-1]
    return function


def stub(qualified_name: str):
    """A name CuPy has but the double does not imitate: calling it says so."""

    def not_modelled(*args, **kwargs):
        raise names.not_modelled(qualified_name)

    not_modelled.__name__ = qualified_name.rsplit(".", 1)[-1]
    return not_modelled


def from_numpy(qualified_name: str, numpy_namespace, name: str):
    """The double's answer for ``qualified_name`` from NumPy's namesake (rules 3 to 6)."""
    if not hasattr(numpy_namespace, name):
        return stub(qualified_name)
    value = getattr(numpy_namespace, name)
    if isinstance(value, np.ufunc):
        return DeviceUfunc(value)
    if isinstance(value, (type, types.ModuleType)) or not callable(value):
        return value if not isinstance(value, types.ModuleType) else stub(qualified_name)
    return device_function(qualified_name, value)


def make_module(qualified_name: str, numpy_namespace, by_hand: dict) -> types.ModuleType:
    """A module that answers only CuPy's names: by hand first, else from NumPy's namesake (cached once made)."""
    module = types.ModuleType(qualified_name, f"CuPy double: {qualified_name} (see tests/gpu_double/namespace.py)")
    module.__file__ = __file__

    def __getattr__(name: str):
        if name.startswith("__") or not names.has(qualified_name, name):
            raise names.missing(qualified_name, name)
        value = by_hand[name] if name in by_hand else from_numpy(f"{qualified_name}.{name}", numpy_namespace, name)
        setattr(module, name, value)
        return value

    module.__getattr__ = __getattr__
    for name, value in by_hand.items():
        if name.startswith("__"):
            setattr(module, name, value)
    return module


# ---------------------------------------------------------------------------------------------------------------
# cupy: the functions that move data, imitated by hand


def _host_data(obj):
    """Host data for asarray/array: a device array unwrapped; a list of only device arrays stacked on the device;
    a list that mixes device arrays with anything else refused, as CuPy refuses it (cupy/cupy#8389:
    ``cupy.array([0, 1, cupy.cos(0)])`` raises the implicit-conversion TypeError); host data kept."""
    if isinstance(obj, ndarray):
        return obj._host
    if isinstance(obj, (list, tuple)) and any(_holds_device_array(item) for item in obj):
        if not all(isinstance(item, ndarray) or (isinstance(item, (list, tuple)) and _all_device(item))
                   for item in obj):
            raise TypeError(IMPLICIT_CONVERSION)
        return [_host_data(item) for item in obj]
    return obj


def _holds_device_array(obj) -> bool:
    if isinstance(obj, ndarray):
        return True
    return isinstance(obj, (list, tuple)) and any(_holds_device_array(item) for item in obj)


def _all_device(obj) -> bool:
    return all(isinstance(item, ndarray) or (isinstance(item, (list, tuple)) and _all_device(item)) for item in obj)


def asarray(a, dtype=None, order=None, *, blocking=False):
    """Device array of ``a``; a device array of that dtype is returned as is, anything else is copied in."""
    if isinstance(a, ndarray):
        if (dtype is None or np.dtype(dtype) == a.dtype) and order in (None, "K", "A"):
            return a
        return wrap(np.array(a._host, dtype=dtype, order=order or "K", copy=True))
    return wrap(np.array(_host_data(a), dtype=dtype, order=order or "K", copy=True))


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, *, blocking=False):
    """Device array of ``obj`` (a copy unless ``copy=False`` and it is already a device array of that dtype)."""
    if isinstance(obj, ndarray) and not copy and (dtype is None or np.dtype(dtype) == obj.dtype) and ndmin <= obj.ndim:
        return obj
    return wrap(np.array(_host_data(obj), dtype=dtype, order=order, copy=True, ndmin=ndmin))


def asnumpy(a, stream=None, order="C", out=None, *, blocking=True):
    """A NumPy array of ``a``: ``a.get()`` for a device array, ``numpy.asarray(a)`` otherwise."""
    if isinstance(a, ndarray):
        return a.get(order=order, out=out)
    return np.asarray(a, order=order)


def get_array_module(*args):
    """The double's ``cupy`` module if any argument is a device array, else NumPy."""
    return modules()["cupy"] if any(isinstance(a, ndarray) for a in args) else np


# ---------------------------------------------------------------------------------------------------------------
# cupy.random


class Generator:
    """``cupy.random.Generator``: only CuPy's methods, with CuPy's arguments; NumPy's PCG64 draws the numbers."""

    def __init__(self, bit_generator=None):
        self._numpy = np.random.Generator(np.random.PCG64(bit_generator))

    def __getattr__(self, name):
        if names.has("cupy.random.Generator", name):
            raise names.not_modelled(f"cupy.random.Generator.{name}")
        raise names.missing("cupy.random.Generator", name)

    @staticmethod
    def _float_dtype(dtype, method):
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"Generator.{method} supports only float32 and float64, got {dtype}")
        return dtype

    def _into(self, values, out):
        if out is None:
            return wrap(np.asarray(values))
        if not isinstance(out, ndarray):
            raise unsupported(out, "Generator out=")
        out._host[...] = values
        return out

    def random(self, size=None, dtype=np.float64, out=None):
        dtype = self._float_dtype(dtype, "random")
        size = out.shape if out is not None and size is None else size
        return self._into(self._numpy.random(size, dtype=dtype), out)

    def standard_normal(self, size=None, dtype=np.float64, out=None):
        dtype = self._float_dtype(dtype, "standard_normal")
        size = out.shape if out is not None and size is None else size
        return self._into(self._numpy.standard_normal(size, dtype=dtype), out)

    def uniform(self, low=0.0, high=1.0, size=None, dtype=np.float64):
        dtype = self._float_dtype(dtype, "uniform")
        low, high = to_host(low, "Generator.uniform"), to_host(high, "Generator.uniform")
        return wrap(np.asarray(self._numpy.uniform(low, high, size)).astype(dtype, copy=False))

    def integers(self, low, high=None, size=None, dtype=np.int64, endpoint=False):
        low, high = to_host(low, "Generator.integers"), to_host(high, "Generator.integers")
        return wrap(np.asarray(self._numpy.integers(low, high, size, dtype=dtype, endpoint=endpoint)))

    def binomial(self, n, p, size=None):
        n, p = to_host(n, "Generator.binomial"), to_host(p, "Generator.binomial")
        return wrap(np.asarray(self._numpy.binomial(n, p, size)))


Generator.__module__ = "cupy.random"


def default_rng(seed=None):
    """``cupy.random.default_rng``: a :class:`Generator` from an int, a sequence of ints or None."""
    if isinstance(seed, Generator):
        return seed
    if isinstance(seed, ndarray) or (is_host_array(seed) and seed.dtype.kind not in "iu"):
        raise TypeError(f"default_rng: unsupported seed {type(seed)} in the CuPy double")
    return Generator(seed)


# ---------------------------------------------------------------------------------------------------------------
# cupy.cuda


class CUDARuntimeError(RuntimeError):
    """``cupy.cuda.runtime.CUDARuntimeError``."""


class Device:
    """``cupy.cuda.Device``: the double's one device (id 0); its work is always finished."""

    def __init__(self, device=None):
        device = 0 if device is None else int(device)
        if device != 0:
            raise CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal (the CuPy double has one device)")
        self.id = device

    def synchronize(self):
        SYNCS["count"] += 1

    def use(self):
        return None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def __getattr__(self, name):
        if names.has("cupy.cuda.Device", name):
            raise names.not_modelled(f"cupy.cuda.Device.{name}")
        raise names.missing("cupy.cuda.Device", name)

    def __repr__(self):
        return f"<CUDA Device {self.id}> (CuPy double)"


# ---------------------------------------------------------------------------------------------------------------
# cupyx


def scatter_add(a, slices, value):
    """``cupyx.scatter_add``: ``a[slices] += value`` with repeated indices accumulated (``numpy.add.at``)."""
    if not isinstance(a, ndarray):
        raise unsupported(a, "cupyx.scatter_add")
    if is_host_array(value):
        raise unsupported(value, "cupyx.scatter_add value")
    np.add.at(a._host, host_index(slices), value._host if isinstance(value, ndarray) else value)


# ---------------------------------------------------------------------------------------------------------------
# Building the modules, once


@functools.cache
def modules() -> dict[str, types.ModuleType]:
    """The double's modules by the names they stand in for (one set per process)."""
    runtime = make_module("cupy.cuda.runtime", None, {
        "getDeviceCount": lambda: 1,
        "getDevice": lambda: 0,
        "deviceSynchronize": lambda: Device().synchronize(),
        "CUDARuntimeError": CUDARuntimeError,
    })
    cuda = make_module("cupy.cuda", None, {
        "runtime": runtime, "Device": Device, "is_available": lambda: True,
    })
    random = make_module("cupy.random", None, {"default_rng": default_rng, "Generator": Generator})
    linalg = make_module("cupy.linalg", np.linalg, {})
    fft = make_module("cupy.fft", np.fft, {})
    cupy = make_module("cupy", np, {
        "__version__": names.CUPY_VERSION,
        "ndarray": ndarray, "ufunc": DeviceUfunc,
        "asarray": asarray, "array": array, "asanyarray": asarray, "asnumpy": asnumpy,
        "get_array_module": get_array_module,
        "random": random, "linalg": linalg, "fft": fft, "cuda": cuda,
    })
    cupy._double_syncs = SYNCS  # not a CuPy name: how tests read the double's count of device-to-host reads
    cupyx_scipy = make_module("cupyx.scipy", None, {"get_array_module": get_array_module})
    cupyx = make_module("cupyx", None, {"scatter_add": scatter_add, "scipy": cupyx_scipy})
    return {"cupy": cupy, "cupy.random": random, "cupy.linalg": linalg, "cupy.fft": fft, "cupy.cuda": cuda,
            "cupy.cuda.runtime": runtime, "cupyx": cupyx, "cupyx.scipy": cupyx_scipy}


NUMPY_TO_DEVICE_MODULE = {"numpy": "cupy", "numpy.linalg": "cupy.linalg", "numpy.fft": "cupy.fft"}


def device_counterpart(numpy_function):
    """For NEP 18: the double's function of the same name as ``numpy_function``, or None when CuPy has none."""
    module_name = NUMPY_TO_DEVICE_MODULE.get(getattr(numpy_function, "__module__", None))
    name = getattr(numpy_function, "__name__", None)
    if module_name is None or name is None or not names.has(module_name, name):
        return None
    return getattr(modules()[module_name], name)


def install() -> dict[str, types.ModuleType]:
    """Put the double into ``sys.modules`` as ``cupy`` and ``cupyx`` (and their submodules)."""
    built = modules()
    sys.modules.update(built)
    return built
