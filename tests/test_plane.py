"""Planes through parameter space: exact on deep linear regression, the first-layer trick equals a plain
evaluation, directions are normalised as documented, resumable stores, trajectories on the plane, grid rows
as tasks (in-process and on a Dask LocalCluster, bit for bit the same)."""
import sys

import numpy as np
import pytest

from analytic import matrix_path_polynomial
from minilinpath.models import MLP, ConvMaxout, ConvSpec, DeepLinear
from minilinpath.path import plane as plane_mod
from minilinpath.path import (evaluate_plane, grid_around, paper_plane, pca_directions, plane_along, plane_through,
                              random_direction, random_plane, trajectory_on_plane)
from minilinpath.study.executors import ExecutorError, make_executor


def toy_points():
    return np.array([0.01, -0.02]), np.array([1.1, 0.9]), np.array([-0.8, -1.25])


def test_three_point_plane_is_orthonormal_and_places_the_points():
    a, b, c = toy_points()
    plane = plane_through(a, b, c, names=("init", "solution", "second"))
    assert plane.gram() == pytest.approx(np.eye(2), abs=1e-15)
    for name, theta in (("init", a), ("solution", b), ("second", c)):
        ca, cb, residual = plane.coordinates(theta)
        assert (ca, cb) == pytest.approx(plane.points[name], abs=1e-14)
        assert residual < 1e-14
        np.testing.assert_allclose(plane.point(ca, cb), theta, atol=1e-14)
    assert plane.points["solution"] == pytest.approx((np.linalg.norm(b - a), 0.0))
    with pytest.raises(ValueError, match="do not span a plane"):
        plane_through(a, b, a + 2 * (b - a))


def test_toy_plane_is_the_closed_form():
    """In the 2-parameter toy problem the plane through three points is the whole space: J = (1 - w1 w2)^2."""
    model = DeepLinear((1, 1, 1))
    X, Y = np.ones((1, 1)), np.ones((1, 1))
    plane = plane_through(*toy_points())
    a_values, b_values = grid_around(plane, n=9, margin=0.3)
    result = evaluate_plane(model, plane, (X, Y), a_values, b_values, progress=False)
    for j, bv in enumerate(b_values):
        for i, av in enumerate(a_values):
            w1, w2 = plane.point(av, bv)
            assert result.J_train[j, i] == pytest.approx((1 - w1 * w2) ** 2, rel=1e-13, abs=1e-15)
    assert result.error_train is None and result.rows_done.all()


def test_deep_linear_plane_rows_are_the_exact_polynomials(rng):
    """Along each grid row the plane is a line, where J is the exact polynomial of analytic.interpolation."""
    model = DeepLinear((3, 4, 2))
    X, Y = rng.standard_normal((20, 3)), rng.standard_normal((20, 2))
    points = [rng.standard_normal(model.size) for _ in range(3)]
    plane = plane_through(*points)
    a_values, b_values = np.linspace(-1, 2, 7), np.linspace(-0.5, 1.5, 5)
    J = evaluate_plane(model, plane, (X, Y), a_values, b_values, progress=False).J_train
    for j, bv in enumerate(b_values):
        start, end = plane.point(a_values[0], bv), plane.point(a_values[-1], bv)
        poly = matrix_path_polynomial(model.weights(start), model.weights(end), X=X, Y=Y)
        t = (a_values - a_values[0]) / (a_values[-1] - a_values[0])
        np.testing.assert_allclose(J[j], poly(t), rtol=1e-11)


def small_mlp(activation="maxout"):
    return MLP(n_in=6, hidden=(5, 4), activation=activation, pieces=3 if activation == "maxout" else 1,
               n_classes=3, init_ranges=(0.5, 0.5, 0.5))


def small_conv():
    return ConvMaxout(input_shape=(1, 6, 6), conv=(ConvSpec(2, 2, 3, 1, 2, 2),), dense=(3,), dense_pieces=2,
                      n_classes=3, init_range=0.4)


@pytest.mark.parametrize("make", [lambda: small_mlp("maxout"), lambda: small_mlp("relu"), small_conv],
                         ids=["maxout", "relu", "conv"])
