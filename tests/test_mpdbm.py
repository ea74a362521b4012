"""The MP-DBM: gradient of the whole objective through the unrolled inference, inference details, presets."""
import numpy as np
import pytest

from minilinpath import models
from minilinpath.models import mpdbm
from minilinpath.gradcheck import directional_check
from minilinpath.models import MPDBM
from minilinpath.params import LayoutMismatchError


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


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_label_inference_by_hand_on_a_tiny_model():
    """Three mean-field iterations with all pixels clamped, written out with plain numpy formulas."""
    model = MPDBM(n_visible=5, hidden=(4, 3), n_classes=3, iterations=3)
    rng = np.random.default_rng(0)
    theta = 3.0 * rng.standard_normal(model.size)  # every weight and bias random: no term can hide
    X = rng.random((8, 5))
    p = model.unflatten(theta)
    W0, b0, W1, b1, Wc, bc = p["h0.W"], p["h0.b"], p["h1.W"], p["h1.b"], p["c.W"], p["c.b"]
    # iteration 1, bottom-up with doubled weights into h0 and h1
    h0 = sigmoid(2 * X @ W0 + b0)
    h1 = sigmoid(2 * h0 @ W1 + b1)
    y1 = softmax(h1 @ Wc + bc)
    # iteration 2: h0 (from the pixels and h1), y (from h1), the pixels stay clamped, then h1 (from h0 and y)
    h0 = sigmoid(X @ W0 + h1 @ W1.T + b0)
    y2 = softmax(h1 @ Wc + bc)
    h1 = sigmoid(h0 @ W1 + y2 @ Wc.T + b1)
    # iteration 3: the label reads the h1 of iteration 2 (its later h1 update cannot change it)
    y3 = softmax(h1 @ Wc + bc)
    assert (y3.argmax(axis=1) != y1.argmax(axis=1)).sum() >= 3  # the later iterations change the answer here

    state, _ = model.infer(theta, X, np.zeros((8, 3)), np.zeros((8, 5)), np.ones(8))  # as predict clamps
    np.testing.assert_allclose(state["y"], y3, rtol=1e-12, atol=1e-15)
    top2 = np.sort(y3, axis=1)[:, -2:]
    assert (top2[:, 1] - top2[:, 0] > 1e-6).all()  # no near-ties: argmax is well defined
    np.testing.assert_array_equal(model.predict(theta, X), y3.argmax(axis=1))
    assert len(set(y3.argmax(axis=1))) > 1  # not a constant prediction
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    assert model.error_rate(theta, (X, labels)) == np.mean(y3.argmax(axis=1) != labels)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_loss_equals_loss_and_grad_without_rng(rng, dtype):
    model = small(3)
    theta = (model.init(0, dtype=np.float64) + 0.3 * rng.standard_normal(model.size)).astype(dtype)
    X, y = data(rng, 10)
    X = X.astype(dtype)
    assert model.loss(theta, (X, y)) == model.loss_and_grad(theta, (X, y), rng=None)[0]
    assert model.loss(theta, (X, y)) == model.loss_and_grad(theta, (X, y), masks=model.fixed_masks(10, np, dtype))[0]


def test_fixed_masks_chunk_by_chunk(rng, monkeypatch):
    """Over several chunks: an example's masks depend on its position only, and loss = loss_and_grad's J."""
    monkeypatch.setattr(mpdbm, "EVAL_CHUNK", 4)
    model = small(3)
    theta = model.init(0, dtype=np.float64) + 0.3 * rng.standard_normal(model.size)
    X, y = data(rng, 10)
    m_v, m_y = model.fixed_masks(10, np, np.float64)
    assert m_v.shape == (10, 12) and m_y.shape == (10,)
    for start in (0, 4, 8):
        part_v, part_y = model.fixed_masks(min(4, 10 - start), np, np.float64, start=start)
        np.testing.assert_array_equal(part_v, m_v[start:start + 4])
        np.testing.assert_array_equal(part_y, m_y[start:start + 4])
    assert not np.array_equal(m_v[:2], m_v[4:6])  # each chunk its own generator
    with pytest.raises(ValueError, match="multiple of EVAL_CHUNK"):
        model.fixed_masks(2, start=3)
    assert model.loss(theta, (X, y)) == pytest.approx(model.loss_and_grad(theta, (X, y))[0], rel=1e-14)


def test_training_draws_fresh_masks_and_samples(rng):
    model = small(3)
    theta = model.init(0, dtype=np.float64)
    X, y = data(rng, 10)
    a = model.loss_and_grad(theta, (X, y), rng=np.random.default_rng(4))[0]
    b = model.loss_and_grad(theta, (X, y), rng=np.random.default_rng(5))[0]
    again = model.loss_and_grad(theta, (X, y), rng=np.random.default_rng(4))[0]
    assert a != b and a == again  # fresh masks and samples per generator, reproducible from it


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


def test_predict_checks_its_input():
    model = small()
    theta = model.init(0)
    with pytest.raises(ValueError, match=r"X must have shape \(N, 12\), got \(2, 5\)"):
        model.predict(theta, np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match=r"X must have shape \(N, 12\)"):
        model.predict(theta, np.zeros(12, np.float32))
    with pytest.raises(TypeError, match="cast X to theta's dtype"):
        model.predict(theta, np.zeros((2, 12), np.float64))
    with pytest.raises(LayoutMismatchError, match="another model"):
        model.predict(theta[:-1], np.zeros((2, 12), np.float32))


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
    assert model.loss(g(theta), (g(X), g(y))) == model.loss_and_grad(g(theta), (g(X), g(y)))[0]
