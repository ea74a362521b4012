"""The evidence scripts docs/experiments/sigmoid_rise.py and fig13_init_scale.py: their numbers on tiny problems,
checked against values worked out here by hand."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from minilinpath.models import MLP

SCRIPTS = Path(__file__).resolve().parents[1] / "docs" / "experiments"


def load_script(name):
    spec = importlib.util.spec_from_file_location(f"experiment_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def sigmoid_rise():
    return load_script("sigmoid_rise")


@pytest.fixture(scope="module")
def fig13_init_scale():
    return load_script("fig13_init_scale")


def tiny_sigmoid_net():
    # 5 inputs, hidden 4 and 3 sigmoid units, 3 classes; the softmax layer starts at zero as in the paper's preset
    return MLP(n_in=5, hidden=(4, 3), activation="sigmoid", n_classes=3, init_ranges=(0.01, 0.05, 0.0))


def tiny_data(n=60, seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 5)), np.arange(n) % 3  # balanced classes


def test_constant_scores_are_the_softmax_layer_applied_to_one_half(sigmoid_rise):
    model = tiny_sigmoid_net()
    theta0 = model.init(0, dtype=np.float64)
    theta1 = np.random.default_rng(2).normal(size=model.size)
    p0, p1 = model.unflatten(theta0), model.unflatten(theta1)
    by_hand = [sum(0.5 * (p1["y.W"][i, k] - p0["y.W"][i, k]) for i in range(3)) + p1["y.b"][k] - p0["y.b"][k]
               for k in range(3)]
    np.testing.assert_allclose(sigmoid_rise.constant_scores(model, theta0, theta1), by_hand, rtol=1e-12)
    assert not np.any(p0["y.W"]) and not np.any(p0["y.b"])  # so s is W_y1^T (1/2) + b_y1 of the solution


def test_rise_of_an_input_independent_net_is_the_nll_of_alpha_s(sigmoid_rise):
    """With every hidden weight and bias 0 each unit outputs exactly 1/2, so the logits are exactly alpha s:
    J(alpha) = mean_n [log sum_k exp(alpha s_k) - alpha s_{y_n}], worked out here from s."""
    model = tiny_sigmoid_net()
    X, y = tiny_data()
    theta0 = np.zeros(model.size)
    theta1 = np.zeros(model.size)
    p1 = model.unflatten(theta1)
    p1["y.W"][...] = np.array([[3.0, -1.0, 0.0]] * 3)
    p1["y.b"][...] = [0.5, 0.0, -0.5]
    s = np.array([0.5 * 9.0 + 0.5, 0.5 * -3.0, -0.5])  # 1/2 * column sums of W_y + b_y = (5, -1.5, -0.5)
    alphas = np.linspace(0.0, 0.25, 26)
    J, row = sigmoid_rise.measure(model, theta0, theta1, (X, y), alphas)
    by_hand = [np.mean([np.log(np.sum(np.exp(a * s))) - a * s[label] for label in y]) for a in alphas]
    np.testing.assert_allclose(J, by_hand, rtol=1e-10)
    assert row["J0"] == pytest.approx(np.log(3), rel=1e-12)
    assert row["peak_alpha"] == pytest.approx(0.25) and row["rise"] == pytest.approx(by_hand[-1] - np.log(3))
    assert row["std_s"] == pytest.approx(np.sqrt(np.mean((s - s.mean()) ** 2)))
    # the quadratic prediction alpha^2 var(s) / 2, var = mean (s - mean s)^2 = (16 + 6.25 + 2.25) / 3 = 49/6 here
    assert row["predicted_rise"] == pytest.approx(0.25 ** 2 * (49 / 6) / 2, rel=1e-12)
    assert row["constant_logits_rise"] == pytest.approx(by_hand[-1] - np.log(3), rel=1e-10)
    assert row["std_s_measured_h"] == pytest.approx(row["std_s"], rel=1e-12)  # the units output exactly 1/2


def test_rise_on_grid_finds_the_peak(sigmoid_rise):
    numbers = sigmoid_rise.rise_on_grid(np.array([2.0, 2.1, 2.3, 2.2, 1.0]), np.array([0, 0.1, 0.2, 0.3, 0.4]))
    assert numbers == {"J0": 2.0, "rise": pytest.approx(0.3), "peak_alpha": 0.2}


def test_learning_rates_need_the_quick_profile(sigmoid_rise):
    with pytest.raises(SystemExit) as exc:
        sigmoid_rise.parse_args(["--profile", "paper-capped", "--learning-rates", "0.5"])
    assert exc.value.code == 2


def test_residual_summary_by_hand(fig13_init_scale):
    """The line from (1, 0) to (3, 0); the trajectory (1, 0) -> (2, 1) -> (3, 0): residuals 0, 1, 0,
    norms 1, sqrt 5, 3, so the largest share is 1/sqrt 5 at epoch 1, the one epoch above 1/3."""
    rows = np.array([[1.0, 0.0], [2.0, 1.0], [3.0, 0.0]])
    ratio, numbers = fig13_init_scale.residual_summary(rows, rows[0], rows[-1])
    np.testing.assert_allclose(ratio, [0.0, 1 / np.sqrt(5), 0.0], atol=1e-15)
    assert numbers["max_residual_over_norm"] == pytest.approx(1 / np.sqrt(5))
    assert numbers["epoch_of_max"] == 1 and numbers["epochs_above_bound"] == 1 and numbers["epochs"] == 2
    assert numbers["max_residual"] == pytest.approx(1.0)
    assert numbers["min_norm_after_epoch0"] == pytest.approx(np.sqrt(5))
    assert numbers["norm_init"] == pytest.approx(1.0) and numbers["distance"] == pytest.approx(2.0)


def test_other_profiles_take_the_paper_range_only(fig13_init_scale):
    with pytest.raises(SystemExit) as exc:
        fig13_init_scale.parse_args(["--profile", "paper-capped", "--init-ranges", "0.05"])
    assert exc.value.code == 2
    assert fig13_init_scale.parse_args(["--profile", "paper-capped", "--init-ranges", "0.005"]).init_ranges == [0.005]
