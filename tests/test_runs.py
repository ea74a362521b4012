"""The run folder: fingerprints, the lock between processes, and checks of every file on reuse."""
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from minilinpath import io, train_lm
from minilinpath.models import MLP
from minilinpath.params import save_checkpoint
from minilinpath.runs import DamagedRunError, RunMismatchError, array_digest, fingerprint
from minilinpath.train import Recipe, describe_run, train
from minilinpath.trajfile import TrajectoryFile

from .test_train import RECIPE, setup

ROOT = Path(__file__).resolve().parents[1]


def quiet_train(folder, seed=0, data=None, **kwargs):
    model, train_set, valid_set = setup()
    if data is not None:
        train_set = data
    return train(model, train_set, valid_set, RECIPE, folder, seed=seed, progress=False, log=None, **kwargs)


@pytest.fixture
def finished(tmp_path):
    """A finished 6-epoch run, and the bytes of each of its files."""
    run = quiet_train(tmp_path / "run")
    return run, {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()}


# ---------------------------------------------------------------------------- fingerprints
def test_fingerprint_changes_with_everything_the_result_depends_on():
    model, train_set, valid_set = setup()
    base = describe_run(model, RECIPE, 0, train_set, valid_set)
    X, y = train_set
    one_pixel = X.copy()
    one_pixel[17, 3] += 1e-3
    other_label = y.copy()
    other_label[0] = (y[0] + 1) % 3
    variants = {
        "data content": describe_run(model, RECIPE, 0, (one_pixel, y), valid_set),
        "labels": describe_run(model, RECIPE, 0, (X, other_label), valid_set),
        "seed": describe_run(model, RECIPE, 1, train_set, valid_set),
        "recipe": describe_run(model, Recipe(batch_size=20, learning_rate=0.051, momentum=0.5, max_epochs=6,
                                             patience=None), 0, train_set, valid_set),
        "model": describe_run(MLP(n_in=10, hidden=(17,), activation="maxout", pieces=2, n_classes=3,
                                  init_ranges=(0.1, 0.1)), RECIPE, 0, train_set, valid_set),
        "objective": describe_run(model, RECIPE, 0, train_set, valid_set, objective_name="fgsm"),
        "dtype": describe_run(model, RECIPE, 0, train_set, valid_set, dtype=np.float64),
        "start": describe_run(model, RECIPE, 0, train_set, valid_set, theta_start=np.zeros(model.size)),
        "profile": describe_run(model, RECIPE, 0, train_set, valid_set, labels={"profile": "paper"}),
    }
    prints = {name: fingerprint(d) for name, d in variants.items()}
    assert fingerprint(base) not in prints.values()
    assert len(set(prints.values())) == len(prints)
    assert fingerprint(describe_run(model, RECIPE, 0, (X.copy(), y.copy()), valid_set)) == fingerprint(base)


def test_array_digest_sees_dtype_shape_and_every_byte():
    a = np.arange(12, dtype=np.float32)
    assert array_digest(a) == array_digest(a.copy())
    assert array_digest(a) != array_digest(a.reshape(3, 4))
    assert array_digest(a) != array_digest(a.astype(np.float64))
    b = a.copy()
    b.view(np.uint8)[5] ^= 1  # one bit
    assert array_digest(a) != array_digest(b)


def test_changed_data_is_another_run_never_a_reuse(tmp_path, finished):
    """The same folder with other data is refused and left untouched (experiments puts the fingerprint in the
    folder name, so there a change of data is a new folder: see test_bad_inputs)."""
    _, files = finished
    X, y = setup()[1]
    X = X.copy()
    X[0, 0] += 1.0
    with pytest.raises(RunMismatchError, match="data"):
        quiet_train(tmp_path / "run", data=(X, y))
    assert {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()} == files


# ---------------------------------------------------------------------------- damaged folders
def cut(path: Path, keep: float = 0.5):
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


def scramble(path: Path, offset: int = 0):
    data = bytearray(path.read_bytes())
    data[offset:offset + 64] = np.random.default_rng(0).integers(0, 256, 64, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("name, damage, message", [
    ("best.npz", cut, "not a readable checkpoint"),
    ("init.npz", cut, "not a readable checkpoint"),
    ("state.npz", cut, "not a readable checkpoint"),
    ("history.json", cut, "not readable JSON"),
    ("history.json", lambda p: p.write_text("[]"), "does not list epochs 0..6"),
    ("trajectory.bin", cut, "hold 3 rows, but the run recorded 7 epochs"),
    ("trajectory.bin", lambda p: scramble(p, 4 * 100), "row 0 does not match"),
    ("trajectory.bin", lambda p: p.unlink(), "hold 0 rows"),
    ("trajectory.json", cut, "missing or unreadable"),
    ("best.npz", lambda p: p.unlink(), "missing"),
])
def test_a_damaged_file_is_named_and_nothing_is_changed(tmp_path, finished, name, damage, message):
    damage(tmp_path / "run" / name)
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()}
    with pytest.raises(DamagedRunError, match=message) as info:
        quiet_train(tmp_path / "run")
    text = str(info.value)
    assert str(tmp_path / "run" / name) in text and "--retrain" in text and "\n" not in text
    after = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()}
    assert after == before  # never grown, padded or rewritten


