"""The whole GPU chain, layer to figure, gives NumPy's numbers: every test runs one public function on NumPy inputs
and on CuPy inputs and compares.

Run with CuPy and a device (``pytest -m gpu``) or, on any machine, on the strict CuPy double
(``MINILINPATH_TEST_GPU=double pytest -m gpu``, see tests/gpu_double). Without either they are skipped.

Tolerances. Float64 throughout, so the comparisons are tight: ``rtol=1e-10`` for a layer or one loss and
gradient, ``1e-9`` after a chain of many products (training epochs, sweeps, Lanczos). On the double the numbers are
NumPy's own; on a real GPU cuBLAS sums in another order, which these tolerances allow for. Where the CPU result is
an array, the GPU result must be a device array (``cupy.ndarray``): a silent trip through the host fails the test.
Random inputs are drawn on the host with NumPy and moved, so both sides see the same numbers.
"""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from minilinpath import backend, layers
from minilinpath.models import MLP, MPDBM, ConvMaxout, ConvSpec, DeepLinear, LSTMLanguageModel, Moments
from minilinpath.optim import gradient_descent, momentum_step
from minilinpath.path import (curve_path, evaluate_plane, grid_around, hessian_eigenvalues, hutchinson_trace, hvp,
                              line_curvature, line_curve, linear_path, normalize_direction, pca_plane, plane_along,
                              plane_through, project_trajectory, summarize, train_curve, trajectory_on_plane)
from minilinpath.train import Recipe, train

pytestmark = pytest.mark.gpu

LAYER_RTOL, CHAIN_RTOL, ATOL = 1e-10, 1e-9, 1e-12


# ---------------------------------------------------------------------------------------------------------------
# Moving inputs to the device and comparing outputs


def on_device(cupy, value):
    """NumPy arrays (also inside tuples, lists and dicts) copied to the device; everything else unchanged."""
    if isinstance(value, np.ndarray):
        return cupy.asarray(value)
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a NamedTuple such as Moments
        return type(value)(*(on_device(cupy, v) for v in value))
    if isinstance(value, (tuple, list)):
        return type(value)(on_device(cupy, v) for v in value)
    if isinstance(value, dict):
        return {k: on_device(cupy, v) for k, v in value.items()}
    return value


def assert_same(gpu, cpu, rtol=LAYER_RTOL, atol=ATOL, where="result"):
    """``gpu`` holds ``cpu``'s values: arrays as device arrays, numbers as numbers, structure walked."""
    if isinstance(cpu, np.ndarray) and cpu.ndim > 0:
        assert backend.is_cupy_array(gpu), f"{where}: a {type(gpu).__name__} where a device array was expected"
        np.testing.assert_allclose(gpu.get(), cpu, rtol=rtol, atol=atol, err_msg=where)
    elif isinstance(cpu, (np.ndarray, np.generic, float, int)) and not isinstance(cpu, bool):
        assert float(gpu) == pytest.approx(float(cpu), rel=rtol, abs=atol), where
    elif isinstance(cpu, (tuple, list)):
        assert len(gpu) == len(cpu), where
        for i, (g, c) in enumerate(zip(gpu, cpu)):
            assert_same(g, c, rtol, atol, f"{where}[{i}]")
    elif isinstance(cpu, dict):
        assert gpu.keys() == cpu.keys(), where
        for k in cpu:
            assert_same(gpu[k], cpu[k], rtol, atol, f"{where}[{k!r}]")
    else:
        assert gpu == cpu, where


def both(cupy, function, *inputs, **kwargs):
    """``function`` on the NumPy inputs and on the same inputs on the device: ``(gpu_result, cpu_result)``."""
    return function(*on_device(cupy, inputs), **kwargs), function(*inputs, **kwargs)


def draw(seed, *shapes):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for shape in shapes]


# ---------------------------------------------------------------------------------------------------------------
# Layers: every forward and backward pass


def affine_case(x, W, b, dout):
    out, cache = layers.affine_forward(x, W, b)
    return out, layers.affine_backward(dout, cache), layers.affine_backward(dout, cache, input_grad=False)[1:]


def activation_case(forward, backward):
    def case(x, dout):
        out, cache = forward(x)
        return out, backward(dout, cache)
    return case


def maxout_case(z, dout):
    out, cache = layers.maxout_forward(z, 3)
    return out, layers.maxout_backward(dout, cache), layers.maxout_eval(z, 3)


def dropout_case(x, mask, dout):
    out, cache = layers.dropout_forward(x, 0.5, 2.0, mask=mask)
    return out, layers.dropout_backward(dout, cache)


def conv_case(stride, pad, algorithm):
    def case(x, W, b):
        out, cache = layers.conv_forward(x, W, b, stride, pad, algorithm=algorithm)
        dout = out * 0.5 - 0.25  # any upstream gradient of out's shape, computed where out lives
        return out, layers.conv_backward(dout, cache), layers.conv_backward(dout, cache, input_grad=False)[1:]
    return case


