"""The MP-DBM: gradient of the whole objective through the unrolled inference, inference details, presets."""
import numpy as np
import pytest

from minilinpath import models
from minilinpath.gradcheck import directional_check
from minilinpath.models import MPDBM


def small(iterations=4):
    return MPDBM(n_visible=12, hidden=(7, 5), n_classes=3, iterations=iterations, h0_sparse_init=4, c_sparse_init=3,
                 h1_init_range=0.5, pixel_means=np.linspace(0.1, 0.9, 12))


def data(rng, n=6):
    return rng.random((n, 12)), rng.integers(0, 3, size=n)


@pytest.mark.parametrize("iterations", [1, 2, 5])
def test_gradient_through_the_unrolled_inference(rng, iterations):
    model = small(iterations)
    theta = model.init(0, dtype=np.float64) + 0.3 * rng.standard_normal(model.size)
    X, y = data(rng)
    masks = model.draw_masks(np.random.default_rng(1), 6, np.float64)
    binary = (np.random.default_rng(2).random(X.shape) < X).astype(np.float64)  # a fixed binarisation
    loss, grad = model.loss_and_grad(theta, (X, y), masks=masks, binarize=binary)

    def objective(t):
        return model.loss_and_grad(t, (X, y), masks=masks, binarize=binary)[0]

    for numerical, analytic, err in directional_check(objective, grad, theta, rng, n_directions=6, h=1e-6):
        assert err < 1e-7, (numerical, analytic)


def test_objective_by_hand_for_one_iteration(rng):
    """With one iteration the final visible values are the start sigmoid(bv): J's pixel term is known in closed form."""
    model = small(1)
    theta = model.init(0, dtype=np.float64)
    X, y = data(rng)
    m_v, m_y = np.ones((6, 12)), np.zeros(6)
    loss, _ = model.loss_and_grad(theta, (X, y), masks=(m_v, m_y))
    z = model.unflatten(theta)["v.b"]
    bce = np.mean(np.log1p(np.exp(z)) - X * z)
    assert loss == pytest.approx(bce, rel=1e-12)


def test_clamped_variables_keep_their_values(rng):
    model = small(3)
    theta = model.init(0, dtype=np.float64)
    X, y = data(rng)
    m_v = (rng.random((6, 12)) < 0.5).astype(float)
    m_y = np.array([1.0, 0, 1, 0, 1, 0])
    onehot = np.eye(3)[y]
    state, _ = model.infer(theta, X, onehot, m_v, m_y)
    np.testing.assert_array_equal(state["v"][m_v == 0], X[m_v == 0])
    np.testing.assert_array_equal(state["y"][m_y == 0], onehot[m_y == 0])
    np.testing.assert_allclose(state["y"].sum(axis=1), 1.0, rtol=1e-12)


def test_weight_doubling_on_the_first_pass(rng):
    model = small(1)
    ops = model.schedule
    assert [op.target for op in ops] == ["v", "y", "h0", "h1", "y"]
    assert ops[2].terms[0][3] == 2.0 and ops[3].terms[0][3] == 2.0 and ops[4].terms[0][3] == 1.0
    assert len(small(14).schedule) == 5 + 13 * 4


def test_loss_is_deterministic_and_classification_works(rng):
    model = small(3)
    theta = model.init(0, dtype=np.float64)
    X, y = data(rng, 10)
    assert model.loss(theta, (X, y)) == model.loss(theta, (X, y))
    assert model.predict(theta, X).shape == (10,) and 0 <= model.error_rate(theta, (X, y)) <= 1
    a = model.loss_and_grad(theta, (X, y), rng=np.random.default_rng(4))[0]
    b = model.loss_and_grad(theta, (X, y), rng=np.random.default_rng(5))[0]
    assert a != b  # fresh masks and samples per call in training


def test_paper_preset_and_init():
    m = models.get("mpdbm", pixel_means=np.full(784, 0.2))
    assert m.size == 8_352_689 and m.hidden == (2087, 3200) and m.iterations == 14
    theta = m.init(0)
    p = m.unflatten(theta)
    assert (np.count_nonzero(p["h0.W"], axis=0) == 15).all()  # sparse init: 15 incoming weights per unit
    assert (np.count_nonzero(p["c.W"], axis=0) == 23).all()
    assert float(p["h0.b"][0]) == pytest.approx(-0.710467) and float(p["h1.b"][0]) == pytest.approx(-0.393587)
    assert float(p["v.b"][0]) == pytest.approx(np.log(0.2 / 0.8), rel=1e-6)
    assert np.abs(p["h1.W"]).max() <= 0.00638830865761


def test_bad_batches():
    model = small()
    theta = model.init(0)
    with pytest.raises(ValueError, match=r"\(N, 12\)"):
        model.loss(theta, (np.zeros((2, 5), np.float32), np.zeros(2, int)))
    with pytest.raises(ValueError, match="integer labels"):
        model.loss(theta, (np.zeros((2, 12), np.float32), np.zeros(2)))


@pytest.mark.gpu
def test_mpdbm_on_gpu_matches_numpy(cupy, rng):
    model = small(3)
    theta = model.init(0, dtype=np.float64)
    X, y = data(rng)
    masks = model.draw_masks(np.random.default_rng(1), 6, np.float64)
    loss, grad = model.loss_and_grad(theta, (X, y), masks=masks)
    g = cupy.asarray
    loss_g, grad_g = model.loss_and_grad(g(theta), (g(X), g(y)), masks=(g(masks[0]), g(masks[1])))
    assert loss_g == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(grad_g.get(), grad, rtol=1e-9, atol=1e-13)
    np.testing.assert_array_equal(model.predict(g(theta), g(X)).get(), model.predict(theta, X))
