"""Branching a run at epoch k (train(start=...)), the instability procedure, and ``minilinpath instability``."""
import csv
import json
from dataclasses import replace

import numpy as np
import pytest

from minilinpath import backend, models
from minilinpath.models import MLP
from minilinpath.optim import ExponentialDecay, MomentumAdjustor
from minilinpath.path.instability import instability
from minilinpath.train import Recipe, TrainState, describe_run, train
from minilinpath.trajfile import TrajectoryFile


def blobs(seed, n=240, d=10, c=3):
    centers = 2.0 * np.random.default_rng(0).standard_normal((c, d))
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, size=n)
    return (centers[y] + 3.0 * rng.standard_normal((n, d))).astype(np.float32), y


# overlapping classes, two hidden layers, dropout and a large step: the children of every k below end
# in places with a barrier between them (measured at k = 3: 0.08 in the training loss, 5% in its error)
MODEL = MLP(n_in=10, hidden=(16, 16), activation="relu", n_classes=3, init_ranges=(0.3, 0.3, 0.3),
            input_include=0.8, hidden_include=0.5, hidden_scale=2.0)
TRAIN, VALID = blobs(0), blobs(1, n=120)
# the learning rate falls with every update and the momentum rises with every epoch: a branch continues the
# parent only if it continues both counters
RECIPE = Recipe(batch_size=20, learning_rate=0.2, lr_schedule=ExponentialDecay(1.01, 1e-3), momentum=0.5,
                momentum_schedule=MomentumAdjustor(1, 5, 0.9), max_epochs=6, patience=None)


def rows(result):
    return TrajectoryFile(result.run_dir / "trajectory").rows()


def run(tmp_path, name, **kwargs):
    kwargs = {"recipe": RECIPE, "seed": 3, **kwargs}
    return train(MODEL, TRAIN, VALID, kwargs.pop("recipe"), tmp_path / name, progress=False, log=None, **kwargs)


def test_a_branch_with_the_parents_data_seed_is_the_parents_continuation(tmp_path):
    parent = run(tmp_path, "parent")
    to_k = run(tmp_path, "to2", recipe=replace(RECIPE, max_epochs=2))
    assert to_k.state.epoch == 2 and to_k.state.updates == 2 * 12
    np.testing.assert_array_equal(rows(to_k), rows(parent)[:3])  # the run to k is the parent's start
    child = run(tmp_path, "child", start=to_k.state)
    np.testing.assert_array_equal(rows(child), rows(parent)[2:])  # row 0 = the parent's row k, then bit for bit
    assert [h["momentum"] for h in child.history[1:]] == [h["momentum"] for h in parent.history[3:]]
    assert [h["lr"] for h in child.history[1:]] == [h["lr"] for h in parent.history[3:]]
    assert child.state.epoch == 6 and child.state.updates == 6 * 12 and len(child.history) == 5
    # the velocity and the counters matter: without them the branch leaves the parent's path at once
    for state in (TrainState(to_k.state.theta, np.zeros_like(to_k.state.theta), 2, 24),
                  TrainState(to_k.state.theta, to_k.state.velocity, 2, 0)):
        other = run(tmp_path, f"other-{state.updates}", start=state)
        assert not np.array_equal(rows(other)[1], rows(parent)[3])


def test_branches_with_other_data_seeds_start_together_and_part(tmp_path):
    to_k = run(tmp_path, "to2", recipe=replace(RECIPE, max_epochs=2))
    a, b = (run(tmp_path, f"child{d}", start=to_k.state, data_seed=d) for d in (7, 8))
    np.testing.assert_array_equal(rows(a)[0], rows(to_k)[2])
    np.testing.assert_array_equal(rows(a)[0], rows(b)[0])
    assert np.abs(rows(a)[1] - rows(b)[1]).max() > 1e-3


