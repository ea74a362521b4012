#!/usr/bin/env bash
# The GPU checks, in one go, for a machine with CuPy and a CUDA device (used on the lent GPU machine).
# Usage: bash benchmarks/gpu_check.sh [OUTDIR]   (logs and figures go to OUTDIR, default ./gpu-check)
set -uo pipefail
out="${1:-gpu-check}"
mkdir -p "$out"
export PYTHONUNBUFFERED=1
# Install without touching the machine's packages (it may have no network): use the checkout as it is.
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/device.txt"
python3 -c "import cupy, numpy, scipy, matplotlib; print('cupy', cupy.__version__, 'numpy', numpy.__version__)" \
  | tee -a "$out/device.txt"
python3 -m pytest -m gpu -v -p no:cacheprovider 2>&1 | tee "$out/pytest_gpu.log"
python3 -m pytest -q -p no:cacheprovider 2>&1 | tee "$out/pytest_all.log" | tail -3
python3 benchmarks/bench_mlp_epoch.py --device gpu --repeats 3 2>&1 | tee "$out/bench_gpu.txt"
python3 benchmarks/bench_mlp_epoch.py --device cpu --repeats 1 2>&1 | tee "$out/bench_cpu.txt"
python3 benchmarks/bench_linear_path.py --device gpu 2>&1 | tee -a "$out/bench_gpu.txt"
python3 benchmarks/bench_lstm_tokens.py --device gpu 2>&1 | tee -a "$out/bench_gpu.txt"
python3 benchmarks/bench_conv_layers.py --device gpu 2>&1 | tee -a "$out/bench_gpu.txt"
for n in 11 12; do python3 -m minilinpath.fig$n --device gpu --out "$out" 2>&1 | tail -12 | tee -a "$out/figures_gpu.txt"; done
