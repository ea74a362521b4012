"""Hostile checks of three speed changes: the MLP's later layers built once per linear-path sweep
(MLP.line_parameters), lstm_backward writing its weight gradients into given arrays, and momentum_step on
blocks of parameters over threads. Each claims "the same bits as before"; these tests compare against the
straightforward computation (per-chunk build, copies, four whole-array passes) and against model.loss."""
import tracemalloc

import numpy as np
import pytest

import minilinpath.models.lstm_lm as lstm_lm_module
import minilinpath.path.linear as linear_module
from minilinpath import threads
from minilinpath.layers.affine import affine_backward, affine_forward
from minilinpath.layers.recurrent import lstm_backward, lstm_forward
from minilinpath.models import MLP, get as get_model
from minilinpath.optim import momentum_step
from minilinpath.path.linear import linear_path

from .conftest import ModelWithout

CURVES = ("J_train", "J_valid", "error_train", "error_valid")

MLPS = {
    "maxout3": dict(hidden=(7, 5), activation="maxout", pieces=3),
    "maxout1": dict(hidden=(6,), activation="maxout", pieces=1),
    "relu": dict(hidden=(6, 4), activation="relu"),
    "sigmoid": dict(hidden=(5,), activation="sigmoid"),
    "no_hidden": dict(hidden=(), activation="relu"),
}


def line_setup(kind, dtype, n=151, n_valid=33):
    settings = MLPS[kind]
    model = MLP(n_in=12, n_classes=4, init_ranges=(0.5,) * (len(settings["hidden"]) + 1), **settings)
    rng = np.random.default_rng(7)
    X = rng.standard_normal((n, 12)).astype(dtype)
    y = rng.integers(0, 4, n)
    Xv = rng.standard_normal((n_valid, 12)).astype(dtype)
    yv = rng.integers(0, 4, n_valid)
    theta0 = model.init(1, dtype=dtype)
    theta1 = (3 * model.init(2, dtype=dtype)).astype(dtype)
    return model, (X, y), (Xv, yv), theta0, theta1


def first_outputs(model, theta0, theta1, X):
    W = model.first_layer_weights
    return (model.first_bias(theta0, model.first_linear(X, model.unflatten(theta0)[W])),
            model.first_bias(theta1, model.first_linear(X, model.unflatten(theta1)[W])))


# ------------------------------------------------------------------ 1. line parameters built once per sweep
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", sorted(MLPS))
def test_sweep_with_line_parameters_equals_per_chunk_build(kind, dtype, monkeypatch):
    """Alphas outside [0, 1], repeated, exactly 0 and 1, chunks that do not divide the data, a chunk larger
    than the data: the once-per-sweep build gives the per-chunk build's curves bit for bit."""
    model, train, valid, theta0, theta1 = line_setup(kind, dtype)
    alphas = [-2.5, 0.0, 0.5, 0.5, 1.0, 1.0, 1.7, 3.0, 0.0]
    built = []
    real = model.line_parameters
    monkeypatch.setattr(model, "line_parameters", lambda *a: built.append(1) or real(*a))
    for chunk in (40, 1000):
        once = linear_path(model, theta0, theta1, train, alphas, valid, chunk_size=chunk, progress=False)
        # train and valid: the once-per-sweep branch ran (a model without hidden layers has nothing to build)
        assert len(built) == (0 if kind == "no_hidden" else 2)
        built.clear()
        with monkeypatch.context() as m:
            m.setattr(linear_module, "_later_layers_on_line", lambda *a: None)
            per_chunk = linear_path(model, theta0, theta1, train, alphas, valid, chunk_size=chunk, progress=False)
        assert not built
        for name in CURVES:
            np.testing.assert_array_equal(getattr(once, name), getattr(per_chunk, name), err_msg=name)
        plain = linear_path(model, theta0, theta1, train, alphas, valid, chunk_size=chunk, fast=False,
                            progress=False)                 # theta(alpha) built whole: equal up to rounding
        np.testing.assert_allclose(once.J_train, plain.J_train, rtol=1e-4 if dtype == np.float32 else 1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["maxout3", "relu", "no_hidden"])
