"""The double's array type: a NumPy array kept "on the device", behind the walls CuPy puts around its arrays.

An :class:`ndarray` holds a private NumPy array (``_host``) and computes with NumPy, but it lets values leave
or enter only the ways CuPy lets them. Each rule below is what CuPy does; the source is given with it.

1. **No implicit conversion to NumPy.** ``np.asarray(a)``, ``np.array(a)`` and anything else that calls
   ``a.__array__()`` raise ``TypeError``. CuPy decided this in cupy/cupy#3421 (discussion in cupy/cupy#589 and
   cupy/cupy PR #734: "We don't want implicit conversions to NumPy arrays as the default behavior, because it
   often causes silent bugs"); the message below is CuPy's own (seen in e.g. cupy/cupy#8389).
2. **Explicit transfers work.** ``a.get()`` and ``cupy.asnumpy(a)`` return a new NumPy array (device and host
   memory are separate, so it is a copy); ``cupy.asarray(host)`` copies host data in.
3. **Python scalars of a size-1 array work** (``float(a)``, ``int(a)``, ``bool(a)``, ``a.item()``): CuPy defines
   ``__float__``, ``__int__``, ``__bool__``, ``__complex__`` (``dir(cupy.ndarray)`` in ``cupy_names.json``), each one
   a device synchronisation. CuPy has no ``__index__`` (same list), so ``range(a)`` or ``x[a]`` on a host list fail.
   The double counts these synchronising reads in :data:`SYNCS`, so a test can see a Python float taken in a loop.
4. **No mixing with NumPy arrays.** A ufunc or an operator with a NumPy array of one or more dimensions among its
   operands raises ``TypeError: Unsupported type <class 'numpy.ndarray'>`` (cupy/cupy#147; the plan of cupy/cupy
   PR #1247 that added ``__array_ufunc__``: "error, if in a non-unary ufunc, a numpy (non-device) and a cupy array
   are combined"). Python scalars, NumPy scalars and 0-d NumPy arrays are allowed (CuPy treats them as scalars,
   cupy/cupy PR #4198's ``_KNOWN_TYPES``). Lists are not array operands for ufuncs (cupy/cupy#594, #6787).
5. **NumPy functions on device arrays go to CuPy's function of the same name** (NEP 18 ``__array_function__``,
   which CuPy implements: ``np.mean(a)`` runs ``cupy.mean``); a function CuPy lacks raises ``TypeError`` (CuPy
   returns ``NotImplemented``, and NumPy then raises).
6. **Writing host data into a device array:** ``a[:] = host`` (the whole array) copies in (cupy/cupy PR #2079,
   "Allow copying in the format cupy_array[:] = numpy_array"); any other ``a[key] = host`` with a host array of one
   or more dimensions raises ``ValueError: non-scalar numpy.ndarray cannot be used for fill`` (cupy/cupy#593, the
   ``_scatter_op`` path). An index that is a NumPy array is copied to the device, as CuPy does for host indices.
7. **Only CuPy's attributes.** Attribute names come from ``dir(cupy.ndarray)`` recorded in ``cupy_names.json``;
   any other raises ``AttributeError`` (e.g. NumPy's ``ndarray.itemset`` or ``.ctypes``).
9. **Integer index arrays wrap around when out of bounds** (CuPy's user guide, "Differences between CuPy and
   NumPy": NumPy raises, CuPy wraps); see :func:`host_index`.
8. **Indexing one element gives a 0-d device array**, not a Python or NumPy scalar (CuPy never returns host
   scalars from indexing or reductions: ``a.sum()`` is a 0-d ``cupy.ndarray``).

The double computes with NumPy in the same order NumPy would, so its numbers are NumPy's numbers; what it
checks is where the data goes, not floating-point differences between cuBLAS and OpenBLAS.
"""
from __future__ import annotations

import numbers

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

from . import names

IMPLICIT_CONVERSION = ("Implicit conversion to a NumPy array is not allowed. "
                       "Please use `.get()` to construct a NumPy array explicitly.")

# How many times a value was read back to the host (get, asnumpy, float(), int(), bool(), item(), tolist()):
# each is a device synchronisation on a real GPU.
SYNCS = {"count": 0}


def _synced() -> None:
    SYNCS["count"] += 1


# ---------------------------------------------------------------------------------------------------------------
# Moving values between the double's arrays and the NumPy arrays it computes with


def is_host_array(x) -> bool:
    """A NumPy array with one or more dimensions: data on the host that CuPy refuses as a device operand."""
    return isinstance(x, np.ndarray) and x.ndim > 0


def unsupported(x, where: str) -> TypeError:
    return TypeError(f"Unsupported type {type(x)} (in {where}; the CuPy double, like CuPy, refuses a NumPy array "
                     "as a device operand: move it with cupy.asarray first)")