@pytest.mark.parametrize("chunk, cache", [(None, 1 << 30), (7, 1 << 30), (7, 0)], ids=["one", "chunks", "nocache"])
def test_first_layer_trick_equals_a_plain_evaluation(rng, make, chunk, cache):
    model = make()
    width = model.layout["h0.W"].shape[0] if isinstance(model, MLP) else 36
    X, y = rng.standard_normal((19, width)), rng.integers(0, 3, size=19)
    Xv, yv = rng.standard_normal((8, width)), rng.integers(0, 3, size=8)
    points = [model.init(s, dtype=np.float64) + 0.3 * rng.standard_normal(model.size) for s in range(3)]
    plane = plane_through(*points)
    a_values, b_values = np.linspace(-0.5, 1.5, 4), np.linspace(-0.3, 1.2, 3)
    fast = evaluate_plane(model, plane, (X, y), a_values, b_values, valid=(Xv, yv), chunk_size=chunk,
                          cache_bytes=cache, progress=False)
    assert fast.settings["fast"]
    plain = evaluate_plane(model, plane, (X, y), a_values, b_values, valid=(Xv, yv), fast=False, progress=False)
    assert not plain.settings["fast"]
    for key in ("J_train", "J_valid", "error_train", "error_valid"):
        np.testing.assert_allclose(getattr(fast, key), getattr(plain, key), rtol=1e-12, atol=1e-14, err_msg=key)
    theta = plane.point(a_values[2], b_values[1])
    assert plain.J_train[1, 2] == model.loss(theta, (X, y))
    assert plain.error_valid[1, 2] == model.error_rate(theta, (Xv, yv))


def test_store_resumes_per_row_and_refuses_other_settings(rng, tmp_path, monkeypatch):
    model = small_mlp()
    X, y = rng.standard_normal((10, 6)), rng.integers(0, 3, size=10)
    plane = plane_through(*[model.init(s, dtype=np.float64) + 0.3 * rng.standard_normal(model.size)
                            for s in range(3)])
    a_values, b_values = np.linspace(0, 1, 3), np.linspace(0, 1, 4)
    whole = evaluate_plane(model, plane, (X, y), a_values, b_values, progress=False)

    calls = []
    real_row = plane_mod._row_fast

    def interrupted(*args):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(args[-1])
        return real_row(*args)

    store = tmp_path / "grid.npz"
    monkeypatch.setattr(plane_mod, "_row_fast", interrupted)
    with pytest.raises(KeyboardInterrupt):
        evaluate_plane(model, plane, (X, y), a_values, b_values, progress=False, store=store)
    monkeypatch.setattr(plane_mod, "_row_fast", lambda *args: (calls.append(args[-1]), real_row(*args))[1])
    resumed = evaluate_plane(model, plane, (X, y), a_values, b_values, progress=False, store=store)
    assert calls == list(b_values)  # rows 0 and 1 before the interruption, 2 and 3 after: none twice
    np.testing.assert_array_equal(resumed.J_train, whole.J_train)
    np.testing.assert_array_equal(resumed.error_train, whole.error_train)

    before = store.read_bytes()
    with pytest.raises(FileExistsError, match="other settings"):
        evaluate_plane(model, plane, (X, y), a_values, b_values[:3], progress=False, store=store)
    assert store.read_bytes() == before  # nothing a user saved is overwritten


def test_random_directions_are_normalised_as_documented():
    model = small_mlp("relu")
    theta = model.init(0, dtype=np.float64)
    theta[model.layout["h0.b"].offset] = 0.7  # a bias with a nonzero norm
    views = model.layout.unflatten(theta)
    d = model.layout.unflatten(random_direction(model, theta, seed=3, norm="filter"))
    for name in ("h0.W", "h1.W", "y.W"):
        np.testing.assert_allclose(np.linalg.norm(d[name], axis=0), np.linalg.norm(views[name], axis=0), rtol=1e-12)
    assert not d["h0.b"].any() and not d["y.b"].any()  # one_d="zero": biases do not move
    d = model.layout.unflatten(random_direction(model, theta, seed=3, norm="layer", one_d="normalize"))
    for name in model.layout.names:
        assert np.linalg.norm(d[name]) == pytest.approx(np.linalg.norm(views[name]), rel=1e-12)
    whole = random_direction(model, theta, seed=3, norm="model")
    assert np.linalg.norm(whole) == pytest.approx(np.linalg.norm(theta), rel=1e-12)
    np.testing.assert_array_equal(random_direction(model, theta, 3, norm=None),
                                  np.random.default_rng(3).standard_normal(model.size))
    assert not np.array_equal(random_direction(model, theta, 3), random_direction(model, theta, 4))
    conv = small_conv()
    t = conv.init(1, dtype=np.float64)
    dv = conv.layout.unflatten(random_direction(conv, t, seed=0))
    np.testing.assert_allclose([np.linalg.norm(f) for f in dv["h0.W"]],
                               [np.linalg.norm(f) for f in conv.layout.unflatten(t)["h0.W"]], rtol=1e-12)
    plane = random_plane(model, theta, seed=5)
    assert abs(np.dot(plane.d1, plane.d2)) < 0.5 * np.linalg.norm(plane.d1) * np.linalg.norm(plane.d2)


