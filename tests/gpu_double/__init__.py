"""A strict CuPy double for the tests: the GPU code path, run on every test run without a GPU.

``MINILINPATH_TEST_GPU=double python -m pytest -m gpu`` makes ``tests/conftest.py`` call :func:`install` before
the package looks for CuPy, so ``import cupy`` gives this double. It computes with NumPy underneath but keeps
CuPy's walls between host and device, and holds only the names the real CuPy has:

- ``array.py``: the array type and its rules (no implicit conversion, no mixing with NumPy arrays, explicit
  ``get``/``asnumpy``, Python scalars from size-1 arrays, CuPy's attributes only), each with its source;
- ``namespace.py``: the modules ``cupy``, ``cupy.random``, ``cupy.linalg``, ``cupy.fft``, ``cupy.cuda``,
  ``cupyx``, ``cupyx.scipy``, and the choices made where CuPy's behaviour needed looking up;
- ``names.py`` and ``cupy_names.json``: the names of real CuPy (version in the file), recorded by
  ``record_names.py``;
- ``test_double.py``: the double's own tests (they run on every test run, with or without the variable).

The double checks where data goes; it does not imitate cuBLAS's rounding, the speed of a GPU or its memory.
A real GPU remains the final word: ``benchmarks/gpu_check.sh`` and ``pytest -m gpu`` with CuPy and a device.
"""
from .names import CUPY_VERSION
from .namespace import install, modules

__all__ = ["CUPY_VERSION", "install", "modules"]
