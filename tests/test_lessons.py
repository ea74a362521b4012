"""Every lesson runs (on tiny settings) and teaches what it says."""
import importlib.util

import pytest

from .conftest import MNIST_T10K, ROOT


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


@pytest.mark.skipif(not (ROOT.parent / "shared" / "data" / "ptb" / "ptb.valid.txt").exists(),
                    reason="shared PTB text not present")
def test_lesson04_bptt_and_language_model_path(tmp_path):
    lesson = load("lesson04_bptt_language_model")
    errors, result, unigram, metrics = lesson.main(run_dir=tmp_path / "run", epochs=1, hidden=16, alphas=3,
                                                   out=tmp_path / "out")
    assert max(errors.values()) < 1e-8
    assert result.history[-1]["valid_perplexity"] < result.history[0]["valid_perplexity"]
    assert (tmp_path / "out" / "lesson04_path.npz").exists()


@pytest.mark.skipif(not (MNIST_T10K / "t10k-images-idx3-ubyte.gz").exists(), reason="shared MNIST not present")
def test_lesson05_convolution(tmp_path):
    lesson = load("lesson05_convolution")
    errors, result, metrics = lesson.main(run_dir=tmp_path / "run", epochs=2, train_examples=2000, alphas=4)
    assert max(errors.values()) < 1e-8
    assert result.best_valid_error < 0.5 and metrics["largest_bump"] >= 0.0


def test_lesson05_check_catches_a_wrong_backward(monkeypatch):
    lesson = load("lesson05_convolution")
    real = lesson.my_conv_backward
    monkeypatch.setattr(lesson, "my_conv_backward", lambda *a: (real(*a)[0], real(*a)[1][:, :, ::-1], real(*a)[2]))
    assert lesson.check_my_conv_backward()["dW"] > 1e-3


@pytest.mark.skipif(not (MNIST_T10K / "t10k-images-idx3-ubyte.gz").exists(), reason="shared MNIST not present")
def test_lesson06_mean_field(tmp_path):
    lesson = load("lesson06_mean_field_as_a_network")
    errors, worst, metrics = lesson.main(run_dir=tmp_path / "run", epochs=1, n_train=1000, iterations=3, alphas=3)
    assert len(errors) == 3 and errors[-1] < 0.5  # filled-in pixels closer than chance after the sweeps
    assert worst < 1e-6
    assert "monotone" in metrics