def test_pca_recovers_the_plane_of_a_trajectory(rng):
    n = 40
    u, v = np.zeros(n), np.zeros(n)
    u[3], v[10] = 1.0, 1.0
    final = rng.standard_normal(n)
    t = np.linspace(0, 1, 12)
    rows = [final + 3.0 * (1 - s) * u + 0.5 * np.sin(5 * s) * v for s in t]
    pca = pca_directions(rows, final)
    basis = np.stack([pca.d1, pca.d2])
    np.testing.assert_allclose(basis @ basis.T, np.eye(2), atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(basis @ np.stack([u, v]).T, axis=0), 1.0, rtol=1e-12)  # same plane
    D = np.stack(rows) - final
    D -= D.mean(axis=0)
    _, s, Vt = np.linalg.svd(D, full_matrices=False)  # the textbook PCA, for comparison
    np.testing.assert_allclose(np.abs(basis @ Vt[:2].T), np.eye(2), atol=1e-10)
    np.testing.assert_allclose(pca.explained, s[:2] ** 2 / (s ** 2).sum(), rtol=1e-10)
    assert pca.explained.sum() == pytest.approx(1.0) and pca.explained[0] > pca.explained[1]
    plane = plane_along(final, pca.d1, pca.d2)
    on = trajectory_on_plane(rows, plane)
    assert on.residual.max() < 1e-12 and on.J_true is None


def test_trajectory_on_the_plane_residual_and_true_loss(rng):
    model = DeepLinear((2, 2, 1))
    X, Y = rng.standard_normal((9, 2)), rng.standard_normal((9, 1))
    points = [rng.standard_normal(model.size) for _ in range(3)]
    plane = plane_through(*points)
    normal = rng.standard_normal(model.size)
    normal -= (normal @ plane.d1) * plane.d1 + (normal @ plane.d2) * plane.d2
    normal /= np.linalg.norm(normal)
    rows = [plane.point(0.3, -0.2), plane.point(0.1, 0.4) + 0.25 * normal]
    on = trajectory_on_plane(rows, plane, model, (X, Y))
    np.testing.assert_allclose(on.a, [0.3, 0.1], atol=1e-13)
    np.testing.assert_allclose(on.residual, [0.0, 0.25], atol=1e-13)
    assert on.J_true[0] == pytest.approx(on.J_projected[0], rel=1e-13)
    assert on.J_true[1] == model.loss(rows[1], (X, Y)) != on.J_projected[1]


def test_paper_plane_uses_the_farthest_epoch(rng):
    init, final = np.zeros(5), np.array([1.0, 0, 0, 0, 0])
    rows = [init, np.array([0.3, 0.1, 0, 0, 0]), np.array([0.5, 0, 0.9, 0, 0]), np.array([0.8, 0.2, 0, 0, 0]), final]
    plane, epoch = paper_plane(lambda: iter(rows), init, final)
    assert epoch == 2
    np.testing.assert_allclose(plane.d2, [0, 0, 1.0, 0, 0], atol=1e-15)
    assert plane.points["farthest epoch (2)"] == pytest.approx((0.5, 0.9))


# ------------------------------------------------------------------------- grid rows as tasks on an executor
GRID_KEYS = ("J_train", "J_valid", "error_train", "error_valid")