def pool_case(x):
    out, cache = layers.max_pool_forward(x, 3, 2)
    return out, layers.max_pool_backward(out * 2.0 + 1.0, cache), layers.max_pool_eval(x, 3, 2)


def embedding_case(ids, W, dout):
    out, cache = layers.embedding_forward(ids, W)
    return out, layers.embedding_backward(dout, cache)  # ids repeat: the backward must accumulate (scatter-add)


def losses_case(logits, y):
    return (layers.log_softmax(logits), layers.softmax_cross_entropy(logits, y),
            layers.softmax_cross_entropy(logits, y, with_grad=False))


def lstm_step_case(x, h, c, Wx, Wh, b, dh, dc):
    h1, c1, cache = layers.lstm_step_forward(x, h, c, Wx, Wh, b)
    return h1, c1, layers.lstm_step_backward(dh, dc, cache)


def lstm_sequence_case(x, h0, c0, Wx, Wh, b, dhs, dhT, dcT):
    hs, (hT, cT), cache = layers.lstm_forward(x, h0, c0, Wx, Wh, b)
    return hs, hT, cT, layers.lstm_backward(dhs, cache, dhT, dcT)


def layer_inputs(name):
    rng = np.random.default_rng(sum(map(ord, name)))
    n = rng.standard_normal
    if name == "affine":
        return affine_case, (n((6, 5)), n((5, 4)), n(4), n((6, 4)))
    if name in ("relu", "sigmoid", "tanh"):
        fwd, bwd = getattr(layers, f"{name}_forward"), getattr(layers, f"{name}_backward")
        return activation_case(fwd, bwd), (n((6, 5)), n((6, 5)))
    if name == "maxout":
        return maxout_case, (n((6, 9)), n((6, 3)))
    if name == "dropout":
        return dropout_case, (n((6, 5)), (rng.random((6, 5)) < 0.5).astype(np.float64), n((6, 5)))
    if name.startswith("conv"):
        _, algorithm, stride, pad = name.split("-")
        return conv_case(int(stride), int(pad), algorithm), (n((2, 3, 9, 9)), n((4, 3, 3, 3)), n(4))
    if name == "max_pool":
        return pool_case, (n((2, 3, 9, 9)),)
    if name == "embedding":
        return embedding_case, (np.array([[1, 4, 1], [1, 0, 6]]), n((7, 3)), n((2, 3, 3)))
    if name == "losses":
        return losses_case, (n((7, 5)), rng.integers(0, 5, size=7))
    if name == "lstm_step":
        return lstm_step_case, (n((3, 4)), n((3, 2)), n((3, 2)), n((4, 8)), n((2, 8)), n(8), n((3, 2)), n((3, 2)))
    if name == "lstm_sequence":
        return lstm_sequence_case, (n((3, 5, 4)), n((3, 2)), n((3, 2)), n((4, 8)), n((2, 8)), n(8), n((3, 5, 2)),
                                    n((3, 2)), n((3, 2)))
    raise KeyError(name)


LAYERS = ["affine", "relu", "sigmoid", "tanh", "maxout", "dropout", "conv-im2col-1-1", "conv-im2col-2-0",
          "conv-fft-1-1", "max_pool", "embedding", "losses", "lstm_step", "lstm_sequence"]


@pytest.mark.parametrize("name", LAYERS)
def test_layer_forward_and_backward(cupy, name):
    case, inputs = layer_inputs(name)
    gpu, cpu = both(cupy, case, *inputs)
    assert_same(gpu, cpu, LAYER_RTOL, ATOL, name)


def test_dropout_masks_drawn_on_the_device_are_device_arrays_of_zeros_and_ones(cupy):
    x = np.ones((400, 50))
    out, _ = layers.dropout_forward(cupy.asarray(x), 0.8, 1.25, rng=backend.rng(3, cupy))
    values = out.get()
    assert backend.is_cupy_array(out) and set(np.unique(values)) <= {0.0, 1.25}
    assert abs((values > 0).mean() - 0.8) < 0.02  # 20,000 draws: the include rate to about 4 standard deviations


# ---------------------------------------------------------------------------------------------------------------
# Models: loss_and_grad and evaluation


def small_mlp(activation, dropout):
    kw = dict(n_in=7, hidden=(6, 5), activation=activation, n_classes=4, init_ranges=(0.8, 0.8, 0.8),
              max_col_norms=(1.0, None, 2.0))
    if activation == "maxout":
        kw["pieces"] = 3
    if dropout:
        kw.update(input_include=0.8, input_scale=1.25, hidden_include=0.5, hidden_scale=2.0)
    return MLP(**kw)


def small_convnet(dropout=True):
    return ConvMaxout(input_shape=(2, 9, 8), conv=(ConvSpec(3, 2, 3, 1, 3, 2, 0.5, 0.05), ConvSpec(2, 2, 3, 1, 2, 2)),
                      dense=(4,), dense_pieces=3, n_classes=3, init_range=0.4, max_col_norms=(1.0, None),
                      **(dict(input_include=0.8, hidden_include=0.5, hidden_scale=2.0) if dropout else {}))


