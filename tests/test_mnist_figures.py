"""Figures 1-5 and 13 end to end on a small data set in the MNIST format, with cached training reused."""
import json

import numpy as np
import pytest

from minilinpath import backend, experiments, models, train as train_module
from minilinpath.figures import fig1, fig2, fig3, fig4, fig5, fig13


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """10 classes of 784-pixel 'digits' in [0, 1]: noisy copies of 10 random prototypes."""
    rng = np.random.default_rng(0)
    prototypes = rng.random((10, 784))
    def split(n):
        y = rng.integers(0, 10, size=n)
        return np.clip(prototypes[y] + 0.3 * rng.standard_normal((n, 784)), 0, 1).astype(np.float32), y
    (Xt, yt), (Xv, yv) = split(600), split(200)
    path = tmp_path_factory.mktemp("data") / "digits.npz"
    np.savez(path, X_train=Xt, y_train=yt, X_valid=Xv, y_valid=yv)
    return path


@pytest.fixture
def args(dataset, tmp_path_factory, monkeypatch):
    monkeypatch.setattr(backend, "_selected", None)
    monkeypatch.delenv("MINILINPATH_DEVICE", raising=False)
    # tiny, fast training for tests: small batches, and a larger init so that the maxout network leaves the
    # plateau around theta = 0 within a few epochs (with pylearn2's U(+-0.005) it takes hundreds of updates)
    monkeypatch.setattr(train_module, "QUICK", dict(max_epochs=3, patience=None, batch_size=20))
    monkeypatch.setitem(models.PRESETS, "mnist_pi", {**models.PRESETS["mnist_pi"], "init_ranges": (0.05,) * 3})
    runs = tmp_path_factory.getbasetemp() / "runs"  # shared by the tests: trained models are reused
    out = tmp_path_factory.mktemp("out")
    return out, ["--dataset", f"npz:{dataset}", "--runs-dir", str(runs), "--out", str(out)]


