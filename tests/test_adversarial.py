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


def test_adversarial_examples_raise_the_loss_and_clip():
    model, theta, X, y = setup()
    _, _, dX = model.loss_and_grad(theta, (X, y), want_input_grad=True)
    X_adv = adversarial_examples(X, dX, 0.1)
    assert model.loss(theta, (X_adv, y)) > model.loss(theta, (X, y))
    clipped = adversarial_examples(np.clip(X, 0, 1), dX, 0.5, clip=(0, 1))
    assert clipped.min() >= 0 and clipped.max() <= 1
    assert 0.0 <= adversarial_error_rate(model, theta, (X, y), 0.25) <= 1.0


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