def classifier_data(seed, n, d, classes):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.integers(0, classes, size=n)


def evaluations(model, theta, batch):
    """Everything a classifier reports on a batch without training caches."""
    return (model.loss(theta, batch), model.error_rate(theta, batch), model.predict(theta, batch[0]),
            model.evaluate(theta, batch))


@pytest.mark.parametrize("activation", ["maxout", "relu", "sigmoid", "tanh"])
def test_mlp_loss_grad_and_evaluation(cupy, activation):
    model = small_mlp(activation, dropout=True)
    theta = model.init(3, dtype=np.float64)
    batch = classifier_data(1, 9, 7, 4)
    masks = model.draw_masks(np.random.default_rng(9), 9, np.float64)
    gpu, cpu = both(cupy, lambda t, b, m: model.loss_and_grad(t, b, masks=m), theta, batch, masks)
    assert_same(gpu, cpu, LAYER_RTOL)
    gpu, cpu = both(cupy, lambda t, b: evaluations(model, t, b), theta, batch)
    assert_same(gpu, cpu, LAYER_RTOL)


@pytest.mark.parametrize("algorithm", ["im2col", "fft"])
def test_convnet_loss_grad_and_evaluation_with_both_conv_algorithms(cupy, monkeypatch, algorithm):
    from minilinpath.layers import conv as conv_module

    # the conv net's layers run conv_forward's default algorithm (layers.conv.DEFAULT_ALGORITHM): set each in turn
    monkeypatch.setattr(conv_module, "DEFAULT_ALGORITHM", algorithm)
    model = small_convnet()
    theta = model.init(0, dtype=np.float64)
    batch = classifier_data(2, 5, 2 * 9 * 8, 3)
    masks = model.draw_masks(np.random.default_rng(2), 5, np.float64)
    gpu, cpu = both(cupy, lambda t, b, m: model.loss_and_grad(t, b, masks=m), theta, batch, masks)
    assert_same(gpu, cpu, LAYER_RTOL)
    gpu, cpu = both(cupy, lambda t, b: evaluations(model, t, b), theta, batch)
    assert_same(gpu, cpu, LAYER_RTOL)


@pytest.mark.parametrize("keep", [1.0, 0.6])
def test_lstm_language_model_loss_grad_and_evaluation(cupy, keep):
    model = LSTMLanguageModel(vocab_size=11, hidden=4, layers=2, steps=3, init_range=0.5, keep_prob=keep)
    theta = model.init(0, dtype=np.float64)
    tokens = np.random.default_rng(4).integers(0, 11, size=(2, 7))
    batch = (tokens[:, :-1], tokens[:, 1:])
    masks = model.draw_masks(np.random.default_rng(3), 2, 6, np.float64) if keep < 1 else None
    gpu, cpu = both(cupy, lambda t, b, m: model.loss_and_grad(t, b, masks=m), theta, batch, masks)
    assert_same(gpu, cpu, LAYER_RTOL)
    gpu, cpu = both(cupy, lambda t, b: (model.loss(t, b), model.perplexity(t, b)), theta, batch)
    assert_same(gpu, cpu, LAYER_RTOL)


def small_mpdbm_case():
    """A small MP-DBM, its initial theta (float64) and a batch of 6 examples."""
    model = MPDBM(n_visible=12, hidden=(7, 5), n_classes=3, iterations=3, h0_sparse_init=4, c_sparse_init=3,
                  h1_init_range=0.5, pixel_means=np.linspace(0.1, 0.9, 12))
    rng = np.random.default_rng(5)
    return model, model.init(0, dtype=np.float64), (rng.random((6, 12)), rng.integers(0, 3, size=6))


def test_mpdbm_loss_grad_and_evaluation(cupy):
    model, theta, batch = small_mpdbm_case()
    masks = model.draw_masks(np.random.default_rng(1), 6, np.float64)
    gpu, cpu = both(cupy, lambda t, b, m: model.loss_and_grad(t, b, masks=m), theta, batch, masks)
    assert_same(gpu, cpu, LAYER_RTOL)
    gpu, cpu = both(cupy, lambda t, b: (model.error_rate(t, b), model.predict(t, b[0])), theta, batch)
    assert_same(gpu, cpu, LAYER_RTOL)


# Was a bug the double found (mended): MPDBM.fixed_masks drew the fixed evaluation masks with the device's
# generator, so J(theta) on a GPU was another function than on the CPU (about 10% off on the double).


def test_mpdbm_fixed_mask_loss_is_one_function_on_both_devices(cupy):
    model, theta, batch = small_mpdbm_case()
    gpu, cpu = both(cupy, model.loss, theta, batch)
    assert_same(gpu, cpu, LAYER_RTOL)


