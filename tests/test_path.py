"""linear_path: endpoints, fast = plain, Monte Carlo masks, saving; the metrics on curves with known answers."""
import numpy as np
import pytest

from minilinpath import backend, models
from minilinpath.models import MLP
from minilinpath.params import LayoutMismatchError
from minilinpath.path import (PathResult, alpha_grid, barrier_height, distance_travelled, is_monotone, largest_bump,
                              linear_path, local_minima, random_point, summarize)


def setup(dtype=np.float32, dropout=False, activation="maxout", pieces=3):
    model = MLP(n_in=12, hidden=(10, 8), activation=activation, pieces=pieces if activation == "maxout" else 1,
                n_classes=4, init_ranges=(0.3, 0.3, 0.3), max_col_norms=(None,) * 3,
                **(dict(input_include=0.8, input_scale=1.25, hidden_include=0.5, hidden_scale=2.0) if dropout else {}))
    rng = np.random.default_rng(0)
    X = rng.standard_normal((250, 12)).astype(dtype)
    y = rng.integers(0, 4, size=250)
    theta0 = model.init(1, dtype=dtype)
    theta1 = (theta0 + 0.5 * rng.standard_normal(model.size)).astype(dtype)
    return model, (X, y), (X[:60] + 0.1, y[:60]), theta0, theta1


@pytest.mark.parametrize("fast", [True, False])
def test_endpoints_reproduce_model_loss_exactly(fast):
    model, train, valid, theta0, theta1 = setup()
    r = linear_path(model, theta0, theta1, train, [0.0, 0.5, 1.0], valid, fast=fast, progress=False)
    assert r.J_train.dtype == np.float64 and theta0.dtype == np.float32
    assert r.J_train[0] == model.loss(theta0, train) and r.J_train[-1] == model.loss(theta1, train)
    assert r.J_valid[0] == model.loss(theta0, valid) and r.J_valid[-1] == model.loss(theta1, valid)
    assert r.error_train[0] == model.error_rate(theta0, train)
    assert r.error_valid[-1] == model.error_rate(theta1, valid)
    small_chunks = linear_path(model, theta0, theta1, train, [0.0, 1.0], chunk_size=64, fast=fast, progress=False)
    np.testing.assert_allclose(small_chunks.J_train, r.J_train[[0, 2]], rtol=1e-6)  # float32 sums, other order


@pytest.mark.parametrize("activation", ["maxout", "relu", "sigmoid", "one-piece maxout"])
def test_fast_sweep_equals_plain_sweep(activation):
    if activation == "one-piece maxout":  # maxout with k = 1 is a linear layer
        model, train, valid, theta0, theta1 = setup(np.float64, activation="maxout", pieces=1)
    else:
        model, train, valid, theta0, theta1 = setup(np.float64, activation=activation)
    alphas = np.linspace(-0.5, 2.0, 11)
    fast = linear_path(model, theta0, theta1, train, alphas, valid, chunk_size=70, progress=False)
    plain = linear_path(model, theta0, theta1, train, alphas, valid, fast=False, progress=False)
    np.testing.assert_allclose(fast.J_train, plain.J_train, rtol=1e-13)
    np.testing.assert_allclose(fast.J_valid, plain.J_valid, rtol=1e-13)
    np.testing.assert_array_equal(fast.error_train, plain.error_train)


def test_fast_sweep_without_hidden_layers():
    """Softmax regression: the first layer is the output layer, its logits are affine in alpha."""
    model = MLP(n_in=12, hidden=(), activation="relu", n_classes=4, init_ranges=(0.8,))
    rng = np.random.default_rng(5)
    X, y = rng.standard_normal((90, 12)), rng.integers(0, 4, size=90)
    theta0, theta1 = model.init(0, dtype=np.float64), model.init(1, dtype=np.float64)
    alphas = np.linspace(-0.5, 1.5, 5)
    fast = linear_path(model, theta0, theta1, (X, y), alphas, chunk_size=40, progress=False)
    plain = linear_path(model, theta0, theta1, (X, y), alphas, fast=False, progress=False)
    np.testing.assert_allclose(fast.J_train, plain.J_train, rtol=1e-13)
    assert fast.J_train[-2] == model.loss(theta1, (X, y))  # alpha = 1.0


def test_points_match_the_model_inside_and_outside_the_segment():
    model, train, _, theta0, theta1 = setup(np.float64)
    alphas = np.array([-1.0, 0.3, 2.11])
    r = linear_path(model, theta0, theta1, train, alphas, progress=False)
    for a, J in zip(alphas, r.J_train):
        assert J == pytest.approx(model.loss((1 - a) * theta0 + a * theta1, train), rel=1e-12)
    assert r.J_valid is None and r.error_valid is None


