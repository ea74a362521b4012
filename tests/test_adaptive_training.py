"""Adam and RMSProp by hand, and training with them and with batch normalization: the updates against their
formulas written out here, their state and the running statistics in the run folder, resume bit for bit."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from minilinpath.models import MLP
from minilinpath.optim import Adam, RMSProp
from minilinpath.train import Recipe, describe_run, load_statistics, train
from minilinpath.runs import fingerprint

RECIPE = Recipe(batch_size=20, learning_rate=0.01, momentum=0.5, max_epochs=5, patience=None)


def test_adam_against_its_formula():
    rng = np.random.default_rng(0)
    theta, grads = rng.standard_normal(6), [rng.standard_normal(6) for _ in range(4)]
    lr, b1, b2, eps = 0.01, 0.8, 0.95, 1e-6
    adam, state, mine = Adam(b1, b2, eps), {"adam_m": np.zeros(6), "adam_v": np.zeros(6)}, theta.copy()
    m, v, want = np.zeros(6), np.zeros(6), theta.copy()
    for t, g in enumerate(grads, start=1):
        adam.step(mine, state, g.copy(), lr, t)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g ** 2
        want = want - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
        np.testing.assert_allclose(mine, want, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(state["adam_m"], m, rtol=1e-14)
    # the first step moves every parameter by about lr (m_hat / sqrt(v_hat) = g / |g|)
    first = theta.copy()
    Adam().step(first, {"adam_m": np.zeros(6), "adam_v": np.zeros(6)}, grads[0].copy(), 0.01, 1)
    np.testing.assert_allclose(np.abs(first - theta), 0.01, rtol=1e-5)


def test_rmsprop_against_its_formula():
    rng = np.random.default_rng(1)
    theta, grads = rng.standard_normal(5), [rng.standard_normal(5) for _ in range(3)]
    lr, rho, eps = 0.05, 0.7, 1e-8
    rule, state, mine, v, want = RMSProp(rho, eps), {"rmsprop_v": np.zeros(5)}, theta.copy(), np.zeros(5), theta.copy()
    for t, g in enumerate(grads, start=1):
        rule.step(mine, state, g.copy(), lr, t)
        v = rho * v + (1 - rho) * g ** 2
        want = want - lr * g / (np.sqrt(v) + eps)
        np.testing.assert_allclose(mine, want, rtol=1e-14, atol=1e-15)


def test_bad_optimizer_settings_refused():
    with pytest.raises(ValueError, match="beta2"):
        Adam(beta2=1.0)
    with pytest.raises(ValueError, match="optimizer must be"):
        Recipe(optimizer="adam")


def test_a_recipe_without_optimizer_describes_itself_as_before():
    assert "optimizer" not in Recipe().to_dict()
    adam = replace(RECIPE, optimizer=Adam())
    assert adam.to_dict()["optimizer"] == {"kind": "Adam", "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
    assert Recipe.from_dict(adam.to_dict()) == adam and Recipe.from_dict(RECIPE.to_dict()) == RECIPE


def setup(batchnorm=False):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 8)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    model = MLP(n_in=8, hidden=(6,), activation="relu", n_classes=2, init_ranges=(0.5, 0.5), batchnorm=batchnorm)
    return model, (X[:200], y[:200]), (X[200:], y[200:])


@pytest.mark.parametrize("optimizer, batchnorm", [(Adam(), False), (RMSProp(), False), (Adam(), True),
                                                  (None, True)])
def test_resume_is_bit_identical(tmp_path, optimizer, batchnorm):
    model, train_set, valid_set = setup(batchnorm)
    recipe = replace(RECIPE, optimizer=optimizer, learning_rate=0.01 if optimizer else 0.2)
    full = train(model, train_set, valid_set, recipe, tmp_path / "full", seed=3, progress=False, log=None)
    assert full.history[-1]["valid_error"] < 0.2          # it learns
    calls = {"n": 0}
    name = "loss_grad_and_statistics" if batchnorm else "loss_and_grad"
    real = getattr(model, name)

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2 * 10 + 4:     # in epoch 3 (10 minibatches per epoch)
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    cut_model = setup(batchnorm)[0]
    setattr(cut_model, name, interrupted) if batchnorm else None
    with pytest.raises(KeyboardInterrupt):
        if batchnorm:
            train(cut_model, train_set, valid_set, recipe, tmp_path / "cut", seed=3, progress=False, log=None)
        else:
            train(model, train_set, valid_set, recipe, tmp_path / "cut", seed=3, progress=False, log=None,
                  objective=lambda theta, batch, rng: interrupted(theta, batch, rng=rng))
    resumed = train(model, train_set, valid_set, recipe, tmp_path / "cut", seed=3, progress=False, log=None)
    np.testing.assert_array_equal(resumed.theta_last, full.theta_last)
    assert [h["valid_nll"] for h in resumed.history] == [h["valid_nll"] for h in full.history]
    if batchnorm:
        for k, v in full.statistics.items():
            np.testing.assert_array_equal(resumed.statistics[k], v)
            np.testing.assert_array_equal(load_statistics(tmp_path / "full", "last")[k], v)
        assert set(load_statistics(tmp_path / "full", "best")) == {"h0.mean", "h0.var"}
        assert not np.allclose(full.statistics["h0.var"], 1.0)   # the running statistics moved


def test_validation_uses_the_running_statistics(tmp_path):
    model, train_set, valid_set = setup(True)
    run = train(model, train_set, valid_set, RECIPE, tmp_path / "run", seed=1, progress=False, log=None)
    with_running = model.with_statistics(run.statistics).loss(run.theta_last, valid_set)
    assert run.history[-1]["valid_nll"] == with_running
    assert model.loss(run.theta_last, valid_set) != with_running   # the set's own statistics: another number


def test_new_settings_change_the_fingerprint_old_ones_do_not():
    model, train_set, valid_set = setup()
    plain = fingerprint(describe_run(model, RECIPE, 0, train_set, valid_set))
    assert plain == fingerprint(describe_run(model, replace(RECIPE, optimizer=None), 0, train_set, valid_set))
    assert plain != fingerprint(describe_run(model, replace(RECIPE, optimizer=Adam()), 0, train_set, valid_set))
    assert plain != fingerprint(describe_run(setup(True)[0], RECIPE, 0, train_set, valid_set))


@pytest.mark.gpu
def test_batchnorm_and_adam_on_the_device_follow_the_cpu(cupy, tmp_path):
    """A BN network trained with Adam on the device (float64): the same run as on the CPU, its statistics on
    the device, and the line through it with both statistics choices."""
    from minilinpath.path import linear_path

    model, train_set, valid_set = setup(True)
    train_set = tuple(a.astype(np.float64) if a.dtype == np.float32 else a for a in train_set)
    valid_set = tuple(a.astype(np.float64) if a.dtype == np.float32 else a for a in valid_set)
    recipe = replace(RECIPE, optimizer=Adam(), max_epochs=2)
    cpu = train(model, train_set, valid_set, recipe, tmp_path / "cpu", seed=2, dtype=np.float64, progress=False,
                log=None)
    device_sets = [tuple(cupy.asarray(a) for a in s) for s in (train_set, valid_set)]
    gpu = train(model, *device_sets, recipe, tmp_path / "gpu", seed=2, dtype=np.float64, progress=False, log=None)
    np.testing.assert_allclose(gpu.theta_last.get(), cpu.theta_last, rtol=1e-9, atol=1e-12)
    for k, v in cpu.statistics.items():
        np.testing.assert_allclose(gpu.statistics[k].get(), v, rtol=1e-9, atol=1e-12)
    for choice in ("recompute", "interpolate"):
        on_cpu = linear_path(model, cpu.theta_init, cpu.theta_last, train_set, [0, 0.5, 1], valid_set,
                             statistics=choice, progress=False)
        on_gpu = linear_path(model, gpu.theta_init, gpu.theta_last, device_sets[0], [0, 0.5, 1], device_sets[1],
                             statistics=choice, progress=False)
        np.testing.assert_allclose(on_gpu.J_train, on_cpu.J_train, rtol=1e-9)
        np.testing.assert_allclose(on_gpu.J_valid, on_cpu.J_valid, rtol=1e-9)
