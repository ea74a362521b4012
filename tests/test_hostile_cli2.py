"""Issue 25, a hostile user: every option that sizes work has an upper bound checked before anything starts, and
each unclear case is one line naming the real cause (exit status 2), with nothing lost; a closed stdout ends
quietly."""
import errno
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from minilinpath.cli import main
from minilinpath.contract import ContractError
from minilinpath.data import DataError, load_dataset
from minilinpath.models import MLP
from minilinpath.path import linear_path
from minilinpath.study import SpecError, StudySpec, make_executor, run_study
from minilinpath.study.executors import ExecutorError, max_local_workers

from .conftest import ROOT, write_blobs_npz


def status(argv) -> int:
    """The exit status of ``minilinpath ARGV`` (argparse's own errors end in SystemExit(2))."""
    try:
        return main(argv)
    except SystemExit as stop:
        return stop.code


def one_line_error(capsys, *fragments):
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err, err
    return err


@pytest.fixture
def blobs(tmp_path):
    return f"npz:{write_blobs_npz(tmp_path / 'blobs.npz', dim=6, seed=1, n_train=60, n_valid=20)}"


# ------------------------------------------------------------------ 4. upper bounds, before anything starts
@pytest.mark.parametrize("argv, fragment", [
    (["study", "--alphas", "100000000"], "--alphas: must be <= 10,001"),       # grew past 5.7 GB, printing nothing
    (["study", "--epochs", "1000000"], "--epochs: must be <= 10,000"),
    (["study", "--width", "100000"], "--width: must be <= 8,192"),
    (["study", "--depth", "1000"], "--depth: must be <= 16"),
    (["study", "--seeds", "1000000000"], "--seeds: must be <= 100,000"),
    (["fig11", "--max-dim", "1000000000000"], "--max-dim: must be <= 1,000,000"),  # quietly stopped at 10^6
    (["curvature", "--points", "10000000"], "--points: alpha = 1e+07 is too far"),  # a RuntimeWarning and a nan
    (["curvature", "--points", ",".join(["0.5"] * 101)], "--points: 101 points, more than 100"),
    (["curvature", "--alphas", "100000000"], "--alphas: must be <= 10,001"),
    (["curvature", "--trace-samples", "100000000"], "--trace-samples: must be <= 10,000"),
    (["curve", "--curve-epochs", "100000000"], "--curve-epochs: must be <= 10,000"),
    (["instability", "--epochs", "100000000"], "--epochs: must be <= 10,000"),
    (["plane", "--block-rows", "100000000"], "--block-rows: must be <= 1,001"),
    (["fig1", "--chunk-size", "100000000000"], "--chunk-size: must be <= 1,000,000"),
])
def test_an_option_past_its_bound_is_refused_at_once(argv, fragment, tmp_path, capsys):
    started = time.perf_counter()
    assert status(argv + ["--out", str(tmp_path / "out"), "--runs-dir", str(tmp_path / "runs")]
                  if argv[0] not in ("fig11",) else argv + ["--out", str(tmp_path / "out")]) == 2
    assert time.perf_counter() - started < 10
    one_line_error(capsys, fragment)
    assert not (tmp_path / "out").exists() and not (tmp_path / "runs").exists()


def test_too_many_workers_is_one_line_at_once_not_a_hang(tmp_path, capsys, blobs):
    """study --workers 10000 hung with thousands of 'Too many open files' lines."""
    started = time.perf_counter()
    assert main(["study", "--workers", "10000", "--dataset", blobs, "--runs-dir", str(tmp_path / "runs"),
                 "--out", str(tmp_path / "out")]) == 2
    assert time.perf_counter() - started < 10
    one_line_error(capsys, "10,000 workers is more than this machine can run at once",
                   f"at most {max_local_workers()}")
    with pytest.raises(ExecutorError, match="more than this machine can run"):
        make_executor("dask", n_workers=10_000)
    assert main(["plane", "--workers", "10000", "--out", str(tmp_path / "out")]) == 2
    one_line_error(capsys, "10,000 workers")


