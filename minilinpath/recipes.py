"""How to train: the :class:`Recipe` (minibatch SGD with momentum, or Adam / RMSProp; schedules; early stopping)
and the recipes of the paper's models, with their quick versions.

:func:`minilinpath.train.train` runs a recipe; this module only says what the recipe is. Every preset cites the
section of ``docs/CONFIGS.md`` that gives its numbers and their source.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from .checks import real_number, whole_number
from .optim import (OPTIMIZERS, ExponentialDecay, LinearDecayOverEpoch, MomentumAdjustor, optimizer_from_dict,
                    optimizer_to_dict, schedule_from_dict, schedule_to_dict)


@dataclass(frozen=True)
class Recipe:
    """How to train: minibatch SGD with momentum, schedules and early stopping.

    ``patience``: stop after this many epochs without a new best validation
    error (pylearn2 ``MonitorBased`` with ``prop_decrease=0``); ``None`` trains
    for ``max_epochs``. ``drop_last``: only full minibatches.
    """
    batch_size: int = 100
    learning_rate: float = 0.1
    lr_schedule: object = None
    momentum: float = 0.5
    momentum_schedule: object = None
    max_epochs: int = 1000
    patience: int | None = 100
    drop_last: bool = False  # skip the last, smaller minibatch of an epoch (pylearn2's "even" iteration modes)
    optimizer: object = None  # None: SGD with momentum; else an optim.Adam or optim.RMSProp

    def __post_init__(self):
        """Refuse a recipe that cannot train (ValueError, one line); NumPy scalars and whole floats (3.0) become
        Python numbers (run.json holds them: a recipe of 3.0 epochs is the run of 3)."""
        settings = {"batch_size": whole_number(self.batch_size, "batch_size", least=1),
                    "max_epochs": whole_number(self.max_epochs, "max_epochs", least=1),
                    "patience": None if self.patience is None else whole_number(self.patience, "patience", least=1),
                    "learning_rate": real_number(self.learning_rate, "learning_rate", lambda v: 0 < v < math.inf,
                                                 "a finite number > 0"),
                    "momentum": real_number(self.momentum, "momentum", lambda v: 0 <= v < 1, "in [0, 1)")}
        if not isinstance(self.drop_last, bool):
            raise ValueError(f"drop_last must be True or False, got {self.drop_last!r}.")
        if self.lr_schedule is not None and not isinstance(self.lr_schedule, (ExponentialDecay, LinearDecayOverEpoch)):
            raise ValueError(f"lr_schedule must be None, an ExponentialDecay or a LinearDecayOverEpoch, "
                             f"got {self.lr_schedule!r}.")
        if self.momentum_schedule is not None and not isinstance(self.momentum_schedule, MomentumAdjustor):
            raise ValueError(f"momentum_schedule must be None or a MomentumAdjustor, got {self.momentum_schedule!r}.")
        if self.optimizer is not None and not isinstance(self.optimizer, tuple(OPTIMIZERS.values())):
            raise ValueError(f"optimizer must be None (SGD with momentum), an optim.Adam or an optim.RMSProp, "
                             f"got {self.optimizer!r}.")
        for name, value in settings.items():  # a NumPy scalar or 3.0 -> the same Python number (else unchanged)
            object.__setattr__(self, name, value)

    def lr(self, update: int, epoch: int) -> float:
        """The learning rate after ``update`` updates, in epoch ``epoch`` (1-based) of the schedules."""
        if self.lr_schedule is None:
            return self.learning_rate
        return self.lr_schedule.lr(self.learning_rate, update, epoch)

    def mu(self, epoch: int) -> float:
        """The momentum of epoch ``epoch`` (1-based)."""
        if self.momentum_schedule is None:
            return self.momentum
        return self.momentum_schedule.momentum(self.momentum, epoch)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["lr_schedule"] = schedule_to_dict(self.lr_schedule)
        d["momentum_schedule"] = schedule_to_dict(self.momentum_schedule)
        if self.optimizer is None:   # the recipes of SGD with momentum describe themselves as before
            del d["optimizer"]
        else:
            d["optimizer"] = optimizer_to_dict(self.optimizer)
        return d

    @classmethod
    def from_dict(cls, d) -> "Recipe":
        d = dict(d)
        d["lr_schedule"] = schedule_from_dict(d["lr_schedule"])
        d["momentum_schedule"] = schedule_from_dict(d["momentum_schedule"])
        if d.get("optimizer") is not None:
            d["optimizer"] = optimizer_from_dict(d["optimizer"])
        return cls(**d)


# docs/CONFIGS.md section 1: mnist_pi.yaml (stage 1, early stopping on 50k/10k)
MNIST_PI_RECIPE = Recipe(batch_size=100, learning_rate=0.1, lr_schedule=ExponentialDecay(1.000004, 1e-6),
                         momentum=0.5, momentum_schedule=MomentumAdjustor(1, 250, 0.7), max_epochs=10_000,
                         patience=100)
# docs/CONFIGS.md section 3: cifar10_no_aug_valid.yaml (batch 128; Dec 2014: 312 full batches per epoch)
CIFAR10_RECIPE = Recipe(batch_size=128, learning_rate=0.17, lr_schedule=LinearDecayOverEpoch(1, 500, 0.01),
                        momentum=0.5, momentum_schedule=MomentumAdjustor(1, 250, 0.6), max_epochs=10_000,
                        patience=100, drop_last=True)
# docs/CONFIGS.md section 4: mpdbm.yaml (the learning rate is large because the cost is a per-pixel mean)
MPDBM_RECIPE = Recipe(batch_size=100, learning_rate=15.146493, lr_schedule=LinearDecayOverEpoch(1, 868, 0.020379),
                      momentum=0.5, momentum_schedule=MomentumAdjustor(1, 2, 0.732716), max_epochs=10_000,
                      patience=100)
# docs/CONFIGS.md section 2: mnist_valid.yaml
MNIST_VALID_RECIPE = Recipe(batch_size=100, learning_rate=0.097259, lr_schedule=LinearDecayOverEpoch(1, 560, 0.022292),
                            momentum=0.5, momentum_schedule=MomentumAdjustor(1, 698, 0.699217), max_epochs=10_000,
                            patience=100)
RECIPES = {"mnist_pi": MNIST_PI_RECIPE, "mnist_valid": MNIST_VALID_RECIPE, "relu": MNIST_VALID_RECIPE,
           "sigmoid": MNIST_VALID_RECIPE, "cifar10_maxout": CIFAR10_RECIPE, "mpdbm": MPDBM_RECIPE}
# ---- The quick profile (the *_quick presets on 8,000-10,000 examples, 80-100 updates per epoch).
# The MLPs get the paper's recipe with its schedules *compressed in time*, so that the learning rate really
# decays within a quick run and early stopping (patience 20) ends it well before the cap. With the paper's
# schedules cut at 30 epochs (the former quick profile) the learning rate had barely moved (maxout: 0.1 -> 0.099,
# ReLU: 0.097 -> 0.092) and the runs were stopped, not converged: measured on mnist-test, the best validation
# epoch was 26-30 of 30 for most runs and the init -> solution lines kept falling past alpha = 1.
# - maxout (mnist_pi): ExponentialDecay per update, lr / 1.0003^t instead of lr / 1.000004^t, i.e. lr / 11 after
#   8,000 updates (epoch 100 of mnist-test) instead of after 600,000; the momentum ramp 0.5 -> 0.7 over 25 epochs
#   instead of 250. Its tiny init U(+-0.005) sits on the plateau around theta = 0 for ~6 epochs (~480 updates),
#   so the decay must stay slow at first: with 1.0007 per update the plateau lasted 10 epochs and the run ended
#   at 3.95% (best epoch 68); with 1.0003: 2.8% validation error, best epoch 72 of 92 run.
# - ReLU with and without dropout (mnist_valid, relu): LinearDecayOverEpoch saturating at epoch 40 instead of
#   560 (same final factor 0.022292), momentum 0.5 -> 0.699 over 50 epochs instead of 698. ReLU-dropout on
#   mnist-test: best epoch 45 of 65 run, 3.35% validation error.
# - sigmoid: learning rate 0.25 instead of 0.097259, both schedules saturating at epoch 100. Sigmoid units pass
#   at most 1/4 of the gradient a ReLU passes, and at the paper's rate the net learns too slowly for a quick run.
#   Measured with this recipe, only the rate changed (docs/experiments/sigmoid_rise.py, mnist-test, seed 0; rise =
#   max J - J(0) on alpha in [0, 0.25]): lr 0.097259: 8.60% validation error (117 epochs run), rise 0.020 at
#   alpha 0.09; lr 0.25: 5.70% (104 run, best epoch 84), rise 0.013 at 0.06; lr 1.0: 3.45% (96 run), rise 0.127 at
#   0.11. 0.25 trains well within the cap with the smallest rise. Near alpha = 0 every sigmoid unit sits at 1/2
#   whatever the input, so the logits there are alpha s, s = W_out (1/2) + b_out: class scores that do not depend
#   on the input; J(alpha) ~ log 10 + alpha^2 var(s)/2 at first (within 25% at alpha = 0.01 in every run), until
#   the input-dependent part takes over (std(s): 4.6, 5.3, 9.6 for the three rates).
# Other quick presets (convolutional maxout, MP-DBM) keep the paper's schedules, cut at 30 epochs (patience 10).
QUICK_DEFAULT = dict(max_epochs=30, patience=10)
_QUICK_RELU = dict(lr_schedule=LinearDecayOverEpoch(1, 40, 0.022292),
                   momentum_schedule=MomentumAdjustor(1, 50, 0.699217), max_epochs=150, patience=20)
QUICK_RECIPES = {
    "mnist_pi": dict(lr_schedule=ExponentialDecay(1.0003, 1e-6), momentum_schedule=MomentumAdjustor(1, 25, 0.7),
                     max_epochs=150, patience=20),
    "mnist_valid": _QUICK_RELU,
    "relu": _QUICK_RELU,
    "sigmoid": dict(learning_rate=0.25, lr_schedule=LinearDecayOverEpoch(1, 100, 0.022292),
                    momentum_schedule=MomentumAdjustor(1, 100, 0.699217), max_epochs=200, patience=20),
}
