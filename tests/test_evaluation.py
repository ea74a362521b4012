"""Evaluation without training caches: the same numbers as the training forward, one pass for loss and error,
chunks bounded by a memory budget, and the fast sweep in the models' own column order."""
import tracemalloc

import numpy as np
import pytest

from minilinpath import models
from minilinpath.layers import EVAL_ACTIVATIONS, maxout_eval, maxout_forward, softmax_cross_entropy
from minilinpath.layers.activations import relu_forward, sigmoid_forward, tanh_forward
from minilinpath.models.classifier import eval_memory_budget
from minilinpath.path import linear_path


def data(n, d, seed=0, classes=10):
    rng = np.random.default_rng(seed)
    return rng.random((n, d), dtype=np.float32), rng.integers(0, classes, n)


@pytest.mark.parametrize("name, forward", [("relu", relu_forward), ("sigmoid", sigmoid_forward),
                                           ("tanh", tanh_forward)])
def test_in_place_activations_equal_the_training_ones_bit_for_bit(name, forward):
    z = np.random.default_rng(1).standard_normal((50, 30)) * 20  # large values: saturation, no warnings
    expected = forward(z)[0]
    got = EVAL_ACTIVATIONS[name](z.copy())
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("shape, k", [((7, 12), 3), ((7, 12), 1), ((4, 6, 5, 5), 2), ((3, 20), 5)])
def test_maxout_eval_equals_maxout_forward(shape, k):
    z = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    z[0, :k] = 1.5  # ties
    np.testing.assert_array_equal(maxout_eval(z, k), maxout_forward(z, k)[0])


MODELS = {
    "maxout mlp": lambda: models.MLP(n_in=20, hidden=(9, 7), activation="maxout", pieces=3, n_classes=4,
                                     init_ranges=(0.5, 0.5, 0.5)),
    "relu mlp": lambda: models.MLP(n_in=20, hidden=(9,), activation="relu", n_classes=4, init_ranges=(0.5, 0.5)),
    "softmax regression (no hidden layer)": lambda: models.MLP(n_in=20, hidden=(), activation="relu", n_classes=4,
                                                              init_ranges=(0.5,)),
    "one-piece maxout mlp": lambda: models.MLP(n_in=20, hidden=(9, 7), activation="maxout", pieces=1, n_classes=4,
                                               init_ranges=(0.5, 0.5, 0.5)),  # a linear network
    "sigmoid mlp": lambda: models.MLP(n_in=20, hidden=(9,), activation="sigmoid", n_classes=4,
                                      init_ranges=(0.5, 0.5)),
    "conv maxout": lambda: models.get("cifar10_maxout_quick", input_shape=(1, 10, 10), n_classes=4),
}


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_eval_gives_the_training_forward_logits(name, dtype):
    model = MODELS[name]()
    width = model.n_in if hasattr(model, "n_in") else int(np.prod(model.input_shape))
    X, y = data(37, width, classes=4)
    X = X.astype(dtype)
    theta = model.init(3, dtype=dtype)
    theta += np.random.default_rng(4).normal(0, 0.3, theta.size).astype(dtype)  # away from the tiny init
    logits, _ = model.forward(theta, X)
    np.testing.assert_allclose(model.forward_eval(theta, X), logits, rtol=0, atol=64 * np.finfo(dtype).eps)
    # loss and error from one pass = their definitions from the training forward
    nll, _ = softmax_cross_entropy(logits, y, with_grad=False)
    loss, error = model.evaluate(theta, (X, y))
    assert loss == pytest.approx(float(nll), rel=float(10 * np.finfo(dtype).eps))
    assert error == np.mean(logits.argmax(axis=1) != y)
    assert model.loss(theta, (X, y)) == loss and model.error_rate(theta, (X, y)) == error
    np.testing.assert_array_equal(model.predict(theta, X), model.forward_eval(theta, X).argmax(axis=1))


