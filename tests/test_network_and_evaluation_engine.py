"""The network apart from its evaluation engine (issue 23, point 2): mlp.py and convnet.py hold parameters,
forward and backward; models/mlp_eval.py and models/convnet_eval.py the evaluation layout, forward_eval and the
linear path's sweep. The training forward carries no sweep seam, the Monte Carlo dropout sweep has its own route
with the training forward's numbers, and the first layer's words are used one way: linear part X W,
pre-activation X W + b, output act(X W + b)."""
import inspect
from pathlib import Path

import numpy as np
import pytest

import minilinpath.models.mlp as mlp_module
from minilinpath import models
from minilinpath.layers import conv as conv_layer
from minilinpath.models import mlp_eval
from minilinpath.models.classifier import nll_and_errors

DROPOUT = dict(input_include=0.8, input_scale=1.25, hidden_include=0.5, hidden_scale=2.0)


def conv_net(**kw):
    return models.ConvMaxout(input_shape=(2, 8, 8), conv=(models.ConvSpec(3, 2, 3, 1, 2, 2),
                                                          models.ConvSpec(4, 3, 3, 1, 2, 2)),
                             dense=(5,), dense_pieces=3, n_classes=4, init_range=0.5, **kw)


NETWORKS = {
    "maxout k=3": lambda **kw: models.MLP(n_in=12, hidden=(7, 5), activation="maxout", pieces=3, n_classes=4,
                                          init_ranges=(0.5,) * 3, **kw),
    "maxout k=1": lambda **kw: models.MLP(n_in=12, hidden=(7,), activation="maxout", pieces=1, n_classes=4,
                                          init_ranges=(0.5,) * 2, **kw),
    "relu": lambda **kw: models.MLP(n_in=12, hidden=(7, 5), activation="relu", n_classes=4,
                                    init_ranges=(0.5,) * 3, **kw),
    "sigmoid": lambda **kw: models.MLP(n_in=12, hidden=(7,), activation="sigmoid", n_classes=4,
                                       init_ranges=(0.5,) * 2, **kw),
    "softmax regression": lambda **kw: models.MLP(n_in=12, hidden=(), activation="relu", n_classes=4,
                                                  init_ranges=(0.5,), **kw),
    "conv maxout": conv_net,
}


def width(model):
    return model.n_in if isinstance(model, models.MLP) else int(np.prod(model.input_shape))


@pytest.mark.parametrize("model_class", [models.MLP, models.ConvMaxout])
def test_the_training_forward_takes_no_sweep_seam(model_class):
    assert list(inspect.signature(model_class.forward).parameters) == ["self", "theta", "X", "masks"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, algorithm", [(name, "im2col") for name in NETWORKS] + [("conv maxout", "fft")])
def test_evaluate_from_first_linear_of_first_linear_is_evaluate_sums_bit_for_bit(name, algorithm, dtype,
                                                                                 monkeypatch):
    """evaluate_from_first_linear takes the linear part X W (no bias): given first_linear(X, W), it is
    evaluate_sums(theta, (X, y)) to the last bit (and so is its older name), with either conv algorithm."""
    monkeypatch.setattr(conv_layer, "DEFAULT_ALGORITHM", algorithm)
    model = NETWORKS[name]()
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((29, width(model))).astype(dtype), rng.integers(0, 4, 29)
    theta = model.init(1, dtype=dtype)
    theta += rng.normal(0, 0.3, theta.size).astype(dtype)
    W = model.unflatten(theta)[model.first_layer_weights]
    expected = model.evaluate_sums(theta, (X, y))
    assert model.evaluate_from_first_linear(theta, model.first_linear(X, W), y) == expected
    assert model.evaluate_from_first_preactivation(theta, model.first_linear(X, W), y) == expected
    # the pre-activation X W + b is what evaluate_from_first_output takes
    assert model.evaluate_from_first_output(theta, model.first_bias(theta, model.first_linear(X, W)), y) == expected


@pytest.mark.parametrize("name", list(NETWORKS))
def test_the_dropout_route_gives_the_training_forward_bit_for_bit(name):
    """The Monte Carlo dropout sweep's route from the first pre-activation, z0 = drop(X) W + b in the
    evaluation layout, gives forward(theta, X, masks)'s logits bit for bit. Whole numbers in float64 make every
    product and sum exact, so the two layouts' different summation orders cannot hide a difference in what is
    computed (a layer skipped, a mask on the wrong layer, a scale applied twice)."""
    model = NETWORKS[name](**DROPOUT)
    rng = np.random.default_rng(5)
    X, y = rng.integers(-3, 4, (23, width(model))).astype(np.float64), rng.integers(0, 4, 23)
    theta = rng.integers(-2, 3, model.size).astype(np.float64)
    masks = model.draw_masks(np.random.default_rng(6), X.shape[0], dtype=np.float64)
    assert 0 in masks                                                     # the input has its mask
    expected, _ = model.forward(theta, X, masks)
    W = model.unflatten(theta)[model.first_layer_weights]
    z0 = model.first_bias(theta, model.first_linear(model.drop_input(X, masks), W))
    got = model.dropout_logits_from_first_preactivation(theta, z0, masks)
    assert got.dtype == expected.dtype and np.array_equal(got, expected)
    assert not np.array_equal(expected, model.forward(theta, X)[0])          # the masks do change the logits
    assert model.evaluate_from_first_output(theta, z0, y, masks) == nll_and_errors(expected, y)


def test_mlp_py_holds_the_network_in_at_most_300_lines():
    assert len(Path(mlp_module.__file__).read_text().splitlines()) <= 300


def test_names_that_moved_still_import_from_mlp():
    assert mlp_module.LayersOnLine is mlp_eval.LayersOnLine
    model = NETWORKS["maxout k=3"]()
    theta0, theta1 = model.init(0), model.init(1)
    on_line = model.line_parameters(theta0, theta1, [0.0, 0.5])
    assert isinstance(on_line, mlp_module.LayersOnLine) and on_line.alphas == (0.0, 0.5)