def test_monte_carlo_uses_the_same_masks_at_every_alpha():
    model, train, _, theta0, theta1 = setup(np.float64, dropout=True)
    alphas = np.array([0.0, 0.4, 1.0])
    r = linear_path(model, theta0, theta1, train, alphas, chunk_size=100, mc_samples=2, seed=7, progress=False)
    X, y = train
    # the documented mask rule: chunk starting at `start`, sample s -> rng([seed, start, s])
    for a, J in zip(alphas, r.J_train):
        theta = (1 - a) * theta0 + a * theta1
        total = 0.0
        for start in range(0, 250, 100):
            Xc, yc = X[start:start + 100], y[start:start + 100]
            for s in range(2):
                masks = model.draw_masks(backend.rng([7, start, s]), Xc.shape[0], np.float64)
                total += model.loss_and_grad(theta, (Xc, yc), masks=masks)[0] * Xc.shape[0] / 2
        assert J == pytest.approx(total / 250, rel=1e-12)
    again = linear_path(model, theta0, theta1, train, alphas, chunk_size=100, mc_samples=2, seed=7, progress=False)
    np.testing.assert_array_equal(again.J_train, r.J_train)
    deterministic = linear_path(model, theta0, theta1, train, alphas, progress=False)
    assert not np.allclose(deterministic.J_train, r.J_train)


def test_bad_arguments():
    model, train, _, theta0, theta1 = setup()
    with pytest.raises(ValueError, match="alphas"):
        linear_path(model, theta0, theta1, train, [], progress=False)
    with pytest.raises(ValueError, match="alphas"):
        linear_path(model, theta0, theta1, train, [0.0, np.nan], progress=False)
    with pytest.raises(TypeError, match="cast"):
        linear_path(model, theta0, theta1.astype(np.float64), train, [0.0], progress=False)
    with pytest.raises(ValueError, match="no dropout"):
        linear_path(model, theta0, theta1, train, [0.0], mc_samples=2, progress=False)
    with pytest.raises(LayoutMismatchError, match="theta has 689 entries but this layout needs 690"):
        linear_path(model, theta0[:-1], theta1, train, [0.0], progress=False)


def test_deep_linear_path_uses_the_plain_sweep():
    model = models.get("deep_linear")
    X, Y = np.ones((1, 1)), np.ones((1, 1))
    r = linear_path(model, np.array([0.1, 0.1]), np.array([1.0, 1.0]), (X, Y), [0.0, 1.0], progress=False)
    assert r.J_train[0] == pytest.approx((1 - 0.01) ** 2) and r.J_train[1] == 0.0 and r.error_train is None


def test_result_save_and_load(tmp_path):
    model, train, valid, theta0, theta1 = setup()
    r = linear_path(model, theta0, theta1, train, alpha_grid("paper"), valid, progress=False)
    path = r.save(tmp_path / "curve")
    back = PathResult.load(path)
    for name in PathResult.FIELDS:
        np.testing.assert_array_equal(getattr(back, name), getattr(r, name))
    assert back.settings["n_train"] == 250
    with pytest.raises(FileExistsError):
        r.save(tmp_path / "curve")


def test_alpha_grids_and_random_point():
    assert alpha_grid("paper")[[0, 9, 19]].tolist() == [0.0, 1.0, 19 / 9]
    assert len(alpha_grid("end")) == 200 and alpha_grid("end")[0] == 0.99
    with pytest.raises(ValueError):
        alpha_grid("coarse")
    model, *_ = setup()
    p = random_point(model, seed=3)
    assert p.shape == (model.size,) and abs(float(p.std()) - 1.0) < 0.1


# ------------------------------------------------------------------ metrics on constructed curves
def test_monotone_curve():
    J = np.array([3.0, 2.0, 1.5, 1.5, 0.2])
    assert is_monotone(J) and largest_bump(J) == (0.0, 0)
    assert local_minima(J) == [4]  # only the end of the search


def test_bump_and_minima():
    J = np.array([5.0, 3.0, 4.0, 3.5, 1.0, 2.0, 0.5])
    assert not is_monotone(J) and is_monotone(J, tol=1.0)
    assert largest_bump(J) == (1.0, 2)  # 4.0 above the running minimum 3.0
    assert local_minima(J) == [1, 4, 6]
    assert local_minima(J, tol=1.01) == [6]  # rises of at most tol are ignored


def test_plateau_minimum_counts_once():
    assert local_minima(np.array([2.0, 1.0, 1.0, 1.0, 2.0, 3.0])) == [1]