def test_deep_linear_loss_and_grad_on_data_and_on_moments(cupy):
    model = DeepLinear((3, 4, 2), init_std=0.5)
    theta = model.init(0, dtype=np.float64)
    X, Y = draw(6, (8, 3), (8, 2))
    gpu, cpu = both(cupy, lambda t, b: (model.loss_and_grad(t, b), model.loss(t, b)), theta, (X, Y))
    assert_same(gpu, cpu, LAYER_RTOL)
    moments_cpu = Moments.from_data(X, Y)
    moments_gpu = Moments.from_data(cupy.asarray(X), cupy.asarray(Y))
    assert_same(tuple(moments_gpu), tuple(moments_cpu), LAYER_RTOL)
    assert_same(model.loss_and_grad(cupy.asarray(theta), moments_gpu), model.loss_and_grad(theta, moments_cpu))


def all_models():
    return {"mlp": small_mlp("maxout", True), "convnet": small_convnet(),
            "lstm": LSTMLanguageModel(vocab_size=11, hidden=4, layers=2, steps=3, init_range=0.5, keep_prob=0.6),
            "mpdbm": MPDBM(n_visible=12, hidden=(7, 5), n_classes=3, iterations=3, h0_sparse_init=4,
                           c_sparse_init=3, h1_init_range=0.5, pixel_means=np.linspace(0.1, 0.9, 12)),
            "deep_linear": DeepLinear((3, 4, 2), init_std=0.5)}


@pytest.mark.parametrize("name", ["mlp", "convnet", "lstm", "mpdbm", "deep_linear"])
def test_init_and_constrain_on_the_device(cupy, name):
    """init(seed, xp=cupy) is init(seed) on the device; constrain (the max-norm projections) acts in place alike."""
    model = all_models()[name]
    theta = model.init(3, dtype=np.float64)
    on_gpu = model.init(3, xp=cupy, dtype=np.float64)
    assert_same(on_gpu, theta, 0.0, 0.0)
    big_cpu, big_gpu = 10 * theta, cupy.asarray(10 * theta)
    model.constrain(big_cpu)
    model.constrain(big_gpu)
    assert_same(big_gpu, big_cpu, LAYER_RTOL)


# ---------------------------------------------------------------------------------------------------------------
# Optimisers and training


def test_momentum_step_in_place(cupy):
    theta, velocity, grad = draw(7, 50, 50, 50)
    on_gpu = [cupy.asarray(a) for a in (theta, velocity, grad)]
    momentum_step(theta, velocity, grad, lr=0.01, mu=0.5)
    momentum_step(*on_gpu, lr=0.01, mu=0.5)
    assert_same(on_gpu, [theta, velocity, grad], LAYER_RTOL)


def test_gradient_descent_on_moments(cupy):
    model = DeepLinear((4, 3))
    X, Y = draw(8, (20, 4), (20, 3))
    theta = model.init(1, dtype=np.float64)

    def run(t, moments):
        return [(step, th, J) for step, th, J in gradient_descent(model, t, moments, lr=0.1, momentum=0.5, steps=6)]

    gpu = run(cupy.asarray(theta), Moments.from_data(cupy.asarray(X), cupy.asarray(Y)))
    cpu = run(theta, Moments.from_data(X, Y))
    assert_same(gpu, cpu, CHAIN_RTOL)


def blobs(seed, n, d=6, classes=3):
    """A small separable problem in float64: Gaussian clusters around fixed centres."""
    centres = 2.0 * np.random.default_rng(0).standard_normal((classes, d))
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, size=n)
    return centres[y] + rng.standard_normal((n, d)), y


def training_setup():
    # no dropout: dropout masks are drawn on the device, where a GPU's generator differs from NumPy's
    model = MLP(n_in=6, hidden=(8,), activation="maxout", pieces=2, n_classes=3, init_ranges=(0.3, 0.3),
                max_col_norms=(1.5, 2.0))
    recipe = Recipe(batch_size=16, learning_rate=0.05, momentum=0.5, max_epochs=4, patience=None)
    return model, recipe, blobs(1, 120), blobs(2, 60)


def compare_runs(gpu, cpu):
    assert_same(gpu.theta_best, cpu.theta_best, CHAIN_RTOL)
    assert_same(gpu.theta_last, cpu.theta_last, CHAIN_RTOL)
    assert gpu.best_epoch == cpu.best_epoch
    assert [h["valid_error"] for h in gpu.history] == [h["valid_error"] for h in cpu.history]
    for g, c in zip(gpu.history[1:], cpu.history[1:]):
        assert g["train_objective"] == pytest.approx(c["train_objective"], rel=CHAIN_RTOL)
    np.testing.assert_allclose(np.asarray(gpu.trajectory_rows()), np.asarray(cpu.trajectory_rows()), rtol=CHAIN_RTOL)


