"""Every bad input a hostile user tried on the figure commands: one line on stderr, exit 2, no traceback,
nothing written, earlier results intact -- and the run cache that never lies (issue: trustworthy runs)."""
import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from minilinpath import backend, models, train as train_module
from minilinpath.figures import fig9, fig13

ROOT = Path(__file__).resolve().parents[1]
FAST = dict(max_epochs=3, patience=None, batch_size=20)  # tiny, fast training for these tests


def digits(seed, n_train=300, n_valid=100, width=784, labels=10):
    """Noisy copies of 10 random prototypes: a data set on which the quick maxout net learns in 3 epochs."""
    prototypes = np.random.default_rng(0).random((10, width))
    rng = np.random.default_rng(seed)

    def split(n):
        y = rng.integers(0, 10, size=n)
        return np.clip(prototypes[y] + 0.3 * rng.standard_normal((n, width)), 0, 1).astype(np.float32), y % labels
    return split(n_train), split(n_valid)


def save_npz(path, data, **extra):
    (Xt, yt), (Xv, yv) = data
    np.savez(path, **{"X_train": Xt, "y_train": yt, "X_valid": Xv, "y_valid": yv, **extra})
    return path


@pytest.fixture
def fast(monkeypatch):
    monkeypatch.setattr(backend, "_selected", None)
    monkeypatch.delenv("MINILINPATH_DEVICE", raising=False)
    monkeypatch.setattr(train_module, "QUICK", FAST)
    monkeypatch.setitem(models.PRESETS, "mnist_pi", {**models.PRESETS["mnist_pi"], "init_ranges": (0.05,) * 3})


@pytest.fixture
def data(tmp_path):
    return save_npz(tmp_path / "digits.npz", digits(1))


def argv_for(data, tmp_path, *extra):
    return ["--dataset", f"npz:{data}", "--runs-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "out"),
            *extra]


