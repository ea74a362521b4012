"""The study's optimizer and batch-norm axes (Lucas et al. 2021's comparison): spec, command, table, picture."""
from __future__ import annotations

import json

import pytest

from minilinpath.models.mlp_batchnorm import BatchNormMLP
from minilinpath.optim import Adam
from minilinpath.study import SpecError, StudySpec, expand, run_study, tasks
from minilinpath.study.spec import RunSettings
from minilinpath.study.table import cells

from .conftest import write_blobs_npz


@pytest.fixture(scope="module")
def blobs(tmp_path_factory):
    return f"npz:{write_blobs_npz(tmp_path_factory.mktemp('data') / 'blobs.npz', dim=12, seed=7, n_train=240, n_valid=80)}"


def test_axes_and_their_defaults():
    runs = expand(StudySpec.from_dict({"optimizer": ["sgd", "adam"], "batchnorm": [False, True]}))
    assert [(r.optimizer, r.batchnorm, r.learning_rate) for r in runs] == [   # sorted by the settings
        ("adam", False, 0.001), ("adam", True, 0.001), ("sgd", False, 0.1), ("sgd", True, 0.1)]
    # a spec without the new axes expands to the runs of before: sgd, no batch norm
    assert {(r.optimizer, r.batchnorm) for r in expand(StudySpec())} == {("sgd", False)}
    with pytest.raises(SpecError, match="optimizer: 'lbfgs' is not one of"):
        StudySpec.from_dict({"optimizer": "lbfgs"})
    with pytest.raises(SpecError, match="batchnorm = true runs without dropout"):
        StudySpec.from_dict({"batchnorm": [True], "dropout": [0.5]})


def test_model_and_recipe_follow_the_settings():
    settings = RunSettings("mnist", "relu", 5, 2, 0.001, 0.5, 1.0, 0.0, False, 0, optimizer="adam", batchnorm=True)
    assert isinstance(tasks.build_model(settings, 12, 3), BatchNormMLP)
    assert tasks.recipe_of(settings, 3).optimizer == Adam()
    plain = RunSettings("mnist", "relu", 5, 2, 0.1, 0.5, 1.0, 0.0, False, 0)
    assert tasks.recipe_of(plain, 3).optimizer is None and "batchnorm" not in tasks.build_model(plain, 12, 3).settings()


def test_the_command_with_optimizer_and_batchnorm(blobs, tmp_path, capsys):
    from minilinpath.cli import main

    out, runs = tmp_path / "out", tmp_path / "runs"
    argv = ["study", "--executor", "local", "--optimizer", "sgd", "adam", "--batchnorm", "no", "yes", "--width", "6",
            "--dataset", blobs, "--epochs", "2", "--alphas", "5", "--seeds", "2", "--runs-dir", str(runs),
            "--out", str(out)]
    assert main(argv) == 0
    header = (out / "study.csv").read_text().splitlines()[0].split(",")
    assert {"optimizer", "batchnorm", "gauss_length"} <= set(header)
    saved = json.loads((out / "study.json").read_text())["summary"]
    assert len(saved["rows"]) == 8 and all(r["gauss_length"] > 0 for r in saved["rows"])
    assert [(c["optimizer"], c["batchnorm"], c["n"]) for c in saved["cells"]] == \
        [("adam", False, 2), ("adam", True, 2), ("sgd", False, 2), ("sgd", True, 2)]
    assert saved["cells"] == cells(saved["rows"])
    bn_runs = [r["run"] for r in saved["rows"] if r["batchnorm"]]
    assert all("-bn-" in name for name in bn_runs)
    assert (out / "study.png").stat().st_size > 10_000
    assert "sgd + BN" in capsys.readouterr().out
    # the statistics-choice experiment sweeps the BN runs of this study from its cache, three ways
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "docs" / "experiments" / "bn_statistics_choice.py"
    spec = importlib.util.spec_from_file_location("bn_statistics_choice", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main([str(out), "--runs-dir", str(runs)])
    lines = capsys.readouterr().out.splitlines()
    assert sum("seed" in line for line in lines) == 4 and sum("/2 monotone" in line for line in lines) == 6
    row = next(r for r in saved["rows"] if r["batchnorm"])
    result = module.sweep(row, runs, None, "quick")
    assert result["recompute"]["J"][-1] != result["interpolate (running)"]["J"][-1]  # other statistics at alpha=1
    record = json.loads(next(runs.rglob(f"{row['run']}/line-*.json")).read_text())
    assert record["curve"]["alphas"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert result["recompute"]["J"][[0, 10, 20, 30, 40]].tolist() == record["curve"]["J_train"]   # the study's line
    # in function space: the study's Gauss length is the softmax one here (on the study's grid of 5 alphas it is
    # a coarser polygon: never longer), and a length is never shorter than its chord
    fs = module.function_space(row, runs, None, "quick")
    assert fs["softmax"][0] >= row["gauss_length"] - 1e-12 and fs["softmax"][0] >= fs["softmax"][1] - 1e-12
    assert fs["logits"][0] >= fs["logits"][1] - 1e-9
    module.main([str(out), "--runs-dir", str(runs), "--function-space"])
    assert "G/C" in capsys.readouterr().out


def test_the_axes_from_a_toml_spec(tmp_path):
    from minilinpath.study import read_spec

    path = tmp_path / "study.toml"
    path.write_text('optimizer = ["sgd", "adam"]\nbatchnorm = [false, true]\nseeds = 2\n')
    runs = expand(read_spec(path))
    assert len(runs) == 8 and {(r.optimizer, r.batchnorm) for r in runs} == {
        ("sgd", False), ("sgd", True), ("adam", False), ("adam", True)}
    path.write_text('batchnorm = "yes"\n')
    with pytest.raises(SpecError, match="batchnorm: 'yes' is not true or false"):
        read_spec(path)
