"""The trainer: learning, files, early stopping, resume = uninterrupted, NaN stop."""
import json

import numpy as np
import pytest

from minilinpath.models import MLP
from minilinpath.params import load_checkpoint
from minilinpath.train import Recipe, RunMismatchError, TrainingDiverged, train
from minilinpath.trajfile import TrajectoryFile


def blobs(seed, n=300, d=10, c=3):
    """A small separable problem: Gaussian clusters around fixed centres, samples drawn from ``seed``."""
    centers = 2.0 * np.random.default_rng(0).standard_normal((c, d))
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, size=n)
    X = (centers[y] + rng.standard_normal((n, d))).astype(np.float32)
    return X, y


def setup():
    model = MLP(n_in=10, hidden=(16,), activation="maxout", pieces=2, n_classes=3, init_ranges=(0.1, 0.1),
                max_col_norms=(1.5, 2.0), input_include=0.8, hidden_include=0.5, hidden_scale=2.0)
    return model, blobs(0), blobs(1, n=200)


RECIPE = Recipe(batch_size=20, learning_rate=0.05, momentum=0.5, max_epochs=6, patience=None)


def test_training_learns_and_writes_its_files(tmp_path):
    model, train_set, valid_set = setup()
    result = train(model, train_set, valid_set, RECIPE, tmp_path / "run", seed=3, progress=False, log=None)
    errors = [h["valid_error"] for h in result.history]
    assert errors[0] > 0.4 and min(errors) < 0.1
    for name in ("run.json", "init.npz", "best.npz", "state.npz", "history.json", "trajectory.bin"):
        assert (tmp_path / "run" / name).exists()
    traj = TrajectoryFile(tmp_path / "run" / "trajectory").rows()
    assert traj.shape == (7, model.size)  # init + 6 epochs
    np.testing.assert_array_equal(traj[0], result.theta_init)
    np.testing.assert_array_equal(traj[-1], result.theta_last)
    best = int(np.argmin(errors))
    assert result.best_epoch == best
    np.testing.assert_array_equal(result.theta_best, traj[best])
    # max-norm constraints hold after every epoch
    for row in traj[1:]:
        p = model.unflatten(np.array(row))
        assert np.linalg.norm(p["h0.W"], axis=0).max() <= 1.5 * (1 + 1e-6)


def test_resume_after_interruption_equals_uninterrupted_run(tmp_path):
    model, train_set, valid_set = setup()
    full = train(model, train_set, valid_set, RECIPE, tmp_path / "full", seed=5, progress=False, log=None)

    calls = {"n": 0}

    def interrupted(theta, batch, rng):
        calls["n"] += 1
        if calls["n"] == 3 * 15 + 7:  # in the middle of epoch 4 (15 batches per epoch)
            raise KeyboardInterrupt
        return model.loss_and_grad(theta, batch, rng=rng)

    with pytest.raises(KeyboardInterrupt):
        train(model, train_set, valid_set, RECIPE, tmp_path / "cut", seed=5, objective=interrupted,
              progress=False, log=None)
    resumed = train(model, train_set, valid_set, RECIPE, tmp_path / "cut", seed=5, progress=False, log=None)
    np.testing.assert_array_equal(resumed.theta_last, full.theta_last)
    np.testing.assert_array_equal(TrajectoryFile(tmp_path / "cut" / "trajectory").rows(),
                                  TrajectoryFile(tmp_path / "full" / "trajectory").rows())
    assert [h["valid_error"] for h in resumed.history] == [h["valid_error"] for h in full.history]
    # a finished run is reused, not retrained
    again = train(model, train_set, valid_set, RECIPE, tmp_path / "full", seed=5, progress=False, log=None)
    np.testing.assert_array_equal(again.theta_last, full.theta_last)


def test_early_stopping_with_patience(tmp_path):
    model, train_set, valid_set = setup()
    frozen = Recipe(batch_size=50, learning_rate=1e-12, momentum=0.0, max_epochs=50, patience=3)
    result = train(model, train_set, valid_set, frozen, tmp_path / "r", seed=0, progress=False, log=None)
    assert len(result.history) == 1 + 3 and "early stopping" in result.stopped
    assert result.best_epoch == 0


def test_nan_loss_stops_and_keeps_last_good_state(tmp_path):
    model, train_set, valid_set = setup()
    calls = {"n": 0}

    def explodes(theta, batch, rng):
        calls["n"] += 1
        loss, grad = model.loss_and_grad(theta, batch, rng=rng)
        return (float("nan") if calls["n"] > 20 else loss), grad

    with pytest.raises(TrainingDiverged, match="end of epoch 1"):
        train(model, train_set, valid_set, RECIPE, tmp_path / "r", seed=0, objective=explodes, progress=False,
              log=None)
    theta, _, meta = load_checkpoint(tmp_path / "r" / "state.npz", model.layout)
    assert json.loads((tmp_path / "r" / "history.json").read_text())[-1]["epoch"] == 1
    assert np.all(np.isfinite(theta))
    assert len(TrajectoryFile(tmp_path / "r" / "trajectory")) == 2


def test_run_folder_of_another_run_is_refused(tmp_path):
    model, train_set, valid_set = setup()
    train(model, train_set, valid_set, RECIPE, tmp_path / "r", seed=0, progress=False, log=None)
    before = (tmp_path / "r" / "state.npz").read_bytes()
    with pytest.raises(RunMismatchError, match="seed"):
        train(model, train_set, valid_set, RECIPE, tmp_path / "r", seed=1, progress=False, log=None)
    assert (tmp_path / "r" / "state.npz").read_bytes() == before


def test_trajectory_file_rejects_another_shape(tmp_path):
    TrajectoryFile(tmp_path / "t", 5, "float32").append(np.zeros(5))
    with pytest.raises(ValueError, match="another run"):
        TrajectoryFile(tmp_path / "t", 6, "float32")
    with pytest.raises(ValueError, match="rows have 5"):
        TrajectoryFile(tmp_path / "t").append(np.zeros(4))


def test_second_stage_from_given_parameters_with_a_stop_rule(tmp_path):
    model, train_set, valid_set = setup()
    first = train(model, train_set, valid_set, RECIPE, tmp_path / "stage1", seed=0, progress=False, log=None)
    target = first.history[first.best_epoch]["train_objective"] * 1.2
    second = train(model, train_set, valid_set, Recipe(batch_size=20, learning_rate=0.01, max_epochs=20, patience=None),
                   tmp_path / "stage2", seed=0, theta_start=first.theta_best, progress=False, log=None,
                   stop_when=lambda h: "matched" if h["train_objective"] <= target else None)
    np.testing.assert_array_equal(second.theta_init, first.theta_best)
    assert second.stopped == "matched" and len(second.history) < 21
    with pytest.raises(RunMismatchError, match="start"):  # another start point is another run
        train(model, train_set, valid_set, Recipe(batch_size=20, learning_rate=0.01, max_epochs=20, patience=None),
              tmp_path / "stage2", seed=0, theta_start=first.theta_last, progress=False, log=None)