def saved(out, name):
    with np.load(out / f"{name}.npz", allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    return arrays, json.loads((out / f"{name}.json").read_text())["summary"]


def test_fig1_curves_endpoints_and_history(args):
    out, argv = args
    assert fig1.main(argv) == 0
    arrays, summary = saved(out, "fig1")
    model = models.get("mnist_pi_quick")
    splits = experiments.load_splits(argv[1], profile="quick")
    for key in ("adversarial", "maxout"):
        alphas = arrays[f"{key}/alphas"]
        assert alphas[0] == 0.0 and alphas[9] == 1.0 and alphas.size == 20
        assert arrays[f"{key}/J_train"][0] == model.loss(arrays[f"{key}/theta0"], splits[0])
        assert arrays[f"{key}/J_train"][9] == model.loss(arrays[f"{key}/theta1"], splits[0])
        assert arrays[f"{key}/epochs"].tolist() == [0, 1, 2, 3]
    assert not np.array_equal(arrays["adversarial/theta1"], arrays["maxout/theta1"])
    assert set(summary["metrics"]) == {"adversarial", "maxout"}
    assert (out / "fig1.png").stat().st_size > 10_000
    # the picture: the training objective and the validation J are on separate axes, each named for what it is
    fig = fig1.plot(arrays, summary)
    legends = [[t.get_text() for t in ax.get_legend().get_texts()] for ax in fig.axes if ax.get_legend()]
    objective_axes = [labels for labels in legends if any("training objective" in t for t in labels)]
    valid_axes = [labels for labels in legends if any("validation J" in t for t in labels)]
    assert len(objective_axes) == 2 and len(valid_axes) == 2
    assert not any(any("validation" in t for t in labels) for labels in objective_axes)
    assert not any("train objective (dropout)" in t for labels in legends for t in labels)
    titles = [ax.get_title() for ax in fig.axes]
    assert sum("FGSM" in t for t in titles) == 1  # the adversarial row says its objective is the FGSM mix
    suptitle = fig._suptitle.get_text()
    assert "maxout + dropout MLP" in suptitle and "npz file digits.npz" in suptitle and "quick profile" in suptitle


def test_fig2_fig3_reuse_cached_models(args, capsys):
    out, argv = args
    assert fig2.main(argv) == 0
    assert fig1.main(argv) == 0  # mnist_pi trained by the previous test or here, once
    capsys.readouterr()
    assert fig3.main(argv) == 0
    log = capsys.readouterr().out
    assert log.count("reusing it") == 3 and "train objective" not in log
    arrays, summary = saved(out, "fig3")
    assert {k.split("/")[0] for k in arrays} == {"mnist_pi", "mnist_valid", "sigmoid"}
    # titles and tables name the models in words, the data set and the profile, never a preset name alone
    arrays2, summary2 = saved(out, "fig2")
    for figure, (a, s) in ((fig2, (arrays2, summary2)), (fig3, (arrays, summary))):
        fig = figure.plot(a, s)
        text = " ".join([fig._suptitle.get_text() if fig._suptitle else ""] + [ax.get_title() for ax in fig.axes]
                        + [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()])
        assert "ReLU + dropout MLP" in text and "sigmoid + dropout MLP" in text and "mnist_valid" not in text
        assert "npz file digits.npz (600 training / 200 validation examples)" in text and "quick profile" in text
        assert not any("mnist_valid" in line for line in figure.report(s))


def test_fig4_windows(args):
    out, argv = args
    assert fig4.main(argv) == 0
    arrays, summary = saved(out, "fig4")
    assert arrays["start/alphas"][[0, -1]].tolist() == [0.0, 0.01] and arrays["end/alphas"].size == 200
    assert "start/J_valid" not in arrays  # training J only, as the paper's Figure 4
    np.testing.assert_allclose(arrays["fine/J_train"][-1], arrays["end/J_train"][-1], rtol=1e-12)


def test_fig5_two_solutions_and_random_point(args):
    out, argv = args
    assert fig5.main(argv) == 0
    arrays, summary = saved(out, "fig5")
    m = summary["metrics"]["solution -> solution"]
    assert "barrier_mean" in m and "barrier_chord" in m
    assert not np.array_equal(arrays["solutions/theta0"], arrays["solutions/theta1"])
    np.testing.assert_array_equal(arrays["random/theta1"], arrays["solutions/theta0"])
    assert abs(float(arrays["random/theta0"].std()) - 1.0) < 0.01  # N(0, 1) coordinates


def test_fig13_projection(args):
    out, argv = args
    assert fig13.main(argv) == 0
    arrays, summary = saved(out, "fig13")
    assert arrays["coord"].size == 4 and arrays["residual"][0] == 0.0
    assert summary["epochs"] == 3
    np.testing.assert_allclose(arrays["residual_over_norm"], arrays["residual"] / arrays["norm"])
    share = float(np.max(arrays["residual"] / arrays["norm"]))
    assert any(f"largest residual / ||theta_t|| = {share:.3f}" in line and "1/3" in line
               for line in fig13.report(summary))  # the number itself, next to the paper's bound


def test_missing_data_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(backend, "_selected", None)
    assert fig1.main(["--dataset", f"npz:{tmp_path / 'nope.npz'}", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "does not exist" in err and "Traceback" not in err
    assert not (tmp_path / "fig1.png").exists()


def test_fig6_conv_maxout_on_square_grey_images(args, monkeypatch):
    from minilinpath.figures import fig6
    from minilinpath.models import ConvSpec
    out, argv = args
    tiny = {**models.CIFAR10_MAXOUT_QUICK, "conv": (ConvSpec(2, 2, 5, 2, 3, 2, 0.9, 0.05),), "dense": (8,)}
    monkeypatch.setattr(models, "CIFAR10_MAXOUT_QUICK", tiny)
    monkeypatch.setattr(fig6, "ZOOM", np.linspace(0, 0.25, 6))
    assert fig6.main(argv) == 0
    arrays, summary = saved(out, "fig6")
    assert arrays["whole/theta0"].size == models.get("cifar10_maxout_quick", input_shape=(1, 28, 28)).size
    assert arrays["start/alphas"].size == 6 and "rise_above_start_near_init" in summary
    assert "(1, 28, 28)" in summary["model"]
    # the report states what the zoom shows, barrier or not, and for which data set
    start = arrays["start/J_train"]
    rise = float(start.max() - start[0])
    assert summary["rise_above_start_near_init"] == rise
    lines = fig6.report(summary)
    if not summary["warnings"]:
        says = ("before it falls: a barrier near the start" if rise > fig6.BARRIER_TOL else
                "no barrier near the start at this resolution (6 points in [0, 0.25])")
        assert any(says in line for line in lines)
    assert any("not the paper's CIFAR-10" in line for line in lines)
    assert "convolutional maxout" in fig6.plot(arrays, summary)._suptitle.get_text()


def test_fig7_mpdbm_path_and_trajectory(args, monkeypatch):
    from minilinpath.figures import fig7
    out, argv = args
    monkeypatch.setattr(models, "MPDBM_QUICK", {**models.MPDBM_QUICK, "hidden": (8, 6), "iterations": 2})
    assert fig7.main(argv) == 0
    arrays, summary = saved(out, "fig7")
    assert arrays["trajectory/a"].shape == (4,) and arrays["trajectory/a"][0] == 0.0
    assert arrays["trajectory/b"][0] == 0.0 and "mpdbm/error_valid" in arrays
    assert arrays["trajectory/J_valid"].shape == (4,)
    alphas, J, err = arrays["mpdbm/alphas"], arrays["mpdbm/J_train"], arrays["mpdbm/error_valid"]
    assert J.argmin() > 0  # training lowered J, so the line has at least one minimum past its start
    # the bottom of the solution's basin: reached downhill from alpha = 1, lower than both neighbours
    bottom = summary["solution_basin_bottom"]
    k = int(np.flatnonzero(alphas == bottom["alpha"])[0])
    downhill = J[9:k + 1] if k >= 9 else J[k:10][::-1]  # from alpha = 1 to the bottom
    assert np.all(np.diff(downhill) < 0) and J[k] <= J[k - 1] and (k == alphas.size - 1 or J[k] <= J[k + 1])
    a, b = arrays["trajectory/a"], arrays["trajectory/b"]
    rise = 1e-4 * (J.max() - J.min())
    for m in summary["minima"]:  # every secondary minimum is interior, a local minimum, and behind a rise
        i = int(np.flatnonzero(alphas == m["alpha"])[0])
        assert 0 < i < alphas.size - 1 and J[i] < J[i - 1] and J[i] < J[i + 1]
        assert J[min(i, k):max(i, k) + 1].max() > max(J[i], J[k]) + rise
        assert m["J_train"] == J[i] and m["valid_error"] == err[i]
        gap = np.hypot(a - m["alpha"] * summary["distance"], b)  # each epoch's distance to that point of the line
        assert m["closest_epoch"] == int(np.argmin(gap))
        assert m["closest_distance"] == pytest.approx(gap.min(), rel=1e-12)
    # the picture: the error curve is in the legend; a minimum is named only if there is a secondary one
    for minima, says in (([], "no secondary minimum found"),
                         ([{"alpha": 0.5, "J_train": float(J[4]), "valid_error": 0.5}], "secondary minimum, 50%")):
        fig = fig7.plot(arrays, {**summary, "minima": minima})
        texts = [t.get_text() for ax in fig.axes for t in ax.texts]
        legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        assert any(says in t for t in texts) and not any("minimum, " in t and "secondary" not in t for t in texts)
        assert "validation error (%)" in legend and "train J" in legend
        assert "MP-DBM" in fig._suptitle.get_text() and "quick profile" in fig._suptitle.get_text()


def _curve(values):
    """A hand-made J on the paper's grid alpha = i/9, i = 0..19 (alpha = 1 is index 9)."""
    alphas = np.arange(20) / 9
    return alphas, np.asarray(values, dtype=float)


def test_fig7_the_solutions_overshoot_is_no_secondary_minimum():
    """J lowest one grid step past alpha = 1, in the solution's own basin: no secondary minimum, although the
    sampled local minima (the metric table's) list alpha = 1.11."""
    from minilinpath.figures import fig7
    from minilinpath.path import summarize
    alphas, J = _curve((np.arange(20) / 9 - 1.08) ** 2)
    assert summarize(alphas, J)["local_minima"] == [pytest.approx(10 / 9)]
    assert fig7.solution_basin(J, 9) == 10
    assert fig7.secondary_minima(alphas, J) == []


@pytest.mark.parametrize("values, expected", [
    # a dip at alpha = 0.44, then a rise to 4 at alpha = 0.67, then down into the solution: one secondary minimum
    ([10, 8, 6, 4, 3, 3.5, 4, 2, 1, 0.5, 0.7, 1, 2, 3, 4, 5, 6, 7, 8, 9], [4]),
    # past the solution: up to a bump at alpha = 1.44, down into a second valley at alpha = 1.78
    ([10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 1.5, 2, 2.5, 3, 2.5, 2, 1.5, 2, 3, 4], [16]),
    # past the bump J falls to the end of the grid: the last sample is not a found minimum (J may fall further)
    ([10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 1.5, 2, 2.5, 2.2, 2, 1.8, 1.6, 1.4, 1.2, 1.0], []),
    # a dip behind a rise of 5e-4 (below 1e-4 of J's range of 10): a wiggle, not a minimum
    ([10, 8, 6, 4, 3, 3.0005, 2.9, 2, 1, 0.5, 0.7, 1, 2, 3, 4, 5, 6, 7, 8, 9], []),
])
def test_fig7_secondary_minima_on_hand_made_curves(values, expected):
    from minilinpath.figures import fig7
    alphas, J = _curve(values)
    assert fig7.secondary_minima(alphas, J) == expected
    assert fig7.solution_basin(J, 9) == 9
