"""Every lesson runs (on tiny settings) and teaches what it says."""
import importlib.util

import numpy as np
import pytest

from minilinpath.path import summarize

from .conftest import MNIST_T10K, ROOT, SHARED_DATA


def load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "lessons" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not (MNIST_T10K / "t10k-images-idx3-ubyte.gz").exists(), reason="shared MNIST not present")
def test_lesson01_runs_and_learns(tmp_path):
    lesson = load("lesson01_backprop_by_hand")
    errors, result = lesson.main(run_dir=tmp_path / "run", epochs=4, train_examples=3000)
    assert max(errors.values()) < 1e-8
    assert result.best_valid_error < 0.2  # far below chance (0.9) after 120 updates


def test_lesson01_gradient_check_catches_a_wrong_backward(monkeypatch):
    lesson = load("lesson01_backprop_by_hand")
    monkeypatch.setattr(lesson, "my_affine_backward", lambda dout, x, W: (dout @ W.T, (x.T @ dout).T.T * 1.01,
                                                                          dout.sum(axis=0)))
    assert lesson.check_my_backward()["dW"] > 1e-3


def test_lesson02_runs_and_checks_the_exercise(tmp_path):
    lesson = load("lesson02_linear_path_deep_linear")
    assert lesson.main(out=tmp_path) is None  # no answer yet: a hint, no verdict
    assert (tmp_path / "lesson02_path.png").exists()
    assert lesson.main(out=tmp_path, answer=(1 - 1.25 * 1.25) ** 2) is True  # worked by hand: p(1/2) = 1.25^2
    assert lesson.check_exercise(0.3) is False


@pytest.mark.skipif(not (MNIST_T10K / "t10k-images-idx3-ubyte.gz").exists(), reason="shared MNIST not present")
def test_lesson03_linear_paths_on_real_digits(tmp_path):
    lesson = load("lesson03_linear_path_mnist")
    init_metrics, barrier, random_metrics = lesson.main(run_dir=tmp_path / "runs", epochs=3, train_examples=2000,
                                                        out=tmp_path / "out")
    assert init_metrics["monotone"]  # the paper's finding, here on real digits
    assert barrier > 0.0  # two different solutions: the line between them rises
    assert random_metrics["local_minima"] == [1.0]  # no minimum but the solution
    assert (tmp_path / "out" / "lesson03_paths.png").exists()


@pytest.mark.skipif(not (SHARED_DATA / "ptb" / "ptb.valid.txt").exists(),
                    reason="shared PTB text not present")
def test_lesson04_bptt_and_language_model_path(tmp_path):
    lesson = load("lesson04_bptt_language_model")
    errors, result, unigram, metrics = lesson.main(run_dir=tmp_path / "run", epochs=1, hidden=16, alphas=3,
                                                   out=tmp_path / "out")
    assert max(errors.values()) < 1e-8
    assert result.history[-1]["valid_perplexity"] < result.history[0]["valid_perplexity"]
    assert (tmp_path / "out" / "lesson04_path.npz").exists()


def record_paths(monkeypatch, lesson):
    """Keep every path the lesson computes with linear_path (it prints their numbers; the tests read them)."""
    paths = []
    real = lesson.linear_path

    def recording(*args, **kwargs):
        paths.append(real(*args, **kwargs))
        return paths[-1]

    monkeypatch.setattr(lesson, "linear_path", recording)
    return paths


def curves_are_finite(path):
    return all(np.isfinite(getattr(path, k)).all() for k in path.FIELDS if getattr(path, k) is not None)


@pytest.mark.skipif(not (MNIST_T10K / "t10k-images-idx3-ubyte.gz").exists(), reason="shared MNIST not present")
def test_lesson05_convolution(tmp_path, monkeypatch):
    lesson = load("lesson05_convolution")
    paths = record_paths(monkeypatch, lesson)
    errors, result, metrics = lesson.main(run_dir=tmp_path / "run", epochs=2, train_examples=2000, alphas=4)
    assert max(errors.values()) < 1e-8
    assert result.best_valid_error < 0.5
    (path,) = paths
    assert curves_are_finite(path)
    at_one = int(np.flatnonzero(np.isclose(path.alphas, 1.0))[0])
    assert path.J_train[0] == pytest.approx(np.log(10), abs=0.01)  # small init: about uniform over 10 classes
    assert path.J_train[at_one] < path.J_train[0] - 1.0  # the solution is far below the start
    assert path.error_valid[at_one] == pytest.approx(result.best_valid_error, abs=1e-12)  # alpha = 1 is theta_best
    assert metrics == summarize(path.alphas, path.J_train) and metrics["monotone"]  # the paper's finding, here too


def test_lesson05_check_catches_a_wrong_backward(monkeypatch):
    lesson = load("lesson05_convolution")
    real = lesson.my_conv_backward
    monkeypatch.setattr(lesson, "my_conv_backward", lambda *a: (real(*a)[0], real(*a)[1][:, :, ::-1], real(*a)[2]))
    assert lesson.check_my_conv_backward()["dW"] > 1e-3


@pytest.mark.skipif(not (MNIST_T10K / "t10k-images-idx3-ubyte.gz").exists(), reason="shared MNIST not present")
def test_lesson06_mean_field(tmp_path, monkeypatch):
    lesson = load("lesson06_mean_field_as_a_network")
    paths = record_paths(monkeypatch, lesson)
    errors, worst, metrics = lesson.main(run_dir=tmp_path / "run", epochs=1, n_train=1000, iterations=3, alphas=7)
    assert len(errors) == 3 and np.isfinite(errors).all()
    assert errors[-1] < 0.5  # filled-in pixels closer than chance after the sweeps
    assert worst < 1e-6
    (path,) = paths
    assert curves_are_finite(path) and path.alphas[4] == 1.0
    assert path.J_train[4] < 0.97 * path.J_train[0]  # one short epoch lowers the objective (about 6% here)
    assert path.J_valid[4] < path.J_valid[0]
    assert metrics == summarize(path.alphas, path.J_train)  # the printed metrics describe this curve
