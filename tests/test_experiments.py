"""The experiment cache: profiles, data keys, and the maxout paper profile's second stage on all examples."""
from dataclasses import replace

import numpy as np
import pytest

from minilinpath import experiments, train as train_module
from minilinpath.experiments import dataset_key, image_shape, load_splits, trained


def digits(n, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, size=n)
    X = np.clip(np.random.default_rng(0).random((10, 784))[y] + 0.2 * rng.standard_normal((n, 784)), 0, 1)
    return X.astype(np.float32), y


def test_paper_profile_runs_the_second_stage_on_all_examples(tmp_path, monkeypatch):
    monkeypatch.setitem(train_module.RECIPES, "mnist_pi", replace(train_module.MNIST_PI_RECIPE, max_epochs=2))
    monkeypatch.setattr(experiments, "STAGE2_RECIPE", replace(experiments.STAGE2_RECIPE, max_epochs=3))
    train_set, valid_set = digits(300, 1), digits(100, 2)
    run = trained("mnist_pi", 0, "paper", "toy", train_set, valid_set, runs_dir=tmp_path, log=lambda *a: None)
    assert len(run.run_dirs) == 2 and run.run_dirs[1].name == "stage2"
    rows = list(run.trajectory_rows())
    assert len(rows) == 1 + 2 + len(run.history) - 3  # stage 1 (init + 2 epochs) then stage 2's epochs
    np.testing.assert_array_equal(rows[-1], run.theta_final)
    import json
    stage2 = json.loads((run.run_dirs[1] / "run.json").read_text())
    described = stage2["description"]  # all 400 examples, from stage 1's best parameters
    assert described["data"]["X_train"]["shape"] == [400, 784] and described["start"].startswith("theta sha256")
    assert described["labels"] == {"dataset": "toy", "profile": "paper", "stage": 2}


def test_keys_shapes_and_profiles(tmp_path):
    path = tmp_path / "mine.npz"
    np.savez(path, X_train=np.zeros((3, 4)), y_train=np.zeros(3, int), X_valid=np.zeros((1, 4)), y_valid=[0])
    key = dataset_key(f"npz:{path}")
    renamed = tmp_path / "sub dir" / "other name.npz"
    renamed.parent.mkdir()
    renamed.write_bytes(path.read_bytes())
    assert key.startswith("npz-") and key == dataset_key(f"npz:{renamed}")  # named by content, not by path
    np.savez(renamed, X_train=np.ones((3, 4)), y_train=np.zeros(3, int), X_valid=np.zeros((1, 4)), y_valid=[0])
    assert dataset_key(f"npz:{renamed}") != key
    assert image_shape("cifar10", 3072) == (3, 32, 32) and image_shape("fashion-mnist", 784) == (1, 28, 28)
    with pytest.raises(ValueError, match="square"):
        image_shape("npz:x", 10)
    with pytest.raises(ValueError, match="profile"):
        load_splits("mnist", profile="fast")


def test_paper_capped_profile_is_the_paper_run_cut_short(tmp_path, monkeypatch):
    """paper-capped: the paper's preset and schedules (not the quick ones), both stages stopped at their caps."""
    from minilinpath.figures.common import TRAINING_PROFILES

    assert TRAINING_PROFILES == experiments.PROFILES
    monkeypatch.setattr(experiments, "PAPER_CAPPED_EPOCHS", 2)
    monkeypatch.setattr(experiments, "PAPER_CAPPED_STAGE2_EPOCHS", 1)
    assert experiments.preset_name("mnist_pi", "paper-capped") == "mnist_pi"
    train_set, valid_set = digits(300, 1), digits(100, 2)
    run = trained("mnist_pi", 0, "paper-capped", "toy", train_set, valid_set, runs_dir=tmp_path, log=lambda *a: None)
    assert run.model.hidden == (240, 240)  # the paper's network, not the quick one (120, 120)
    assert [h["epoch"] for h in run.history] == [0, 1, 2, 1]  # stage 1: epochs 0-2, stage 2: one epoch
    import json
    described = json.loads((run.run_dirs[0] / "run.json").read_text())["description"]
    paper = train_module.MNIST_PI_RECIPE
    assert described["recipe"]["max_epochs"] == 2 and described["recipe"]["learning_rate"] == paper.learning_rate
    assert described["recipe"]["momentum_schedule"] == json.loads(json.dumps(
        train_module.schedule_to_dict(paper.momentum_schedule)))
    assert described["labels"]["profile"] == "paper-capped"
    with pytest.raises(ValueError, match="profile must be one of"):
        experiments.preset_name("mnist_pi", "fast")


def test_figures_say_the_second_stage_trained_on_the_validation_examples(tmp_path, monkeypatch, capsys):
    """paper / paper-capped maxout: stage 2 trains on the validation examples, so the figure must not present its
    validation numbers as held out; the quick profile has no stage 2 and no such warning."""
    from minilinpath.figures import fig13
    from minilinpath.figures.mnist import STAGE2_WARNING

    from minilinpath import models

    monkeypatch.setattr(experiments, "PAPER_CAPPED_EPOCHS", 2)
    monkeypatch.setattr(experiments, "PAPER_CAPPED_STAGE2_EPOCHS", 1)
    # a larger init than the paper's U(+-0.005), so that two epochs leave the plateau around theta = 0
    monkeypatch.setitem(models.PRESETS, "mnist_pi", {**models.PRESETS["mnist_pi"], "init_ranges": (0.05,) * 3})
    (Xt, yt), (Xv, yv) = digits(300, 1), digits(100, 2)
    data = tmp_path / "d.npz"
    np.savez(data, X_train=Xt, y_train=yt, X_valid=Xv, y_valid=yv)
    for profile, expected in (("paper-capped", True), ("quick", False)):
        monkeypatch.setattr(train_module, "QUICK", {"max_epochs": 2, "patience": None})
        out = tmp_path / profile
        assert fig13.main(["--dataset", f"npz:{data}", "--profile", profile, "--runs-dir", str(tmp_path / "runs"),
                           "--out", str(out)]) == 0
        import json
        warnings = json.loads((out / "fig13.json").read_text())["summary"]["warnings"]
        assert (STAGE2_WARNING in warnings) is expected, (profile, warnings)
    assert "not held out" in capsys.readouterr().out
