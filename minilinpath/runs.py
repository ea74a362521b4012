"""A run folder: one training run on disk, locked while in use, identified by a fingerprint, checked on reuse.

Both trainers (:mod:`minilinpath.train` and :mod:`minilinpath.train_lm`) keep
their runs through :class:`RunFolder`. A run folder holds::

    run.json          what the run depends on (the *description*) and its fingerprint
    init.npz          theta at initialisation
    best.npz          theta of the best validation epoch so far
    state.npz         the state after the last finished epoch: theta, optimiser arrays, counters
    history.json      one entry per epoch, row 0 = initial point; each holds the digest of its trajectory row
    trajectory.bin    theta after every epoch (+ trajectory.json, its header)

Three promises:

* **Locked.** The folder is locked (``filelock``, lock file ``.<folder>.lock`` beside it) from opening to
  closing. A second process asking for the same run *waits*, says so once, and then resumes or reuses what
  the first one finished; two processes never write one folder.
* **Fingerprinted.** The description holds everything the result depends on: a hash of the data's content,
  the model settings and layout, the recipe, the objective, the seed, the start point, the dtypes, the device,
  and labels such as the data set name and profile. ``fingerprint(description)`` is its SHA-256; callers
  that cache runs (``minilinpath.experiments``) put it in the folder's name, so a change in anything is a new
  run, never a reuse. A folder whose ``run.json`` describes another run is refused (:class:`RunMismatchError`).
* **Checked.** Before a folder is resumed or reused, every file is read back: JSON parses, checkpoints load with
  the model's layout, the history covers the recorded epochs, the trajectory has exactly one row per recorded
  epoch (rows past the last finished epoch, left by an interruption, are cut away; a missing row is damage)
  and each row matches the digest the history recorded. Any problem is :class:`DamagedRunError`, naming the
  file and what to do. No file is ever grown or padded.

The order of writes at the end of an epoch makes ``state.npz`` the commit point: best checkpoint, trajectory
row, history, then state. An interruption anywhere leaves a folder that resumes at the last committed epoch.
"""
from __future__ import annotations

import hashlib
import json
import shlex
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import filelock
import numpy as np

from . import backend, io
from .params import Layout, LayoutMismatchError, load_checkpoint, save_checkpoint
from .trajfile import TrajectoryFile

RUN_FORMAT = 2  # bump when the files of a run folder change meaning


class RunMismatchError(ValueError):
    """A run folder holds a different run than the one requested."""


class DamagedRunError(RuntimeError):
    """A file of a run folder is missing, truncated or inconsistent with the others."""


def array_digest(a) -> str:
    """SHA-256 of an array's dtype, shape and bytes (C order): a data set's content in 64 hex digits."""
    a = np.ascontiguousarray(backend.to_numpy(a))
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.data)  # the buffer itself: no copy
    return h.hexdigest()


def data_description(**arrays) -> dict:
    """``{name: {"shape", "dtype", "sha256"}}`` for the arrays a run trains and validates on."""
    return {name: {"shape": list(a.shape), "dtype": str(a.dtype), "sha256": array_digest(a)}
            for name, a in arrays.items()}