def snapshot(folder: Path) -> dict:
    """Every file under ``folder`` (lock files aside) with its bytes."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.endswith(".lock")}


def assert_one_line_error(capsys, *words):
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err, err
    return err


def run_fig13_expecting_error(capsys, argv, tmp_path, *words):
    before_out, before_runs = snapshot(tmp_path / "out"), snapshot(tmp_path / "runs")
    assert fig13.main(argv) == 2
    err = assert_one_line_error(capsys, *words)
    assert snapshot(tmp_path / "out") == before_out and snapshot(tmp_path / "runs") == before_runs
    return err


# ---------------------------------------------------------------------------- arguments, checked before compute
@pytest.mark.parametrize("extra, words", [
    (["--seed", "-1"], ["--seed", "must be >= 0"]),
    (["--chunk-size", "-5"], ["--chunk-size", "must be >= 1"]),
    (["--chunk-size", "0"], ["--chunk-size", "must be >= 1"]),
    (["--profile", "huge"], ["--profile", "invalid choice"]),
])
def test_bad_arguments_are_one_line_before_anything_runs(fast, data, tmp_path, capsys, extra, words):
    with pytest.raises(SystemExit) as info:
        fig13.main(argv_for(data, tmp_path, *extra))
    assert info.value.code == 2
    assert_one_line_error(capsys, *words)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "out").exists()


def test_out_and_runs_dir_that_are_files(fast, data, tmp_path, capsys):
    (tmp_path / "afile").write_text("mine")
    argv = ["--dataset", f"npz:{data}", "--runs-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "afile")]
    assert fig13.main(argv) == 2
    assert_one_line_error(capsys, "--out", "is a file")
    argv = ["--dataset", f"npz:{data}", "--runs-dir", str(tmp_path / "afile" / "sub"), "--out", str(tmp_path / "o")]
    assert fig13.main(argv) == 2
    assert_one_line_error(capsys, "--runs-dir", "is a file")
    assert (tmp_path / "afile").read_text() == "mine" and not (tmp_path / "o").exists()


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_out_is_refused_before_training(fast, data, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        assert fig13.main(argv_for(data, tmp_path)[:-1] + [str(locked)]) == 2
        assert_one_line_error(capsys, "--out", "cannot write")
        assert not (tmp_path / "runs").exists()
    finally:
        locked.chmod(stat.S_IRWXU)


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc, unwritable even for root")
def test_unwritable_runs_dir_is_refused_before_training(fast, data, tmp_path, capsys):
    argv = ["--dataset", f"npz:{data}", "--runs-dir", "/proc/minilinpath-runs", "--out", str(tmp_path / "out")]
    assert fig13.main(argv) == 2
    assert_one_line_error(capsys, "--runs-dir", "cannot write")
    assert not (tmp_path / "out").exists()


def test_device_problems(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(backend, "_selected", None)
    monkeypatch.setenv("MINILINPATH_DEVICE", "bogus")
    assert fig9.main(["--out", str(tmp_path / "out")]) == 2
    assert_one_line_error(capsys, "MINILINPATH_DEVICE", "bogus")
    monkeypatch.setenv("MINILINPATH_DEVICE", "gpu")
    assert fig9.main(["--out", str(tmp_path / "out")]) == 2
    assert_one_line_error(capsys, "CPU only", "MINILINPATH_DEVICE=gpu")
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------- data the model cannot take
@pytest.mark.parametrize("make, words", [
    (lambda p: save_npz(p, digits(1, width=100)), ["784 features"]),
    (lambda p: save_npz(p, ((digits(1)[0][0], digits(1)[0][1] + 3), digits(1)[1])), ["labels run from", "10 classes"]),
    (lambda p: save_npz(p, digits(1), X_test=np.array([{"a": 1}], dtype=object), y_test=np.zeros(1, int)),
     ["X_test"]),
    (lambda p: p.write_bytes(save_npz(p, digits(1)).read_bytes()[:5000]), ["not a readable .npz"]),
])
def test_data_the_model_cannot_take(fast, tmp_path, capsys, make, words):
    path = tmp_path / "bad.npz"
    make(path)
    run_fig13_expecting_error(capsys, argv_for(path, tmp_path), tmp_path, *words)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("state.npz"))


def test_uint8_pixels_are_scaled_and_said_so(fast, tmp_path, capsys):
    (Xt, yt), (Xv, yv) = digits(1)
    path = save_npz(tmp_path / "bytes.npz", ((np.round(Xt * 255).astype(np.uint8), yt),
                                             (np.round(Xv * 255).astype(np.uint8), yv)))
    assert fig13.main(argv_for(path, tmp_path)) == 0
    err = capsys.readouterr().err
    assert err.count("255") >= 1 and "Traceback" not in err
    summary = json.loads((tmp_path / "out" / "fig13.json").read_text())["summary"]
    assert summary["warnings"] == []  # the network learnt: scaled pixels, not 0..255


# ---------------------------------------------------------------------------- the run cache
def runs_of(tmp_path):
    return sorted(p.parent for p in (tmp_path / "runs").rglob("run.json"))


def test_changed_data_file_retrains(fast, tmp_path, capsys):
    path = save_npz(tmp_path / "d.npz", digits(1, n_valid=1000))
    assert fig13.main(argv_for(path, tmp_path)) == 0
    first = json.loads((tmp_path / "out" / "fig13.json").read_text())["summary"]
    (Xt, yt), (Xv, _) = digits(1, n_valid=1000)
    # random pixels to train on and validation labels that do not follow the images: whatever class the net gives
    # each of the 10 image clusters, it is right for ~10% +- 1% of 1,000 examples, inside the chance-level band
    # (with labels that follow the clusters, a net that learnt nothing still hits whole clusters by luck)
    noise = np.random.default_rng(5)
    save_npz(path, ((noise.random(Xt.shape).astype(np.float32), yt), (Xv, noise.integers(0, 10, size=Xv.shape[0]))))
    capsys.readouterr()
    assert fig13.main(argv_for(path, tmp_path)) == 0
    out = capsys.readouterr().out
    assert "reusing" not in out and "epoch    1" in out
    assert len(runs_of(tmp_path)) == 2  # a second run folder; the first is kept
    second = json.loads((tmp_path / "out" / "fig13.json").read_text())["summary"]
    assert second["distance"] != first["distance"]
    assert "never left chance level" in second["warnings"][0] and "as the paper finds" not in out
    assert "no comparison with the paper" in out


def test_same_data_reuses_and_says_so(fast, data, tmp_path, capsys):
    assert fig13.main(argv_for(data, tmp_path)) == 0
    capsys.readouterr()
    assert fig13.main(argv_for(data, tmp_path)) == 0
    assert "already trained" in capsys.readouterr().out and len(runs_of(tmp_path)) == 1


@pytest.fixture(scope="module")
def cached_fig13(tmp_path_factory):
    """One fig13 run (data, run cache, figure files), trained once and copied by each test that damages it."""
    base = tmp_path_factory.mktemp("cached")
    data = save_npz(base / "digits.npz", digits(1))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(backend, "_selected", None)
        mp.delenv("MINILINPATH_DEVICE", raising=False)
        mp.setattr(train_module, "QUICK", FAST)
        mp.setitem(models.PRESETS, "mnist_pi", {**models.PRESETS["mnist_pi"], "init_ranges": (0.05,) * 3})
        assert fig13.main(argv_for(data, base)) == 0
    return base


@pytest.mark.parametrize("name, damage", [
    ("trajectory.bin", lambda p: p.write_bytes(p.read_bytes()[:len(p.read_bytes()) // 3])),
    ("trajectory.bin", lambda p: p.write_bytes(np.random.default_rng(0).bytes(p.stat().st_size))),
    ("best.npz", lambda p: p.write_bytes(p.read_bytes()[:100])),
    ("init.npz", lambda p: p.write_bytes(p.read_bytes()[:100])),
    ("state.npz", lambda p: p.write_bytes(p.read_bytes()[:100])),
    ("history.json", lambda p: p.write_text(p.read_text()[:50])),
    ("run.json", lambda p: p.write_text(p.read_text()[:50])),
])
def test_damaged_cached_run_is_named_then_retrained(fast, cached_fig13, tmp_path, capsys, name, damage):
    shutil.copytree(cached_fig13, tmp_path, dirs_exist_ok=True)
    data = tmp_path / "digits.npz"
    good = (tmp_path / "out" / "fig13.npz").read_bytes()
    (run,) = runs_of(tmp_path)
    damage(run / name)
    err = run_fig13_expecting_error(capsys, argv_for(data, tmp_path), tmp_path, str(run / name), "--retrain")
    assert "damaged" in err
    assert (tmp_path / "out" / "fig13.npz").read_bytes() == good  # the old figure is intact
    assert fig13.main(argv_for(data, tmp_path, "--retrain")) == 0
    assert (tmp_path / "out" / "fig13.npz").read_bytes() == good  # retrained: the same numbers
    assert len([p for p in run.parent.iterdir() if ".replaced-" in p.name]) == 1  # the damaged folder is kept


# ---------------------------------------------------------------------------- processes at the same time
FIG13 = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from minilinpath import models, train
    from minilinpath.figures import fig13
    train.QUICK = {fast!r}
    models.PRESETS["mnist_pi"] = {{**models.PRESETS["mnist_pi"], "init_ranges": (0.05,) * 3}}
    sys.exit(fig13.main(sys.argv[1:]))
""")


