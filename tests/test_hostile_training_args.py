"""Hostile arguments to the training entry points: Recipe, train, LMRecipe, train_language_model,
clip_global_norm, the schedules, gradient_descent and fgsm_objective.

Bad values must be refused at once with one ValueError line naming the argument (never a cryptic TypeError
deep inside, a silent run with a negative learning rate, or an endless run), and a NaN/inf gradient under a
finite loss must stop training before it is saved, so that a later call resumes from finite parameters.
"""
import json
import math

import numpy as np
import pytest

from minilinpath.adversarial import fgsm_objective
from minilinpath.models import MLP, get
from minilinpath.optim import ExponentialDecay, LinearDecayOverEpoch, MomentumAdjustor, gradient_descent
from minilinpath.runs import RunMismatchError
from minilinpath.train import RECIPES, Recipe, TrainingDiverged, recipe_for, train
from minilinpath.train_lm import LM_RECIPES, LMRecipe, clip_global_norm, lm_recipe_for, train_language_model

NAN, INF = float("nan"), float("inf")


def tiny():
    """An MLP 4-5-3 and 40 training / 20 validation examples of made-up data (5 batches of 8 per epoch)."""
    rng = np.random.default_rng(0)
    X, Xv = rng.normal(size=(40, 4)).astype(np.float32), rng.normal(size=(20, 4)).astype(np.float32)
    return MLP(n_in=4, hidden=(5,), n_classes=3), (X, rng.integers(0, 3, 40)), (Xv, rng.integers(0, 3, 20))


RECIPE = Recipe(batch_size=8, learning_rate=0.1, lr_schedule=ExponentialDecay(1.01, 1e-3), momentum=0.5,
                momentum_schedule=MomentumAdjustor(1, 3, 0.7), max_epochs=3, patience=None)


@pytest.mark.parametrize("bad, field", [
    (dict(learning_rate=NAN), "learning_rate"), (dict(learning_rate=INF), "learning_rate"),
    (dict(learning_rate="0.1"), "learning_rate"), (dict(learning_rate=-0.1), "learning_rate"),
    (dict(batch_size=2.5), "batch_size"), (dict(batch_size=True), "batch_size"), (dict(batch_size=0), "batch_size"),
    (dict(max_epochs=0), "max_epochs"), (dict(max_epochs=2.5), "max_epochs"), (dict(max_epochs=INF), "max_epochs"),
    (dict(patience=0), "patience"), (dict(patience=-1), "patience"), (dict(patience=1.5), "patience"),
    (dict(patience=NAN), "patience"), (dict(momentum=1.0), "momentum"), (dict(momentum=NAN), "momentum"),
    (dict(momentum=True), "momentum"), (dict(drop_last="no"), "drop_last"), (dict(lr_schedule="exp"), "lr_schedule"),
    (dict(lr_schedule=MomentumAdjustor(1, 2, 0.7)), "lr_schedule"),
    (dict(momentum_schedule=ExponentialDecay(1.1, 0.0)), "momentum_schedule"),
])
def test_recipe_refuses_bad_values_in_one_line(bad, field):
    with pytest.raises(ValueError, match=f"^{field} must be") as info:
        Recipe(**bad)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("make, words", [
    (lambda: ExponentialDecay(0.0, 0.0), "decay_factor"),        # was a ZeroDivisionError in epoch 1
    (lambda: ExponentialDecay(0.5, 1e-6), "decay_factor"),       # the rate grows: 0.1, 3.2, 102.4, ... silently
    (lambda: ExponentialDecay(-2.0, 0.0), "decay_factor"),
    (lambda: ExponentialDecay(1.01, -1.0), "min_lr"),
    (lambda: LinearDecayOverEpoch(1, 3, -1.0), "decay_factor"),  # went on with a negative learning rate
    (lambda: LinearDecayOverEpoch(3, 1, 0.1), "saturate must be >= start"),
    (lambda: LinearDecayOverEpoch(1.5, 3, 0.1), "start"),
    (lambda: MomentumAdjustor(1, 2, 1.5), "final_momentum"),     # trained at momentum 1.5
    (lambda: MomentumAdjustor(1, 2, -0.5), "final_momentum"),
    (lambda: MomentumAdjustor(3, 1, 0.9), "saturate must be >= start"),
])
def test_schedules_refuse_values_that_make_the_rate_negative_or_growing(make, words):
    with pytest.raises(ValueError, match=words):
        make()