@pytest.mark.parametrize("alphas", [[1.0], [0.0], np.array([0.0, 1.0]), [1.0, 0.25, 0.0, 1.0], (0.0,)])
def test_sweep_endpoints_are_model_loss_with_default_chunk(kind, dtype, alphas):
    model, train, valid, theta0, theta1 = line_setup(kind, dtype)
    result = linear_path(model, theta0, theta1, train, alphas, valid, progress=False)
    kept = linear_module._later_layers_on_line(model, theta0, theta1, [float(a) for a in alphas],
                                               result.settings["chunk_size"])
    assert (kept is None) == (kind == "no_hidden")          # nothing to build without later layers
    for i, a in enumerate(np.asarray(alphas, dtype=float)):
        if a in (0.0, 1.0):
            theta = theta0 if a == 0.0 else theta1
            assert result.J_train[i] == model.loss(theta, train)
            assert result.J_valid[i] == model.loss(theta, valid)
            assert result.error_train[i] == model.error_rate(theta, train)


def test_monte_carlo_sweep_never_builds_line_parameters(monkeypatch):
    model = MLP(n_in=12, hidden=(6, 5), activation="maxout", pieces=2, n_classes=4, init_ranges=(0.5,) * 3,
                input_include=0.8, hidden_include=0.5, hidden_scale=2.0)
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((90, 12)).astype(np.float32), rng.integers(0, 4, 90)
    theta0, theta1 = model.init(1), model.init(2)

    def refuse(*args):
        raise AssertionError("line_parameters used by a Monte Carlo sweep")

    monkeypatch.setattr(model, "line_parameters", refuse)
    a = linear_path(model, theta0, theta1, (X, y), [0.0, 0.5, 1.0], chunk_size=30, mc_samples=2, seed=4,
                    progress=False)
    b = linear_path(model, theta0, theta1, (X, y), [0.0, 0.5, 1.0], chunk_size=30, mc_samples=2, seed=4,
                    progress=False)
    np.testing.assert_array_equal(a.J_train, b.J_train)
    with pytest.raises(AssertionError, match="line_parameters used"):
        linear_path(model, theta0, theta1, (X, y), [0.0, 0.5, 1.0], chunk_size=30, progress=False)


class _WithoutLineParameters(ModelWithout):
    """An MLP seen through a wrapper that lacks line_parameters (and whose evaluate_line_chunk takes no on_line)."""

    HIDDEN = ("line_parameters", "line_parameter_bytes")

    def evaluate_line_chunk(self, theta0, theta1, Z0, Z1, alphas, y):
        return self._model.evaluate_line_chunk(theta0, theta1, Z0, Z1, alphas, y)


def test_model_without_line_parameters_gets_the_same_curves():
    model, train, valid, theta0, theta1 = line_setup("maxout3", np.float32)
    wrapped = _WithoutLineParameters(model)
    assert linear_module._later_layers_on_line(wrapped, theta0, theta1, [0.5], 10) is None
    alphas = np.linspace(-0.5, 1.5, 6)
    a = linear_path(model, theta0, theta1, train, alphas, valid, chunk_size=50, progress=False)
    b = linear_path(wrapped, theta0, theta1, train, alphas, valid, chunk_size=50, progress=False)
    for name in CURVES:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@pytest.mark.parametrize("kind", ["maxout3", "relu"])
def test_evaluate_line_chunk_checks_on_line(kind):
    """on_line must be line_parameters' result for these very alphas and the chunk's dtype: anything else is
    refused by name, before any computing (other alphas of the same count would silently give wrong numbers)."""
    model, (X, y), _, theta0, theta1 = line_setup(kind, np.float32)
    Z0, Z1 = first_outputs(model, theta0, theta1, X)
    alphas = [0.0, 0.3, 1.0]
    on_line = model.line_parameters(theta0, theta1, alphas)
    for wrong in (list(on_line.layers), on_line.at(0), "on_line"):
        with pytest.raises(ValueError, match="on_line must be what line_parameters"):
            model.evaluate_line_chunk(theta0, theta1, Z0, Z1, alphas, y, on_line=wrong)
    for other in ([0.0, 0.3], [0.0, 0.3, 1.0, 1.0], [0.0, 0.31, 1.0]):
        with pytest.raises(ValueError, match="other alphas"):
            model.evaluate_line_chunk(theta0, theta1, Z0, Z1, other, y, on_line=on_line)
    wide = model.line_parameters(theta0.astype(np.float64), theta1.astype(np.float64), alphas)
    with pytest.raises(ValueError, match="float64 parameters but the chunk is float32"):
        model.evaluate_line_chunk(theta0, theta1, Z0, Z1, alphas, y, on_line=wide)
    empty = model.evaluate_line_chunk(theta0, theta1, Z0, Z1, [], y, on_line=model.line_parameters(theta0, theta1, []))
    assert empty[0].shape == empty[1].shape == (0,)


