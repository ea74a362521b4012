"""Curves between two solutions (minilinpath.path.curves, ``minilinpath curve``): the curves' definitions, the
hand-written gradient of the expected loss against central differences for every model kind, exact and fixed
end points, a trained curve that lowers a real barrier, determinism, and the command's options and --replot."""
import json

import numpy as np
import pytest

from minilinpath import backend, cli, models, train as train_module
from minilinpath.figures import curves as curve_command
from minilinpath.models import MLP, MPDBM, ConvMaxout, ConvSpec, LSTMLanguageModel
from minilinpath.optim import gradient_descent
from minilinpath.path import barrier_height, linear_path
from minilinpath.path.curves import (Curve, curve_path, expected_loss_and_grad, line_curve, train_curve)


# ----------------------------------------------------------------------------------------- the curves
def test_weights_are_the_published_formulas():
    a, b, c = np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.array([3.0, -2.0])
    for t in (0.0, 0.2, 0.5, 0.9, 1.0):
        bezier = Curve("bezier", [a, b, c])
        np.testing.assert_allclose(bezier.point(t), (1 - t) ** 2 * a + 2 * t * (1 - t) * b + t ** 2 * c,
                                   rtol=0, atol=1e-15)
        chain = Curve("chain", [a, b, c])
        expected = a + 2 * t * (b - a) if t < 0.5 else b + (2 * t - 1) * (c - b)
        np.testing.assert_allclose(chain.point(t), expected, rtol=0, atol=1e-15)
    # two bends: the cubic Bernstein curve, and a chain with knots at 1/3 and 2/3
    p = [np.array([float(i), float(i * i)]) for i in range(4)]
    t = 0.3
    cubic = (1 - t) ** 3 * p[0] + 3 * t * (1 - t) ** 2 * p[1] + 3 * t ** 2 * (1 - t) * p[2] + t ** 3 * p[3]
    np.testing.assert_allclose(Curve("bezier", p).point(t), cubic, rtol=0, atol=1e-15)
    np.testing.assert_allclose(Curve("chain", p).point(t), p[0] + 0.9 * (p[1] - p[0]), rtol=0, atol=1e-15)
    np.testing.assert_allclose(Curve("chain", p).point(0.5), 0.5 * (p[1] + p[2]), rtol=0, atol=1e-15)
    np.testing.assert_array_equal(Curve("chain", p).point(2 / 3), p[2])
    for kind in ("bezier", "chain"):
        for t in np.linspace(0, 1, 13):
            w = Curve(kind, p).weights(t)
            assert w.min() >= 0 and w.sum() == pytest.approx(1.0, abs=1e-15)
    with pytest.raises(ValueError, match="kind"):
        Curve("spline", [a, b, c])
    with pytest.raises(ValueError, match="t must lie"):
        Curve("bezier", [a, b, c]).point(1.5)
    with pytest.raises(ValueError, match="at least one bend"):
        line_curve("bezier", a, c, bends=0)


@pytest.mark.parametrize("kind", ["bezier", "chain"])
@pytest.mark.parametrize("bends", [1, 3])
def test_the_start_is_the_line_and_the_ends_are_exact(rng, kind, bends):
    theta_a, theta_b = rng.standard_normal(50).astype(np.float32), rng.standard_normal(50).astype(np.float32)
    curve = line_curve(kind, theta_a, theta_b, bends)
    assert curve.n_bends == bends
    np.testing.assert_array_equal(curve.point(0.0), theta_a)  # bit for bit, also in float32
    np.testing.assert_array_equal(curve.point(1.0), theta_b)
    assert curve.point(0.5).dtype == np.float32
    np.testing.assert_array_equal(curve.bends[0], (1 - 1 / (bends + 1)) * theta_a + 1 / (bends + 1) * theta_b)
    for t in (0.1, 0.37, 0.5, 0.81):
        np.testing.assert_allclose(curve.point(t), (1 - t) * theta_a + t * theta_b, rtol=0, atol=5e-6)


