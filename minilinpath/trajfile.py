"""A trajectory on disk: one flat parameter vector per row, appended as training goes.

Stored as raw little-endian values in ``<name>.bin`` with a small JSON header
``<name>.json`` (number of parameters and dtype). Rows are read back through a
memory map, so a trajectory larger than memory can be streamed row by row.
``float16`` halves the size when plots are all that is needed; ``float32`` (the
default) keeps the training precision.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from . import backend, io

DTYPES = ("float16", "float32", "float64")


class TrajectoryFile:
    """Append-only store of parameter vectors of one length."""

    def __init__(self, path, n_params: int | None = None, dtype: str = "float32"):
        self.path = Path(path)
        self.bin_path = self.path.with_suffix(".bin")
        self.header_path = self.path.with_suffix(".json")
        if self.header_path.exists():
            header = json.loads(self.header_path.read_text())
            if n_params is not None and (header["n_params"] != n_params or header["dtype"] != dtype):
                raise ValueError(f"{self.header_path} holds {header['n_params']} {header['dtype']} values per row, "
                                 f"not {n_params} {dtype}; it belongs to another run.")
            self.n_params, self.dtype = header["n_params"], np.dtype(header["dtype"])
        else:
            if n_params is None:
                raise FileNotFoundError(f"no trajectory at {self.header_path}.")
            if dtype not in DTYPES:
                raise ValueError(f"trajectory dtype must be one of {DTYPES}, got {dtype!r}.")
            self.n_params, self.dtype = int(n_params), np.dtype(dtype)
            io.write_json(self.header_path, {"n_params": self.n_params, "dtype": self.dtype.name})
            self.bin_path.touch()

    @classmethod
    def create(cls, path, n_params: int, dtype: str = "float32") -> "TrajectoryFile":
        """A new, empty trajectory at ``path`` (an old one there is replaced)."""
        path = Path(path)
        path.with_suffix(".json").unlink(missing_ok=True)
        path.with_suffix(".bin").unlink(missing_ok=True)
        return cls(path, n_params, dtype)

    @property
    def row_bytes(self) -> int:
        return self.n_params * self.dtype.itemsize

    def __len__(self) -> int:
        return self.bin_path.stat().st_size // self.row_bytes if self.bin_path.exists() else 0

    def append(self, theta) -> np.ndarray:
        """Write ``theta`` as the next row; return the row as stored (in the file's dtype)."""
        row = backend.to_numpy(theta).astype(self.dtype, copy=False)
        if row.shape != (self.n_params,):
            raise ValueError(f"trajectory rows have {self.n_params} values, got shape {row.shape}.")
        with open(self.bin_path, "ab") as f:
            f.write(row.tobytes())
            f.flush()
            os.fsync(f.fileno())
        return row

    def truncate(self, n_rows: int) -> None:
        """Keep the first ``n_rows`` rows (used when a run resumes from an earlier epoch).

        Only ever shortens the file: asking for more rows than it holds is an
        error, never zero padding.
        """
        if n_rows > len(self):
            raise ValueError(f"{self.bin_path} holds {len(self)} rows; cannot keep {n_rows} (it is never padded).")
        with open(self.bin_path, "r+b") as f:
            f.truncate(n_rows * self.row_bytes)

    def rows(self) -> np.ndarray:
        """All rows as a read-only memory map of shape (n_rows, n_params)."""
        n = len(self)
        if n == 0:
            return np.empty((0, self.n_params), dtype=self.dtype)
        return np.memmap(self.bin_path, dtype=self.dtype, mode="r", shape=(n, self.n_params))