@pytest.mark.parametrize("kind", ["maxout3", "relu"])
def test_evaluate_line_chunk_on_line_equals_per_chunk_for_numpy_alphas(kind):
    """line_parameters turns each alpha into a Python float; evaluate_line_chunk must treat NumPy alphas the same
    way whether or not on_line is given (its docstring: the same operations, so the same numbers)."""
    model, (X, y), _, theta0, theta1 = line_setup(kind, np.float32)
    Z0, Z1 = first_outputs(model, theta0, theta1, X)
    alphas = np.linspace(-0.3, 1.3, 7)                       # NumPy float64 alphas, float32 network
    per_chunk = model.evaluate_line_chunk(theta0, theta1, Z0, Z1, alphas, y)
    once = model.evaluate_line_chunk(theta0, theta1, Z0, Z1, alphas, y,
                                     on_line=model.line_parameters(theta0, theta1, alphas))
    np.testing.assert_array_equal(per_chunk[0], once[0])
    np.testing.assert_array_equal(per_chunk[1], once[1])


def kept_and_traced(model, theta0, theta1, alphas, chunk):
    """What the sweep keeps for its later layers, and the bytes Python's allocator holds for it (tracemalloc)."""
    tracemalloc.start()
    try:
        kept = linear_module._later_layers_on_line(model, theta0, theta1, alphas, chunk)
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return kept, held


@pytest.mark.parametrize("kind, n_alphas, budget_mb", [("relu", 40_000, 2.0), ("no_hidden", 40_000, 0.02)])
def test_line_parameters_kept_fit_the_memory_budget(kind, n_alphas, budget_mb, monkeypatch):
    """The claim: what the sweep keeps for its later layers never pushes it over the evaluation budget, also with
    tiny layers and many alphas (one stacked array per W and b, not Python objects per alpha); with no hidden
    layers nothing is built."""
    monkeypatch.setenv("MINILINPATH_EVAL_MEMORY_MB", str(budget_mb))
    model = MLP(n_in=4, hidden=(3,) if kind == "relu" else (), activation="relu", n_classes=2,
                init_ranges=(0.5,) * (2 if kind == "relu" else 1))
    theta0, theta1 = model.init(1), model.init(2)
    alphas = [float(a) for a in np.linspace(0.0, 1.0, n_alphas)]
    kept, held = kept_and_traced(model, theta0, theta1, alphas, 10)
    assert (kept is None) == (kind == "no_hidden")
    assert held <= budget_mb * 2 ** 20, f"kept {held / 2 ** 20:.1f} MB for a {budget_mb} MB budget"


def test_line_parameters_of_large_layers_fit_the_budget(monkeypatch):
    """Large layers, few alphas: the kept arrays' bytes are line_parameter_bytes, within what the budget leaves."""
    monkeypatch.setenv("MINILINPATH_EVAL_MEMORY_MB", "4")
    model = MLP(n_in=5, hidden=(200, 300), activation="maxout", pieces=2, n_classes=10, init_ranges=(0.1,) * 3)
    theta0, theta1 = model.init(1), model.init(2)
    alphas = [0.0, 0.5, 1.0, 1.5]
    assert model.line_parameter_bytes(4) < 4 * 2 ** 20
    kept, held = kept_and_traced(model, theta0, theta1, alphas, 10)
    assert kept is not None and held <= 4 * 2 ** 20
    assert sum(a.nbytes for pair in kept.layers for a in pair) == model.line_parameter_bytes(4)
    monkeypatch.setenv("MINILINPATH_EVAL_MEMORY_MB", "1")       # 1 MB: no room for 4 alphas of ~0.6 MB each
    assert linear_module._later_layers_on_line(model, theta0, theta1, alphas, 10) is None