def test_training_a_few_epochs_on_the_device(cupy, tmp_path):
    model, recipe, train_set, valid_set = training_setup()
    cpu = train(model, train_set, valid_set, recipe, tmp_path / "cpu", seed=3, dtype=np.float64, progress=False,
                log=None)
    gpu = train(model, on_device(cupy, train_set), on_device(cupy, valid_set), recipe, tmp_path / "gpu", seed=3,
                dtype=np.float64, progress=False, log=None)
    compare_runs(gpu, cpu)
    assert json.loads((tmp_path / "gpu" / "run.json").read_text())["description"]["device"] == "gpu"


def test_a_finished_device_run_is_reused_from_its_folder(cupy, tmp_path):
    model, recipe, train_set, valid_set = training_setup()
    args = (model, on_device(cupy, train_set), on_device(cupy, valid_set), recipe, tmp_path / "run")
    first = train(*args, seed=3, dtype=np.float64, progress=False, log=None)

    def no_training(theta, batch, rng):
        raise AssertionError("a finished run must be reused, not trained again")

    again = train(*args, seed=3, dtype=np.float64, progress=False, log=None, objective=no_training)
    assert_same(again.theta_best, first.theta_best.get(), 0.0, 0.0)
    assert again.history == first.history


def test_an_interrupted_device_run_resumes_to_the_uninterrupted_numbers(cupy, tmp_path):
    model, recipe, train_set, valid_set = training_setup()
    cpu = train(model, train_set, valid_set, recipe, tmp_path / "cpu", seed=5, dtype=np.float64, progress=False,
                log=None)
    calls = {"n": 0}

    def interrupted(theta, batch, rng):
        calls["n"] += 1
        if calls["n"] == 2 * 8 + 3:  # in epoch 3 (8 minibatches of 16 per epoch of 120 examples)
            raise KeyboardInterrupt
        return model.loss_and_grad(theta, batch, rng=rng)

    args = (model, on_device(cupy, train_set), on_device(cupy, valid_set), recipe, tmp_path / "gpu")
    with pytest.raises(KeyboardInterrupt):
        train(*args, seed=5, dtype=np.float64, progress=False, log=None, objective=interrupted)
    gpu = train(*args, seed=5, dtype=np.float64, progress=False, log=None)
    compare_runs(gpu, cpu)


# Was a bug the double found (mended): softmax_cross_entropy read int(y.min()) and int(y.max()) on every call and
# limit_column_norms read bool(too_long.any()) after every update: 48 reads in an epoch of 8 minibatches.


def test_a_training_minibatch_reads_one_number_back_from_the_device(cupy, tmp_path):
    """Each device-to-host read is a synchronisation that stalls the GPU's queue. The trainer needs one per
    minibatch (the loss, to stop on NaN). Measured as the difference between one epoch of 16 minibatches and one
    of 8 (same validation set): what an epoch adds once (validation, the checkpoint and the trajectory written to
    disk) cancels, and what remains is the cost of 8 minibatches."""
    sync_count = getattr(cupy, "_double_syncs", None)  # {"count": n}: only the CuPy double counts them
    if sync_count is None:
        pytest.skip("only the CuPy double counts device synchronisations")
    model, recipe, _, valid_set = training_setup()
    syncs = {}
    for minibatches in (8, 16):
        train_set = blobs(1, recipe.batch_size * minibatches)
        before = sync_count["count"]
        train(model, on_device(cupy, train_set), on_device(cupy, valid_set), replace(recipe, max_epochs=1),
              tmp_path / str(minibatches), seed=3, dtype=np.float64, progress=False, log=None)
        syncs[minibatches] = sync_count["count"] - before
    assert syncs[16] - syncs[8] == 8, f"8 more minibatches read {syncs[16] - syncs[8]} more numbers back"


def test_adversarial_objective_and_error_rate(cupy):
    from minilinpath.adversarial import adversarial_error_rate, fgsm_objective

    model = small_mlp("maxout", dropout=False)
    theta = model.init(3, dtype=np.float64)
    batch = classifier_data(23, 12, 7, 4)
    objective = fgsm_objective(model, epsilon=0.1, mix=0.5, clip=(-2.0, 2.0))
    gpu, cpu = both(cupy, lambda t, b: objective(t, b, None), theta, batch)
    assert_same(gpu, cpu, LAYER_RTOL)
    gpu, cpu = both(cupy, lambda t, b: adversarial_error_rate(model, t, b, epsilon=0.1), theta, batch)
    assert_same(gpu, cpu, LAYER_RTOL)


def test_adversarial_training_on_the_device(cupy, tmp_path):
    from minilinpath.adversarial import fgsm_objective

    model, recipe, train_set, valid_set = training_setup()
    objective = fgsm_objective(model, epsilon=0.1)
    runs = {}
    for name, (tr, va) in {"cpu": (train_set, valid_set),
                           "gpu": (on_device(cupy, train_set), on_device(cupy, valid_set))}.items():
        runs[name] = train(model, tr, va, replace(recipe, max_epochs=2), tmp_path / name, seed=3, dtype=np.float64,
                           objective=objective, objective_name="fgsm", progress=False, log=None)
    compare_runs(runs["gpu"], runs["cpu"])


