#!/usr/bin/env bash
# Regenerate every picture in docs/ from the current code, with the quick profile.
#
#   docs/make_pictures.sh [--mnist DIR] [--fashion DIR] [--ptb DIR] [--cifar DIR]
#                         [--work DIR] [--runs DIR] [--docs DIR] [--only "fig9 fig12 ..."] [--dry-run]
#
# Data (never downloaded here; a picture whose data is not given is skipped, with a message):
#   --mnist DIR    or $DATA_DIR:    the MNIST test set in IDX format (t10k-images-idx3-ubyte[.gz],
#                                   t10k-labels-idx1-ubyte[.gz]); used as --dataset mnist-test (8,000 / 2,000)
#                                   by Figures 1-5, 7, 13 and by curve, instability and study
#   --fashion DIR  or $FASHION_DIR: Fashion-MNIST (IDX); Figure 6's convolutional network when --cifar is not given
#                                   (with neither, Figure 6 runs on the MNIST test set)
#   --cifar DIR    or $CIFAR_DIR:   CIFAR-10 (python version); Figure 6 as in the paper
#   --ptb DIR      or $PTB_DIR:     a folder with ptb.valid.txt; Figure 8 as --dataset ptb-valid
# Figures 9-12 need no data.
#
# Each command writes its PNG, npz and json into --work (default: $WORK_DIR or ~/.cache/minilinpath/pictures;
# trained models are cached in --runs, default $RUNS_DIR or <work>/runs, and reused on a second call); only the
# PNG is then copied into docs/ (or --docs DIR), replacing the one there (that is what this script is for: the
# pictures in docs/ are generated files). --only runs the named pictures alone; --dry-run prints the commands.
# With OPENBLAS_NUM_THREADS unset it runs on one thread per process. PYTHON=/path/to/python picks the interpreter
# (default: the minilinpath command on PATH, else python3).
# Exit status: 0 when every picture whose data was given was made, 1 otherwise (the failures are listed).
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
docs=$here
mnist=${DATA_DIR:-}
fashion=${FASHION_DIR:-}
cifar=${CIFAR_DIR:-}
ptb=${PTB_DIR:-}
work=${WORK_DIR:-$HOME/.cache/minilinpath/pictures}
runs=${RUNS_DIR:-}
only=""
dry_run=0

usage() { sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case $1 in
        --mnist) mnist=${2:?--mnist needs a folder}; shift 2 ;;
        --fashion) fashion=${2:?--fashion needs a folder}; shift 2 ;;
        --cifar) cifar=${2:?--cifar needs a folder}; shift 2 ;;
        --ptb) ptb=${2:?--ptb needs a folder}; shift 2 ;;
        --work) work=${2:?--work needs a folder}; shift 2 ;;
        --runs) runs=${2:?--runs needs a folder}; shift 2 ;;
        --docs) docs=${2:?--docs needs a folder}; shift 2 ;;
        --only) only=${2:?--only needs a list of picture names}; shift 2 ;;
        --dry-run) dry_run=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "error: unknown argument $1 (see $0 --help)" >&2; exit 2 ;;
    esac
done
runs=${runs:-$work/runs}
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}