def test_barrier_variants_on_a_known_curve():
    alphas = np.linspace(-0.5, 1.5, 401)
    J = 1.0 + alphas + 4 * alphas * (1 - alphas)  # ends 1 and 2, chord 1 + a, bump 4 a (1 - a) peaking at 1/2
    h_chord, at = barrier_height(alphas, J, "chord")
    assert h_chord == pytest.approx(1.0) and at == pytest.approx(0.5)
    h_mean, at_mean = barrier_height(alphas, J, "mean")
    expected_a = 5 / 8  # maximum of 1 + 5a - 4a^2
    assert at_mean == pytest.approx(expected_a) and h_mean == pytest.approx(1 + 5 * 0.625 - 4 * 0.625 ** 2 - 1.5)
    with pytest.raises(ValueError, match="alpha = 0 and alpha = 1"):
        barrier_height(np.array([0.1, 0.5]), np.array([1.0, 2.0]))


def test_distance_travelled_on_a_square():
    path = [np.array([0.0, 0.0]), np.array([1.0, 0.0]), np.array([1.0, 1.0]), np.array([0.0, 1.0])]
    length, ratio = distance_travelled(path)
    assert length == pytest.approx(3.0) and ratio == pytest.approx(3.0)


def test_summarize():
    alphas = np.linspace(0, 1, 5)
    s = summarize(alphas, np.array([4.0, 3.0, 3.5, 1.0, 0.0]))
    assert s["monotone"] is False and s["largest_bump"] == pytest.approx(0.5) and s["local_minima"] == [0.25, 1.0]


@pytest.mark.parametrize("activation", ["maxout", "relu"])
def test_later_layers_built_once_or_per_chunk_give_the_same_bits(activation, monkeypatch):
    """The sweep builds every later layer at each alpha once (MLP.line_parameters) when the memory budget leaves
    room beside a chunk, else once per chunk; both are the same operations, so the curves agree bit for bit."""
    import minilinpath.path.linear as linear_module
    model, train, valid, theta0, theta1 = setup(np.float32, activation=activation)
    alphas = np.linspace(-0.5, 1.5, 9)
    built = []
    real = model.line_parameters
    monkeypatch.setattr(model, "line_parameters", lambda *a: built.append(1) or real(*a))
    once = linear_path(model, theta0, theta1, train, alphas, valid, chunk_size=70, progress=False)
    assert len(built) == 2                                     # train and valid, once each, not per chunk
    # a budget that leaves no room beside one chunk: built per chunk inside evaluate_line_chunk
    needed = model.line_parameter_bytes(len(alphas), np.float32)
    chunk_bytes = 70 * model.eval_bytes_per_example(np.float32)
    monkeypatch.setenv("MINILINPATH_EVAL_MEMORY_MB", str((chunk_bytes + needed - 1) / 2 ** 20))
    assert linear_module._later_layers_on_line(model, theta0, theta1, alphas, 70) is None
    per_chunk = linear_path(model, theta0, theta1, train, alphas, valid, chunk_size=70, progress=False)
    assert len(built) == 2
    for name in ("J_train", "J_valid", "error_train", "error_valid"):
        np.testing.assert_array_equal(getattr(once, name), getattr(per_chunk, name))


def test_line_parameters_size_and_length_are_checked():
    model, train, _, theta0, theta1 = setup(np.float32)
    alphas = [0.0, 0.25, 1.0]
    on_line = model.line_parameters(theta0, theta1, np.array(alphas))
    assert on_line.alphas == (0.0, 0.25, 1.0) and all(type(a) is float for a in on_line.alphas)
    first = model.layout["h0.W"].size + model.layout["h0.b"].size
    assert model.line_parameter_bytes(3, np.float32) == 3 * (model.size - first) * 4
    assert sum(a.nbytes for pair in on_line.layers for a in pair) == model.line_parameter_bytes(3)
    p = model.unflatten(theta0)
    np.testing.assert_array_equal(on_line.at(0)[0][0], model.pieces_first(1, p["h1.W"]))  # alpha 0: theta0 exactly
    np.testing.assert_array_equal(on_line.at(2)[1][1], model.unflatten(theta1)["y.b"])    # alpha 1: theta1 exactly
    X, y = train
    Z0 = model.first_bias(theta0, model.first_linear(X, p["h0.W"]))
    Z1 = model.first_bias(theta1, model.first_linear(X, model.unflatten(theta1)["h0.W"]))
    with pytest.raises(ValueError, match="on_line was built for 3 other alphas than these 2"):
        model.evaluate_line_chunk(theta0, theta1, Z0, Z1, alphas[:2], y, on_line=on_line)