def test_language_model_training_on_the_device(cupy, tmp_path):
    from minilinpath.train_lm import LMRecipe, train_language_model

    model = LSTMLanguageModel(vocab_size=11, hidden=4, layers=1, steps=3, init_range=0.5, keep_prob=1.0)
    recipe = LMRecipe(batch_size=2, learning_rate=1.0, max_epoch=1, max_max_epoch=2, max_grad_norm=5.0)
    rng = np.random.default_rng(24)
    train_data, valid_data = rng.integers(0, 11, size=(2, 13)), rng.integers(0, 11, size=(2, 7))
    cpu = train_language_model(model, train_data, valid_data, recipe, tmp_path / "cpu", seed=1, dtype=np.float64,
                               progress=False, log=None)
    gpu = train_language_model(model, cupy.asarray(train_data), cupy.asarray(valid_data), recipe, tmp_path / "gpu",
                               seed=1, dtype=np.float64, progress=False, log=None)
    assert_same(gpu.theta_last, cpu.theta_last, CHAIN_RTOL)
    assert [h["valid_nll"] for h in gpu.history] == pytest.approx([h["valid_nll"] for h in cpu.history],
                                                                  rel=CHAIN_RTOL)


def test_random_points_directions_and_walks_drawn_on_the_host_are_the_same_on_the_device(cupy):
    from minilinpath.path import random_direction, random_plane, random_point, random_walk

    model = small_mlp("relu", dropout=False)
    theta = model.init(1, dtype=np.float64)
    assert_same(random_point(model, [4, 1], xp=cupy, dtype=np.float64),
                random_point(model, [4, 1], dtype=np.float64), 0.0, 0.0)
    assert_same(random_direction(model, cupy.asarray(theta), 7), random_direction(model, theta, 7), LAYER_RTOL)
    gpu, cpu = random_plane(model, cupy.asarray(theta), 2), random_plane(model, theta, 2)
    assert_same(gpu.point(0.5, -1.0), cpu.point(0.5, -1.0), LAYER_RTOL)
    walk = [w.copy() for w in random_walk(6, 3, 9, xp=cupy)]
    assert len(walk) == 4 and all(backend.is_cupy_array(w) for w in walk)  # drawn with the device's generator


# ---------------------------------------------------------------------------------------------------------------
# The linear path: fast and plain sweeps


def sweep_setup(kind):
    if kind == "mlp":
        model = small_mlp("maxout", dropout=True)
        batch, valid = classifier_data(10, 30, 7, 4), classifier_data(11, 12, 7, 4)
    elif kind == "convnet":
        model = small_convnet()
        batch, valid = classifier_data(12, 6, 2 * 9 * 8, 3), classifier_data(13, 4, 2 * 9 * 8, 3)
    else:
        model = MPDBM(n_visible=12, hidden=(7, 5), n_classes=3, iterations=3, h0_sparse_init=4, c_sparse_init=3,
                      h1_init_range=0.5, pixel_means=np.linspace(0.1, 0.9, 12))
        rng = np.random.default_rng(14)
        batch, valid = (rng.random((10, 12)), rng.integers(0, 3, 10)), (rng.random((5, 12)), rng.integers(0, 3, 5))
    theta0, theta1 = model.init(3, dtype=np.float64), model.init(4, dtype=np.float64)
    return model, theta0, theta1, batch, valid


def path_numbers(result):
    return {k: v for k, v in vars(result).items() if isinstance(v, np.ndarray) and v.dtype.kind in "fiu"}




@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("kind", ["mlp", "convnet", "mpdbm"])
def test_linear_path_sweeps(cupy, kind, fast):
    model, theta0, theta1, batch, valid = sweep_setup(kind)
    alphas = np.linspace(-0.5, 1.5, 7)
    cpu = linear_path(model, theta0, theta1, batch, alphas, valid=valid, fast=fast, progress=False)
    gpu = linear_path(model, *on_device(cupy, (theta0, theta1, batch)), alphas, valid=on_device(cupy, valid),
                      fast=fast, progress=False)
    expected = path_numbers(cpu)
    assert expected.keys() >= {"J_train", "error_train", "J_valid"}
    for key, values in expected.items():
        np.testing.assert_allclose(np.asarray(getattr(gpu, key)), values, rtol=CHAIN_RTOL, atol=ATOL, err_msg=key)
    assert summarize(alphas, np.asarray(gpu.J_train)) == summarize(alphas, cpu.J_train)


def test_linear_path_of_the_language_model(cupy):
    model = LSTMLanguageModel(vocab_size=11, hidden=4, layers=2, steps=3, init_range=0.5, keep_prob=1.0)
    tokens = np.random.default_rng(15).integers(0, 11, size=(2, 7))
    batch = (tokens[:, :-1], tokens[:, 1:])
    theta0, theta1 = model.init(0, dtype=np.float64), model.init(1, dtype=np.float64)
    alphas = np.linspace(0.0, 1.0, 4)
    cpu = linear_path(model, theta0, theta1, batch, alphas, progress=False)
    gpu = linear_path(model, *on_device(cupy, (theta0, theta1, batch)), alphas, progress=False)
    np.testing.assert_allclose(np.asarray(gpu.J_train), cpu.J_train, rtol=CHAIN_RTOL)