def test_every_preset_recipe_is_still_valid_and_numpy_scalars_become_python_numbers():
    for name in list(RECIPES) + ["mnist_pi_quick", "sigmoid_quick", "cifar10_maxout_quick"]:
        assert recipe_for(name).max_epochs >= 1
    for name in list(LM_RECIPES) + ["ptb_small_quick"]:
        assert lm_recipe_for(name).max_max_epoch >= 1
    recipe = Recipe(batch_size=np.int64(8), learning_rate=np.float32(0.25), momentum=np.float64(0.5),
                    max_epochs=np.int32(3), patience=np.int64(2))
    assert [type(v) for v in (recipe.batch_size, recipe.learning_rate, recipe.max_epochs, recipe.patience)] == \
        [int, float, int, int]
    assert json.loads(json.dumps(recipe.to_dict()))["learning_rate"] == 0.25
    lm = LMRecipe(batch_size=np.int64(4), max_grad_norm=np.float32(5.0))
    assert type(lm.batch_size) is int and type(lm.max_grad_norm) is float


def test_recipe_round_trips_through_run_json_and_a_changed_recipe_is_another_run(tmp_path):
    model, train_set, valid_set = tiny()
    first = train(model, train_set, valid_set, RECIPE, tmp_path / "run", seed=1, progress=False, log=None)
    saved = json.loads((tmp_path / "run" / "run.json").read_text())["description"]["recipe"]
    assert Recipe.from_dict(saved) == RECIPE
    # the same recipe, rebuilt from run.json, reuses the finished run (no new epoch)
    messages = []
    again = train(model, train_set, valid_set, Recipe.from_dict(saved), tmp_path / "run", seed=1, progress=False,
                  log=messages.append)
    assert "reusing" in messages[-1] and len(again.history) == len(first.history)
    np.testing.assert_array_equal(again.theta_last, first.theta_last)
    for changed in (dict(learning_rate=0.2), dict(patience=2), dict(max_epochs=4),
                    dict(lr_schedule=ExponentialDecay(1.02, 1e-3)), dict(momentum_schedule=None),
                    dict(drop_last=True)):
        recipe = Recipe(**{**RECIPE.to_dict(), "lr_schedule": RECIPE.lr_schedule,
                           "momentum_schedule": RECIPE.momentum_schedule, **changed})
        with pytest.raises(RunMismatchError):
            train(model, train_set, valid_set, recipe, tmp_path / "run", seed=1, progress=False, log=None)


def test_seeds_must_be_whole_numbers_and_a_numpy_seed_is_the_same_run(tmp_path):
    model, train_set, valid_set = tiny()
    for bad in (dict(seed=1.5), dict(seed=True), dict(seed=NAN), dict(seed="1"), dict(seed=0, data_seed=2.5)):
        with pytest.raises(ValueError, match="seed must be a whole number"):
            train(model, train_set, valid_set, RECIPE, tmp_path / "bad", progress=False, log=None, **bad)
    assert not (tmp_path / "bad").exists()
    plain = train(model, train_set, valid_set, RECIPE, tmp_path / "run", seed=2, data_seed=3, progress=False, log=None)
    numpy_seeds = train(model, train_set, valid_set, RECIPE, tmp_path / "run", seed=np.int64(2),
                        data_seed=np.int64(3), progress=False, log=None)  # was: int64 is not JSON serializable
    np.testing.assert_array_equal(numpy_seeds.theta_last, plain.theta_last)
    # the one whole-number rule (minilinpath.checks): 2.0 and 3.0 are the seeds 2 and 3, the same run
    float_seeds = train(model, train_set, valid_set, RECIPE, tmp_path / "run", seed=2.0, data_seed=3.0,
                        progress=False, log=None)
    np.testing.assert_array_equal(float_seeds.theta_last, plain.theta_last)


def test_a_nan_gradient_under_a_finite_loss_is_never_saved_and_the_run_resumes_finite(tmp_path):
    model, train_set, valid_set = tiny()
    clean = train(model, train_set, valid_set, RECIPE, tmp_path / "clean", seed=4, progress=False, log=None)
    calls = {"n": 0}

    def spoilt_last_batch_of_epoch_2(theta, batch, rng):
        calls["n"] += 1
        loss, grad = model.loss_and_grad(theta, batch, rng=rng)
        if calls["n"] == 10:  # 5 batches per epoch: the last update of epoch 2
            grad[0] = np.nan
        return loss, grad

    with pytest.raises(TrainingDiverged, match="parameters became NaN or infinite in epoch 2.*end of epoch 1"):
        train(model, train_set, valid_set, RECIPE, tmp_path / "run", seed=4, objective=spoilt_last_batch_of_epoch_2,
              progress=False, log=None)
    state = np.load(tmp_path / "run" / "state.npz")
    assert json.loads(str(state["meta"]))["epoch"] == 1 and np.isfinite(state["theta"]).all()
    resumed = train(model, train_set, valid_set, RECIPE, tmp_path / "run", seed=4, progress=False, log=None)
    np.testing.assert_array_equal(resumed.theta_last, clean.theta_last)