# ------------------------------------------------------------------ 2. lstm_backward into given arrays
def lstm_case(N, T, D, H, dtype, seed=2):
    r = np.random.default_rng(seed)
    arrays = [r.standard_normal(s).astype(dtype) for s in ((N, T, D), (N, H), (N, H), (D, 4 * H), (H, 4 * H), (4 * H,))]
    hs, _, cache = lstm_forward(*arrays)
    return cache, r.standard_normal(hs.shape).astype(dtype), r.standard_normal((N, H)).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (1, 3, 2, 1), (3, 1, 4, 2), (2, 5, 3, 7)])
def test_lstm_backward_into_noncontiguous_out_arrays(shape, dtype):
    N, T, D, H = shape
    cache, dhs, dh_T = lstm_case(N, T, D, H, dtype)
    fresh = lstm_backward(dhs, cache, dh_T, 0.5 * dh_T)
    big_x = np.full((D, 8 * H), np.nan, dtype)
    big_h = np.full((4 * H, H), np.nan, dtype).T                # a transposed (F-ordered) out
    big_b = np.full(8 * H, np.nan, dtype)
    outs = lstm_backward(dhs, cache, dh_T, 0.5 * dh_T, dWx_out=big_x[:, ::2], dWh_out=big_h, db_out=big_b[1::2])
    for got, want in zip(outs, fresh):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(big_x[:, ::2], fresh[3])
    np.testing.assert_array_equal(big_h, fresh[4])
    np.testing.assert_array_equal(big_b[1::2], fresh[5])
    assert np.isnan(big_x[:, 1::2]).all() and np.isnan(big_b[::2]).all()   # nothing written beside the views


def test_lstm_backward_out_of_wrong_shape_is_refused():
    cache, dhs, _ = lstm_case(2, 3, 4, 5, np.float32)
    with pytest.raises(ValueError, match=r"dWx_out must be a float32 array of shape \(4, 20\).*got float32 of "
                                         r"shape \(20, 4\)"):
        lstm_backward(dhs, cache, dWx_out=np.empty((20, 4), np.float32))
    with pytest.raises(ValueError, match="db_out must be"):
        lstm_backward(dhs, cache, db_out=np.empty((1, 20), np.float32))
    good = np.full((4, 20), np.nan, np.float32)
    with pytest.raises(ValueError, match=r"dWh_out must be a float32 array.*got float64"):   # no silent cast
        lstm_backward(dhs, cache, dWx_out=good, dWh_out=np.empty((5, 20)))
    assert np.isnan(good).all()                                 # refused before anything was written
    with pytest.raises(ValueError, match="dW_out must be"):
        x, W = np.ones((3, 4), np.float32), np.ones((4, 2), np.float32)
        affine_backward(np.ones((3, 2), np.float32), affine_forward(x, W, np.zeros(2, np.float32))[1],
                        dW_out=np.empty((4, 2), np.float64))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("preset, overrides, N, T", [("ptb_small_quick", dict(hidden=12, steps=6), 3, 6),
                                                      ("ptb_medium_quick", dict(hidden=9, steps=5), 2, 5),
                                                      ("ptb_medium_quick", dict(hidden=1, steps=1, layers=3), 1, 1)])
def test_lstm_lm_gradient_same_as_with_copies(preset, overrides, N, T, dtype, monkeypatch):
    """The model now hands lstm_backward views of its flat gradient; copying fresh arrays into place (the former
    way) must give the same bits, over windows with the state carried and dropout masks drawn."""
    model = get_model(preset, vocab_size=23, **overrides)
    theta = model.init(5, dtype=dtype)
    stream = np.random.default_rng(11).integers(0, 23, size=(N, 3 * T + 1))

    def windows():
        state, masks_rng, out = None, np.random.default_rng(3), []
        for w in range(3):
            batch = (stream[:, w * T:(w + 1) * T], stream[:, w * T + 1:(w + 1) * T + 1])
            loss, grad, state = model.loss_and_grad(theta, batch, rng=masks_rng, state=state, return_state=True)
            out.append((loss, grad.copy(), [(h.copy(), c.copy()) for h, c in state]))
        return out

    def with_copies(dhs, cache, dh_T=None, dc_T=None, dWx_out=None, dWh_out=None, db_out=None):
        result = lstm_backward(dhs, cache, dh_T, dc_T)
        for out, value in zip((dWx_out, dWh_out, db_out), result[3:]):
            if out is not None:
                out[...] = value
        return result

    given = windows()
    monkeypatch.setattr(lstm_lm_module, "lstm_backward", with_copies)
    copied = windows()
    for (loss_a, grad_a, state_a), (loss_b, grad_b, state_b) in zip(given, copied):
        assert loss_a == loss_b
        np.testing.assert_array_equal(grad_a, grad_b)
        for (ha, ca), (hb, cb) in zip(state_a, state_b):
            np.testing.assert_array_equal(ha, hb)
            np.testing.assert_array_equal(ca, cb)


