"""Figures 9-12 end to end (files written, numbers consistent, replotting never recomputes, clear CLI errors),
and docs/make_pictures.sh."""
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import analytic
from minilinpath import backend
from minilinpath.figures import fig9, fig10, fig11, fig12
from minilinpath.models.deep_linear import toy_problem
from minilinpath import models


@pytest.fixture(autouse=True)
def cpu_backend(monkeypatch):
    monkeypatch.setattr(backend, "_selected", None)
    monkeypatch.delenv("MINILINPATH_DEVICE", raising=False)


def outputs(out, name):
    with np.load(out / f"{name}.npz", allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    return arrays, json.loads((out / f"{name}.json").read_text())


def test_fig9_writes_figure_and_numbers(tmp_path, capsys):
    assert fig9.main(["--out", str(tmp_path), "--seed", "3"]) == 0
    arrays, settings = outputs(tmp_path, "fig9")
    assert (tmp_path / "fig9.png").stat().st_size > 20_000
    # the endpoints are saved, and J at both ends is the model's loss there
    model, batch = models.get("deep_linear"), toy_problem()
    J = np.polynomial.Polynomial(arrays["polynomial"])
    assert J(0.0) == pytest.approx(model.loss(arrays["theta0"], batch), rel=1e-12)
    assert J(1.0) == pytest.approx(model.loss(arrays["theta1"], batch), abs=1e-15)
    assert abs(J(1.0)) < 1e-18  # theta1 is a solution
    np.testing.assert_allclose(arrays["J_train"], J(arrays["alphas"]), rtol=1e-12)
    kinds = [p["kind"] for p in settings["summary"]["stationary_points"]]
    assert kinds.count("minimum") == 1  # one minimum on the plotted segment, as the paper says
    assert settings["summary"]["max_abs_closed_form_minus_sampled"] < 1e-12
    assert settings["arguments"]["seed"] == 3
    assert "stationary points" in capsys.readouterr().out
    # both the straight line and the gradient descent path are visible: the path as dots, the line drawn over them
    gd = arrays["gd_path"]
    u = (arrays["theta1"] - arrays["theta0"]) / np.linalg.norm(arrays["theta1"] - arrays["theta0"])
    d = gd - arrays["theta0"]
    assert settings["summary"]["gd_max_distance_from_line"] == pytest.approx(
        np.max(np.linalg.norm(d - np.outer(d @ u, u), axis=1)), rel=1e-9)
    fig = fig9.plot(arrays, settings["summary"])
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    path = next(v for k, v in lines.items() if k.startswith("gradient descent"))
    straight = lines["straight line"]
    assert straight.get_zorder() > path.get_zorder() and path.get_marker() == "o" and path.get_linestyle() == "None"


def test_fig9_replot_never_recomputes(tmp_path, monkeypatch):
    assert fig9.main(["--out", str(tmp_path)]) == 0
    before = (tmp_path / "fig9.npz").read_bytes()
    monkeypatch.setattr(fig9, "compute", lambda args: pytest.fail("replot must not compute"))
    assert fig9.main(["--out", str(tmp_path), "--replot"]) == 0
    assert (tmp_path / "fig9.npz").read_bytes() == before


def test_replot_without_numbers_is_a_clear_error(tmp_path, capsys):
    assert fig9.main(["--out", str(tmp_path / "empty"), "--replot"]) == 2
    assert "run without --replot first" in capsys.readouterr().err


def test_help_exits_cleanly(capsys):
    with pytest.raises(SystemExit) as info:
        fig9.main(["--help"])
    assert info.value.code == 0
    assert "--profile" in capsys.readouterr().out


@pytest.mark.skipif(backend.gpu_available(), reason="this machine has a GPU")
def test_gpu_request_without_gpu(tmp_path, capsys):
    assert fig12.main(["--out", str(tmp_path), "--device", "gpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and ("CuPy" in err or "CUDA" in err) and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_cpu_only_figures_refuse_the_gpu(tmp_path, capsys, monkeypatch, how):
    """fig9 and fig10 compute on the CPU only: asking for the GPU is refused, never run on the CPU."""
    argv = ["--out", str(tmp_path)]
    if how == "flag":
        argv += ["--device", "gpu"]
    else:
        monkeypatch.setenv("MINILINPATH_DEVICE", "gpu")
    for figure in (fig9, fig10):
        assert figure.main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: this figure computes on the CPU only") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_fig10_barrier_and_far_point(tmp_path):
    assert fig10.main(["--out", str(tmp_path)]) == 0
    arrays, settings = outputs(tmp_path, "fig10")
    s = settings["summary"]
    a, b = np.array(s["solution_a"]), np.array(s["solution_b"])
    assert a.prod() == pytest.approx(1.0, abs=1e-9) and b.prod() == pytest.approx(1.0, abs=1e-9)
    assert np.sign(a[0]) == np.sign(b[0])  # one connected branch of solutions
    J = analytic.scalar_path_polynomial(a, b)
    grid = np.linspace(0, 1, 20001)
    assert s["barrier_mean"]["height"] == pytest.approx(J(grid).max() - 0.5 * (J(0) + J(1)), rel=1e-6)
    assert s["barrier_mean"]["height"] > 1e-3
    assert len(s["far_line_minima_in_0_1"]) == 1 and s["far_line_minima_in_0_1"][0] == pytest.approx(1.0)
    assert np.linalg.norm(arrays["random/theta0"]) == pytest.approx(fig10.FAR_NORM)


def test_fig11_shapes_converge_with_dimension(tmp_path):
    assert fig11.main(["--out", str(tmp_path), "--max-dim", "10000"]) == 0
    arrays, settings = outputs(tmp_path, "fig11")
    rows = settings["summary"]["per_dim"]
    assert [r["dim"] for r in rows] == [2, 10, 100, 1000, 10000]
    gaps = [r["mean_gap_to_largest_dim"] for r in rows]
    assert gaps[2] > gaps[3] > gaps[4] == 0.0  # closer to the high-dimensional shape as d grows
    r = arrays["d10000/residual"]
    assert r[0] == 0.0 and r[900] == pytest.approx(0.0, abs=1e-8)


def test_fig12_runs_end_at_the_solution(tmp_path, monkeypatch):
    monkeypatch.setattr(fig12, "RUNS", [(0.05, 0.0), (0.002, 0.9)])
    monkeypatch.setitem(fig12.TOLERANCE, "quick", 0.05)
    assert fig12.main(["--out", str(tmp_path)]) == 0
    arrays, settings = outputs(tmp_path, "fig12")
    s = settings["summary"]
    runs = s["runs"]
    assert len(runs) == 2
    for run in runs:  # each run stopped at its first step within 5% of the solution
        c, r = arrays[f"lr{run['lr']}_mu{run['momentum']}/coord"], arrays[f"lr{run['lr']}_mu{run['momentum']}/residual"]
        gap = np.hypot(s["distance"] - c, r)  # distance to the solution (start-to-solution line + residual)
        assert gap[-1] <= 0.05 * s["distance"] + 1e-9 and np.all(gap[:-1] > 0.05 * s["distance"])
        assert run["steps"] == c.size - 1 and run["final_coord_over_distance"] == pytest.approx(1.0, abs=0.05)
        assert run["max_coord_over_distance"] <= 1.0  # the simple shape: no overshoot past the solution
    assert runs[1]["max_residual"] > runs[0]["max_residual"]  # momentum strays further from the line
    fig = fig12.plot(arrays, s)
    title = fig.axes[0].get_title()
    assert "quick profile" in title and "linear regression" in title and "100,000 parameters" in title
    assert any("do" in t.get_text() and "not state" in t.get_text() for t in fig.texts)


def test_fig12_default_runs_reach_the_solution_without_passing_it():
    """The figure's own settings, checked by an independent computation: in the eigenbasis of Sxx the quadratic
    decouples, so each run is a few vector recurrences. Every run must come within the quick tolerance within
    MAX_STEPS and never get past the solution along the line (the paper's "very simple shape")."""
    moments, solution, start = fig12.convex_problem(0)
    lam, U = np.linalg.eigh(np.asarray(moments.Sxx))
    error0 = U.T @ (start - solution).reshape(fig12.D_IN, fig12.D_OUT)  # theta - W* in the eigenbasis
    curvature = 2 * lam[:, None]  # J = tr(E^T Sxx E) + const: the Hessian is 2 Sxx on every output column
    distance = np.linalg.norm(error0)
    for lr, mu in fig12.RUNS:
        error, velocity = error0.copy(), np.zeros_like(error0)
        for _ in range(fig12.MAX_STEPS):
            velocity = mu * velocity - lr * curvature * error
            error += velocity
            coord = np.sum((error0 - error) * error0) / distance  # projection of theta - start on the line
            assert coord <= distance, (lr, mu)
            if np.linalg.norm(error) <= fig12.TOLERANCE["quick"] * distance:
                break
        else:
            pytest.fail(f"epsilon {lr}, mu {mu} does not reach the solution in {fig12.MAX_STEPS} steps")


def test_fig11_title_names_the_profile(tmp_path):
    assert fig11.main(["--out", str(tmp_path), "--max-dim", "100"]) == 0
    arrays, settings = outputs(tmp_path, "fig11")
    text = fig11.plot(arrays, settings["summary"])._suptitle.get_text()
    assert "quick profile" in text and "random walks" in text and "residual" in text


def test_every_listed_figure_has_an_entry_point(capsys):
    import importlib

    from minilinpath.__main__ import FIGURES, main
    main()
    assert "fig13" in capsys.readouterr().out
    for number in FIGURES:
        assert callable(importlib.import_module(f"minilinpath.figures.fig{number}").main)
        assert importlib.util.find_spec(f"minilinpath.fig{number}") is not None


SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "make_pictures.sh"


def test_make_pictures_covers_every_picture_in_docs():
    import re

    from minilinpath.__main__ import FIGURES
    names = set(re.findall(r"^\s*picture (\w+) ", SCRIPT.read_text(), flags=re.M))
    assert names >= {f"fig{n}" for n in FIGURES} | {"curve", "instability", "study"}
    assert {png.stem for png in SCRIPT.parent.glob("*.png")} <= names  # nothing in docs/ that it cannot remake


def test_make_pictures_makes_one_picture_and_skips_without_data(tmp_path):
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in ("DATA_DIR", "FASHION_DIR", "CIFAR_DIR", "PTB_DIR")}
    env["PYTHON"] = sys.executable  # the interpreter running the tests, whatever python is first on PATH
    docs = tmp_path / "docs"
    docs.mkdir()
    done = subprocess.run(["bash", str(SCRIPT), "--only", "fig9 fig1", "--docs", str(docs), "--work",
                           str(tmp_path / "work")], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "skip fig1: no MNIST test set" in done.stdout and "made: fig9" in done.stdout
    assert [p.name for p in docs.iterdir()] == ["fig9.png"] and (docs / "fig9.png").stat().st_size > 20_000
    assert (tmp_path / "work" / "fig9" / "fig9.npz").exists()  # the numbers stay in the work folder
    bad = subprocess.run(["bash", str(SCRIPT), "--mnist", str(tmp_path / "nope")], capture_output=True, text=True,
                         env=env, timeout=60)
    assert bad.returncode == 2 and bad.stderr.startswith("error: --mnist") and bad.stderr.count("\n") == 1