def test_the_start_is_part_of_the_fingerprint_and_refused_when_it_cannot_be(tmp_path):
    to_1 = run(tmp_path, "to1", recipe=replace(RECIPE, max_epochs=1))
    to_2 = run(tmp_path, "to2", recipe=replace(RECIPE, max_epochs=2))
    plain = describe_run(MODEL, RECIPE, 3, TRAIN, VALID)
    d1 = describe_run(MODEL, RECIPE, 3, TRAIN, VALID, start=to_1.state)
    d2 = describe_run(MODEL, RECIPE, 3, TRAIN, VALID, start=to_2.state)
    assert plain["start"] == "init(seed)" and d1["start"]["state"]["epoch"] == 1 and d1 != d2
    moved = TrainState(to_2.state.theta, to_2.state.velocity + 1e-3, 2, to_2.state.updates)
    assert describe_run(MODEL, RECIPE, 3, TRAIN, VALID, start=moved) != d2  # the velocity counts too
    from minilinpath.train import RunMismatchError
    run(tmp_path, "child", start=to_1.state)
    with pytest.raises(RunMismatchError, match="start"):
        run(tmp_path, "child", start=to_2.state)
    with pytest.raises(ValueError, match="max_epochs"):
        run(tmp_path, "late", start=TrainState(to_2.state.theta, to_2.state.velocity, 6, 72))
    with pytest.raises(ValueError, match="parameters"):
        run(tmp_path, "wrong", start=TrainState(to_2.state.theta[:5], to_2.state.velocity, 2, 24))
    with pytest.raises(ValueError, match="not both"):
        run(tmp_path, "both", start=to_2.state, theta_start=to_2.state.theta)


def test_an_interrupted_branch_resumes_to_the_same_numbers(tmp_path):
    to_k = run(tmp_path, "to2", recipe=replace(RECIPE, max_epochs=2))
    whole = run(tmp_path, "whole", start=to_k.state, data_seed=7)
    calls = {"n": 0}

    def interrupted(theta, batch, rng):
        calls["n"] += 1
        if calls["n"] == 12 + 5:  # in the middle of the branch's second epoch (12 batches an epoch)
            raise KeyboardInterrupt
        return MODEL.loss_and_grad(theta, batch, rng=rng)

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, "cut", start=to_k.state, data_seed=7, objective=interrupted)
    assert json.loads((tmp_path / "cut" / "history.json").read_text())[-1]["epoch"] == 1
    resumed = run(tmp_path, "cut", start=to_k.state, data_seed=7)
    np.testing.assert_array_equal(rows(resumed), rows(whole))
    assert resumed.state.updates == whole.state.updates == 72
    np.testing.assert_array_equal(resumed.state.velocity, whole.state.velocity)


def test_children_at_k0_share_the_init_and_are_ordinary_runs(tmp_path):
    result = instability(MODEL, TRAIN, VALID, RECIPE, 3, (7, 8), [0], tmp_path, progress=False, log=None)
    first, second = result.branches[0].children
    np.testing.assert_array_equal(first.theta_init, MODEL.init(3))
    np.testing.assert_array_equal(second.theta_init, MODEL.init(3))
    ordinary = run(tmp_path, "ordinary", data_seed=7)  # from init(seed), zero velocity, no update
    np.testing.assert_array_equal(rows(first), rows(ordinary))


def by_hand(theta1, theta2, alphas, batch):
    """max_a [J(theta(a)) - ((1 - a) J(theta1) + a J(theta2))] for the loss and the error, one alpha at a time."""
    points = [(1 - float(a)) * theta1 + float(a) * theta2 for a in alphas]  # Python floats keep float32
    loss = np.array([MODEL.loss(theta, batch) for theta in points])
    error = np.array([MODEL.error_rate(theta, batch) for theta in points])
    chord = lambda J: J[0] * (1 - alphas) + J[-1] * alphas  # noqa: E731
    return (loss - chord(loss)).max(), (error - chord(error)).max()