def test_linear_path_with_dropout_samples(cupy):
    """mc_samples > 0: the masks come from ``seed``; both sides must see the same masks to agree."""
    model, theta0, theta1, batch, _ = sweep_setup("mlp")
    alphas = np.linspace(0.0, 1.0, 3)
    cpu = linear_path(model, theta0, theta1, batch, alphas, mc_samples=2, seed=4, progress=False)
    gpu = linear_path(model, *on_device(cupy, (theta0, theta1, batch)), alphas, mc_samples=2, seed=4, progress=False)
    assert np.all(np.isfinite(np.asarray(gpu.J_train))) and np.asarray(gpu.J_train).shape == cpu.J_train.shape


# ---------------------------------------------------------------------------------------------------------------
# Planes


@pytest.mark.parametrize("fast", [True, False])
def test_evaluate_plane(cupy, fast):
    model, theta0, theta1, batch, valid = sweep_setup("mlp")
    theta2 = model.init(5, dtype=np.float64)

    def compute(t0, t1, t2, b, v):
        plane = plane_through(t0, t1, t2)
        a_values, b_values = grid_around(plane, n=4)
        result = evaluate_plane(model, plane, b, a_values, b_values, valid=v, fast=fast, progress=False)
        return {k: np.asarray(v) for k, v in vars(result).items() if isinstance(v, np.ndarray)}

    gpu = compute(*on_device(cupy, (theta0, theta1, theta2, batch, valid)))
    cpu = compute(theta0, theta1, theta2, batch, valid)
    assert gpu.keys() == cpu.keys() and cpu
    for key in cpu:
        np.testing.assert_allclose(gpu[key], cpu[key], rtol=CHAIN_RTOL, atol=ATOL, err_msg=key)


def test_plane_tools(cupy):
    model, theta0, theta1, _, _ = sweep_setup("mlp")
    d1, d2 = draw(16, model.size, model.size)

    def compute(t0, t1, u, v):
        plane = plane_along(t0, u, v, orthonormalize=True)
        through = plane_through(t0, t1, t0 + u)
        return (plane.point(0.3, -0.2), through.coordinates(t1), normalize_direction(model, u, t0),
                normalize_direction(model, v, t0, norm="layer"))

    gpu, cpu = both(cupy, compute, theta0, theta1, d1, d2)
    assert_same(gpu, cpu, LAYER_RTOL)


def test_pca_plane_and_trajectory_on_plane(cupy):
    model, theta0, theta1, batch, _ = sweep_setup("mlp")
    rows = np.stack([theta0 + (theta1 - theta0) * t + 0.05 * np.sin(7 * t) * np.cos(np.arange(model.size))
                     for t in np.linspace(0, 1, 6)])

    def compute(r, t1, b):
        pca = pca_plane(r, t1)
        plane = pca[0] if isinstance(pca, tuple) else pca
        on_plane = trajectory_on_plane(r, plane, model=model, batch=b)
        return [np.asarray(x) if not backend.is_cupy_array(x) else x.get() for x in on_plane]

    gpu = compute(*on_device(cupy, (rows, theta1, batch)))
    cpu = compute(rows, theta1, batch)
    for g, c in zip(gpu, cpu):
        np.testing.assert_allclose(g, c, rtol=CHAIN_RTOL, atol=ATOL)


def test_project_trajectory(cupy):
    rows = draw(17, (9, 40))[0].cumsum(axis=0)
    gpu = project_trajectory(cupy.asarray(rows), cupy.asarray(rows[0]), cupy.asarray(rows[6]))
    cpu = project_trajectory(rows, rows[0], rows[6])
    for g, c in zip(gpu, cpu):
        np.testing.assert_allclose(g.get() if backend.is_cupy_array(g) else np.asarray(g), c, rtol=LAYER_RTOL)


# ---------------------------------------------------------------------------------------------------------------
# Curvature


@pytest.mark.parametrize("kind", ["mlp-exact", "deep_linear-finite-difference"])
def test_hessian_vector_product(cupy, kind):
    if kind == "mlp-exact":
        model = small_mlp("tanh", dropout=False)
        batch = classifier_data(18, 10, 7, 4)
    else:
        model = DeepLinear((3, 4, 2), init_std=0.5)
        batch = tuple(draw(18, (10, 3), (10, 2)))
    theta = model.init(0, dtype=np.float64)
    v = draw(19, model.size)[0]
    gpu, cpu = both(cupy, lambda t, b, u: hvp(model, t, b, u), theta, batch, v)
    assert_same(gpu, cpu, CHAIN_RTOL, 1e-10)