# ------------------------------------------------------------------ the gradient, for every model kind
def tiny_models(rng):
    """Tiny float64 models of every family that has loss_and_grad, with a training set each (one row = one
    example, or one window of tokens for the language model) and two end points."""
    labels = rng.integers(0, 3, size=8)
    tokens = rng.integers(0, 7, size=(8, 5))
    cases = [
        ("mlp with dropout", MLP(n_in=5, hidden=(4, 3), activation="tanh", n_classes=3, init_ranges=(0.8, 0.8, 0.8),
                                 input_include=0.8, hidden_include=0.5, hidden_scale=2.0),
         (rng.standard_normal((8, 5)), labels)),
        ("conv maxout", ConvMaxout(input_shape=(1, 6, 6), conv=(ConvSpec(2, 2, 3, 1, 2, 2),), dense=(3,),
                                   dense_pieces=2, n_classes=3, init_range=0.4), (rng.standard_normal((8, 36)), labels)),
        ("mp-dbm", MPDBM(n_visible=6, hidden=(4, 3), n_classes=3, iterations=2, h0_sparse_init=3, c_sparse_init=2,
                         h1_init_range=0.5, pixel_means=np.linspace(0.2, 0.8, 6)), (rng.random((8, 6)), labels)),
        ("lstm with dropout", LSTMLanguageModel(vocab_size=7, hidden=3, layers=1, steps=4, init_range=0.5,
                                                keep_prob=0.7), (tokens[:, :-1], tokens[:, 1:])),
    ]
    out = []
    for name, model, data in cases:
        theta_a = model.init(0, dtype=np.float64) + 0.3 * rng.standard_normal(model.size)
        theta_b = model.init(1, dtype=np.float64) + 0.3 * rng.standard_normal(model.size)
        out.append((name, model, data, theta_a, theta_b))
    return out


def phi_by_hand(kind, points, t):
    """The curves of the docstrings, written out for one and two bends."""
    if kind == "bezier" and len(points) == 3:
        a, b, c = points
        return (1 - t) ** 2 * a + 2 * t * (1 - t) * b + t ** 2 * c
    if kind == "bezier":
        a, b, c, d = points
        return (1 - t) ** 3 * a + 3 * t * (1 - t) ** 2 * b + 3 * t ** 2 * (1 - t) * c + t ** 3 * d
    k = min(int(t * (len(points) - 1)), len(points) - 2)
    s = t * (len(points) - 1) - k
    return (1 - s) * points[k] + s * points[k + 1]


@pytest.mark.parametrize("kind,bends", [("bezier", 1), ("chain", 1), ("bezier", 2), ("chain", 2)])
def test_bend_gradient_matches_central_differences(rng, kind, bends):
    """d/dp_i of (1/m) sum_k J(phi(t_k); batch_k, masks_k) at fixed t's, batches and mask seeds, against central
    differences of the same function rebuilt by hand (phi_by_hand + the model's loss with masks from the seed):
    every coordinate of every bend for the MLP, three random directions per bend for the other models."""
    for name, model, data, theta_a, theta_b in tiny_models(rng):
        curve = line_curve(kind, theta_a, theta_b, bends)
        for bend in curve.bends:  # off the line, so the curve is really curved
            bend += 0.2 * rng.standard_normal(bend.shape)
        ts = (0.13, 0.41, 0.62, 0.94)  # on both sides of every knot
        samples = [(t, tuple(a[[2 * k, 2 * k + 1, (2 * k + 2) % 8]] for a in data), [5, k])
                   for k, t in enumerate(ts)]
        loss, grads = expected_loss_and_grad(model, curve, samples)

        def surrogate(points):
            return np.mean([model.loss_and_grad(phi_by_hand(kind, points, t), batch,
                                                rng=np.random.default_rng(seed))[0] for t, batch, seed in samples])

        def difference(i, v, eps=1e-6):
            plus, minus = list(curve.points), list(curve.points)
            plus[i], minus[i] = curve.points[i] + eps * v, curve.points[i] - eps * v
            return (surrogate(plus) - surrogate(minus)) / (2 * eps)

        assert loss == pytest.approx(surrogate(curve.points), rel=1e-13)
        for i in range(1, bends + 1):
            g = grads[i - 1]
            if name.startswith("mlp"):
                directions = np.eye(model.size)
                numeric = np.array([difference(i, e) for e in directions])
                error = np.abs(g - numeric).max() / np.abs(numeric).max()
            else:
                directions = rng.standard_normal((3, model.size))
                numeric = np.array([difference(i, v) for v in directions])
                error = np.abs(directions @ g - numeric).max() / np.abs(numeric).max()
            assert error < 1e-7, (name, kind, i, error)


