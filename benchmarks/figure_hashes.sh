#!/usr/bin/env bash
# Run every figure (quick profile, MNIST test set), the curve and the plane from one source tree, and hash their
# numbers: the check that a change which should not move any number moved none.
#
#   benchmarks/figure_hashes.sh SRC OUT DATA [PYTHON]
#
# SRC: a checkout of minilinpath (it is put first on PYTHONPATH); OUT: a new folder for the figures, their run
# cache and OUT/hashes.txt; DATA: a folder holding mnist-t10k/ (the MNIST test set) and ptb/ptb.valid.txt;
# PYTHON: an interpreter with minilinpath's dependencies (default: python). hashes.txt has one line per figure:
# the npz, the SHA-256 of the file and the SHA-256 of every array's name, dtype, shape and bytes. Run it on the
# commit before and after a change (e.g. two `git worktree`s), then `diff` the two hashes.txt. About 25 minutes
# on one core of a 2-core machine (OPENBLAS_NUM_THREADS=1 unless set), most of it training.
set -u
src=${1:?usage: figure_hashes.sh SRC OUT DATA [PYTHON]}; out=${2:?OUT folder}; data=${3:?DATA folder}
py=${4:-python}
mkdir -p "$out"
out=$(cd "$out" && pwd); src=$(cd "$src" && pwd); data=$(cd "$data" && pwd)
export PYTHONPATH=$src OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
mnist=(--dataset mnist-test --data-dir "$data/mnist-t10k" --runs-dir "$out/runs" --profile quick)
for f in ${ONLY:-fig1 fig2 fig3 fig4 fig5 fig6 fig7 fig8 fig9 fig10 fig11 fig12 fig13 curve plane}; do
  case $f in
    fig9|fig10|fig11|fig12) args=(--profile quick) ;;
    fig8) args=(--dataset ptb-valid --data-dir "$data/ptb" --runs-dir "$out/runs" --profile quick) ;;
    *) args=("${mnist[@]}") ;;
  esac
  started=$SECONDS
  (cd "$out" && "$py" -m minilinpath "$f" "${args[@]}" --out "$out/$f" > "$out/$f.log" 2>&1); rc=$?
  echo "$f rc=$rc $((SECONDS - started))s" | tee -a "$out/times.txt"
done
"$py" - "$out" > "$out/hashes.txt" <<'PY'
import glob
import hashlib
import os
import sys

import numpy as np

out = sys.argv[1]
for path in sorted(glob.glob(os.path.join(out, "*", "*.npz"))):
    if os.sep + "runs" + os.sep in path:
        continue
    with open(path, "rb") as fh:
        whole = hashlib.sha256(fh.read()).hexdigest()
    arrays = hashlib.sha256()
    with np.load(path, allow_pickle=False) as z:
        for name in sorted(z.files):
            a = z[name]
            for part in (name, str(a.dtype), str(a.shape)):
                arrays.update(part.encode())
            arrays.update(np.ascontiguousarray(a).tobytes())
    print(os.path.relpath(path, out), whole, arrays.hexdigest())
PY
echo "hashes: $out/hashes.txt"
