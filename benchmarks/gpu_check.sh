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

# One paper-profile figure end to end, within a time limit (issue: reproduction report). Figure 1 at the paper's
# sizes and recipes (early stopping, patience 100, both maxout networks) on the MNIST test set split 8,000/2,000
# when the data is beside the checkout; else Figure 12 at the paper profile (needs no data).
data="${MINILINPATH_TEST_DATA:-../shared/data}"
limit="${PAPER_FIGURE_LIMIT:-420}"
if [ -f "$data/t10k-images-idx3-ubyte.gz" ] || [ -f "$data/t10k-images-idx3-ubyte" ]; then
  paper_cmd=(python3 -m minilinpath.fig1 --profile paper --dataset mnist-test --data-dir "$data" --device gpu
             --runs-dir "$out/runs" --out "$out/paper-figure")
else
  paper_cmd=(python3 -m minilinpath.fig12 --profile paper --device gpu --out "$out/paper-figure")
fi
start=$(date +%s)
timeout "$limit" "${paper_cmd[@]}" > "$out/paper_figure.log" 2>&1
paper_rc=$?
echo "${paper_cmd[*]}" > "$out/paper_figure.cmd"
echo "$paper_rc $(( $(date +%s) - start ))" > "$out/paper_figure.status"
python3 benchmarks/gpu_report.py "$out" > "$out/REPORT.md"
echo "report: $out/REPORT.md"
