"""Figures 9-12 end to end: files written, numbers consistent, replotting never recomputes, clear CLI errors."""
import json

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
    monkeypatch.setattr(fig12, "RUNS", [(0.05, 0.0), (0.05, 0.9)])
    monkeypatch.setitem(fig12.STEPS, "quick", 120)
    assert fig12.main(["--out", str(tmp_path)]) == 0
    arrays, settings = outputs(tmp_path, "fig12")
    runs = settings["summary"]["runs"]
    assert len(runs) == 2 and all(r["final_coord_over_distance"] == pytest.approx(1.0, abs=0.02) for r in runs)
    assert runs[1]["max_residual"] > runs[0]["max_residual"]  # momentum strays further from the line
    assert arrays["lr0.05_mu0.0/coord"].shape == (121,)


def test_every_listed_figure_has_an_entry_point(capsys):
    import importlib

    from minilinpath.__main__ import FIGURES, main
    main()
    assert "fig13" in capsys.readouterr().out
    for number in FIGURES:
        assert callable(importlib.import_module(f"minilinpath.figures.fig{number}").main)
        assert importlib.util.find_spec(f"minilinpath.fig{number}") is not None
