"""The names the real CuPy has, read from ``cupy_names.json`` (written by ``record_names.py``).

The double allows a name only when the real CuPy of :data:`CUPY_VERSION` has it, so code that runs on the double
does not call a function CuPy lacks. Asking for any other name raises :class:`AttributeError` with this message.
"""
from __future__ import annotations

import json
from pathlib import Path

RECORD_FILE = Path(__file__).with_name("cupy_names.json")
_RECORD = json.loads(RECORD_FILE.read_text())

CUPY_VERSION: str = _RECORD["cupy_version"]
NAMES: dict[str, frozenset[str]] = {key: frozenset(names) for key, names in _RECORD["names"].items()}
GENERATOR_SIGNATURES: dict[str, str] = _RECORD["generator_signatures"]


def has(namespace: str, name: str) -> bool:
    """True when the real ``namespace`` (e.g. ``"cupy.linalg"``) of CuPy CUPY_VERSION has ``name``."""
    return name in NAMES[namespace]


def missing(namespace: str, name: str) -> AttributeError:
    """The error for a name the real CuPy does not have (loud, with where the list came from)."""
    return AttributeError(
        f"{namespace} has no attribute {name!r}: CuPy {CUPY_VERSION} does not have it "
        f"(the CuPy double allows only the names recorded in tests/gpu_double/{RECORD_FILE.name}), "
        "so this code would fail on a real GPU.")


def not_modelled(qualified_name: str) -> NotImplementedError:
    """The error for a name CuPy has but the double does not imitate yet."""
    return NotImplementedError(
        f"{qualified_name} exists in CuPy {CUPY_VERSION} but the CuPy double does not imitate it; "
        "add it to tests/gpu_double (with its test) if the package needs it.")