def test_row_blocks_cut_the_rows_not_done_into_consecutive_blocks():
    done = np.array([True, False, False, False, True, False, False, False, False])
    blocks = plane_mod.row_blocks(done, 2, "token")
    assert [block.rows for block in blocks] == [(1, 2), (3,), (5, 6), (7, 8)]
    assert len({block.key for block in blocks}) == 4 and all("token" in block.key for block in blocks)
    assert [block.rows for block in plane_mod.row_blocks(np.zeros(3, dtype=bool), 5, "t")] == [(0, 1, 2)]
    assert plane_mod.row_blocks(np.ones(3, dtype=bool), 1, "t") == []


def plane_problem(seed, dtype=np.float64):
    """A small maxout MLP, train and validation sets, a plane through three points and a 6 x 5 grid."""
    rng = np.random.default_rng(seed)
    model = small_mlp()
    train = rng.standard_normal((23, 6)).astype(dtype), rng.integers(0, 3, size=23)
    valid = rng.standard_normal((9, 6)).astype(dtype), rng.integers(0, 3, size=9)
    plane = plane_through(*[(model.init(s, dtype=np.float64) + 0.3 * rng.standard_normal(model.size)).astype(dtype)
                            for s in range(3)])
    return model, plane, train, valid, np.linspace(-0.5, 1.5, 5), np.linspace(-0.3, 1.2, 6)


def assert_same_bits(result, expected):
    for key in GRID_KEYS:
        got, want = getattr(result, key), getattr(expected, key)
        assert got.dtype == want.dtype and got.shape == want.shape, key
        assert got.tobytes() == want.tobytes(), key  # bit for bit, not only close


def failing_row(b_value):
    """A stand-in for _row_fast that raises on the grid row b = ``b_value`` (in this process only)."""
    real_row = plane_mod._row_fast

    def row(model, plane, first, a_values, b):
        if b == b_value:
            raise FloatingPointError(f"overflow at b = {b:.3g}")
        return real_row(model, plane, first, a_values, b)
    return row


class Recording:
    """An executor that passes the blocks on to ``inner`` and records which rows it was given."""

    def __init__(self, inner):
        self.inner, self.name, self.rows = inner, inner.name, []

    def run(self, function, tasks, *shared):
        tasks = list(tasks)
        self.rows += [task.rows for task in tasks]
        return self.inner.run(function, tasks, *shared)


def test_a_failed_block_keeps_the_others_and_only_it_is_redone(tmp_path, monkeypatch):
    model, plane, train, valid, a_values, b_values = plane_problem(6)
    whole = evaluate_plane(model, plane, train, a_values, b_values, valid=valid, progress=False)
    store = tmp_path / "grid.npz"
    monkeypatch.setattr(plane_mod, "_row_fast", failing_row(b_values[2]))
    with pytest.raises(plane_mod.PlaneIncomplete) as caught:
        evaluate_plane(model, plane, train, a_values, b_values, valid=valid, progress=False, store=store,
                       block_rows=2)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("1 of 3 blocks of grid rows failed (first: rows 2-3: "
                                                      "FloatingPointError: overflow at b = ")
    assert f"the 4 rows done are kept in {store}" in message
    done = [True, True, False, False, True, True]
    assert caught.value.result.rows_done.tolist() == done and np.isnan(caught.value.result.J_train[2:4]).all()
    with np.load(store) as saved:  # the blocks after the failed one finished and were stored
        assert saved["rows_done"].tolist() == done
        np.testing.assert_array_equal(saved["J_valid"][[0, 1, 4, 5]], whole.J_valid[[0, 1, 4, 5]])

    monkeypatch.undo()
    recording = Recording(make_executor("local"))
    resumed = evaluate_plane(model, plane, train, a_values, b_values, valid=valid, progress=False, store=store,
                             block_rows=2, executor=recording)
    assert recording.rows == [(2, 3)]  # the failed block only: no finished row is computed again
    assert_same_bits(resumed, whole)
    again = evaluate_plane(model, plane, train, a_values, b_values, valid=valid, progress=False, store=store,
                           executor=recording)
    assert recording.rows == [(2, 3)] and again.rows_done.all()  # complete: nothing left to send


@pytest.fixture(scope="module")
def dask_cluster():
    """One 2-worker LocalCluster for the tests below (no dashboard; about 5-10 s to start)."""
    pytest.importorskip("distributed")
    with make_executor("dask", n_workers=2) as executor:
        yield executor


@pytest.mark.parametrize("dtype, fast, chunk, block_rows", [(np.float32, True, 7, 2), (np.float64, False, None, 4)],
                         ids=["float32-first-layer-trick-chunks", "float64-plain"])