def test_a_spec_file_past_a_bound_is_one_line():
    for values, fragment in [({"alphas": 100_000_000}, "alphas = 100,000,000 is more than 10,001"),
                             ({"epochs": 10**6}, "epochs = 1,000,000 is more than 10,000"),
                             ({"width": [16, 100_000]}, "width = 100,000 is more than 8,192")]:
        with pytest.raises(SpecError, match=fragment):
            StudySpec.from_dict(values)


# ------------------------------------------------------------------ 5. the unclear cases, each named
def test_a_string_where_the_dataset_list_belongs_names_the_list(tmp_path):
    """StudySpec(dataset="npz:...") said 'p and p hold the same data' (the string's letters taken as names)."""
    with pytest.raises(SpecError, match=r"dataset: give a list of values, e.g. dataset=\['npz:"):
        run_study(StudySpec(dataset=f"npz:{tmp_path / 'data.npz'}"), executor="local", runs_dir=tmp_path, log=None)


def test_a_huge_label_names_the_label_not_memory(tmp_path, capsys):
    """A label of 1e9 ended in MemoryError (a softmax of a billion classes)."""
    path = tmp_path / "labels.npz"
    X = np.random.default_rng(0).random((20, 4)).astype(np.float32)
    y = np.arange(20) % 3
    y[7] = 10**9
    np.savez(path, X_train=X, y_train=y, X_valid=X[:5], y_valid=y[:5] % 3)
    with pytest.raises(DataError, match=r"y_train holds the label 1,000,000,000.*below 100,000"):
        load_dataset(f"npz:{path}")
    assert main(["study", "--executor", "local", "--dataset", f"npz:{path}", "--runs-dir", str(tmp_path / "runs"),
                 "--out", str(tmp_path / "out")]) == 2
    one_line_error(capsys, "y_train holds the label 1,000,000,000")


class StringLoss:
    """A model of the user's own whose loss returns a string."""

    def __init__(self):
        self.inner = MLP(n_in=4, hidden=(3,), activation="relu", n_classes=3, init_ranges=(0.5, 0.5))
        self.layout = self.inner.layout

    def loss(self, theta, batch):
        return "0.5"

    def loss_and_grad(self, theta, batch, rng=None):
        return "0.5", np.zeros_like(theta)


def test_a_loss_that_returns_a_string_is_a_contract_error_naming_the_type():
    """It gave NumPy's UFuncTypeError (or an array of strings as J)."""
    model = StringLoss()
    rng = np.random.default_rng(0)
    batch = rng.standard_normal((7, 4)), rng.integers(0, 3, 7)
    theta0, theta1 = model.inner.init(0, dtype=np.float64), model.inner.init(1, dtype=np.float64)
    with pytest.raises(ContractError, match=r"StringLoss\.loss returned a str \('0\.5'\); it must return one real"):
        linear_path(model, theta0, theta1, batch, [0.0, 1.0], progress=False)


def test_a_loss_that_returns_a_number_or_a_0d_array_is_kept_as_it_is():
    from minilinpath.contract import checked_loss
    for value in (1, 0.5, np.float32(0.25), np.float64(2.0), np.array(3.0)):
        assert checked_loss(value, object()) is value
    for value in ([0.5], np.array([1.0, 2.0]), None, True):
        with pytest.raises(ContractError, match="returned a"):
            checked_loss(value, object())


