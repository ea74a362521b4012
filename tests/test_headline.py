"""minilinpath headline: the test-set number of a figure's trained model, beside the paper's."""
import json

import numpy as np
import pytest

from minilinpath import experiments, models
from minilinpath.experiments import Trained
from minilinpath.figures import headline


def tiny_problem():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((60, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    return X, y


@pytest.fixture
def fake_training(monkeypatch):
    """A tiny ReLU net standing in for the cached run, and a data set with a test split (no training, no files)."""
    model = models.get("relu", n_in=4, hidden=(5,), n_classes=2, init_ranges=(0.5, 0.5), max_col_norms=(9.0, 9.0))
    theta = model.init(1)
    X, y = tiny_problem()
    splits = {"train": (X[:30], y[:30]), "valid": (X[30:40], y[30:40]), "test": (X[40:], y[40:])}
    monkeypatch.setattr(experiments, "load_splits", lambda *a, **k: (splits["train"], splits["valid"]))
    calls = []

    def trained(name, seed, profile, dataset, train_set, valid_set, **kwargs):
        calls.append((name, profile, kwargs.get("adversarial")))
        return Trained(model, theta * 0, theta, [{"epoch": 0, "valid_error": 0.5}, {"epoch": 1, "valid_error": 0.2}],
                       [], [])
    monkeypatch.setattr(experiments, "trained", trained)
    import minilinpath.data as data
    monkeypatch.setattr(data, "load_dataset", lambda name, data_dir=None: splits if name == "mnist"
                        else {k: splits[k] for k in ("train", "valid")})
    # the error on the test split, counted by hand from the logits of a plain forward pass
    params = model.unflatten(theta)
    hidden = np.maximum(X[40:] @ params["h0.W"] + params["h0.b"], 0)
    logits = hidden @ params["y.W"] + params["y.b"]
    expected = float(np.mean(np.argmax(logits, axis=1) != y[40:]))
    return calls, expected


def test_reports_the_test_error_beside_the_papers(tmp_path, fake_training, capsys):
    calls, expected = fake_training
    assert headline.main(["--model", "mnist_valid", "--dataset", "mnist", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "headline.json").read_text())["summary"]
    assert calls == [("mnist_valid", "quick", False)]
    assert summary["split"] == "test" and summary["examples"] == 20
    assert summary["measured"] == pytest.approx(expected, abs=1e-12)
    assert summary["paper"] == 0.0108 and summary["comparable"] is False  # quick profile: not the paper's run
    out = capsys.readouterr().out
    assert "not comparable with the paper: only the paper profile" in out and "1.08%" in out


def test_without_a_test_split_the_validation_split_is_used_and_said(tmp_path, fake_training, capsys):
    assert headline.main(["--model", "sigmoid", "--dataset", "mnist-test", "--profile", "paper",
                          "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "headline.json").read_text())["summary"]
    assert summary["split"] == "valid" and summary["quantity"] == "validation error" and not summary["comparable"]
    assert "the paper's number is on mnist, not mnist-test" in capsys.readouterr().out


def test_the_paper_profile_on_the_papers_data_set_is_comparable(tmp_path, fake_training, capsys):
    assert headline.main(["--model", "mnist_pi", "--adversarial", "--dataset", "mnist", "--profile", "paper",
                          "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "headline.json").read_text())["summary"]
    assert summary["comparable"] is True and summary["paper"] == 0.00782 and summary["split"] == "test"
    assert "not comparable" not in capsys.readouterr().out
    assert headline.main(["--model", "sigmoid", "--dataset", "fashion-mnist", "--profile", "paper",
                          "--out", str(tmp_path / "f")]) == 0
    assert "the paper's number is on mnist, not fashion-mnist" in capsys.readouterr().out


def test_adversarial_only_with_maxout(tmp_path, capsys):
    assert headline.main(["--model", "sigmoid", "--adversarial", "--out", str(tmp_path)]) == 2
    assert "--adversarial goes with --model mnist_pi only" in capsys.readouterr().err


def test_offers_no_chunk_size_it_would_not_use(tmp_path, capsys):
    # headline evaluates once (the model's own memory budget), it sweeps nothing
    with pytest.raises(SystemExit) as stop:
        headline.main(["--chunk-size", "5", "--out", str(tmp_path)])
    assert stop.value.code == 2
    assert "unrecognized arguments: --chunk-size" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
