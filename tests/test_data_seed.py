"""The trainer's separate data seed: a run that names none is the run it was before the data seed existed."""
import numpy as np
import pytest

from minilinpath.models import MLP
from minilinpath.runs import fingerprint
from minilinpath.train import Recipe, describe_run, train
from minilinpath.trajfile import TrajectoryFile


def blobs(seed, n=300, d=10, c=3):
    centers = 2.0 * np.random.default_rng(0).standard_normal((c, d))
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, size=n)
    return (centers[y] + rng.standard_normal((n, d))).astype(np.float32), y


def dropout_mlp(**overrides):
    settings = dict(n_in=10, hidden=(16,), activation="relu", n_classes=3, init_ranges=(0.1, 0.1),
                    input_include=0.8, hidden_include=0.5, hidden_scale=2.0)
    return MLP(**{**settings, **overrides})


RECIPE = Recipe(batch_size=20, learning_rate=0.05, momentum=0.5, max_epochs=4, patience=None)
TRAIN, VALID = blobs(0), blobs(1, n=200)
# Pinned with the trainer as it was before the data seed existed (one seed for everything): the fingerprint
# of this run and what it learned. A change here means old run folders would no longer be found or reused.
PINNED_FINGERPRINT = "a7fb2b92e13db2bfaca7fc8e2071f01d410a1ad540bd756740f6cd4e527840f8"
PINNED_VALID_ERRORS = [0.87, 0.325, 0.0, 0.005, 0.0]
PINNED_TRAIN_OBJECTIVES = [1.0535028497378032, 0.8084836363792419, 0.41564436356226603, 0.241255788008372]
PINNED_NORM = 2.274810931260687


def test_the_default_data_seed_keeps_the_description_and_the_fingerprint():
    model = dropout_mlp()
    plain = describe_run(model, RECIPE, 3, TRAIN, VALID)
    named = describe_run(model, RECIPE, 3, TRAIN, VALID, data_seed=3)
    assert plain == named and "data_seed" not in plain
    assert fingerprint(plain) == fingerprint(named) == PINNED_FINGERPRINT
    other = describe_run(model, RECIPE, 3, TRAIN, VALID, data_seed=4)
    assert other["data_seed"] == 4 and fingerprint(other) != PINNED_FINGERPRINT


def test_the_default_data_seed_keeps_the_numbers_and_the_run_folder(tmp_path):
    model = dropout_mlp()
    run = train(model, TRAIN, VALID, RECIPE, tmp_path / "run", seed=3, progress=False, log=None)
    assert [h["valid_error"] for h in run.history] == PINNED_VALID_ERRORS
    np.testing.assert_allclose([h["train_objective"] for h in run.history[1:]], PINNED_TRAIN_OBJECTIVES, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(run.theta_last.astype(np.float64)), PINNED_NORM, rtol=1e-5)
    # naming the data seed = the seed finds the same folder (same run.json) and reuses it
    logs = []
    again = train(model, TRAIN, VALID, RECIPE, tmp_path / "run", seed=3, data_seed=3, progress=False,
                  log=logs.append)
    assert any("already trained" in line for line in logs)
    np.testing.assert_array_equal(again.theta_last, run.theta_last)


def test_another_data_seed_keeps_the_init_and_changes_the_trajectory(tmp_path):
    model = dropout_mlp()
    a = train(model, TRAIN, VALID, RECIPE, tmp_path / "a", seed=3, progress=False, log=None)
    b = train(model, TRAIN, VALID, RECIPE, tmp_path / "b", seed=3, data_seed=8, progress=False, log=None)
    c = train(model, TRAIN, VALID, RECIPE, tmp_path / "c", seed=4, data_seed=8, progress=False, log=None)
    rows_a, rows_b = (TrajectoryFile(tmp_path / name / "trajectory").rows() for name in "ab")
    np.testing.assert_array_equal(a.theta_init, b.theta_init)  # the init follows the seed alone
    assert not np.array_equal(b.theta_init, c.theta_init)
    np.testing.assert_array_equal(rows_a[0], rows_b[0])
    for epoch in range(1, 5):
        assert np.abs(rows_a[epoch] - rows_b[epoch]).max() > 1e-3
    # the data seed enters the fingerprint: a folder of one data seed refuses the other
    from minilinpath.train import RunMismatchError
    with pytest.raises(RunMismatchError, match="data_seed"):
        train(model, TRAIN, VALID, RECIPE, tmp_path / "a", seed=3, data_seed=8, progress=False, log=None)


def test_the_data_seed_draws_the_dropout_masks_too(tmp_path):
    """One minibatch of all examples: the data order changes only the rounding of the sums, so two data seeds
    agree closely without dropout and differ with it (the masks)."""
    full_batch = Recipe(batch_size=300, learning_rate=0.1, momentum=0.5, max_epochs=3, patience=None)
    final = {}
    for dropout in (False, True):
        model = dropout_mlp() if dropout else dropout_mlp(input_include=1.0, hidden_include=1.0, hidden_scale=1.0)
        for d in (1, 2):
            final[dropout, d] = train(model, TRAIN, VALID, full_batch, tmp_path / f"{dropout}-{d}", seed=0,
                                      data_seed=d, progress=False, log=None).theta_last
    np.testing.assert_allclose(final[False, 1], final[False, 2], rtol=0, atol=1e-5)
    assert np.abs(final[True, 1] - final[True, 2]).max() > 1e-3  # (measured: 8e-3; without dropout 2e-8)


def test_a_negative_data_seed_is_refused(tmp_path):
    with pytest.raises(ValueError, match="data_seed"):
        train(dropout_mlp(), TRAIN, VALID, RECIPE, tmp_path / "r", seed=0, data_seed=-1, progress=False, log=None)