def test_training_and_evaluation_work_for_every_model_kind(rng):
    for name, model, data, theta_a, theta_b in tiny_models(rng):
        fit = train_curve(model, line_curve("bezier", theta_a, theta_b), data, epochs=2, batch_size=3, lr=0.05,
                          seed=2, progress=False)
        assert len(fit.history) == 2 and np.isfinite(fit.history[-1]["train_objective"])
        assert np.abs(fit.curve.bends[0] - 0.5 * (theta_a + theta_b)).max() > 0, name  # the bend moved
        np.testing.assert_array_equal(fit.curve.points[0], theta_a)  # the ends never move
        np.testing.assert_array_equal(fit.curve.points[-1], theta_b)
        result = curve_path(model, fit.curve, data, [0.0, 0.5, 1.0], valid=data, progress=False)
        assert result.J_train[0] == pytest.approx(model.loss(theta_a, data), rel=1e-12)
        assert result.J_train[2] == pytest.approx(model.loss(theta_b, data), rel=1e-12)
        assert result.J_train[1] == pytest.approx(model.loss(fit.curve.point(0.5), data), rel=1e-12)
        assert (result.error_train is None) == (name == "lstm with dropout")


# ------------------------------------------------------------------------------ a barrier that must fall
def permuted_pair():
    """A small tanh network trained on three blobs around a circle, and the same network with its hidden units
    permuted: two solutions with exactly the same loss, with a barrier between them on the straight line
    (its middle averages different units)."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 240)
    angles = y * 2 * np.pi / 3 + rng.normal(0, 0.4, 240)
    radius = 1 + rng.normal(0, 0.15, 240)
    data = (np.stack([radius * np.cos(angles), radius * np.sin(angles)], 1), y)
    model = MLP(n_in=2, hidden=(8,), activation="tanh", n_classes=3, init_ranges=(1.0, 1.0))
    for _, theta_a, _ in gradient_descent(model, model.init(3, dtype=np.float64), data, lr=0.5, momentum=0.9,
                                          steps=300):
        pass
    theta_b = theta_a.copy()
    p, q = model.unflatten(theta_a), model.unflatten(theta_b)
    perm = np.roll(np.arange(8), 4)
    q["h0.W"][...], q["h0.b"][...], q["y.W"][...] = p["h0.W"][:, perm], p["h0.b"][perm], p["y.W"][perm]
    return model, data, theta_a, theta_b


@pytest.mark.parametrize("kind", ["bezier", "chain"])
def test_a_trained_curve_lowers_the_barrier_between_permuted_copies(kind):
    model, data, theta_a, theta_b = permuted_pair()
    assert model.loss(theta_a, data) == pytest.approx(model.loss(theta_b, data), rel=1e-12)
    assert model.error_rate(theta_a, data) < 0.05
    ts = np.linspace(0, 1, 21)
    line = linear_path(model, theta_a, theta_b, data, ts, progress=False)
    line_barrier, at = barrier_height(ts, line.J_train)
    assert line_barrier > 0.05 and at == 0.5  # a real barrier, in the middle
    fit = train_curve(model, line_curve(kind, theta_a, theta_b), data, epochs=30, batch_size=20, lr=0.1,
                      momentum=0.9, seed=0, progress=False)
    result = curve_path(model, fit.curve, data, ts, progress=False)
    curve_barrier, _ = barrier_height(ts, result.J_train)
    assert curve_barrier < 0.3 * line_barrier, (curve_barrier, line_barrier)
    assert fit.history[-1]["train_objective"] < fit.history[0]["train_objective"]


def test_training_is_determined_by_the_seed(rng):
    name, model, data, theta_a, theta_b = tiny_models(rng)[0]  # with dropout: the masks come from the seed too
    start = line_curve("chain", theta_a, theta_b, 2)
    kept = [p.copy() for p in start.points]
    runs = [train_curve(model, start, data, epochs=3, batch_size=3, seed=s, progress=False) for s in (4, 4, 5)]
    for p, q in zip(runs[0].curve.points, runs[1].curve.points):
        np.testing.assert_array_equal(p, q)
    assert runs[0].history == runs[1].history
    assert np.abs(runs[0].curve.bends[0] - runs[2].curve.bends[0]).max() > 1e-6
    for p, q in zip(start.points, kept):  # the starting curve itself is left as it was
        np.testing.assert_array_equal(p, q)


def test_max_norm_limits_hold_at_every_bend():
    model = MLP(n_in=3, hidden=(4,), activation="relu", n_classes=2, init_ranges=(2.0, 2.0),
                max_col_norms=(1.0, 1.0))
    rng = np.random.default_rng(3)
    theta_a, theta_b = model.init(0, dtype=np.float64), model.init(1, dtype=np.float64)
    model.constrain(theta_a)
    model.constrain(theta_b)
    data = (rng.standard_normal((12, 3)), rng.integers(0, 2, 12))
    fit = train_curve(model, line_curve("bezier", theta_a, theta_b), data, epochs=3, batch_size=4, lr=5.0,
                      momentum=0.5, progress=False)
    for t in (0.0, 0.3, 0.5, 0.8, 1.0):  # convex combinations of points inside the limits stay inside
        W = model.unflatten(fit.curve.point(t))["h0.W"]
        assert np.linalg.norm(W, axis=0).max() <= 1.0 + 1e-12


def test_bad_training_settings_are_refused(rng):
    name, model, data, theta_a, theta_b = tiny_models(rng)[0]
    start = line_curve("bezier", theta_a, theta_b)
    for kwargs, words in ((dict(epochs=0), "epochs"), (dict(lr=-1.0), "lr"), (dict(momentum=1.0), "momentum")):
        with pytest.raises(ValueError, match=words):
            train_curve(model, start, data, progress=False, **kwargs)
    with pytest.raises(train_module.TrainingDiverged, match="lower the curve's learning rate"):
        broken = line_curve("bezier", theta_a, theta_b)
        broken.bends[0][:] = np.nan  # what a far too large step leaves
        train_curve(model, broken, data, epochs=1, progress=False)


# ------------------------------------------------------------------------------------------ the command
def digits(seed, n):
    """Noisy copies of 10 random prototypes: a set the quick maxout net learns in a few epochs."""
    prototypes = np.random.default_rng(0).random((10, 784))
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, size=n)
    return np.clip(prototypes[y] + 0.3 * rng.standard_normal((n, 784)), 0, 1).astype(np.float32), y


@pytest.fixture
def command(tmp_path, monkeypatch):
    """A fast command line: a tiny npz data set, 3-epoch training of the two solutions."""
    monkeypatch.setattr(backend, "_selected", None)
    monkeypatch.delenv("MINILINPATH_DEVICE", raising=False)
    monkeypatch.setattr(train_module, "QUICK", dict(max_epochs=3, patience=None, batch_size=20))
    monkeypatch.setitem(models.PRESETS, "mnist_pi", {**models.PRESETS["mnist_pi"], "init_ranges": (0.05,) * 3})
    (Xt, yt), (Xv, yv) = digits(1, 200), digits(2, 60)
    np.savez(tmp_path / "digits.npz", X_train=Xt, y_train=yt, X_valid=Xv, y_valid=yv)
    return ["--dataset", f"npz:{tmp_path / 'digits.npz'}", "--runs-dir", str(tmp_path / "runs"),
            "--out", str(tmp_path / "out"), "--points", "5", "--curve-epochs", "2"]


def test_command_writes_the_figure_and_replots(command, tmp_path, capsys, monkeypatch):
    assert cli.main(["curve", *command]) == 0
    out = capsys.readouterr().out
    assert "Bézier curve" in out and "polygonal chain" in out and "barrier" in out
    folder = tmp_path / "out"
    summary = json.loads((folder / "curve.json").read_text())["summary"]
    with np.load(folder / "curve.npz") as f:
        arrays = {k: f[k] for k in f.files}
    for key in ("line", "bezier", "chain"):
        np.testing.assert_array_equal(arrays[f"{key}/alphas"], np.linspace(0, 1, 5))
        m = summary["metrics"][key]
        assert m["barrier_mean"] == pytest.approx(barrier_height(arrays[f"{key}/alphas"], arrays[f"{key}/J_train"])[0])
    # every path starts and ends at the same two solutions
    for key in ("bezier", "chain"):
        np.testing.assert_array_equal(arrays[f"{key}/points"][0], arrays["line/theta0"])
        np.testing.assert_array_equal(arrays[f"{key}/points"][-1], arrays["line/theta1"])
        np.testing.assert_allclose(arrays[f"{key}/J_train"][[0, -1]], arrays["line/J_train"][[0, -1]], rtol=1e-5)
        assert arrays[f"{key}/train_objective"].shape == (2,)
    assert summary["lr"] == pytest.approx(0.05)  # half of the maxout recipe's 0.1

    png = folder / "curve.png"
    png.unlink()
    numbers = (folder / "curve.npz").read_bytes()
    monkeypatch.setattr(curve_command, "compute", lambda args: pytest.fail("--replot must not compute"))
    assert curve_command.main([*command, "--replot"]) == 0
    assert png.exists() and (folder / "curve.npz").read_bytes() == numbers


@pytest.mark.parametrize("extra,words", [
    (["--bends", "0"], "--bends"), (["--curve-epochs", "0"], "--curve-epochs"), (["--points", "2"], "--points"),
    (["--momentum", "1"], "--momentum"), (["--lr", "-0.1"], "--lr"), (["--lr", "nan"], "--lr"),
    (["--model", "resnet"], "--model")])
def test_bad_options_are_one_line_errors(command, tmp_path, capsys, extra, words):
    try:
        status = cli.main(["curve", *command, *extra])
    except SystemExit as exc:  # argparse's own one-line error exits
        status = exc.code
    assert status == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and words in err, err
    assert not (tmp_path / "out").exists() and not (tmp_path / "runs").exists()


def test_replot_without_numbers_is_a_clear_error(tmp_path, capsys):
    assert curve_command.main(["--out", str(tmp_path / "none"), "--replot"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --replot needs") and err.count("\n") == 1


@pytest.mark.gpu
def test_a_curve_trained_on_the_gpu_is_the_one_trained_with_numpy(cupy):
    rng = np.random.default_rng(8)
    model = MLP(n_in=4, hidden=(5,), activation="tanh", n_classes=3, init_ranges=(0.8, 0.8))  # no dropout masks
    data = (rng.standard_normal((10, 4)), rng.integers(0, 3, 10))
    theta_a, theta_b = model.init(0, dtype=np.float64), model.init(1, dtype=np.float64)
    on_cpu = train_curve(model, line_curve("bezier", theta_a, theta_b), data, epochs=2, batch_size=3, progress=False)
    on_gpu = train_curve(model, line_curve("bezier", cupy.asarray(theta_a), cupy.asarray(theta_b)),
                         tuple(cupy.asarray(a) for a in data), epochs=2, batch_size=3, progress=False)
    np.testing.assert_allclose(cupy.asnumpy(on_gpu.curve.bends[0]), on_cpu.curve.bends[0], rtol=1e-9, atol=1e-12)
    result = curve_path(model, on_gpu.curve, tuple(cupy.asarray(a) for a in data), [0.0, 0.5, 1.0], progress=False)
    expected = curve_path(model, on_cpu.curve, data, [0.0, 0.5, 1.0], progress=False)
    np.testing.assert_allclose(result.J_train, expected.J_train, rtol=1e-9)