def run_processes(commands, env_extra=None):
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "MINILINPATH_DEVICE": "cpu", **(env_extra or {})}
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
             for c in commands]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    return results


def test_two_fig13_on_one_fresh_runs_folder_give_the_numbers_of_a_lone_run(data, tmp_path):
    script = tmp_path / "fig13_fast.py"
    script.write_text(FIG13.format(root=str(ROOT), fast=FAST))
    lone = ["--dataset", f"npz:{data}", "--runs-dir", str(tmp_path / "lone-runs"), "--out", str(tmp_path / "lone")]
    assert run_processes([[sys.executable, str(script), *lone]])[0][0] == 0
    shared = ["--dataset", f"npz:{data}", "--runs-dir", str(tmp_path / "runs")]
    results = run_processes([[sys.executable, str(script), *shared, "--out", str(tmp_path / f"out{i}")]
                             for i in range(2)])
    assert [r[0] for r in results] == [0, 0], results
    with np.load(tmp_path / "lone" / "fig13.npz") as f:
        expected = {k: f[k] for k in f.files}
    for i in range(2):
        with np.load(tmp_path / f"out{i}" / "fig13.npz") as f:
            assert set(f.files) == set(expected)
            for k in f.files:
                np.testing.assert_array_equal(f[k], expected[k])
    assert expected["epochs"].tolist() == [0, 1, 2, 3]
    (run,) = (tmp_path / "runs").rglob("trajectory.bin")
    assert run.stat().st_size == 4 * models.get("mnist_pi_quick").size * 4  # init + 3 epochs, nothing interleaved


