"""Trajectory projection on constructed geometry with known answers."""
import numpy as np
import pytest

from minilinpath.path import interpolate, project_trajectory, random_walk
from minilinpath.trajfile import TrajectoryFile


def test_projection_of_known_points():
    start, end = np.array([1.0, 1.0, 0.0]), np.array([4.0, 5.0, 0.0])  # distance 5, u = (0.6, 0.8, 0)
    points = [start, end, np.array([1.0, 1.0, 2.0]), np.array([1.0 + 0.6 * 10, 1.0 + 0.8 * 10, 0.0]),
              np.array([1.0 + 0.8, 1.0 - 0.6, 0.0])]
    p = project_trajectory(points, start, end)
    np.testing.assert_allclose(p.coord, [0, 5, 0, 10, 0], atol=1e-14)
    np.testing.assert_allclose(p.residual, [0, 0, 2, 0, 1], atol=1e-14)
    np.testing.assert_allclose(p.norm, [np.sqrt(2), np.sqrt(41), np.sqrt(6), np.sqrt(7 ** 2 + 9 ** 2), np.sqrt(1.8 ** 2 + 0.4 ** 2)],
                               rtol=1e-14)
    assert p.distance == pytest.approx(5.0)


def test_points_on_the_line_have_zero_residual(rng):
    a, b = rng.standard_normal(50), rng.standard_normal(50)
    p = project_trajectory([interpolate(a, b, t) for t in (-0.5, 0.0, 0.3, 1.0, 2.0)], a, b)
    np.testing.assert_allclose(p.coord / p.distance, [-0.5, 0.0, 0.3, 1.0, 2.0], atol=1e-12)
    np.testing.assert_allclose(p.residual, 0.0, atol=1e-12)


def test_streams_from_disk_and_from_generators(tmp_path, rng):
    rows = rng.standard_normal((6, 20))
    store = TrajectoryFile(tmp_path / "t", 20, "float64")
    for r in rows:
        store.append(r)
    from_disk = project_trajectory(store.rows(), rows[0], rows[-1])
    from_generator = project_trajectory((r for r in rows), rows[0], rows[-1])
    from_memory = project_trajectory(rows, rows[0], rows[-1])
    for a, b in ((from_disk, from_memory), (from_generator, from_memory)):
        np.testing.assert_array_equal(a.coord, b.coord)
        np.testing.assert_array_equal(a.residual, b.residual)
    # Pythagoras: coord^2 + residual^2 = ||theta_t - theta_i||^2
    np.testing.assert_allclose(from_memory.coord ** 2 + from_memory.residual ** 2,
                               ((rows - rows[0]) ** 2).sum(axis=1), rtol=1e-12)


def test_degenerate_line_and_shape_errors():
    with pytest.raises(ValueError, match="same point"):
        project_trajectory([np.zeros(3)], np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="does not match"):
        project_trajectory([np.zeros(4)], np.zeros(3), np.ones(3))


def test_random_walk_is_replayable_and_has_unit_steps():
    a = list(random_walk(1000, 50, seed=3))
    b = list(random_walk(1000, 50, seed=3))
    assert len(a) == 51 and not a[0].any()
    np.testing.assert_array_equal(a[-1], b[-1])
    steps = np.diff(np.array(a), axis=0)
    assert abs(steps.std() - 1.0) < 0.01 and abs(steps.mean()) < 0.01


@pytest.mark.gpu
def test_projection_on_gpu_matches_numpy(cupy, rng):
    rows = rng.standard_normal((5, 30))
    cpu = project_trajectory(rows, rows[0], rows[-1])
    gpu = project_trajectory([cupy.asarray(r) for r in rows], cupy.asarray(rows[0]), cupy.asarray(rows[-1]))
    np.testing.assert_allclose(gpu.coord, cpu.coord, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gpu.residual, cpu.residual, rtol=1e-10, atol=1e-12)
    walk = list(random_walk(100, 5, seed=1, xp=cupy))
    assert len(walk) == 6 and float(cupy.abs(walk[-1]).sum()) > 0


def test_extreme_components_of_a_known_trajectory():
    from minilinpath.path.trajectory import extreme_components
    start, end = np.zeros(4), np.array([4.0, 0, 0, 0])
    rows = np.array([[0, 0, 0, 0], [1, 3, 1, 0], [2, 1, 0, 0], [4, 0, 0, 0.0]])
    plane = extreme_components(lambda: iter(rows), start, end)
    assert plane.sheep == 1  # farthest from the line: residual sqrt(10)
    np.testing.assert_allclose(plane.a, [0, 1, 2, 4])
    w = np.array([0, 3, 1, 0]) / np.sqrt(10)
    np.testing.assert_allclose(plane.b, rows @ w, atol=1e-14)
    flat = extreme_components(lambda: iter(rows[[0, 3]]), start, end)
    assert not flat.b.any()
