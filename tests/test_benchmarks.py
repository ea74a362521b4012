"""The benchmark scripts run end to end on tiny sizes and print their ratios (their numbers are measured by hand)."""
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"

CASES = {
    "bench_mlp_epoch.py": (["--examples", "600", "--repeats", "1"], "ratio epoch/floor"),
    "bench_linear_path.py": (["--examples", "500", "--alphas", "3", "--repeats", "1"], "speed-up"),
    "bench_conv_layers.py": (["--batch", "1", "--repeats", "1"], "all three"),
    "bench_lstm_tokens.py": (["--windows", "2", "--repeats", "1"], "ratio training time / floor time"),
    "bench_eval_memory.py": (["--images", "6", "--alphas", "2"], "peak temporaries"),
}


@pytest.mark.parametrize("script", sorted(CASES))
def test_benchmark_runs_and_reports(script):
    arguments, expected = CASES[script]
    done = subprocess.run([sys.executable, script, *arguments], cwd=BENCHMARKS, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert expected in done.stdout
    assert "malloc keeps freed memory" in done.stdout or script == "bench_eval_memory.py"


def test_linear_path_benchmark_checks_that_the_sweeps_agree():
    done = subprocess.run([sys.executable, "bench_linear_path.py", "--examples", "300", "--alphas", "4",
                           "--repeats", "1"], cwd=BENCHMARKS, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    agreement = float(done.stdout.split("curves agree to ")[1].split()[0])
    assert agreement < 1e-5  # fast and plain sweeps give the same curve (float32)