def test_pieces_first_order_round_trips_and_the_sweep_layout_is_consistent():
    model = MODELS["maxout mlp"]()
    z = np.arange(2 * 27, dtype=np.float64).reshape(2, 27)  # 9 units x 3 pieces, column j*3 + p
    pf = model.pieces_first(0, z)
    assert pf.shape == (3, 2, 9) and pf.flags.c_contiguous
    assert pf[0, 0].tolist() == [0, 3, 6, 9, 12, 15, 18, 21, 24]  # piece 0 of units 0..8, example 0
    assert pf[2, 1].tolist() == [29, 32, 35, 38, 41, 44, 47, 50, 53]  # piece 2, example 1
    np.testing.assert_array_equal(model.unit_major(0, pf), z)
    b = np.arange(27.0)
    assert model.pieces_first(0, b).shape == (3, 1, 9) and model.pieces_first(0, b)[1, 0, 2] == 7  # unit 2, piece 1
    theta = model.init(0, dtype=np.float64)
    X, y = data(11, 20, classes=4)
    X = X.astype(np.float64)
    z0 = model.first_bias(theta, model.first_linear(X, model.unflatten(theta)["h0.W"]))
    np.testing.assert_array_equal(model.forward_eval(theta, None, z0=z0.copy()), model.forward_eval(theta, X))
    # the dropout network's route from z0 (no masks here): the training layer functions after the first layer
    np.testing.assert_allclose(model.dropout_logits_from_first_preactivation(theta, z0, {}), model.forward(theta, X)[0],
                               rtol=1e-13)


def test_evaluation_chunk_follows_the_memory_budget(monkeypatch):
    model = models.get("cifar10_maxout")
    monkeypatch.delenv("MINILINPATH_EVAL_MEMORY_MB", raising=False)
    assert eval_memory_budget() == 1024 << 20
    per, fixed = model.eval_bytes_per_example(np.float32), model.eval_fixed_bytes
    assert model.evaluation_chunk(np.float32) == ((1024 << 20) - fixed) // per < model.eval_chunk
    assert model.evaluation_chunk(np.float64) == ((1024 << 20) - fixed) // (2 * per)
    assert models.get("mnist_pi").evaluation_chunk(np.float32) == 2_000  # the MLPs keep their own chunk
    monkeypatch.setenv("MINILINPATH_EVAL_MEMORY_MB", "256")
    assert model.evaluation_chunk(np.float32) == ((256 << 20) - fixed) // per
    monkeypatch.setenv("MINILINPATH_EVAL_MEMORY_MB", "0.001")
    assert model.evaluation_chunk(np.float32) == 1  # never less than one example
    monkeypatch.setenv("MINILINPATH_EVAL_MEMORY_MB", "lots")
    with pytest.raises(ValueError, match="MINILINPATH_EVAL_MEMORY_MB='lots'"):
        model.evaluation_chunk(np.float32)


def test_small_budget_gives_the_same_numbers_in_more_chunks(monkeypatch):
    model = models.get("cifar10_maxout_quick", input_shape=(1, 12, 12), n_classes=4)
    X, y = data(60, 144, classes=4)
    theta = model.init(0)
    theta += np.random.default_rng(1).normal(0, 0.05, theta.size).astype(np.float32)
    whole = model.evaluate(theta, (X, y))
    monkeypatch.setenv("MINILINPATH_EVAL_MEMORY_MB",
                       str((7 * model.eval_bytes_per_example() + model.eval_fixed_bytes) / 2**20))
    assert model.evaluation_chunk(np.float32) == 7
    chunked = model.evaluate(theta, (X, y))
    assert chunked[1] == whole[1] and chunked[0] == pytest.approx(whole[0], rel=1e-6)
    result = linear_path(model, model.init(0), theta, (X, y), [0.0, 0.5, 1.0], progress=False)
    assert result.settings["chunk_size"] == 7
    assert result.J_train[0] == model.loss(model.init(0), (X, y)) and result.J_train[2] == model.loss(theta, (X, y))


def test_evaluation_memory_is_bounded_by_the_budget_not_the_data(monkeypatch):
    """Peak memory of evaluating a conv net: about one budget-sized chunk of its largest layer, whatever the
    number of images (the training forward, which keeps every layer's im2col matrix, needs far more)."""
    model = models.get("cifar10_maxout_quick", input_shape=(1, 28, 28))
    X, y = data(400, 784)
    theta = model.init(0)
    per_example = model.eval_bytes_per_example()
    monkeypatch.setenv("MINILINPATH_EVAL_MEMORY_MB", str((50 * per_example + model.eval_fixed_bytes) / 2**20))
    assert model.evaluation_chunk(np.float32) == 50
    tracemalloc.start()
    model.evaluate(theta, (X, y))
    _, eval_peak = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    model.forward(theta, X)
    _, training_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert eval_peak < 50 * per_example + model.eval_fixed_bytes  # the estimate bounds the real temporaries
    assert training_peak > 6 * eval_peak
