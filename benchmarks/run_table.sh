#!/bin/bash
# Measure every row of the speed table in benchmarks/README.md, one benchmark after another, into a folder.
#
#   benchmarks/run_table.sh OUT_DIR [PYTHON] [FASHION_MNIST_DIR]
#
# PYTHON: an interpreter that can import minilinpath, and PyTorch for the comparisons (default: python).
# FASHION_MNIST_DIR: the four Fashion-MNIST .gz files for the Figure 6 row (default: Debian's
# dataset-fashion-mnist folder); the row is skipped when the folder is missing.
# Nothing else should run on the machine meanwhile: only ratios measured in the same run are comparable,
# and the Figure 6 row is a wall-clock time. About 30 minutes on a 2-core CPU.
# OUT_DIR must be new or empty: the script writes its files there and never replaces anything already in it.
set -euo pipefail
out=${1:?usage: benchmarks/run_table.sh OUT_DIR [PYTHON] [FASHION_MNIST_DIR]}
py=${2:-python}
fashion=${3:-/usr/share/datasets/fashion-mnist}
here=$(cd "$(dirname "$0")" && pwd)
if [ -e "$out" ] && [ -n "$(ls -A "$out" 2>/dev/null)" ]; then
  echo "run_table.sh: $out is not empty; give a new folder (nothing in it is replaced)." >&2
  exit 2
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
trap 'echo "run_table.sh: the step at line $LINENO failed; its output is in the .txt files of $out" >&2' ERR
cd "$here"
"$py" bench_mlp_epoch.py --repeats 5 > "$out/mlp_epoch.txt" 2>&1
"$py" bench_linear_path.py --examples 60000 --alphas 50 --repeats 3 > "$out/linear_path.txt" 2>&1
"$py" bench_conv_layers.py --repeats 5 > "$out/conv_layers.txt" 2>&1
"$py" bench_lstm_tokens.py --repeats 5 > "$out/lstm_tokens.txt" 2>&1
"$py" bench_eval_memory.py --images 1000 --alphas 2 > "$out/eval_memory.txt" 2>&1
if [ -d "$fashion" ]; then
  cd "$here/.."
  for round in 1 2 3; do  # cold: a fresh run cache every time, so the network is trained each round
    SECONDS=0  # each round trains into its own new run cache and output folder
    "$py" -m minilinpath.fig6 --dataset fashion-mnist --data-dir "$fashion" --runs-dir "$out/fig6-runs$round" \
      --out "$out/fig6-out$round" > "$out/fig6_round$round.txt" 2>&1
    echo "fig6 quick cold, round $round: $SECONDS s" | tee -a "$out/fig6.txt"
  done
fi
grep -h -E "ratio|faster|speed-up|peak|tokens/s|all three|round" "$out"/*.txt
