"""Issue 25, a fresh machine: scripts the tests run use the interpreter running the tests; a figure's files
survive a full disk (all replaced, or none); a study gives the same bits on every executor, on 784-wide data."""
import errno
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from minilinpath import io
from minilinpath.cli import main
from minilinpath.study import StudySpec, run_study
from minilinpath.study.executors import loaded_openblas, one_blas_thread

from .conftest import ROOT, write_blobs_npz

SCRIPT = ROOT / "docs" / "make_pictures.sh"


# ------------------------------------------------------------------ 1. the interpreter running the tests
def test_make_pictures_runs_with_the_interpreter_it_is_given_whatever_python_is_on_path(tmp_path):
    """With only the system's folders on PATH (whose python3 has no NumPy, or no python at all), PYTHON names the
    interpreter: the script must run the picture with it, not with whatever python comes first on PATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATA_DIR", "FASHION_DIR", "CIFAR_DIR", "PTB_DIR")}
    (tmp_path / "docs").mkdir()
    env.update(PATH="/usr/bin:/bin", PYTHON=sys.executable, PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])))
    done = subprocess.run(["/bin/bash", str(SCRIPT), "--only", "fig9", "--docs", str(tmp_path / "docs"), "--work",
                           str(tmp_path / "work")], capture_output=True, text=True, env=env, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 0 and "made: fig9" in done.stdout, done.stdout + done.stderr
    assert (tmp_path / "docs" / "fig9.png").stat().st_size > 20_000


# ------------------------------------------------------------------ 2. a full disk keeps the previous files whole
def full_disk_on_write(monkeypatch, failing_call: int, folder: Path):
    """Make the ``failing_call``-th file written into ``folder`` run out of space: its temporary file (every write
    goes through one, made by tempfile.mkstemp) is given /dev/full to write to, where every write fails with
    ENOSPC, as on a full disk. Returns the list of the target names written into ``folder`` so far."""
    real, calls = tempfile.mkstemp, []

    def mkstemp(suffix=None, prefix=None, dir=None, text=False):
        fd, name = real(suffix=suffix, prefix=prefix, dir=dir, text=text)
        if dir is not None and Path(dir) == folder:
            calls.append(prefix.strip("."))  # ".fig9.json." -> "fig9.json"
            if len(calls) == failing_call:
                os.close(fd)
                fd = os.open("/dev/full", os.O_WRONLY)
        return fd, name

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    return calls


def contents(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if not p.name.endswith(".lock")}


@pytest.mark.parametrize("failing_call", [2, 3], ids=["json", "png"])
def test_a_full_disk_leaves_the_previous_figure_whole(failing_call, tmp_path, monkeypatch, capsys):
    """fig9 with another seed on a disk that fills up at its 2nd (json) or 3rd (png) file: exit status 2, one line
    naming --out and the cause, and fig9.npz, fig9.json and fig9.png exactly as the previous run left them (before
    the fix the npz, and then the json, already came from the new seed)."""
    out = tmp_path / "out"
    assert main(["fig9", "--out", str(out)]) == 0
    before = contents(out)
    assert set(before) == {"fig9.npz", "fig9.json", "fig9.png"}
    capsys.readouterr()
    calls = full_disk_on_write(monkeypatch, failing_call, out)
    assert main(["fig9", "--out", str(out), "--seed", "1"]) == 2
    assert contents(out) == before  # the three files of the first run, and no temporary left behind
    err = capsys.readouterr().err
    assert calls[:3] == ["fig9.npz", "fig9.json", "fig9.png"][:len(calls[:3])] and len(calls) == failing_call
    assert err.count("\n") == 1 and err.startswith(f"error: could not write the results into {out}")
    assert "No space left on device" in err and "unchanged" in err
    monkeypatch.undo()
    assert main(["fig9", "--out", str(out), "--seed", "1"]) == 0  # with space, the new run replaces all three
    after = contents(out)
    assert all(after[name] != before[name] for name in ("fig9.npz", "fig9.json", "fig9.png"))


def test_a_full_disk_leaves_the_previous_study_table_whole(tmp_path, monkeypatch, capsys):
    """The study writes four files (csv, npz, json, png); the disk fills at the last one (study.csv): the four
    files of the previous study stay as they were."""
    data = write_blobs_npz(tmp_path / "blobs.npz", dim=6, seed=1, n_train=60, n_valid=20)
    argv = ["study", "--executor", "local", "--activation", "relu", "--width", "4", "--dataset", f"npz:{data}",
            "--epochs", "1", "--alphas", "5", "--runs-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "out")]
    assert main(argv) == 0
    before = contents(tmp_path / "out")
    assert set(before) == {"study.csv", "study.npz", "study.json", "study.png"}
    calls = full_disk_on_write(monkeypatch, 4, tmp_path / "out")
    assert main(argv + ["--seeds", "2"]) == 2
    assert calls[-1] == "study.csv"
    assert contents(tmp_path / "out") == before
    assert "could not write the results into" in capsys.readouterr().err


def test_replace_together_writes_all_or_nothing(tmp_path, monkeypatch):
    targets = [tmp_path / name for name in ("a.txt", "b.txt", "c.txt")]
    for target in targets:
        target.write_text(f"old {target.name}")
    full_disk_on_write(monkeypatch, 3, tmp_path)
    with pytest.raises(OSError) as caught:
        io.replace_together([(t, (lambda name: lambda f: f.write(f"new {name}"))(t.name), False) for t in targets])
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(targets[2])  # the file is named
    assert [t.read_text() for t in targets] == ["old a.txt", "old b.txt", "old c.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt", "c.txt"]  # no temporaries left


# ------------------------------------------------------------------ 3. one table whichever executor
def test_one_blas_thread_is_set_for_the_block_and_put_back():
    calls = loaded_openblas()
    if not calls:
        pytest.skip("no OpenBLAS found in this process (another BLAS, or not Linux)")
    before = [get() for get, _ in calls]
    with one_blas_thread():
        assert [get() for get, _ in calls] == [1] * len(calls)
    assert [get() for get, _ in calls] == before


def state_files(runs: Path) -> dict:
    return {p.relative_to(runs).as_posix(): p.read_bytes() for p in sorted(runs.rglob("state.npz"))}


def test_the_same_study_gives_the_same_bits_on_every_executor_on_784_wide_data(tmp_path):
    """784 features (MNIST's width), where OpenBLAS splits a product's sums over its threads: the study in this
    process (two BLAS threads on a two-core machine before the fix), on a LocalCluster (one BLAS thread per
    worker) and on a running cluster whose worker was started with the BLAS's default threads (--scheduler) gives
    the same theta, bit for bit, and the same table. Before the fix the distances differed in the 8th digit."""
    distributed = pytest.importorskip("distributed")
    data = write_blobs_npz(tmp_path / "wide.npz", dim=784, seed=7, n_train=600, n_valid=200, scale=4.0)
    spec = StudySpec.from_dict(dict(activation=["relu", "sigmoid"], width=[16], seeds=2, dataset=[f"npz:{data}"],
                                    epochs=3, alphas=9))
    local = run_study(spec, executor="local", runs_dir=tmp_path / "local", progress=False, log=None)
    dask = run_study(spec, executor="dask", n_workers=2, runs_dir=tmp_path / "dask", progress=False, log=None)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as cluster:  # no BLAS setting in its environment
        remote = run_study(spec, executor="dask", scheduler=cluster.scheduler_address, runs_dir=tmp_path / "remote",
                           progress=False, log=None)
    assert len(local.rows) == 4 and local.trained == dask.trained == remote.trained == 4
    states = state_files(tmp_path / "local")
    assert len(states) == 4
    assert state_files(tmp_path / "dask") == states and state_files(tmp_path / "remote") == states
    for rows in (dask.rows, remote.rows):
        for a, b in zip(rows, local.rows):
            assert {k: a[k] for k in a} == {k: b[k] for k in b}  # distance, path_length, J: the same floats
    assert np.array([r["distance"] for r in local.rows]).min() > 0


def test_ci_runs_the_tests_that_read_the_shared_data_once_more_without_it():
    """.ci/run set MINILINPATH_TEST_DATA for the whole suite, so the README's command as a new user types it (no
    variable, the venv's python by its path) was never run and broke unseen: CI now runs those tests that way."""
    import re
    ci = (ROOT / ".ci" / "run").read_text()
    assert "env -u MINILINPATH_TEST_DATA -u VIRTUAL_ENV PATH=/usr/bin:/bin \"$venv/bin/python\" -m pytest" in ci
    pattern = re.search(r'grep -l -E "([^"]+)" tests/test_\*\.py', ci).group(1)
    selected = {p.name for p in (ROOT / "tests").glob("test_*.py") if re.search(pattern, p.read_text())}
    assert {"test_data.py", "test_lessons.py", "test_fig8.py"} <= selected