def test_six_fig9_into_one_folder_never_collide_and_never_mix(tmp_path):
    results = run_processes([[sys.executable, "-m", "minilinpath.fig9", "--seed", str(i), "--out", str(tmp_path)]
                             for i in range(6)])
    assert [r[0] for r in results] == [0] * 6, [r[2] for r in results]
    with np.load(tmp_path / "fig9.npz") as f:
        theta0 = f["theta0"]
    settings = json.loads((tmp_path / "fig9.json").read_text())
    assert theta0.tolist() == settings["summary"]["theta_init"]  # the npz and the json come from one run
    assert np.array_equal(theta0, np.random.default_rng(settings["arguments"]["seed"]).normal(0, 0.01, 2))
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == \
        ["fig9.json", "fig9.npz", "fig9.png"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


# ---------------------------------------------------------------------------- found by the hostile tester
def test_bad_eval_memory_budget_is_one_line_before_anything_is_written(fast, data, tmp_path, capsys, monkeypatch):
    for value in ("abc", "-3"):
        monkeypatch.setenv("MINILINPATH_EVAL_MEMORY_MB", value)
        run_fig13_expecting_error(capsys, argv_for(data, tmp_path), tmp_path, "MINILINPATH_EVAL_MEMORY_MB")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("variable, value", [("MINILINPATH_THREADS", "zero"), ("MINILINPATH_THREADS", "0"),
                                             ("OMP_NUM_THREADS", "-1")])
def test_bad_thread_count_is_one_line_before_anything_is_written(fast, data, tmp_path, capsys, monkeypatch, variable,
                                                                  value):
    monkeypatch.delenv("MINILINPATH_THREADS", raising=False)
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)   # it is read before OMP_NUM_THREADS (OpenBLAS's order)
    monkeypatch.setenv(variable, value)
    run_fig13_expecting_error(capsys, argv_for(data, tmp_path), tmp_path, variable)
    assert not (tmp_path / "runs").exists()


def test_replot_of_numbers_that_are_not_this_figures(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(backend, "_selected", None)
    monkeypatch.delenv("MINILINPATH_DEVICE", raising=False)
    assert fig9.main(["--out", str(tmp_path)]) == 0
    for suffix in ("npz", "json"):
        (tmp_path / f"fig13.{suffix}").write_bytes((tmp_path / f"fig9.{suffix}").read_bytes())
    capsys.readouterr()
    assert fig13.main(["--out", str(tmp_path), "--replot"]) == 2
    assert_one_line_error(capsys, "--replot", "fig9")
    settings = json.loads((tmp_path / "fig9.json").read_text())
    del settings["summary"]["flat_until_alpha"]  # a summary that lacks what the figure draws
    (tmp_path / "fig9.json").write_text(json.dumps(settings))
    png = (tmp_path / "fig9.png").read_bytes()
    assert fig9.main(["--out", str(tmp_path), "--replot"]) == 2
    assert_one_line_error(capsys, "--replot", "flat_until_alpha")
    assert (tmp_path / "fig9.png").read_bytes() == png


@pytest.mark.parametrize("value", ["0", "-3", "1"])
def test_fig11_max_dim_below_the_smallest_dimension(tmp_path, capsys, value):
    from minilinpath.figures import fig11
    with pytest.raises(SystemExit) as info:
        fig11.main(["--out", str(tmp_path), "--max-dim", value])
    assert info.value.code == 2
    assert_one_line_error(capsys, "--max-dim", "must be >= 2")
