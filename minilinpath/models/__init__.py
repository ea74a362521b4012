"""Model presets by name: ``minilinpath.models.get("mnist_pi")``.

Every preset follows the configuration cited next to it (see the project's
``docs/CONFIGS.md``); ``*_quick`` variants keep the same kind of network,
smaller, for a 2-core CPU. Keyword overrides go to the model's constructor,
e.g. ``get("relu", hidden=(100, 100))``.
"""
from __future__ import annotations

from .convnet import ConvMaxout, ConvSpec
from .deep_linear import DeepLinear, Moments
from .lstm_lm import LSTMLanguageModel
from .mlp import MLP
from .mpdbm import MPDBM

# pylearn2 scripts/papers/maxout/mnist_pi.yaml (docs/CONFIGS.md section 1)
MNIST_PI = dict(n_in=784, hidden=(240, 240), activation="maxout", pieces=5, n_classes=10,
                init_ranges=(0.005, 0.005, 0.005), max_col_norms=(1.9365, 1.9365, 1.9365),
                input_include=0.8, input_scale=1.0, hidden_include=0.5, hidden_scale=2.0)

# pylearn2 scripts/papers/dropout/mnist_valid.yaml (docs/CONFIGS.md section 2); softmax starts at zero
MNIST_VALID = dict(n_in=784, hidden=(898, 1532), activation="relu", pieces=1, n_classes=10,
                   init_ranges=(0.00891030471479, 0.0575059125935, 0.0),
                   max_col_norms=(4.378017, 2.970242, 4.626974),
                   input_include=0.8, input_scale=1.25, hidden_include=0.5, hidden_scale=2.0)

NO_DROPOUT = dict(input_include=1.0, input_scale=1.0, hidden_include=1.0, hidden_scale=1.0)

PRESETS = {
    "mnist_pi": MNIST_PI,
    "mnist_valid": MNIST_VALID,
    # Appendix A: "We simply removed the dropout from the preceding configuration file."
    "relu": {**MNIST_VALID, **NO_DROPOUT},
    # Appendix A: "We simply replaced the ReLU non-linearities with sigmoids."
    "sigmoid": {**MNIST_VALID, "activation": "sigmoid"},
}
QUICK_SIZES = {"mnist_pi": (120, 120), "mnist_valid": (400, 400), "relu": (400, 400), "sigmoid": (400, 400)}

# Zaremba et al. 2014 (docs/CONFIGS.md sections 6a and 6d): layers, units, unroll length, init range, keep probability
LANGUAGE_MODELS = {
    "ptb_small": dict(hidden=200, layers=2, steps=20, init_range=0.1, keep_prob=1.0),
    "ptb_medium": dict(hidden=650, layers=2, steps=35, init_range=0.05, keep_prob=0.5),
    "ptb_large": dict(hidden=1500, layers=2, steps=35, init_range=0.04, keep_prob=0.35),
}
LANGUAGE_QUICK = {"ptb_small": dict(hidden=100), "ptb_medium": dict(hidden=128), "ptb_large": dict(hidden=128)}

# pylearn2 scripts/papers/maxout/cifar10_no_aug_valid.yaml (docs/CONFIGS.md section 3):
# ConvSpec(units, pieces, kernel, pad, pool, pool stride, max kernel norm, lr scale)
CIFAR10_MAXOUT = dict(
    input_shape=(3, 32, 32),
    conv=(ConvSpec(96, 2, 8, 4, 4, 2, 0.9, 0.05), ConvSpec(192, 2, 8, 3, 4, 2, 1.9365, 0.05),
          ConvSpec(192, 2, 5, 3, 2, 2, 1.9365, 0.05)),
    dense=(500,), dense_pieces=5, n_classes=10, init_range=0.005, max_col_norms=(1.9, 1.9365),
    input_include=0.8, input_scale=1.0, hidden_include=0.5, hidden_scale=2.0)