def fingerprint(description: dict) -> str:
    """SHA-256 of the description as canonical JSON (sorted keys): equal descriptions, equal fingerprints."""
    canonical = json.dumps(description, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def row_digest(row: np.ndarray) -> str:
    """The digest of one trajectory row as stored (its dtype's bytes)."""
    return hashlib.blake2b(np.ascontiguousarray(row).data, digest_size=16).hexdigest()


@dataclass
class ResumePoint:
    """What a finished or interrupted run left: theta after its last epoch and everything to continue."""
    theta: object
    theta_init: object
    arrays: dict      # the optimiser's extra arrays saved with the state (e.g. the momentum velocity)
    meta: dict        # the trainer's counters, including "epoch"
    history: list


class RunFolder:
    """The owner of one run folder (see the module docstring). Use it as a context manager::

        with RunFolder(run_dir, description, model.layout, log=print) as folder:
            if folder.started:
                point = folder.resume(xp)           # verified, or DamagedRunError
            else:
                folder.begin(theta, first_entry, meta, velocity=v)
            ...
            folder.end_epoch(theta, history, meta, new_best=True, velocity=v)
    """

    def __init__(self, path, description: dict, layout: Layout, trajectory_dtype: str = "float32",
                 retrain: bool = False, log=print):
        self.path = Path(path)
        self.description = json.loads(json.dumps(description))  # as it reads back from JSON (tuples -> lists)
        self.fingerprint = fingerprint(self.description)
        self.layout = layout
        self.trajectory_dtype = trajectory_dtype
        self.retrain = retrain
        self.log = log or (lambda *a, **k: None)
        self.lock = filelock.FileLock(self.path.parent / f".{self.path.name}.lock")
        self.trajectory: TrajectoryFile | None = None

    # ------------------------------------------------------------------ files
    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def started(self) -> bool:
        """True once the initial point is committed (``state.npz`` exists)."""
        return self.file("state.npz").exists()

    def damaged(self, name: str, what: str) -> DamagedRunError:
        folder = shlex.quote(str(self.path))
        return DamagedRunError(f"{self.file(name)}: {what}. The run folder is damaged: rerun with --retrain "
                               f"(train(..., retrain=True)) to move it aside and train again, or delete it "
                               f"(rm -r {folder}).")

    # ------------------------------------------------------------------ locking and claiming
    def __enter__(self) -> "RunFolder":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.lock.acquire(timeout=0)
        except filelock.Timeout:
            self.log(f"{self.path}: another process is using this run; waiting for it (lock {self.lock.lock_file}).")
            self.lock.acquire()
        try:
            if self.retrain:
                self._move_aside()
            self.path.mkdir(parents=True, exist_ok=True)
            self._claim()
        except BaseException:
            self.lock.release()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.lock.release()

    def _move_aside(self) -> None:
        if self.path.exists() and any(self.path.iterdir()):
            aside = self.path.with_name(f"{self.path.name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 10**9}")
            self.path.rename(aside)
            self.log(f"{self.path}: moved the old run to {aside} (--retrain); training afresh.")

    def _claim(self) -> None:
        """Write ``run.json`` into a new folder, or check that the folder's ``run.json`` describes this run.

        A folder that holds files but no ``run.json`` is never taken over: its files belong to a run that
        cannot be told (DamagedRunError). Temporary files left by a killed writer are removed (the lock is ours).
        """
        for stale in self.path.glob(".*.tmp"):
            stale.unlink(missing_ok=True)
        run_json = self.file("run.json")
        if not run_json.exists() and any(p.name != "run.json" for p in self.path.iterdir()):
            raise self.damaged("run.json", "missing, while the folder holds other files of a run")
        if not run_json.exists():
            io.write_json(run_json, {"format": RUN_FORMAT, "fingerprint": self.fingerprint,
                                     "description": self.description})
            return
        saved = self._read_json("run.json")
        if not isinstance(saved, dict) or "description" not in saved:
            raise RunMismatchError(f"{self.path} holds files of another program or an older minilinpath "
                                   f"(its run.json has no description); choose another run folder. Nothing there "
                                   "was changed.")
        if saved["description"] != self.description:
            other = saved["description"]
            keys = sorted(set(self.description) | set(other))
            diff = [k for k in keys if other.get(k) != self.description.get(k)]
            raise RunMismatchError(f"{self.path} already holds a different run (differs in: {', '.join(diff)}). "
                                   "Choose another run folder; nothing there was changed.")

    def _read_json(self, name: str):
        try:
            return json.loads(self.file(name).read_text())
        except FileNotFoundError:
            raise self.damaged(name, "missing") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise self.damaged(name, f"not readable JSON ({exc})") from None

    def _load(self, name: str, xp):
        """``(theta, meta, arrays)`` of a checkpoint, checked against the layout."""
        path = self.file(name)
        if not path.exists():
            raise self.damaged(name, "missing")
        try:
            theta, _, meta = load_checkpoint(path, self.layout, xp=xp)
            with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as f:
                arrays = {k: f[k] for k in f.files if k not in ("theta", "layout", "meta")}
        except (LayoutMismatchError, zipfile.BadZipFile, OSError, ValueError, KeyError, EOFError) as exc:
            raise self.damaged(name, f"not a readable checkpoint of this model ({str(exc).splitlines()[0]})") from None
        if not bool(np.isfinite(backend.to_numpy(theta)).all()):
            raise self.damaged(name, "holds NaN or infinite parameters")
        return theta, meta, arrays

    def _open_trajectory(self, create: bool) -> TrajectoryFile:
        if create:
            return TrajectoryFile.create(self.path / "trajectory", self.layout.size, self.trajectory_dtype)
        try:
            store = TrajectoryFile(self.path / "trajectory")
        except (FileNotFoundError, ValueError, KeyError, TypeError) as exc:
            raise self.damaged("trajectory.json", f"missing or unreadable ({exc})") from None
        if store.n_params != self.layout.size or store.dtype.name != self.trajectory_dtype:
            raise self.damaged("trajectory.json", f"rows of {store.n_params} {store.dtype.name} values, expected "
                                                  f"{self.layout.size} {self.trajectory_dtype}")
        return store

    # ------------------------------------------------------------------ starting, resuming, recording
    def begin(self, theta_init, first_entry: dict, meta: dict, **arrays) -> list:
        """Commit epoch 0: ``init.npz``, ``best.npz``, trajectory row 0, history, state. Returns the history."""
        save_checkpoint(self.file("init.npz"), theta_init, self.layout, {"fingerprint": self.fingerprint},
                        overwrite=True)
        self.trajectory = self._open_trajectory(create=True)
        history = [dict(first_entry)]
        self.end_epoch(theta_init, history, meta, new_best=True, **arrays)
        return history

    def end_epoch(self, theta, history: list, meta: dict, new_best: bool = False, **arrays) -> None:
        """Commit the epoch ``meta["epoch"]``: best checkpoint, trajectory row, history, then the state."""
        epoch = meta["epoch"]
        if new_best:
            save_checkpoint(self.file("best.npz"), theta, self.layout, {"epoch": epoch}, overwrite=True)
        row = self.trajectory.append(theta)
        history[-1]["theta_digest"] = row_digest(row)
        io.write_json(self.file("history.json"), history)
        io.write_npz(self.file("state.npz"), theta=backend.to_numpy(theta),
                     layout=np.array(json.dumps(self.layout.table())), meta=np.array(json.dumps(meta)),
                     **{k: backend.to_numpy(v) for k, v in arrays.items()})

    def resume(self, xp=np) -> ResumePoint:
        """Read back and check every file of a started run; cut trajectory rows past its last epoch."""
        theta, meta, arrays = self._load("state.npz", xp)
        epoch = meta.get("epoch")
        if not isinstance(epoch, int) or epoch < 0:
            raise self.damaged("state.npz", f"its epoch counter {epoch!r} is not a count")
        theta_init, _, _ = self._load("init.npz", xp)
        theta_best, best_meta, _ = self._load("best.npz", xp)
        history = self._read_json("history.json")
        if not isinstance(history, list) or len(history) < epoch + 1 or \
                not all(isinstance(h, dict) and h.get("epoch") == i for i, h in enumerate(history[:epoch + 1])):
            raise self.damaged("history.json", f"does not list epochs 0..{epoch} that state.npz records")
        history = history[:epoch + 1]
        self.trajectory = self._open_trajectory(create=False)
        self._check_trajectory(history, theta)
        self._check_against_trajectory("init.npz", theta_init, history, 0)
        best_epoch = best_meta.get("epoch")
        if best_epoch == meta.get("best_epoch"):
            self._check_against_trajectory("best.npz", theta_best, history, best_epoch)
        elif meta.get("stopped") or best_epoch != epoch + 1:  # epoch + 1: written just before an interruption
            raise self.damaged("best.npz", f"holds epoch {best_epoch}, but the run's best epoch is "
                                           f"{meta.get('best_epoch')}")
        return ResumePoint(theta, theta_init, {k: xp.asarray(v) for k, v in arrays.items()}, meta, history)

    def _check_trajectory(self, history: list, theta) -> None:
        rows_needed = len(history)
        store = self.trajectory
        if len(store) < rows_needed:
            raise self.damaged("trajectory.bin", f"{store.bin_path.stat().st_size if store.bin_path.exists() else 0} "
                                                 f"bytes hold {len(store)} rows, but the run recorded {rows_needed} "
                                                 f"epochs of {store.n_params} parameters")
        if len(store) > rows_needed or store.bin_path.stat().st_size != rows_needed * store.row_bytes:
            store.truncate(rows_needed)  # rows of an epoch that was interrupted before its state was saved
        rows = store.rows()
        for epoch, entry in enumerate(history):
            if entry.get("theta_digest") != row_digest(rows[epoch]):
                raise self.damaged("trajectory.bin", f"row {epoch} does not match the digest history.json "
                                                     "recorded for it (the file was changed or corrupted)")
        last = backend.to_numpy(theta).astype(store.dtype)
        if not np.array_equal(rows[-1], last):
            raise self.damaged("trajectory.bin", "its last row is not the parameters state.npz holds")

    def _check_against_trajectory(self, name: str, theta, history: list, epoch) -> None:
        """A checkpoint must hold the parameters the trajectory recorded at its epoch (same digest)."""
        if not isinstance(epoch, int) or not 0 <= epoch < len(history):
            raise self.damaged(name, f"names epoch {epoch!r}, which the run did not record")
        row = backend.to_numpy(theta).astype(self.trajectory.dtype)
        if row_digest(row) != history[epoch].get("theta_digest"):
            raise self.damaged(name, f"does not hold the parameters of epoch {epoch} that trajectory.bin recorded")

    def load_best(self, xp=np):
        return self._load("best.npz", xp)[0]
