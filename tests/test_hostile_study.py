"""Hostile input to studies (minilinpath.study): specs written by hand in Python, huge grids, one data set under
two names, a damaged run beside an intact stored line, bad --limit and --scheduler values, two studies at once."""
from __future__ import annotations

import threading

import pytest

from minilinpath.study import (ExecutorError, SpecError, StudyFailed, StudySpec, expand, make_executor, make_tasks,
                               run_study, to_csv)

from .conftest import write_blobs_npz


@pytest.fixture(scope="module")
def blobs(tmp_path_factory):
    """A tiny 3-class problem (Gaussian blobs in 8 dimensions, divided by 4) as an npz file; returns its path."""
    return write_blobs_npz(tmp_path_factory.mktemp("data") / "blobs.npz", dim=8, seed=11, n_train=120, n_valid=40,
                           scale=4.0)


def tiny_spec(data, **changes):
    values = dict(activation=["relu"], width=[4], init_scale=[1.0, 30.0], learning_rate=[0.3], seeds=1,
                  dataset=[data], epochs=1, alphas=5)
    values.update(changes)
    return StudySpec.from_dict(values)


def quiet(spec, runs_dir, **kwargs):
    return run_study(spec, executor="local", runs_dir=runs_dir, progress=False, log=None, **kwargs)


# ------------------------------------------------------------------------------- specs made in Python
@pytest.mark.parametrize("values", [{"activation": "relu"}, {"dataset": "mnist-test"}, {"init_scale": (1, 3)}])
def test_a_single_value_where_a_list_belongs_says_so(values):
    """StudySpec(dataset="mnist-test") is the natural first try; "give at least one value" would be wrong."""
    name, value = next(iter(values.items()))
    with pytest.raises(SpecError, match=rf"{name}: give a list of values.*got {value!r}".replace("(", r"\(")
                       .replace(")", r"\)")) as caught:
        expand(StudySpec(**values))
    assert "\n" not in str(caught.value)


def test_a_huge_grid_is_refused_at_once_before_anything_is_made():
    spec = StudySpec.from_dict({"seeds": 10**9, "dataset": "mnist-test"})  # e.g. a typo for 10
    with pytest.raises(SpecError, match=r"1000000000 runs.*more than 100000") as caught:
        expand(spec)
    assert "\n" not in str(caught.value)
    spec = StudySpec.from_dict({"width": list(range(1, 201)), "init_scale": list(range(1, 201)), "seeds": 3,
                                "dataset": "mnist-test"})
    with pytest.raises(SpecError, match="120000 runs"):
        run_study(spec, executor="local", limit=1, progress=False, log=None)  # --limit does not save it
    assert len(expand(StudySpec.from_dict({"width": list(range(1, 101)), "seeds": 1000}))) == 100_000


@pytest.mark.parametrize("limit", [2.5, "1", True])
def test_a_limit_that_is_not_a_whole_number_is_one_line(limit, blobs, tmp_path):
    with pytest.raises(SpecError, match=rf"limit must be a whole number >= 1, got {limit!r}"):
        quiet(tiny_spec(f"npz:{blobs}"), tmp_path / "runs", limit=limit)
    assert not (tmp_path / "runs").exists()  # refused before any run started


def test_one_data_file_under_two_names_is_refused(blobs, tmp_path, monkeypatch):
    """npz:/abs/blobs.npz and npz:blobs.npz are the same runs: the table would count each run twice."""
    monkeypatch.chdir(blobs.parent)
    spec = tiny_spec(f"npz:{blobs}", init_scale=[1.0], dataset=[f"npz:{blobs}", "npz:blobs.npz"])
    with pytest.raises(SpecError, match=r"npz:blobs\.npz.*the same data") as caught:
        make_tasks(spec, tmp_path / "runs")
    assert "\n" not in str(caught.value)
    copy = tmp_path / "copy.npz"
    copy.write_bytes(blobs.read_bytes())
    with pytest.raises(SpecError, match="the same data"):
        make_tasks(tiny_spec(f"npz:{blobs}", dataset=[f"npz:{blobs}", f"npz:{copy}"]), tmp_path / "runs")
    missing = tiny_spec("npz:/nonexistent/a.npz", dataset=["npz:/nonexistent/a.npz", f"npz:{blobs}"])
    assert len(make_tasks(missing, tmp_path / "runs")) == 4  # a missing file fails in its own tasks


# ------------------------------------------------------------------------------- the run cache
def test_a_stored_line_beside_a_damaged_run_is_not_reused(blobs, tmp_path):
    """The line depends on the run: when the run's files no longer check out, the study says so (and what to
    do) instead of reusing the line; nothing in the folder is removed or rewritten."""
    spec, runs = tiny_spec(f"npz:{blobs}"), tmp_path / "runs"
    first = quiet(spec, runs)
    state = sorted(runs.rglob("state.npz"))[0]
    run_dir = state.parent
    state.write_bytes(state.read_bytes()[:100])  # a disk that lost the end of the file
    (run_dir / "notes.txt").write_text("mine\n")
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    with pytest.raises(StudyFailed, match=r"1 of 2 runs failed.*state\.npz") as caught:
        quiet(spec, runs)
    assert caught.value.result.rows == [r for r in first.rows if r["run"] != run_dir.name]
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before


def test_two_studies_at_once_into_one_run_cache_agree(blobs, tmp_path):
    spec, runs = tiny_spec(f"npz:{blobs}"), tmp_path / "runs"
    results, errors = [], []

    def study():
        try:
            results.append(quiet(spec, runs))
        except Exception as exc:  # noqa: BLE001 - reported by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=study) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    alone = quiet(spec, tmp_path / "alone")
    assert to_csv(results[0].rows) == to_csv(results[1].rows) == to_csv(alone.rows)
    assert len(sorted(runs.rglob("line-*.json"))) == 2 and not sorted(runs.rglob("*.tmp"))


# ------------------------------------------------------------------------------- executors
@pytest.mark.parametrize("address", ["", "   "])
def test_an_empty_scheduler_address_is_not_taken_for_a_local_cluster(address):
    """--scheduler "$DASK_ADDRESS" with the variable unset: say the address is empty, start nothing."""
    with pytest.raises(ExecutorError, match="the scheduler address is empty") as caught:
        make_executor("dask", scheduler=address)
    assert "local Dask cluster" not in str(caught.value) and "\n" not in str(caught.value)


def test_a_study_asked_for_the_gpu_is_refused_not_run_on_the_cpu(tmp_path, capsys):
    from minilinpath.cli import main

    assert main(["study", "--device", "gpu", "--executor", "local", "--dataset", "mnist-test", "--runs-dir",
                 str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--device gpu" in err and err.count("\n") == 1
    assert not (tmp_path / "runs").exists() and not (tmp_path / "out" / "study.csv").exists()