# ------------------------------------------------------------------ 3. momentum_step on blocks over threads
def four_passes(theta, velocity, grad, lr, mu):
    velocity *= mu
    grad *= lr
    velocity -= grad
    theta += velocity


@pytest.mark.parametrize("workers", ["1", "2", "3", "4"])
def test_momentum_step_on_blocks_equals_four_whole_array_passes(workers, monkeypatch):
    monkeypatch.setenv("MINILINPATH_THREADS", workers)
    blocks = []
    real_even_blocks = threads.even_blocks
    monkeypatch.setattr(threads, "even_blocks", lambda n, parts: blocks.append(parts) or real_even_blocks(n, parts))
    rng = np.random.default_rng(int(workers))
    for dtype, shape in ((np.float32, (1,)), (np.float64, (7,)), (np.float32, (600_001,)),
                         (np.float64, (700, 500)), (np.float32, (3, 5))):
        arrays = [rng.standard_normal(shape).astype(dtype) for _ in range(3)]
        for lr, mu in ((0.1, 0.9), (np.float64(0.37), np.float32(0.5)), (1e-3, 0.0)):
            want = [a.copy() for a in arrays]
            got = [a.copy() for a in arrays]
            four_passes(*want, lr, mu)
            momentum_step(*got, lr, mu)
            for w, g in zip(want, got):
                np.testing.assert_array_equal(w, g)
    if workers != "1":
        assert max(blocks) == int(workers)        # the large arrays really were split over the threads


@pytest.mark.parametrize("workers", ["1", "3"])
def test_momentum_step_on_views(workers, monkeypatch):
    """theta a column block of a 2-D array, velocity a reversed view, grad a strided view of a transposed copy."""
    monkeypatch.setenv("MINILINPATH_THREADS", workers)
    rng = np.random.default_rng(5)
    for dtype in (np.float32, np.float64):
        base = rng.standard_normal((1200, 800)).astype(dtype)

        def views(B):
            return B[:, :400], B[:, 400:][:, ::-1], np.asarray(B.T.copy().T)[:, 100:500]

        want_base, got_base = base.copy(), base.copy()
        want, got = views(want_base), views(got_base)
        want = (want[0], want[1], got[2].copy())               # the same grad values in both
        got = (got[0], got[1], got[2])
        four_passes(*want, 0.05, 0.95)
        momentum_step(*got, 0.05, 0.95)
        np.testing.assert_array_equal(want_base, got_base)     # theta and velocity live in the base
        np.testing.assert_array_equal(want[2], got[2])         # grad holds lr * g afterwards


class _OlderSignature(MLP):
    """An MLP subclass that overrides evaluate_line_chunk with the signature it had before on_line existed."""

    def evaluate_line_chunk(self, theta0, theta1, Z0, Z1, alphas, y):
        return super().evaluate_line_chunk(theta0, theta1, Z0, Z1, alphas, y)


def test_subclass_with_the_older_evaluate_line_chunk_breaks_the_written_contract():
    """Such a subclass still has line_parameters, so it declares the LineParameters ability
    (minilinpath.contract), which means taking on_line: the sweep reads no signature and hands it on_line, and
    Python's TypeError names the keyword. The same model without line_parameters keeps the contract (the wrapper
    above) and gets the plain MLP's curves."""
    _, train, valid, theta0, theta1 = line_setup("maxout3", np.float32)
    older = _OlderSignature(n_in=12, n_classes=4, init_ranges=(0.5,) * 3, **MLPS["maxout3"])
    assert linear_module._later_layers_on_line(older, theta0, theta1, [0.5], 10) is not None
    with pytest.raises(TypeError, match="on_line"):
        linear_path(older, theta0, theta1, train, np.linspace(-0.5, 1.5, 6), valid, chunk_size=50, progress=False)
