"""Record the names the real CuPy has, for the double to allow and nothing more.

Run it with a Python that has CuPy installed (no GPU needed: ``import cupy`` works without one)::

    python -m venv /tmp/cupyvenv && /tmp/cupyvenv/bin/pip install cupy-cuda12x numpy
    /tmp/cupyvenv/bin/python tests/gpu_double/record_names.py > tests/gpu_double/cupy_names.json

It writes JSON: the CuPy and NumPy versions, then for each namespace the double stands in for, the sorted
``dir()`` of the real one; for ``cupy.random.Generator`` also each public method's signature, so the double's
generator takes the same arguments.
"""
from __future__ import annotations

import inspect
import json
import sys

import cupy
import cupyx
import cupyx.scipy
import numpy

NAMESPACES = {
    "cupy": cupy,
    "cupy.ndarray": cupy.ndarray,
    "cupy.random": cupy.random,
    "cupy.random.Generator": cupy.random.Generator,
    "cupy.linalg": cupy.linalg,
    "cupy.fft": cupy.fft,
    "cupy.cuda": cupy.cuda,
    "cupy.cuda.runtime": cupy.cuda.runtime,
    "cupy.cuda.Device": cupy.cuda.Device,
    "cupyx": cupyx,
    "cupyx.scipy": cupyx.scipy,
}


def signatures(cls) -> dict[str, str]:
    out = {}
    for name in dir(cls):
        if name.startswith("_"):
            continue
        try:
            out[name] = str(inspect.signature(getattr(cls, name)))
        except (TypeError, ValueError):
            continue
    return out


def main() -> None:
    record = {
        "cupy_version": cupy.__version__,
        "numpy_version": numpy.__version__,
        "recorded_with": "tests/gpu_double/record_names.py (dir() of each namespace, no GPU needed)",
        "names": {key: sorted(dir(obj)) for key, obj in NAMESPACES.items()},
        "generator_signatures": signatures(cupy.random.Generator),
    }
    json.dump(record, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
