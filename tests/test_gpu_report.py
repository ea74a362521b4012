"""benchmarks/gpu_report.py: the report the GPU check leaves for docs/REPRODUCTION.md."""
import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_report_module():
    spec = importlib.util.spec_from_file_location("gpu_report", ROOT / "benchmarks" / "gpu_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_folder(tmp_path, rc, seconds, with_json=True):
    (tmp_path / "device.txt").write_text("NVIDIA H200, 143771 MiB, 570.1\ncupy 13.6 numpy 2.3\n")
    (tmp_path / "pytest_gpu.log").write_text("collected 20\n==== 20 passed in 9.1s ====\n")
    (tmp_path / "pytest_all.log").write_text("==== 510 passed, 2 skipped in 80s ====\n")
    (tmp_path / "bench_gpu.txt").write_text("mlp epoch: 0.91 s\n")
    (tmp_path / "paper_figure.cmd").write_text("python3 -m minilinpath.fig1 --profile paper\n")
    (tmp_path / "paper_figure.status").write_text(f"{rc} {seconds}\n")
    (tmp_path / "paper_figure.log").write_text("training...\nerror: something went wrong\n")
    if with_json:
        (tmp_path / "paper-figure").mkdir()
        summary = {"metrics": {"maxout": {"monotone": True, "largest_bump": 0.0, "local_minima": [1.0],
                                          "argmin_alpha": 1.0, "valid_error_at_1": 0.0123, "J_first": 2.3}},
                   "warnings": ["a warning"]}
        (tmp_path / "paper-figure" / "fig1.json").write_text(json.dumps({"summary": summary}))


def test_a_finished_paper_figure_is_reported_with_its_metrics(tmp_path):
    check_folder(tmp_path, 0, 312)
    text = load_report_module().report(tmp_path)
    assert "NVIDIA H200" in text and "20 passed in 9.1s" in text and "510 passed" in text
    assert "mlp epoch: 0.91 s" in text
    assert "- result: finished after 312 s" in text
    assert '"valid_error_at_1": 0.0123' in text and "J_first" not in text
    assert "- warning: a warning" in text


def test_a_timed_out_or_failed_figure_shows_its_log(tmp_path):
    check_folder(tmp_path, 124, 420, with_json=False)
    text = load_report_module().report(tmp_path)
    assert "stopped by the time limit after 420 s" in text and "error: something went wrong" in text
    (tmp_path / "paper_figure.status").write_text("1 5\n")
    assert "failed (exit 1) after 5 s" in load_report_module().report(tmp_path)


def test_usage_error_for_a_missing_folder(tmp_path, capsys):
    assert load_report_module().main([str(tmp_path / "nope")]) == 2
    assert "usage:" in capsys.readouterr().err