def test_hessian_eigenvalues_and_trace(cupy):
    model = small_mlp("tanh", dropout=False)
    theta = model.init(0, dtype=np.float64)
    batch = classifier_data(20, 10, 7, 4)

    def compute(t, b):
        eig = hessian_eigenvalues(model, t, b, k=2, tol=1e-10)
        trace = hutchinson_trace(model, t, b, samples=3, seed=1)
        return np.asarray(eig[0]), float(trace[0])

    gpu = compute(*on_device(cupy, (theta, batch)))
    cpu = compute(theta, batch)
    np.testing.assert_allclose(gpu[0], cpu[0], rtol=1e-7)  # Lanczos to tol 1e-10 from the same start vector
    assert gpu[1] == pytest.approx(cpu[1], rel=CHAIN_RTOL)


def test_line_curvature(cupy):
    model = small_mlp("tanh", dropout=False)
    theta0, theta1 = model.init(0, dtype=np.float64), model.init(1, dtype=np.float64)
    batch = classifier_data(21, 10, 7, 4)
    alphas = np.linspace(0.0, 1.0, 4)

    for method in ("loss", "hvp"):
        gpu = line_curvature(model, *on_device(cupy, (theta0, theta1, batch)), alphas, method=method)
        cpu = line_curvature(model, theta0, theta1, batch, alphas, method=method)
        assert isinstance(cpu, np.ndarray) and cpu.shape == (4,)
        # second differences with h = 1e-3 divide rounding by h^2: 1e-8 relative is what float64 keeps
        np.testing.assert_allclose(np.asarray(gpu) if not backend.is_cupy_array(gpu) else gpu.get(), cpu,
                                   rtol=1e-8, atol=1e-9, err_msg=method)


# ---------------------------------------------------------------------------------------------------------------
# Curves


@pytest.mark.parametrize("kind", ["bezier", "chain"])
def test_curve_training_and_path(cupy, kind):
    model = MLP(n_in=4, hidden=(5,), activation="tanh", n_classes=3, init_ranges=(0.8, 0.8))  # no dropout masks
    data = classifier_data(22, 10, 4, 3)
    theta_a, theta_b = model.init(0, dtype=np.float64), model.init(1, dtype=np.float64)

    def compute(a, b, d):
        fit = train_curve(model, line_curve(kind, a, b), d, epochs=2, batch_size=3, progress=False)
        path = curve_path(model, fit.curve, d, [0.0, 0.25, 0.5, 1.0], progress=False)
        return fit.curve.bends, np.asarray(path.J_train), np.asarray(path.error_train)

    gpu = compute(*on_device(cupy, (theta_a, theta_b, data)))
    cpu = compute(theta_a, theta_b, data)
    assert_same(list(gpu[0]), list(cpu[0]), CHAIN_RTOL)
    np.testing.assert_allclose(gpu[1], cpu[1], rtol=CHAIN_RTOL)
    np.testing.assert_array_equal(gpu[2], cpu[2])


# ---------------------------------------------------------------------------------------------------------------
# One figure end to end with --device gpu


def test_figure_12_with_device_gpu_draws_numpys_numbers(cupy, tmp_path, monkeypatch):
    from minilinpath.figures import fig12

    monkeypatch.setattr(backend, "_selected", None)  # restored afterwards: --device gpu selects the GPU for good
    monkeypatch.setattr(fig12, "RUNS", [(0.05, 0.0), (0.002, 0.9)])  # two runs, as tests/test_figures.py does
    monkeypatch.setitem(fig12.TOLERANCE, "quick", 0.05)
    assert fig12.main(["--out", str(tmp_path / "cpu"), "--device", "cpu"]) == 0
    assert fig12.main(["--out", str(tmp_path / "gpu"), "--device", "gpu"]) == 0
    assert backend.current() == "gpu"
    with np.load(tmp_path / "cpu" / "fig12.npz") as cpu, np.load(tmp_path / "gpu" / "fig12.npz") as gpu:
        assert sorted(cpu.files) == sorted(gpu.files) and cpu.files
        for key in cpu.files:
            np.testing.assert_allclose(gpu[key], cpu[key], rtol=CHAIN_RTOL, atol=ATOL, err_msg=key)
    settings = json.loads((tmp_path / "gpu" / "fig12.json").read_text())
    assert settings["device"] == "gpu" if "device" in settings else True
    assert (tmp_path / "gpu" / "fig12.png").stat().st_size > 0


@pytest.mark.parametrize("how", ["loss_and_grad", "loss"])
def test_a_label_out_of_range_on_the_device_is_named(cupy, how):
    """On a GPU the labels are checked without a read-back per call: the loss turns NaN and the model then names
    the labels (not a silently wrapped index, not a 'diverged' loss)."""
    model = small_mlp("relu", dropout=False)
    theta = on_device(cupy, model.init(3, dtype=np.float64))
    X, y = classifier_data(9, 12, 7, 4)
    y = y.copy()
    y[4] = model.n_classes + 2
    batch = on_device(cupy, (X, y))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, "):
        model.loss_and_grad(theta, batch) if how == "loss_and_grad" else model.loss(theta, batch)
