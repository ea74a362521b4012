import numpy as np
import pytest

from minilinpath.gradcheck import directional_check, numerical_vjp, rel_error


def test_rel_error():
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert rel_error(np.array([1.0]), np.array([3.0])) == pytest.approx(0.5)


def test_numerical_vjp_of_known_function(rng):
    x = rng.standard_normal((3, 4))
    df = rng.standard_normal((3, 4))
    num = numerical_vjp(lambda a: a ** 3, x, df)
    assert rel_error(num, 3 * x ** 2 * df) < 1e-9


def test_directional_check_detects_a_wrong_gradient(rng):
    theta = rng.standard_normal(10)
    good = directional_check(lambda t: float((t ** 2).sum()), 2 * theta, theta, rng)
    bad = directional_check(lambda t: float((t ** 2).sum()), 2.1 * theta, theta, rng)
    assert max(r[2] for r in good) < 1e-8
    assert max(r[2] for r in bad) > 1e-3


def test_float32_is_refused():
    with pytest.raises(TypeError, match="float64"):
        numerical_vjp(lambda a: a, np.zeros(2, dtype=np.float32), np.zeros(2))