def test_a_full_run_cache_is_named_as_the_run_cache_not_the_output_folder(tmp_path, capsys, monkeypatch):
    """Every disk error from the runs folder was reported as 'could not write the results into <--out>'."""
    runs, out = tmp_path / "runs", tmp_path / "out"
    real = tempfile.mkstemp

    def full_in_the_run_cache(suffix=None, prefix=None, dir=None, text=False):
        fd, name = real(suffix=suffix, prefix=prefix, dir=dir, text=text)
        if dir is not None and runs in Path(dir).parents:  # every write into a run folder meets a full disk
            os.close(fd)
            fd = os.open("/dev/full", os.O_WRONLY)
        return fd, name

    monkeypatch.setattr(tempfile, "mkstemp", full_in_the_run_cache)
    rng = np.random.default_rng(2)
    data = tmp_path / "digits.npz"
    np.savez(data, X_train=rng.random((60, 784), dtype=np.float32), y_train=np.arange(60) % 10,
             X_valid=rng.random((20, 784), dtype=np.float32), y_valid=np.arange(20) % 10)
    assert main(["fig2", "--dataset", f"npz:{data}", "--runs-dir", str(runs), "--out", str(out)]) == 2
    one_line_error(capsys, f"could not write into the run cache {runs}", "No space left on device")
    assert not out.exists() or not any(out.glob("fig2.*"))
    assert main(["study", "--executor", "local", "--width", "4", "--epochs", "1", "--dataset", f"npz:{data}",
                 "--runs-dir", str(runs), "--out", str(out)]) == 2  # a study's task: the same cause, named
    one_line_error(capsys, f"OSError: could not write into the run cache {runs}", "No space left on device")
    from minilinpath.figures import common
    error = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(runs / "npz-1" / "run" / "state.npz"))
    line = common.disk_error(error, out, runs)
    assert line.startswith(f"could not write into the run cache {runs} (No space left on device")
    line = common.disk_error(OSError(errno.EROFS, "Read-only file system", str(out / "x.png")), out, runs)
    assert line.startswith(f"could not write the results into {out} (Read-only file system")


def test_a_closed_stdout_ends_quietly(tmp_path):
    """``minilinpath fig9 | head -1``: the reader has gone before the report is printed. It ended in a traceback
    (or, for a study, in 'could not write the results'); now quietly, with 141 (128 + SIGPIPE) or 0. Either the
    command had written its files (fig9 prints after writing them) or it stopped before writing any (the study
    prints as it starts), as a command killed by the closed pipe would: nothing half-written."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT)] + [os.environ.get("PYTHONPATH", "")])}
    for argv in (["fig9"], ["study", "--executor", "local", "--width", "4", "--epochs", "1", "--alphas", "5",
                            "--dataset", f"npz:{write_blobs_npz(tmp_path / 'b.npz', 6, 1, 60, 20)}",
                            "--runs-dir", str(tmp_path / "runs")]):
        process = subprocess.Popen([sys.executable, "-m", "minilinpath", *argv, "--out", str(tmp_path / argv[0])],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path)
        process.stdout.close()  # as head does once it has its line
        err = process.stderr.read().decode()
        process.stderr.close()
        code = process.wait(timeout=300)
        assert code in (0, 141) and "Traceback" not in err and "error" not in err.lower(), (code, err)
        written = sorted(p.name for p in (tmp_path / argv[0]).glob(f"{argv[0]}.*"))
        assert written in ([], [f"{argv[0]}.{ext}" for ext in sorted(("json", "npz", "png", "csv")[:3 + (
            argv[0] == "study")])]), written
    assert code == 141  # (the study stopped at its first line)


def test_two_identical_studies_started_together_train_each_run_once(tmp_path, blobs):
    """Both said 'trained 4' although one waited for the other's runs and reused them: now each run is trained and
    swept by one of the two and reused by the other (the counts add up to the number of runs), and both tables
    are the same."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT)] + [os.environ.get("PYTHONPATH", "")]),
           "OPENBLAS_NUM_THREADS": "1"}
    argv = ["study", "--executor", "local", "--activation", "relu", "sigmoid", "--width", "8", "--seeds", "2",
            "--epochs", "30", "--alphas", "5", "--dataset", blobs, "--runs-dir", str(tmp_path / "runs")]
    processes = [subprocess.Popen([sys.executable, "-m", "minilinpath", *argv, "--out", str(tmp_path / f"out{i}")],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
                 for i in range(2)]
    for process in processes:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, out + err
    summaries = [json.loads((tmp_path / f"out{i}" / "study.json").read_text())["summary"] for i in range(2)]
    assert summaries[0]["rows"] == summaries[1]["rows"] and len(summaries[0]["rows"]) == 4
    counts = {what: [summary[what] for summary in summaries] for what in ("trained", "computed", "reused")}
    assert {what: sum(both) for what, both in counts.items()} == {"trained": 4, "computed": 4, "reused": 4}, counts
