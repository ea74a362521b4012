"""The quick profile: per-model recipes whose schedules decay within the run, and the shuffled mnist-test split."""
import numpy as np
import pytest

from minilinpath import train as train_module
from minilinpath.data import load_dataset
from minilinpath.data import mnist as mnist_module
from minilinpath.optim import ExponentialDecay, LinearDecayOverEpoch
from minilinpath.train import RECIPES, recipe_for

from .conftest import MNIST_T10K

MLPS = ("mnist_pi", "mnist_valid", "relu", "sigmoid")
FEWEST_UPDATES_PER_EPOCH = 8_000 // 100  # mnist-test: 8,000 training examples, batches of 100


def lr_at_epoch(recipe, epoch, updates_per_epoch=FEWEST_UPDATES_PER_EPOCH):
    return recipe.lr((epoch - 1) * updates_per_epoch, epoch)


@pytest.mark.parametrize("name", MLPS)
def test_quick_mlp_recipes_stop_early_and_decay_within_the_run(name):
    quick = recipe_for(name + "_quick")
    assert quick.patience is not None and 5 <= quick.patience <= quick.max_epochs // 5
    last_best = quick.max_epochs - quick.patience  # a best epoch after this one would not stop early
    # the learning rate has fallen to a tenth by then (the paper's schedules cut at the cap had moved by 1-5%)
    assert lr_at_epoch(quick, last_best) <= quick.learning_rate / 10
    paper = RECIPES[name]
    assert lr_at_epoch(paper, last_best) >= paper.learning_rate * 0.5  # the paper's schedule would not have
    # and the momentum ramp has reached its final value
    assert quick.mu(last_best) == pytest.approx(paper.momentum_schedule.final_momentum, abs=1e-12)
    assert paper.mu(last_best) < paper.momentum_schedule.final_momentum - 0.02


@pytest.mark.parametrize("name", MLPS)
def test_quick_mlp_recipes_are_the_same_kind_as_the_paper(name):
    quick, paper = recipe_for(name + "_quick"), RECIPES[name]
    assert (quick.batch_size, quick.momentum, quick.drop_last) == (paper.batch_size, paper.momentum, paper.drop_last)
    assert type(quick.lr_schedule) is type(paper.lr_schedule)
    assert type(quick.momentum_schedule) is type(paper.momentum_schedule)
    if isinstance(paper.lr_schedule, LinearDecayOverEpoch):
        assert quick.lr_schedule.decay_factor == paper.lr_schedule.decay_factor
        assert quick.lr_schedule.saturate < paper.lr_schedule.saturate
    else:
        assert isinstance(paper.lr_schedule, ExponentialDecay)
        assert quick.lr_schedule.decay_factor > paper.lr_schedule.decay_factor
    assert quick.learning_rate == paper.learning_rate or name == "sigmoid"  # the one documented change of rate


def test_paper_recipes_are_untouched_and_other_quick_presets_keep_the_old_cut():
    for name in RECIPES:
        assert recipe_for(name) is RECIPES[name]
        assert recipe_for(name).patience == 100 and recipe_for(name).max_epochs == 10_000
    for name in ("cifar10_maxout", "mpdbm"):
        quick, paper = recipe_for(name + "_quick"), RECIPES[name]
        assert (quick.max_epochs, quick.patience) == (30, 10)
        assert (quick.lr_schedule, quick.momentum_schedule, quick.learning_rate) == \
            (paper.lr_schedule, paper.momentum_schedule, paper.learning_rate)


def test_quick_overrides_reach_every_quick_recipe_and_no_paper_recipe(monkeypatch):
    monkeypatch.setattr(train_module, "QUICK", dict(max_epochs=3, patience=None))
    for name in RECIPES:
        assert (recipe_for(name + "_quick").max_epochs, recipe_for(name + "_quick").patience) == (3, None)
        assert recipe_for(name).max_epochs == 10_000
    assert recipe_for("sigmoid_quick").learning_rate == 0.25  # the per-model settings stay underneath


# ---------------------------------------------------------------------------- the mnist-test split
def test_mnist_test_order_is_a_fixed_shuffled_permutation():
    order = mnist_module.mnist_test_order(10_000)
    np.testing.assert_array_equal(np.sort(order), np.arange(10_000))  # train and valid cover all, no repeats
    np.testing.assert_array_equal(order, mnist_module.mnist_test_order(10_000))  # the same every time
    valid = order[8_000:]
    assert not np.array_equal(np.sort(valid), np.arange(8_000, 10_000))  # not the file's last 2,000
    # both halves of the file (two populations of writers) are in the validation set, about equally
    assert 900 <= np.count_nonzero(valid < 5_000) <= 1_100


def test_real_mnist_test_split_is_the_permuted_file(mnist_t10k):
    X, y = mnist_t10k
    splits = load_dataset("mnist-test", data_dir=MNIST_T10K)
    (Xt, yt), (Xv, yv) = splits["train"], splits["valid"]
    assert Xt.shape == (8_000, 784) and Xv.shape == (2_000, 784)
    order = mnist_module.mnist_test_order(10_000)
    np.testing.assert_array_equal(np.concatenate([Xt, Xv]), X[order])
    np.testing.assert_array_equal(np.concatenate([yt, yv]), y[order])
    assert np.bincount(yv, minlength=10).min() >= 150  # every digit is in the validation set (10% would be 200)