def test_a_local_dask_cluster_gives_the_same_numbers_bit_for_bit(dask_cluster, tmp_path, dtype, fast, chunk,
                                                                 block_rows):
    model, plane, train, valid, a_values, b_values = plane_problem(5, dtype)
    local = evaluate_plane(model, plane, train, a_values, b_values, valid=valid, chunk_size=chunk, fast=fast,
                           progress=False)
    store = tmp_path / "grid.npz"
    dask = evaluate_plane(model, plane, train, a_values, b_values, valid=valid, chunk_size=chunk, fast=fast,
                          progress=False, store=store, executor=dask_cluster, block_rows=block_rows)
    assert local.settings["fast"] is dask.settings["fast"] is fast and dask.settings["executor"] == "dask"
    assert dask.rows_done.all() and np.isfinite(dask.J_train).all() and np.ptp(dask.J_train) > 0
    assert_same_bits(dask, local)
    with np.load(store) as saved:
        assert saved["rows_done"].all() and saved["J_train"].tobytes() == local.J_train.tobytes()


def test_a_store_left_by_a_failed_local_run_is_finished_on_dask(dask_cluster, tmp_path, monkeypatch):
    model, plane, train, valid, a_values, b_values = plane_problem(7)
    whole = evaluate_plane(model, plane, train, a_values, b_values, valid=valid, progress=False)
    store = tmp_path / "grid.npz"
    monkeypatch.setattr(plane_mod, "_row_fast", failing_row(b_values[4]))
    with pytest.raises(plane_mod.PlaneIncomplete):
        evaluate_plane(model, plane, train, a_values, b_values, valid=valid, progress=False, store=store)
    monkeypatch.undo()
    recording = Recording(dask_cluster)
    resumed = evaluate_plane(model, plane, train, a_values, b_values, valid=valid, progress=False, store=store,
                             executor=recording, block_rows=3)
    assert recording.rows == [(4,)]
    assert_same_bits(resumed, whole)


def test_bad_executor_settings_are_one_line_errors(monkeypatch):
    model, plane, train, _, a_values, b_values = plane_problem(8)
    with pytest.raises(ExecutorError, match="unknown executor 'spark'"):
        evaluate_plane(model, plane, train, a_values, b_values, progress=False, executor="spark")
    with pytest.raises(ExecutorError, match="does not go with --executor local"):
        evaluate_plane(model, plane, train, a_values, b_values, progress=False, scheduler="tcp://127.0.0.1:1")
    with pytest.raises(ValueError, match="block_rows must be a whole number >= 1, got 0"):
        evaluate_plane(model, plane, train, a_values, b_values, progress=False, block_rows=0)
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(ExecutorError) as caught:
        evaluate_plane(model, plane, train, a_values, b_values, progress=False, executor="dask")
    assert 'pip install "minilinpath[study]"' in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("argv, message", [
    (["--executor", "local", "--scheduler", "tcp://127.0.0.1:1"],
     "error: --scheduler is an option of the Dask executor; it does not go with --executor local"),
    (["--executor", "local", "--workers", "3"], "error: --workers is an option of the Dask executor"),
    (["--workers", "3", "--scheduler", "tcp://127.0.0.1:1"], "error: --workers sizes the LocalCluster started here"),
    (["--workers", "0"], "error: argument --workers: "),
    (["--block-rows", "0"], "error: argument --block-rows: "),
    (["--executor", "spark"], "error: argument --executor: invalid choice: 'spark'"),
    (["--executor", "dask", "NO-DASK"], "error: the Dask executor needs dask.distributed, which is not installed"),
])
def test_the_command_reports_bad_executor_options_in_one_line(argv, message, tmp_path, capsys, monkeypatch):
    from minilinpath.cli import main

    if "NO-DASK" in argv:
        argv = [a for a in argv if a != "NO-DASK"]
        monkeypatch.setitem(sys.modules, "distributed", None)
    try:  # errors found before any data is read or model trained
        code = main(["plane", *argv, "--out", str(tmp_path / "out"), "--runs-dir", str(tmp_path / "runs"),
                     "--dataset", "npz:/nonexistent/data.npz"])
    except SystemExit as exit:  # argparse's own errors
        code = exit.code
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(message) and err.count("\n") == 1
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