def test_the_instability_table(tmp_path):
    alphas = np.linspace(0, 1, 7).astype(np.float32)
    logs = []
    result = instability(MODEL, TRAIN, VALID, RECIPE, 3, (7, 8), [3, 0, 1], tmp_path, alphas=alphas,
                         progress=False, log=logs.append)
    table = result.table()
    assert [r["k"] for r in table] == [0, 1, 3] and not result.warnings
    for row in table:
        assert set(row) == {"k", "barrier_loss_train", "barrier_loss_valid", "barrier_error_train",
                            "barrier_error_valid", "child_valid_errors", "distance"}
        assert all(row[f"barrier_{q}"] >= 0 for q in ("loss_train", "loss_valid", "error_train", "error_valid"))
    branch = result.branches[2]  # k = 3
    theta1, theta2 = (c.theta_last for c in branch.children)
    for split, batch in (("train", TRAIN), ("valid", VALID)):
        loss, error = by_hand(theta1, theta2, np.asarray(alphas, dtype=np.float64), batch)
        assert loss > 0.01 and error > 0.01  # a real barrier, not the zero of a convex line
        np.testing.assert_allclose(table[2][f"barrier_loss_{split}"], loss, rtol=1e-4, atol=1e-6)
        assert table[2][f"barrier_error_{split}"] == pytest.approx(error, abs=1e-12)
    assert table[2]["distance"] == pytest.approx(float(np.linalg.norm(theta1.astype(np.float64) - theta2)), rel=1e-5)
    # each child branched from the parent's state at k: its row 0 is the parent's row k
    parent = TrajectoryFile(next(tmp_path.glob("run-parent-to3-*")) / "trajectory").rows()
    for branch in result.branches:
        for child in branch.children:
            np.testing.assert_array_equal(rows(child)[0], parent[branch.k])
            assert child.state.epoch == RECIPE.max_epochs
    # a rerun trains nothing: every run comes from the cache
    logs.clear()
    again = instability(MODEL, TRAIN, VALID, RECIPE, 3, (7, 8), [0, 1, 3], tmp_path, alphas=alphas,
                        progress=False, log=logs.append)
    assert not any(line.startswith("epoch") for line in logs)
    assert sum("already trained" in line for line in logs) == 2 + 6
    assert again.table() == table


def test_the_procedure_refuses_what_cannot_work(tmp_path):
    with pytest.raises(ValueError, match="different data seeds"):
        instability(MODEL, TRAIN, VALID, RECIPE, 3, (7, 7), [0], tmp_path, progress=False, log=None)
    with pytest.raises(ValueError, match="every k"):
        instability(MODEL, TRAIN, VALID, RECIPE, 3, (7, 8), [0, 6], tmp_path, progress=False, log=None)


@pytest.fixture
def digits(tmp_path, monkeypatch):
    monkeypatch.setattr(backend, "_selected", None)
    monkeypatch.delenv("MINILINPATH_DEVICE", raising=False)
    rng = np.random.default_rng(0)
    prototypes = rng.random((10, 784))

    def split(n):
        y = rng.integers(0, 10, size=n)
        return np.clip(prototypes[y] + 0.3 * rng.standard_normal((n, 784)), 0, 1).astype(np.float32), y
    (Xt, yt), (Xv, yv) = split(300), split(100)
    np.savez(tmp_path / "digits.npz", X_train=Xt, y_train=yt, X_valid=Xv, y_valid=yv)
    return ["--dataset", f"npz:{tmp_path / 'digits.npz'}", "--runs-dir", str(tmp_path / "runs"),
            "--out", str(tmp_path / "out")]


def test_the_command_writes_the_figure_the_numbers_and_the_table(digits, tmp_path, capsys):
    from minilinpath.cli import main

    argv = ["instability", *digits, "--k", "0", "1", "--epochs", "2", "--alphas", "5"]
    assert main(argv) == 0
    out = tmp_path / "out"
    summary = json.loads((out / "instability.json").read_text())["summary"]
    assert summary["ks"] == [0, 1] and summary["model"] == "relu" and summary["data_seeds"] == [1, 2]
    with np.load(out / "instability.npz", allow_pickle=False) as f:
        assert f["table/k"].tolist() == [0, 1] and f["k1/alphas"].size == 5
        np.testing.assert_array_equal(f["table/barrier_error_valid"],
                                      [r["barrier_error_valid"] for r in summary["table"]])
        theta1, theta2 = f["k1/theta0"], f["k1/theta1"]
    model = models.get("relu_quick")
    assert theta1.shape == (model.layout.size,) and not np.array_equal(theta1, theta2)
    with open(out / "instability.csv") as fh:
        table = list(csv.DictReader(fh))
    assert [int(r["k"]) for r in table] == [0, 1]
    assert float(table[1]["barrier_loss_train"]) == pytest.approx(summary["table"][1]["barrier_loss_train"])
    assert (out / "instability.png").stat().st_size > 10_000
    printed = capsys.readouterr().out
    assert "error valid" in printed and "instability.csv" in printed
    # --replot draws again from the saved numbers and rewrites the table; bad arguments are one line
    (out / "instability.csv").unlink()
    assert main(["instability", *digits, "--replot"]) == 0 and (out / "instability.csv").exists()
    assert main(["instability", *digits, "--data-seeds", "3", "3"]) == 2
    assert main(["instability", *digits, "--k", "5", "--epochs", "5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("error: ") for line in err)