def to_host(x, where: str):
    """The NumPy value the double computes with for one argument; a host array raises (rule 4).

    Lists and tuples are walked (``concatenate([a, b])``); dicts and other objects pass unchanged.
    """
    if isinstance(x, ndarray):
        return x._host
    if is_host_array(x):
        raise unsupported(x, where)
    if isinstance(x, list):
        return [to_host(item, where) for item in x]
    if isinstance(x, tuple):
        return tuple(to_host(item, where) for item in x)
    return x


def to_device(result):
    """Wrap what NumPy returned: arrays and NumPy scalars become device arrays (rule 8); tuples are walked."""
    if isinstance(result, np.ndarray):
        return wrap(result)
    if isinstance(result, np.generic):
        return wrap(np.asarray(result))
    if isinstance(result, tuple):
        return tuple(to_device(item) for item in result)
    if isinstance(result, list):
        return [to_device(item) for item in result]
    return result


def wrap(host: np.ndarray) -> "ndarray":
    """A device array holding ``host`` (no copy: the caller hands the NumPy array over)."""
    a = object.__new__(ndarray)
    a._host = host
    return a


def is_scalar_operand(x) -> bool:
    """Python numbers, NumPy scalars and 0-d NumPy arrays: what CuPy accepts next to a device array."""
    return (isinstance(x, (numbers.Number, np.generic))
            or (isinstance(x, np.ndarray) and x.ndim == 0))


def apply_ufunc(ufunc: np.ufunc, method: str, inputs, kwargs):
    """Run ``ufunc.method(*inputs, **kwargs)`` on the device arrays' NumPy values (rule 4 checked first)."""
    where = f"{ufunc.__name__}.{method}" if method != "__call__" else ufunc.__name__
    for x in inputs:
        if not (isinstance(x, ndarray) or is_scalar_operand(x) or x is None):
            raise unsupported(x, where)
    outs = kwargs.get("out")
    if outs is not None:
        outs = outs if isinstance(outs, tuple) else (outs,)
        for o in outs:
            if not isinstance(o, ndarray):
                raise unsupported(o, where + " out=")
        kwargs = {**kwargs, "out": tuple(o._host for o in outs)}
    if "where" in kwargs:  # the mask of where= is an operand too
        kwargs = {**kwargs, "where": to_host(kwargs["where"], where)}
    result = getattr(ufunc, method)(*(to_host(x, where) for x in inputs), **kwargs)
    if outs is not None:
        return outs[0] if len(outs) == 1 else outs
    return to_device(result)


def host_index(key, shape=None):
    """An index for the NumPy array: device arrays unwrapped; NumPy index arrays kept (CuPy copies them in).

    Rule 9: with ``shape`` (the indexed array's), an integer index ARRAY out of bounds wraps around, as CuPy's
    does ("CuPy handles out-of-bounds indices differently by default from NumPy when using integer array
    indexing. NumPy handles them by raising an error, but CuPy wraps around them": CuPy's user guide,
    "Differences between CuPy and NumPy", Out-of-bounds indices). A plain int index stays checked (CuPy raises
    IndexError for it too). Keys with ``...`` or ``None`` are passed on unwrapped (the package does not use them
    with index arrays).
    """
    if isinstance(key, ndarray):
        key = key._host
    if isinstance(key, tuple):
        parts = tuple(k._host if isinstance(k, ndarray) else k for k in key)
    else:
        parts = (key,)
    if shape is not None and not any(k is Ellipsis or k is None for k in parts):
        wrapped, axis = [], 0
        for k in parts:
            if isinstance(k, np.ndarray) and k.dtype.kind in "iu" and axis < len(shape) and shape[axis]:
                k = np.mod(k, shape[axis])
            wrapped.append(k)
            axis += k.ndim if isinstance(k, np.ndarray) and k.dtype == bool else 1
        parts = tuple(wrapped)
    return parts if isinstance(key, tuple) else parts[0]


# CuPy has these, with device meanings NumPy's namesakes do not share (a flat iterator on the device, a memory
# pointer, a cupy.cuda.Device): the double refuses them rather than hand out host objects.
NOT_MODELLED_ATTRIBUTES = frozenset({"flat", "data", "device", "cstruct", "mdspan", "reduced_view", "toDlpack"})


