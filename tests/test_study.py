"""Studies of many runs (minilinpath.study): the same table on Dask and in-process, resuming without redoing,
metrics on hand-made curves, damaged stored results refused, bad specs as one line."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from minilinpath.study import (ExecutorError, LocalExecutor, SpecError, StudyFailed, StudySpec, expand,
                               make_executor, read_spec, run_study, tasks, to_csv)
from minilinpath.study.spec import RunSettings

from .conftest import write_blobs_npz


@pytest.fixture(scope="module")
def blobs(tmp_path_factory):
    """A tiny 3-class problem (Gaussian blobs in 12 dimensions), saved as an npz data set."""
    return f"npz:{write_blobs_npz(tmp_path_factory.mktemp('data') / 'blobs.npz', dim=12, seed=7, n_train=240, n_valid=80)}"


def small_spec(dataset, **changes):
    values = dict(activation=["relu", "maxout"], width=[6], init_scale=[1.0, 40.0], learning_rate=[0.3], seeds=1,
                  dataset=[dataset], epochs=2, alphas=9)
    values.update(changes)
    return StudySpec.from_dict(values)


def files_of(runs_dir, pattern):
    """{path: modification time in ns} of the files matching ``pattern`` under the run cache."""
    return {str(p): p.stat().st_mtime_ns for p in sorted(runs_dir.rglob(pattern))}


# ------------------------------------------------------------------------------- metrics and the table row
def record_with(J_train, distance=2.5):
    n = len(J_train)
    return {"curve": {"alphas": list(np.linspace(0, 1, n)), "J_train": list(J_train), "J_valid": list(J_train),
                      "error_train": [0.9] * (n - 1) + [0.25], "error_valid": [0.9] * (n - 1) + [0.5]},
            "distance": distance, "path_length": 3.0, "gauss_length": 0.7, "epochs": 4}


SETTINGS = RunSettings("mnist", "relu", 8, 2, 0.1, 0.5, 1.0, 0.0, False, 0)


def test_metrics_of_a_monotone_curve():
    row = tasks.table_row(SETTINGS, record_with([2.3, 2.0, 1.1, 1.1, 0.4]), "run-x")
    assert row["monotone"] is True and row["largest_bump"] == 0.0
    assert (row["J_init"], row["J_final"], row["distance"], row["train_error"], row["valid_error"]) == \
        (2.3, 0.4, 2.5, 0.25, 0.5)


def test_metrics_of_a_curve_with_bumps():
    # rises: 1.0 -> 1.6 (0.6 above the running minimum 1.0), then 0.2 -> 0.5 (0.3): the largest is 0.6 at 0.5
    row = tasks.table_row(SETTINGS, record_with([2.0, 1.0, 1.6, 0.2, 0.5]), "run-x")
    assert row["monotone"] is False
    assert row["largest_bump"] == pytest.approx(0.6, abs=1e-12)
    assert row["bump_alpha"] == pytest.approx(0.5)
    # a rise after a lower point counts from that point: 3 -> 0 -> 2.9 is a bump of 2.9
    assert tasks.table_row(SETTINGS, record_with([3.0, 0.0, 2.9]), "r")["largest_bump"] == pytest.approx(2.9)


# ------------------------------------------------------------------------------- models built from settings
def test_model_of_a_run_follows_its_settings():
    settings = RunSettings("mnist", "sigmoid", 5, 3, 0.1, 0.5, 3.0, 0.25, False, 4)
    model = tasks.build_model(settings, n_in=12, n_classes=3)
    assert model.hidden == (5, 5, 5) and model.activation == "sigmoid" and model.n_in == 12
    # the relu preset's ranges (0.0089, 0.0575, 0.0): hidden layer 3 repeats the last hidden range, times 3
    assert model.init_ranges == pytest.approx((3 * 0.00891030471479, 3 * 0.0575059125935, 3 * 0.0575059125935, 0.0))
    assert model.hidden_include == 0.75 and model.hidden_scale == pytest.approx(1 / 0.75)
    assert model.input_include == 1.0
    W = model.unflatten(model.init(4))["h1.W"]
    assert 0.9 * 3 * 0.0575 < np.abs(W).max() <= 3 * 0.0575059125935
    maxout = tasks.build_model(RunSettings("mnist", "maxout", 4, 1, 0.1, 0.5, 1.0, 0.0, False, 0), 12, 3)
    assert maxout.pieces == 5 and maxout.init_ranges == (0.005, 0.005)


def test_expand_fills_defaults_and_sorts():
    spec = StudySpec.from_dict({"activation": ["sigmoid", "maxout"], "init_scale": [3, 1], "seeds": 2,
                                "first_seed": 5, "dataset": "mnist-test"})
    runs = expand(spec)
    assert len(runs) == 8
    assert [r.activation for r in runs[:4]] == ["maxout"] * 4
    assert [(r.init_scale, r.seed) for r in runs[:4]] == [(1.0, 5), (1.0, 6), (3.0, 5), (3.0, 6)]
    assert {r.width for r in runs if r.activation == "maxout"} == {120}  # the quick mnist_pi width
    assert {r.width for r in runs if r.activation == "sigmoid"} == {400}
    assert {(r.learning_rate, r.momentum, r.depth) for r in runs} == {(0.1, 0.5, 2)}


# ------------------------------------------------------------------------------- executors
def test_dask_and_in_process_give_the_identical_table(blobs, tmp_path):
    pytest.importorskip("distributed")
    spec = small_spec(blobs)
    local = run_study(spec, executor="local", runs_dir=tmp_path / "local", progress=False, log=None)
    with make_executor("dask", n_workers=2) as dask:
        environments = dask.client.run(tasks_environment)
        distributed = run_study(spec, executor=dask, runs_dir=tmp_path / "dask", progress=False, log=None)
    assert len(environments) == 2
    assert all(env == {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
               for env in environments.values())
    assert len(local.rows) == 4 and local.trained == distributed.trained == 4
    assert distributed.rows == local.rows
    assert to_csv(distributed.rows) == to_csv(local.rows)
    assert len({r["run"] for r in local.rows}) == 4  # four different runs, each named by its fingerprint


def tasks_environment():
    from minilinpath.study.executors import worker_environment
    return worker_environment()


def test_without_dask_the_error_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(ExecutorError) as caught:
        make_executor("dask")
    message = str(caught.value)
    assert 'pip install "minilinpath[study]"' in message and "\n" not in message
    with pytest.raises(ExecutorError, match="local"):
        make_executor("local", scheduler="tcp://127.0.0.1:8786")


# ------------------------------------------------------------------------------- resuming
def test_a_limited_study_resumes_without_redoing_a_task(blobs, tmp_path):
    spec, runs = small_spec(blobs), tmp_path / "runs"
    first = run_study(spec, executor="local", runs_dir=runs, limit=2, progress=False, log=None)
    assert (len(first.rows), first.n_runs, first.trained, first.complete) == (2, 4, 2, False)
    done = {**files_of(runs, "state.npz"), **files_of(runs, "line-*.json")}
    assert len(done) == 4
    rest = run_study(spec, executor="local", runs_dir=runs, progress=False, log=None)
    assert (len(rest.rows), rest.trained, rest.computed, rest.reused) == (4, 2, 2, 2)
    assert {p: t for p, t in {**files_of(runs, "state.npz"), **files_of(runs, "line-*.json")}.items()
            if p in done} == done  # the finished runs and lines were not touched
    again = run_study(spec, executor="local", runs_dir=runs, progress=False, log=None)
    assert (again.trained, again.computed, again.reused) == (0, 0, 4)
    assert again.rows == rest.rows and rest.rows[:2] == first.rows  # --limit takes the first runs in table order


def test_a_failed_task_leaves_the_others_done_and_is_the_only_one_redone(blobs, tmp_path, monkeypatch):
    spec, runs = small_spec(blobs), tmp_path / "runs"
    real_train = tasks.train

    def train_failing_for_maxout(model, *args, **kwargs):
        if model.activation == "maxout" and kwargs["seed"] == 0 and model.init_ranges[0] > 0.1:
            raise RuntimeError("the machine went away")
        return real_train(model, *args, **kwargs)

    monkeypatch.setattr(tasks, "train", train_failing_for_maxout)
    with pytest.raises(StudyFailed, match="1 of 4 runs failed .*maxout.*the machine went away") as caught:
        run_study(spec, executor=LocalExecutor(), runs_dir=runs, progress=False, log=None)
    assert len(caught.value.result.rows) == 3
    monkeypatch.setattr(tasks, "train", real_train)
    resumed = run_study(spec, executor="local", runs_dir=runs, progress=False, log=None)
    assert (resumed.trained, resumed.computed, resumed.reused) == (1, 1, 3)


# ------------------------------------------------------------------------------- damaged results
def test_a_damaged_stored_line_is_refused_and_computed_again(blobs, tmp_path):
    spec, runs = small_spec(blobs, activation=["relu"], init_scale=[40.0], seeds=3), tmp_path / "runs"
    original = run_study(spec, executor="local", runs_dir=runs, progress=False, log=None)
    edited, truncated, swapped = sorted(runs.rglob("line-*.json"))
    record = json.loads(edited.read_text())
    record["curve"]["J_train"][3] += 5.0  # a plausible-looking edit: still valid JSON, the digest no longer fits
    edited.write_text(json.dumps(record))
    truncated.write_text(truncated.read_text()[:200])
    swapped.write_text(edited.read_text())  # another run's record in this run's folder
    again = run_study(spec, executor="local", runs_dir=runs, progress=False, log=None)
    assert again.rows == original.rows  # nothing of the damaged files reached the table
    assert (again.trained, again.computed, again.reused) == (0, 3, 0)
    reasons = " | ".join(why for _, why in again.redone)
    assert "digest" in reasons and "unreadable" in reasons and "another run" in reasons


# ------------------------------------------------------------------------------- specs and the command
@pytest.mark.parametrize("values, message", [
    ({"activation": ["relu", "softplus"]}, "activation: 'softplus' is not one of"),
    ({"width": [0]}, "width: 0 is not a whole number >= 1"),
    ({"momentum": 1.0}, r"momentum: 1.0 is not a number in \[0, 1\)"),
    ({"init_scale": []}, "init_scale: give at least one value"),
    ({"seeds": 0}, "seeds must be a whole number >= 1"),
    ({"init_scale": [1, 1.0]}, "repeat"),
    ({"learning_rte": [0.1]}, "unknown setting.*learning_rte"),
    ({"profile": "huge"}, "profile must be one of"),
])
def test_a_bad_spec_is_one_line(values, message):
    with pytest.raises(SpecError, match=message) as caught:
        StudySpec.from_dict(values)
    assert "\n" not in str(caught.value)


def test_spec_files(tmp_path):
    toml = tmp_path / "study.toml"
    toml.write_text('activation = ["relu", "sigmoid"]\ninit_scale = [1, 3]\nseeds = 2\ndataset = "mnist-test"\n'
                    'epochs = 3\n')
    spec = read_spec(toml)
    assert (spec.activation, spec.init_scale, spec.dataset, spec.epochs) == (["relu", "sigmoid"], [1, 3],
                                                                          ["mnist-test"], 3)
    assert len(expand(spec)) == 8
    js = tmp_path / "study.json"
    js.write_text(json.dumps({"activation": "maxout", "adversarial": [False, True]}))
    assert [r.adversarial for r in expand(read_spec(js))] == [False, True]
    js.write_text("{not json")
    with pytest.raises(SpecError, match="not valid JSON"):
        read_spec(js)
    with pytest.raises(SpecError, match=r"\.json or \.toml"):
        read_spec(tmp_path / "study.yaml")


def test_the_command_writes_the_table_and_replots(blobs, tmp_path, capsys):
    from minilinpath.cli import main

    out, runs = tmp_path / "out", tmp_path / "runs"
    argv = ["study", "--executor", "local", "--activation", "relu", "maxout", "--width", "6", "--init-scale", "1",
            "40", "--learning-rate", "0.3", "--dataset", blobs, "--epochs", "2", "--alphas", "9", "--runs-dir",
            str(runs), "--out", str(out)]
    assert main(argv) == 0
    lines = (out / "study.csv").read_text().splitlines()
    assert len(lines) == 5 and lines[0].startswith("dataset,activation,width,depth,learning_rate")
    saved = json.loads((out / "study.json").read_text())["summary"]
    assert len(saved["rows"]) == 4 and saved["trained"] == 4
    api = run_study(small_spec(blobs), executor="local", runs_dir=runs, progress=False, log=None)
    assert api.rows == saved["rows"] and api.reused == 4  # the command's runs and lines, from the cache
    assert (out / "study.png").stat().st_size > 10_000
    capsys.readouterr()
    assert main(["study", "--replot", "--out", str(out)]) == 0
    assert "monotone overall" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--momentum", "1.5"], "error: momentum: 1.5 is not a number in [0, 1)"),
    (["--executor", "local", "--scheduler", "tcp://127.0.0.1:1"], "error: --scheduler sends the tasks"),
    (["--spec", "/nonexistent/study.toml"], "error: cannot read the study spec"),
    (["--dataset", "npz:/nonexistent/data.npz", "--executor", "local"], "error: "),
])
def test_the_command_reports_bad_input_in_one_line(argv, message, tmp_path, capsys):
    from minilinpath.cli import main

    assert main(["study", *argv, "--out", str(tmp_path / "out"), "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_a_failed_run_writes_no_partial_table_and_a_rerun_retries_only_it(blobs, tmp_path, capsys, monkeypatch):
    """A study with a failed run exits 2 and leaves --out as it was (a complete table is never replaced by a
    partial one); the finished runs stay in the cache, and the rerun trains only the one that failed."""
    from minilinpath.cli import main
    from minilinpath.train import TrainingDiverged

    real_train = tasks.train
    trained = []

    def diverging_for_relu(model, *args, **kwargs):
        trained.append(model.activation)
        if model.activation == "relu":
            raise TrainingDiverged("the training loss became nan in epoch 1 (update 3).")
        return real_train(model, *args, **kwargs)

    monkeypatch.setattr(tasks, "train", diverging_for_relu)
    out = tmp_path / "out"
    out.mkdir()
    (out / "study.csv").write_text("a complete table from before\n")
    argv = ["study", "--executor", "local", "--activation", "relu", "maxout", "--width", "6", "--dataset", blobs,
            "--epochs", "1", "--alphas", "5", "--runs-dir", str(tmp_path / "runs"), "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: 1 of 2 runs failed, so no table was written") and "loss became nan" in err
    assert "run the same command again" in err and len(err.strip().splitlines()) == 1
    assert (out / "study.csv").read_text() == "a complete table from before\n" and not (out / "study.json").exists()
    monkeypatch.setattr(tasks, "train", lambda model, *a, **k: (trained.append(model.activation),
                                                                 real_train(model, *a, **k))[1])
    trained.clear()
    assert main(argv) == 0
    assert trained == ["relu"]  # the maxout run finished the first time: not redone
    lines = (out / "study.csv").read_text().splitlines()
    assert len(lines) == 3 and "study.csv" in capsys.readouterr().out


def test_command_line_options_replace_the_spec_files(tmp_path):
    from argparse import Namespace

    from minilinpath.figures.study import spec_from_args

    path = tmp_path / "study.json"
    path.write_text(json.dumps({"activation": ["relu", "sigmoid"], "init_scale": [1, 3], "seeds": 4,
                                "profile": "paper", "first_seed": 2}))
    spec = spec_from_args(Namespace(spec=str(path), activation=["maxout"], adversarial=["no", "yes"], profile=None,
                                    seed=None, runs_dir=None))
    assert (spec.activation, spec.init_scale, spec.seeds, spec.profile, spec.first_seed, spec.adversarial) == \
        (["maxout"], [1, 3], 4, "paper", 2, [False, True])
    assert spec_from_args(Namespace(profile=None, seed=7)).first_seed == 7  # no file: the defaults


def test_a_whole_float_in_a_spec_is_the_int_under_the_one_rule():
    """The package's one whole-number rule (minilinpath.checks): 3.0 is 3 (a TOML file may hold it), 2.5 and True
    are refused; the spec stores ints, so the runs and the table are those of the int spec."""
    from minilinpath.study.spec import SpecError, StudySpec

    whole = StudySpec.from_dict({"width": [8.0], "depth": 2.0, "seeds": 2.0, "epochs": 3.0, "alphas": 5.0,
                                 "first_seed": 1.0})
    plain = StudySpec.from_dict({"width": [8], "depth": 2, "seeds": 2, "epochs": 3, "alphas": 5, "first_seed": 1})
    assert whole.to_dict() == plain.to_dict()
    assert all(type(v) is int for v in (whole.seeds, whole.epochs, whole.alphas, whole.first_seed, *whole.depth))
    for bad in ({"epochs": 2.5}, {"seeds": True}, {"depth": [1.5]}, {"alphas": float("nan")}):
        with pytest.raises(SpecError, match="whole number"):
            StudySpec.from_dict(bad)
