"""The fast-gradient-sign objective: input gradient against finite differences, value and gradient."""
import numpy as np
import pytest

from minilinpath.adversarial import adversarial_error_rate, adversarial_examples, fgsm_objective
from minilinpath.gradcheck import directional_check, numerical_vjp
from minilinpath.models import MLP


def setup(dropout=False):
    model = MLP(n_in=6, hidden=(5,), activation="maxout", pieces=2, n_classes=3, init_ranges=(0.8, 0.8),
                **(dict(input_include=0.8, hidden_include=0.5, hidden_scale=2.0) if dropout else {}))
    rng = np.random.default_rng(0)
    return model, model.init(1, dtype=np.float64), rng.standard_normal((7, 6)), rng.integers(0, 3, size=7)


def test_input_gradient_against_finite_differences():
    model, theta, X, y = setup()
    _, _, dX = model.loss_and_grad(theta, (X, y), want_input_grad=True)
    numerical = numerical_vjp(lambda a: np.array(model.loss(theta, (a, y))), X.copy(), np.array(1.0), h=1e-6)
    np.testing.assert_allclose(dX, numerical, rtol=1e-6, atol=1e-10)
    assert np.array_equal(np.sign(dX), np.sign(numerical))  # the sign FGSM uses


def test_objective_value_and_gradient_without_dropout():
    model, theta, X, y = setup()
    objective = fgsm_objective(model, epsilon=0.25, mix=0.5)
    loss, grad = objective(theta, (X, y), None)
    _, _, dX = model.loss_and_grad(theta, (X, y), want_input_grad=True)
    X_adv = X + 0.25 * np.sign(dX)
    assert loss == pytest.approx(0.5 * model.loss(theta, (X, y)) + 0.5 * model.loss(theta, (X_adv, y)), rel=1e-13)

    # the gradient treats X_adv as a constant: check it against that fixed objective
    def fixed(t):
        return 0.5 * model.loss(t, (X, y)) + 0.5 * model.loss(t, (X_adv, y))

    checks = directional_check(fixed, grad, theta, np.random.default_rng(1), n_directions=5, h=1e-6)
    assert max(c[2] for c in checks) < 1e-7


def hand_logits_and_input_gradient(model, theta, X, y):
    """The setup() network written out: maxout over column pairs (unit j = max of columns 2j, 2j+1), softmax,
    mean cross-entropy; dJ/dX back through the winning piece of each unit."""
    p = model.unflatten(theta)
    z = (X @ p["h0.W"] + p["h0.b"]).reshape(len(X), 5, 2)
    logits = z.max(axis=2) @ p["y.W"] + p["y.b"]
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    dlogits = (probs - np.eye(3)[y]) / len(X)
    dz = np.zeros_like(z)
    np.put_along_axis(dz, z.argmax(axis=2)[..., None], (dlogits @ p["y.W"].T)[..., None], axis=2)
    return logits, dz.reshape(len(X), 10) @ p["h0.W"].T


def test_adversarial_examples_raise_the_loss_and_clip():
    model, theta, X, y = setup()
    _, _, dX = model.loss_and_grad(theta, (X, y), want_input_grad=True)
    X_adv = adversarial_examples(X, dX, 0.1)
    np.testing.assert_array_equal(X_adv, X + 0.1 * np.sign(dX))
    assert model.loss(theta, (X_adv, y)) > model.loss(theta, (X, y))
    # to first order the step eps * sign(dX) raises J by eps * sum |dX|, the most any step of that size can
    eps = 1e-5
    rise = model.loss(theta, (adversarial_examples(X, dX, eps), y)) - model.loss(theta, (X, y))
    assert rise == pytest.approx(eps * np.abs(dX).sum(), rel=1e-3)
    clipped = adversarial_examples(np.clip(X, 0, 1), dX, 0.5, clip=(0, 1))
    np.testing.assert_array_equal(clipped, np.clip(np.clip(X, 0, 1) + 0.5 * np.sign(dX), 0, 1))


@pytest.mark.parametrize("epsilon, clip, expected", [(0.0, None, 0.0), (0.1, None, 0.1), (0.25, None, 0.35),
                                                      (0.5, None, 0.6), (0.25, (-1, 1), 0.375)])
def test_adversarial_error_rate_by_hand(epsilon, clip, expected):
    """Labels = the clean predictions (clean error 0); the error on X + eps sign(dJ/dX), computed by hand."""
    model, theta, *_ = setup()
    X = np.random.default_rng(0).standard_normal((40, 6))
    y = hand_logits_and_input_gradient(model, theta, X, np.zeros(40, int))[0].argmax(axis=1)
    _, dX = hand_logits_and_input_gradient(model, theta, X, y)
    X_adv = X + epsilon * np.sign(dX)
    if clip is not None:
        X_adv = np.clip(X_adv, *clip)
    by_hand = np.mean(hand_logits_and_input_gradient(model, theta, X_adv, y)[0].argmax(axis=1) != y)
    assert by_hand == expected  # pins the hand computation itself: 0, 4, 14, 24 (15 clipped) wrong out of 40
    assert adversarial_error_rate(model, theta, (X, y), epsilon, clip) == by_hand


def test_objective_with_dropout_is_reproducible_from_the_generator():
    model, theta, X, y = setup(dropout=True)
    objective = fgsm_objective(model)
    a = objective(theta, (X, y), np.random.default_rng(5))
    b = objective(theta, (X, y), np.random.default_rng(5))
    assert a[0] == b[0] and np.array_equal(a[1], b[1])


def test_bad_settings():
    model, *_ = setup()
    with pytest.raises(ValueError, match="mix"):
        fgsm_objective(model, mix=1.5)