class ndarray(NDArrayOperatorsMixin):
    """A device array of the CuPy double (``type(a).__module__ == "cupy"``, as for the real one).

    Arithmetic operators come from NumPy's ``NDArrayOperatorsMixin``: each one calls a ufunc, which comes back
    here through ``__array_ufunc__``, where rule 4 is checked.
    """

    __slots__ = ("_host",)

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C"):
        """``cupy.ndarray(shape, dtype)``: a new, uninitialised device array (as CuPy's constructor)."""
        if memptr is not None or strides is not None:
            raise names.not_modelled("cupy.ndarray(memptr=..., strides=...)")
        self._host = np.empty(shape, dtype=dtype, order=order)

    # -- the walls (rules 1, 4, 5) --------------------------------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        raise TypeError(IMPLICIT_CONVERSION)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return apply_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        from . import namespace  # the module that holds the double's functions (imports this one)

        for t in types:
            if not issubclass(t, (ndarray, np.ndarray)):
                return NotImplemented
        device_func = namespace.device_counterpart(func)
        if device_func is None:
            return NotImplemented
        return device_func(*args, **kwargs)

    # -- explicit transfers (rules 2, 3) --------------------------------------------------------------------
    def get(self, stream=None, order="C", out=None, blocking=True):
        """A NumPy copy of the values (device -> host)."""
        _synced()
        if out is not None:
            out[...] = self._host
            return out
        return np.array(self._host, order=order, copy=True)

    def set(self, arr, stream=None):
        """Copy the NumPy array ``arr`` (same shape) into this array (host -> device)."""
        if not isinstance(arr, np.ndarray):
            raise TypeError(f"Only numpy.ndarray can be set to cupy.ndarray, got {type(arr)}")
        if arr.shape != self._host.shape:
            raise ValueError("Shape mismatch")
        self._host[...] = arr

    def _scalar(self):
        if self._host.size != 1:
            raise TypeError("only size-1 arrays can be converted to Python scalars")
        _synced()
        return self._host.reshape(()).item()

    def __float__(self):
        return float(self._scalar())

    def __int__(self):
        return int(self._scalar())

    def __complex__(self):
        return complex(self._scalar())

    def __bool__(self):
        if self._host.size != 1:
            raise ValueError("The truth value of an array with more than one element is ambiguous.")
        return bool(self._scalar())

    def item(self, *args):
        _synced()
        return self._host.item(*args)

    def tolist(self):
        _synced()
        return self._host.tolist()

    # -- indexing (rules 6, 8) ------------------------------------------------------------------------------
    def __getitem__(self, key):
        return to_device(self._host[host_index(key, self._host.shape)])

    def __setitem__(self, key, value):
        host_key = host_index(key, self._host.shape)
        if isinstance(value, ndarray):
            value = value._host
        elif is_host_array(value):
            whole = isinstance(key, slice) and key == slice(None)
            if not whole:
                raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
        elif isinstance(value, (list, tuple)):
            raise TypeError(f"Unsupported type {type(value)} in __setitem__ (the CuPy double)")
        self._host[host_key] = value

    def scatter_add(self, slices, value):
        """``a[slices] += value`` with repeated indices accumulated (as ``cupyx.scatter_add``)."""
        from .namespace import scatter_add

        scatter_add(self, slices, value)

    def __len__(self):
        return len(self._host)

    def __iter__(self):
        if self._host.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (to_device(row) for row in self._host)  # rows (or 0-d elements) stay on the device

    # -- attributes (rule 7) --------------------------------------------------------------------------------
    @property
    def shape(self):
        return self._host.shape

    @shape.setter
    def shape(self, value):
        self._host.shape = value

    def __getattr__(self, name):
        if name.startswith("__") or not names.has("cupy.ndarray", name):
            raise names.missing("cupy.ndarray", name)
        if name in NOT_MODELLED_ATTRIBUTES or not hasattr(np.ndarray, name):
            raise names.not_modelled(f"cupy.ndarray.{name}")
        value = getattr(self._host, name)
        if callable(value):
            return _device_method(value, f"ndarray.{name}")
        return to_device(value) if isinstance(value, np.ndarray) else value

    # -- the rest of Python's protocols ---------------------------------------------------------------------
    __hash__ = None

    def __repr__(self):
        return repr(self._host)

    def __str__(self):
        return str(self._host)

    def __format__(self, spec):
        return format(self._host, spec)

    def __copy__(self):
        return wrap(self._host.copy())

    def __deepcopy__(self, memo):
        return wrap(self._host.copy())

    def __reduce__(self):
        return (wrap, (self._host.copy(),))


def _device_method(method, where: str):
    def call(*args, **kwargs):
        args, kwargs = to_host(args, where), {k: to_host(v, where) for k, v in kwargs.items()}
        return to_device(method(*args, **kwargs))

    call.__name__ = where
    return call


# CuPy's array class prints as cupy.ndarray and lives in module "cupy" (backend.is_cupy_array looks at this).
ndarray.__module__ = "cupy"
ndarray.__qualname__ = "ndarray"
