"""Schedules against the values docs/CONFIGS.md derives from the pylearn2 yaml files."""
import numpy as np
import pytest

from minilinpath.optim import ExponentialDecay, LinearDecayOverEpoch, MomentumAdjustor, momentum_step
from minilinpath.train import MNIST_PI_RECIPE, MNIST_VALID_RECIPE, Recipe, recipe_for


def test_exponential_decay():
    s = ExponentialDecay(1.000004, 1e-6)
    assert s.lr(0.1, 0, 1) == 0.1
    # docs/CONFIGS.md section 1: about x0.998 per epoch of 500 updates
    assert s.lr(0.1, 500, 2) / 0.1 == pytest.approx(0.998, abs=1e-4)
    assert s.lr(0.1, 10 ** 8, 99) == 1e-6  # floored at min_lr


def test_maxout_recipe_at_epoch_243_matches_stage_two_values():
    # docs/CONFIGS.md section 1: mnist_pi_continued's lr 0.0615082606673 and momentum 0.694376766682 are the values
    # after the best-valid epoch 243 (243 * 500 updates; momentum of epoch 243)
    assert MNIST_PI_RECIPE.lr(243 * 500, 244) == pytest.approx(0.0615082606673, rel=1e-6)
    assert MNIST_PI_RECIPE.mu(243) == pytest.approx(0.694376766682, rel=1e-3)


def test_momentum_adjustor():
    s = MomentumAdjustor(1, 250, 0.7)
    assert s.momentum(0.5, 1) == 0.5
    assert s.momentum(0.5, 250) == pytest.approx(0.7)
    assert s.momentum(0.5, 400) == pytest.approx(0.7)
    assert s.momentum(0.5, 125.5) == pytest.approx(0.6)
    assert MomentumAdjustor(1, 2, 0.732716).momentum(0.5, 2) == pytest.approx(0.732716)


def test_linear_decay_over_epoch():
    s = LinearDecayOverEpoch(1, 560, 0.022292)
    lr0 = 0.097259
    step = (lr0 - lr0 * 0.022292) / 560
    assert s.lr(lr0, 0, 1) == pytest.approx(lr0 - step)
    assert s.lr(lr0, 0, 559) == pytest.approx(lr0 - 559 * step)
    assert s.lr(lr0, 0, 560) == pytest.approx(0.097259 * 0.022292)  # about 0.002168
    assert s.lr(lr0, 0, 900) == pytest.approx(0.002168, abs=1e-6)
    assert MNIST_VALID_RECIPE.mu(698) == pytest.approx(0.699217)


def test_momentum_step_matches_the_formula(rng):
    theta, v, g = rng.standard_normal(5), rng.standard_normal(5), rng.standard_normal(5)
    expected_v = 0.6 * v - 0.01 * g
    expected_theta = theta + expected_v
    g_used = g.copy()
    momentum_step(theta, v, g_used, lr=0.01, mu=0.6)
    np.testing.assert_allclose(g_used, 0.01 * g, rtol=1e-15)  # documented: grad is used as scratch
    np.testing.assert_allclose(v, expected_v, rtol=1e-15)
    np.testing.assert_allclose(theta, expected_theta, rtol=1e-15)


def test_momentum_step_in_blocks_is_the_written_out_update_bit_for_bit(rng, monkeypatch):
    """The update runs on blocks of parameters over threads: each number as the four whole-array passes give it."""
    from minilinpath import threads
    monkeypatch.setenv("MINILINPATH_THREADS", "3")
    monkeypatch.setattr(threads, "MIN_BLOCK_BYTES", 1)
    theta, v, g = (rng.standard_normal(1001).astype(np.float32) for _ in range(3))
    want_theta, want_v, want_g = theta.copy(), v.copy(), g.copy()
    want_v *= np.float32(0.5)
    want_g *= np.float32(0.01)
    want_v -= want_g
    want_theta += want_v
    momentum_step(theta, v, g, lr=0.01, mu=0.5)
    for got, want in ((theta, want_theta), (v, want_v), (g, want_g)):
        assert got.dtype == np.float32 and np.array_equal(got, want)
    one = [np.array(2.0), np.array(1.0), np.array(4.0)]       # 0-d arrays: one number, no blocks
    momentum_step(*one, lr=0.25, mu=0.5)
    assert [float(a) for a in one] == [2.0 + 0.5 - 1.0, 0.5 - 1.0, 1.0]


def test_recipe_round_trip_and_validation():
    assert Recipe.from_dict(MNIST_PI_RECIPE.to_dict()) == MNIST_PI_RECIPE
    with pytest.raises(ValueError, match="momentum"):
        Recipe(momentum=1.0)
    with pytest.raises(KeyError, match="no training recipe"):
        recipe_for("deep_linear")
    assert recipe_for("relu_quick").max_epochs < recipe_for("relu").max_epochs and recipe_for("relu").max_epochs > 1000