for pair in "--mnist (or DATA_DIR):$mnist" "--fashion (or FASHION_DIR):$fashion" "--cifar (or CIFAR_DIR):$cifar" \
            "--ptb (or PTB_DIR):$ptb" "--docs:$docs"; do
    flag=${pair%%:*}; folder=${pair#*:}
    if [ -n "$folder" ] && [ ! -d "$folder" ]; then
        echo "error: $flag $folder is not a folder (see $0 --help)" >&2
        exit 2
    fi
done

# The interpreter: $PYTHON when set (the tests pass the one running them), else the minilinpath command on PATH,
# else the first python3 / python on PATH.
if [ -n "${PYTHON:-}" ]; then
    run_minilinpath() { "$PYTHON" -m minilinpath "$@"; }
elif command -v minilinpath > /dev/null 2>&1; then
    run_minilinpath() { minilinpath "$@"; }
elif command -v python3 > /dev/null 2>&1; then
    run_minilinpath() { python3 -m minilinpath "$@"; }
else
    run_minilinpath() { python -m minilinpath "$@"; }
fi

made=(); skipped=(); failed=()

# picture NAME NEEDED-FOLDER WHAT-IS-MISSING COMMAND ARGS...: run the command into $work/NAME, copy NAME.png to docs/
picture() {
    local name=$1 needed=$2 missing=$3
    shift 3
    if [ -n "$only" ] && [[ " $only " != *" $name "* ]]; then
        return
    fi
    if [ "$needed" = "-" ]; then
        skipped+=("$name"); echo "skip $name: $missing"; return
    fi
    local out="$work/$name"
    echo "== $name: minilinpath $* --profile quick --out $out"
    if [ "$dry_run" = 1 ]; then
        return
    fi
    local started=$SECONDS
    if run_minilinpath "$@" --profile quick --out "$out"; then
        local png=$out/$1.png  # a command writes <command>.png into its --out
        if [ -f "$png" ]; then
            cp "$png" "$docs/$name.png.tmp" && mv "$docs/$name.png.tmp" "$docs/$name.png"
            made+=("$name"); echo "   -> docs/$name.png [$((SECONDS - started))s]"
        else
            failed+=("$name (no $png)"); echo "   $name wrote no $png"
        fi
    else
        failed+=("$name (exit status $?)"); echo "   $name failed"
    fi
}

need() { if [ -n "$1" ]; then echo "$1"; else echo "-"; fi; }
mnist_data=(--dataset mnist-test --data-dir "$mnist" --runs-dir "$runs")
no_mnist="no MNIST test set (give --mnist DIR or DATA_DIR)"

# the paper's figures
picture fig1 "$(need "$mnist")" "$no_mnist" fig1 "${mnist_data[@]}"
picture fig2 "$(need "$mnist")" "$no_mnist" fig2 "${mnist_data[@]}"
picture fig3 "$(need "$mnist")" "$no_mnist" fig3 "${mnist_data[@]}"
picture fig4 "$(need "$mnist")" "$no_mnist" fig4 "${mnist_data[@]}"
picture fig5 "$(need "$mnist")" "$no_mnist" fig5 "${mnist_data[@]}"
if [ -n "$cifar" ]; then
    picture fig6 "$cifar" "" fig6 --dataset cifar10 --data-dir "$cifar" --runs-dir "$runs"
elif [ -n "$fashion" ]; then
    picture fig6 "$fashion" "" fig6 --dataset fashion-mnist --data-dir "$fashion" --runs-dir "$runs"
else
    picture fig6 "$(need "$mnist")" "no data for it (give --cifar DIR, --fashion DIR or --mnist DIR)" \
        fig6 "${mnist_data[@]}"
fi
picture fig7 "$(need "$mnist")" "$no_mnist" fig7 "${mnist_data[@]}"
picture fig8 "$(need "$ptb")" "no Penn Treebank text (give --ptb DIR or PTB_DIR)" \
    fig8 --dataset ptb-valid --data-dir "$ptb" --runs-dir "$runs"
picture fig9 . "" fig9
picture fig10 . "" fig10
picture fig11 . "" fig11
picture fig12 . "" fig12
picture fig13 "$(need "$mnist")" "$no_mnist" fig13 "${mnist_data[@]}"

# beyond the paper (commands added by the reproduction report)
picture curve "$(need "$mnist")" "$no_mnist" curve "${mnist_data[@]}"
picture instability "$(need "$mnist")" "$no_mnist" instability "${mnist_data[@]}"
picture study "$(need "$mnist")" "$no_mnist" study "${mnist_data[@]}"
picture study_optimizer_bn "$(need "$mnist")" "$no_mnist" study --optimizer sgd adam --batchnorm no yes --seeds 4 \
    --epochs 10 --alphas 41 --executor local "${mnist_data[@]}"

echo
echo "made: ${made[*]:-none}"
[ ${#skipped[@]} -gt 0 ] && echo "skipped (data not given): ${skipped[*]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "failed: ${failed[*]}"
    exit 1
fi
exit 0