# the quick preset: the same kind of network, small enough for a 2-core CPU. ITS INIT IS 10x THE PAPER'S,
# U(+-0.05) instead of U(+-0.005). Why: this narrow net's fan-ins (25, 200, 784, 100) are far below the paper's
# (192, 6144, 4800, 4800, 500), so at the same range it starts much closer to theta = 0 end to end (the product
# of the layers' gains r/sqrt(3)*sqrt(fan-in): 1.4e-6 at 0.005 against the paper net's 2.3e-5; r = 0.01 would
# match it, 0.05 is ~590x it) and sits on the plateau there longer than a quick run lasts. Measured on
# Fashion-MNIST (first 10,000 / 2,000), paper's CIFAR-10 recipe (lr 0.17): U(+-0.005) makes no progress in 15
# epochs (1,170 updates); U(+-0.01) leaves the plateau after ~550 updates; U(+-0.05): 30% error after 4 epochs.
# With the recipe's lr at 0.5, U(+-0.005) leaves the plateau at epoch 11 (~800 updates) and reaches 13.6% at
# epoch 60, still improving (no early stop: the paper's linear decay over 500 epochs has barely begun).
# Figure 6's barrier depends on this choice (docs/experiments/conv_barrier.py; train J on 2,000 examples, 51
# alphas in [0, 0.25], lr 0.5): U(+-0.005) -> J rises 0.0043 above J(0) = 2.3026, peak at alpha = 0.13, back
# below J(0) at ~0.195 (line to epoch 60, 13.6% error; 0.0013 at alpha = 0.10 on the line to epoch 22, 19.1%);
# U(+-0.05) -> no rise at all, J falls from alpha = 0 (epoch 11, 18.2%; epoch 9, 18.7%). So this quick preset
# shows no Figure 6 barrier; the paper's scale does, the opposite of the paper's "too large" guess.
CIFAR10_MAXOUT_QUICK = {**CIFAR10_MAXOUT, "conv": (ConvSpec(8, 2, 5, 2, 3, 2, 0.9, 0.05),
                                                   ConvSpec(16, 2, 5, 2, 3, 2, 1.9365, 0.05)), "dense": (100,),
                        "init_range": 0.05}

# pylearn2 scripts/papers/mpdbm/mpdbm.yaml (docs/CONFIGS.md section 4); pass pixel_means=<training pixel means>
MPDBM_PAPER = dict(n_visible=784, hidden=(2087, 3200), n_classes=10, iterations=14, h0_sparse_init=15,
                   h1_init_range=0.00638830865761, c_sparse_init=23, biases=(-0.710467, -0.393587),
                   max_col_norms=(1.809978, 2.666304, 5.175683), mask_prob=0.5)
# the quick MP-DBM: the paper's init, iterations and norm limits, narrower. It does NOT converge in a quick run:
# on mnist-test (8,000 / 2,000) with the paper's recipe its validation error falls 85% (epoch 1), 21% (5),
# 13.8% (10), 11.4% (15), 10.2-10.4% (27-30), still improving at the 30-epoch cap (lr 15.1 decaying over 868 epochs;
# 21-27 s per epoch on one busy core). See docs/experiments/mpdbm_minimum.py.
MPDBM_QUICK = {**MPDBM_PAPER, "hidden": (250, 300)}



def names() -> list:
    """Every preset name that :func:`get` can build now."""
    built = list(PRESETS) + [f"{n}_quick" for n in PRESETS] + ["deep_linear", "deep_linear_quick"]
    built += list(LANGUAGE_MODELS) + [f"{n}_quick" for n in LANGUAGE_MODELS] + ["cifar10_maxout", "cifar10_maxout_quick"]
    built += ["mpdbm", "mpdbm_quick"]
    return sorted(built)


def get(name: str, **overrides):
    """Build the preset ``name``; ``overrides`` replace constructor arguments."""
    if name in ("deep_linear", "deep_linear_quick"):
        # The paper's toy problem y = w1 w2 x; the quick variant is the same (it is already tiny).
        return DeepLinear(**{"dims": (1, 1, 1), "init_std": 0.01, "name": name, **overrides})
    base = name[:-len("_quick")] if name.endswith("_quick") else name
    if base == "mpdbm":
        return MPDBM(**{**(MPDBM_QUICK if name.endswith("_quick") else MPDBM_PAPER), "name": name, **overrides})
    if base == "cifar10_maxout":  # input_shape=(1, 28, 28) for Fashion-MNIST
        return ConvMaxout(**{**(CIFAR10_MAXOUT_QUICK if name.endswith("_quick") else CIFAR10_MAXOUT),
                             "name": name, **overrides})
    if base in LANGUAGE_MODELS:
        # vocab_size defaults to PTB's 10,000; pass the vocabulary of your own text
        settings = {**LANGUAGE_MODELS[base], **(LANGUAGE_QUICK[base] if name.endswith("_quick") else {}),
                    "name": name, **overrides}
        return LSTMLanguageModel(**settings)
    if base in PRESETS:
        settings = dict(PRESETS[base], name=name)
        if name.endswith("_quick"):
            settings["hidden"] = QUICK_SIZES[base]
        unknown = set(overrides) - set(settings) - {"name", "batchnorm"}  # batchnorm=True: models.mlp_batchnorm
        if unknown:
            raise TypeError(f"unknown settings for {name}: {sorted(unknown)}; known: {sorted(settings)}.")
        settings.update(overrides)
        return MLP(**settings)
    raise KeyError(f"unknown model {name!r}; available: {', '.join(names())}.")


__all__ = ["ConvMaxout", "ConvSpec", "MLP", "MPDBM", "DeepLinear", "LSTMLanguageModel", "Moments", "get", "names", "PRESETS", "LANGUAGE_MODELS"]
