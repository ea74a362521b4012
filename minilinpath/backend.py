"""Array backend: NumPy on the CPU, CuPy on a GPU, one code path.

This is the only module that imports CuPy. Everything else asks it for the
array module (``xp``) that matches its inputs, so a layer written once runs on
both devices.

Device selection, in order of precedence:

1. ``use("cpu" | "gpu")`` called by the program (the figures' ``--device`` flag);
2. the environment variable ``MINILINPATH_DEVICE``;
3. ``"cpu"``.

Asking for the GPU when CuPy or a CUDA device is missing raises
:class:`BackendError`; it never silently runs on the CPU.
"""
from __future__ import annotations

import os

import numpy as np

DEVICES = ("cpu", "gpu")
_selected: str | None = None


class BackendError(RuntimeError):
    """The requested device cannot be used."""


def _import_cupy():
    """Import CuPy and check that a CUDA device is visible; raise BackendError otherwise."""
    try:
        import cupy
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise BackendError(
            "device 'gpu' was requested but CuPy is not installed. Install it with "
            "`pip install \"minilinpath[gpu]\"` (or a cupy-cudaXXx wheel matching your CUDA), "
            "or run on the CPU with --device cpu / MINILINPATH_DEVICE=cpu."
        ) from exc
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDA driver missing or broken
        raise BackendError(
            f"device 'gpu' was requested but CUDA reports no usable device ({exc}). "
            "Run on the CPU with --device cpu / MINILINPATH_DEVICE=cpu."
        ) from exc
    if n < 1:
        raise BackendError("device 'gpu' was requested but CUDA sees 0 devices; use --device cpu.")
    return cupy


def _check_name(device: str) -> str:
    if device not in DEVICES:
        raise BackendError(f"unknown device {device!r}; choose one of {DEVICES}.")
    return device


def use(device: str) -> None:
    """Select the device for new arrays: ``"cpu"`` (NumPy) or ``"gpu"`` (CuPy)."""
    global _selected
    _check_name(device)
    if device == "gpu":
        _import_cupy()
    _selected = device


def current() -> str:
    """The selected device name (``use`` first, then ``MINILINPATH_DEVICE``, then ``"cpu"``)."""
    if _selected is not None:
        return _selected
    env = os.environ.get("MINILINPATH_DEVICE", "").strip().lower()
    if not env:
        return "cpu"
    try:
        _check_name(env)
    except BackendError as exc:
        raise BackendError(f"MINILINPATH_DEVICE={env!r}: {exc}") from None
    return env


def xp_for(device: str | None = None):
    """The array module for ``device`` (default: the selected one)."""
    device = _check_name(device or current())
    return _import_cupy() if device == "gpu" else np


def gpu_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    try:
        _import_cupy()
    except BackendError:
        return False
    return True


def is_cupy_array(a) -> bool:
    return type(a).__module__.split(".")[0] == "cupy"


def get_xp(*arrays):
    """The array module of the inputs: CuPy if any input is a CuPy array, else NumPy.

    Mixing devices is an error, because it would mean an implicit transfer.
    """
    kinds = {is_cupy_array(a) for a in arrays if a is not None and not np.isscalar(a)}
    if kinds == {True, False}:
        raise BackendError("inputs mix NumPy and CuPy arrays; move them to one device with backend.to_device.")
    if True in kinds:
        return _import_cupy()
    return np


def to_device(a, device: str | None = None, dtype=None):
    """Copy ``a`` (NumPy, CuPy or a list) to ``device``; no copy when already there with that dtype."""
    xp = xp_for(device)
    if xp is np and is_cupy_array(a):
        a = a.get()
    return xp.asarray(a, dtype=dtype)


def to_numpy(a) -> np.ndarray:
    """A NumPy array holding the values of ``a`` (transfers from the GPU if needed)."""
    return a.get() if is_cupy_array(a) else np.asarray(a)


def to_float(x) -> float:
    """A Python float from a 0-d array of either backend (one device sync on the GPU)."""
    return float(to_numpy(x))


def add_at(target, indices, values) -> None:
    """Scatter-add: ``target[indices] += values`` with repeated indices accumulated.

    Plain fancy-index ``+=`` drops repeats; this is what embedding and
    im2col backward passes need.
    """
    if is_cupy_array(target):
        import cupyx  # the CuPy extension package; only reached when CuPy is in use

        cupyx.scatter_add(target, indices, values)
    else:
        np.add.at(target, indices, values)


def rng(seed, xp=None):
    """A seeded random generator on the same device as ``xp`` (NumPy by default).

    ``seed`` may be an int or a sequence of ints (e.g. ``[seed, epoch]``), as
    for ``numpy.random.default_rng``. CuPy's generator takes a single int, so a
    sequence is first mixed into one with NumPy's SeedSequence.
    """
    if xp is None or xp is np:
        return np.random.default_rng(seed)
    mixed = int(np.random.SeedSequence(seed).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
    return xp.random.default_rng(mixed)