def test_non_finite_start_points_are_refused_before_anything_is_written(tmp_path):
    model, train_set, valid_set = tiny()
    theta = model.init(0)
    theta[3] = np.inf
    with pytest.raises(ValueError, match="theta_start holds NaN or infinite"):
        train(model, train_set, valid_set, RECIPE, tmp_path / "run", theta_start=theta, progress=False, log=None)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("bad, field", [
    (dict(epsilon=NAN), "epsilon"), (dict(epsilon=INF), "epsilon"), (dict(epsilon=-0.1), "epsilon"),
    (dict(epsilon="0.1"), "epsilon"), (dict(mix=NAN), "mix"), (dict(clip=(1.0, 0.0)), "clip"),
])
def test_fgsm_objective_refuses_bad_epsilon_mix_and_clip(bad, field):
    model, _, _ = tiny()
    with pytest.raises(ValueError, match=f"^{field} must be"):
        fgsm_objective(model, **bad)


@pytest.mark.parametrize("bad, field", [
    (dict(lr=-1.0), "lr"), (dict(lr=NAN), "lr"), (dict(momentum=1.0), "momentum"), (dict(momentum=-0.5), "momentum"),
    (dict(steps=2.5), "steps"),
])
def test_gradient_descent_refuses_bad_arguments(bad, field):
    model, train_set, _ = tiny()
    with pytest.raises(ValueError, match=f"^{field} must be"):
        list(gradient_descent(model, model.init(0), train_set, **{"lr": 0.1, **bad}))


@pytest.mark.parametrize("bad, field", [
    (dict(max_grad_norm=0.0), "max_grad_norm"), (dict(max_grad_norm=-5.0), "max_grad_norm"),
    (dict(max_grad_norm=NAN), "max_grad_norm"), (dict(learning_rate=-1.0), "learning_rate"),
    (dict(learning_rate=NAN), "learning_rate"), (dict(decay=0.0), "decay"), (dict(decay=0.5), "decay"),
    (dict(max_epoch=-1), "max_epoch"), (dict(max_max_epoch=0), "max_max_epoch"), (dict(max_max_epoch=2.5), "max_max_epoch"),
    (dict(batch_size=0), "batch_size"),
])
def test_lm_recipe_refuses_bad_values(bad, field):
    with pytest.raises(ValueError, match=f"^{field} must be"):
        LMRecipe(**bad)


def test_clip_global_norm_refuses_a_negative_or_nan_bound():
    for bad in (-1.0, NAN):  # -1 flipped the gradient (an ascent step); NaN skipped the clipping silently
        with pytest.raises(ValueError, match="max_norm must be"):
            clip_global_norm(np.array([3.0, 4.0]), bad)
    g = np.array([3.0, 4.0])
    assert clip_global_norm(g, 1.0) == 5.0 and np.allclose(g, [0.6, 0.8])


def test_lm_nan_gradient_under_a_finite_loss_stops_before_saving(tmp_path):
    model = get("ptb_small", vocab_size=50, hidden=8)
    rng = np.random.default_rng(0)
    train_data = rng.integers(0, 50, (4, 2 * model.steps + 1))  # 2 windows per epoch
    valid_data = rng.integers(0, 50, (2, model.steps + 1))
    recipe = LMRecipe(batch_size=4, learning_rate=1.0, decay=2.0, max_epoch=1, max_max_epoch=2, max_grad_norm=5.0)
    clean = train_language_model(model, train_data, valid_data, recipe, tmp_path / "clean", progress=False, log=None)
    original, calls = model.loss_and_grad, {"n": 0}

    def spoilt_last_window_of_epoch_2(theta, batch, **kw):
        calls["n"] += 1
        loss, grad, state = original(theta, batch, **kw)
        if calls["n"] == 4:
            grad[0] = np.nan
        return loss, grad, state

    model.loss_and_grad = spoilt_last_window_of_epoch_2
    with pytest.raises(TrainingDiverged, match="gradient became nan in epoch 2.*end of epoch 1"):
        train_language_model(model, train_data, valid_data, recipe, tmp_path / "run", progress=False, log=None)
    model.loss_and_grad = original
    state = np.load(tmp_path / "run" / "state.npz")
    assert json.loads(str(state["meta"]))["epoch"] == 1 and np.isfinite(state["theta"]).all()
    resumed = train_language_model(model, train_data, valid_data, recipe, tmp_path / "run", progress=False, log=None)
    np.testing.assert_array_equal(resumed.theta_last, clean.theta_last)
    assert math.isfinite(resumed.best_valid_nll)