def test_a_valid_checkpoint_of_another_epoch_is_damage(tmp_path, finished):
    """A checkpoint swapped for another readable one of the same model is caught by the trajectory's digests."""
    run, _ = finished
    folder = tmp_path / "run"
    (folder / "init.npz").write_bytes((folder / "state.npz").read_bytes())
    with pytest.raises(DamagedRunError, match="init.npz: does not hold the parameters of epoch 0"):
        quiet_train(folder)
    shutil.rmtree(folder)
    run = quiet_train(folder)
    assert run.best_epoch > 0
    model = setup()[0]
    save_checkpoint(folder / "best.npz", run.theta_init, model.layout, {"epoch": run.best_epoch}, overwrite=True)
    with pytest.raises(DamagedRunError, match=f"best.npz: does not hold the parameters of epoch {run.best_epoch}"):
        quiet_train(folder)
    save_checkpoint(folder / "best.npz", run.theta_best, model.layout, {"epoch": run.best_epoch + 1}, overwrite=True)
    with pytest.raises(DamagedRunError, match=f"best.npz: holds epoch {run.best_epoch + 1}"):
        quiet_train(folder)


def test_a_started_folder_without_run_json_is_never_taken_over(tmp_path, finished):
    (tmp_path / "run" / "run.json").unlink()
    state = (tmp_path / "run" / "state.npz").read_bytes()
    with pytest.raises(DamagedRunError, match="run.json: missing, while the folder holds other files"):
        quiet_train(tmp_path / "run", seed=1)
    assert not (tmp_path / "run" / "run.json").exists() and (tmp_path / "run" / "state.npz").read_bytes() == state


def test_temporary_files_of_a_killed_writer_are_removed(tmp_path, finished):
    stale = tmp_path / "run" / ".best.npz.x8f2k1.tmp"
    stale.write_bytes(b"half a checkpoint")
    quiet_train(tmp_path / "run")
    assert not stale.exists()


def test_the_trajectory_a_run_returns_survives_a_retrain_by_another_caller(tmp_path, finished):
    run, _ = finished
    rows = run.trajectory_rows()
    expected = np.array(rows)
    quiet_train(tmp_path / "run", retrain=True)  # moves the folder aside and writes a new trajectory
    np.testing.assert_array_equal(rows, expected)


def test_a_truncated_run_json_is_damage(tmp_path, finished):
    cut(tmp_path / "run" / "run.json")
    with pytest.raises(DamagedRunError, match="run.json: not readable JSON"):
        quiet_train(tmp_path / "run")


def test_retrain_moves_the_damaged_folder_aside_and_trains_again(tmp_path, finished):
    run, files = finished
    cut(tmp_path / "run" / "trajectory.bin")
    again = quiet_train(tmp_path / "run", retrain=True)
    np.testing.assert_array_equal(again.theta_last, run.theta_last)
    assert len(TrajectoryFile(tmp_path / "run" / "trajectory")) == 7
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("run.replaced-")]
    assert len(aside) == 1 and (aside[0] / "state.npz").read_bytes() == files["state.npz"]


def test_rows_of_an_unfinished_epoch_are_cut_never_padded(tmp_path):
    """An interruption after an epoch's trajectory row but before its state leaves one row too many."""
    model = setup()[0]
    full = quiet_train(tmp_path / "full")
    quiet_train(tmp_path / "cut")
    store = TrajectoryFile(tmp_path / "cut" / "trajectory")
    store.append(np.ones(model.size))  # as if epoch 7 wrote its row and was interrupted
    resumed = quiet_train(tmp_path / "cut")
    assert len(TrajectoryFile(tmp_path / "cut" / "trajectory")) == 7
    np.testing.assert_array_equal(resumed.theta_last, full.theta_last)
    with pytest.raises(ValueError, match="never padded"):
        store.truncate(8)


# ---------------------------------------------------------------------------- two processes, one run
SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from tests.test_runs import quiet_train
    run = quiet_train(sys.argv[1])
    print(run.best_epoch, flush=True)
""")


def test_two_processes_training_one_run_give_the_numbers_of_a_lone_run(tmp_path):
    lone = quiet_train(tmp_path / "lone")
    script = tmp_path / "train_one.py"
    script.write_text(SCRIPT.format(root=str(ROOT)))
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, str(script), str(tmp_path / "shared")], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(3)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    rows = TrajectoryFile(tmp_path / "shared" / "trajectory").rows()
    np.testing.assert_array_equal(rows, TrajectoryFile(tmp_path / "lone" / "trajectory").rows())
    assert [h["valid_error"] for h in json.loads((tmp_path / "shared" / "history.json").read_text())] == \
        [h["valid_error"] for h in lone.history]
    assert {out.strip() for out, _ in outputs} == {str(lone.best_epoch)}


# ---------------------------------------------------------------------------- the language model trainer
def test_language_model_result_keeps_nll_apart_from_error(tmp_path):
    from minilinpath import models

    model = models.get("ptb_small", vocab_size=30, hidden=8, layers=1, steps=5)
    stream = np.random.default_rng(0).integers(0, 30, size=(4, 60))
    recipe = train_lm.LMRecipe(4, 1.0, 2.0, 1, 2, 5.0)
    result = train_lm.train_language_model(model, stream, stream[:, :30], recipe, tmp_path / "lm", progress=False,
                                           log=None)
    assert result.best_valid_error is None
    assert result.best_valid_nll == min(h["valid_nll"] for h in result.history)
    cut(tmp_path / "lm" / "trajectory.bin", 0.6)
    with pytest.raises(DamagedRunError, match="trajectory.bin"):
        train_lm.train_language_model(model, stream, stream[:, :30], recipe, tmp_path / "lm", progress=False, log=None)


def test_atomic_write_leaves_no_temporary_file_and_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "x.json"
    io.write_json(target, {"a": 1})

    def fails(f):
        f.write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        io.atomic_write(target, fails, binary=False)
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]
