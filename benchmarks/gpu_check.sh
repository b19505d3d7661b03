#!/usr/bin/env bash
# The GPU check of issue #31: one prepared run for a lent GPU machine (docs/running/gpu.md).
#
# Why one script: a lent machine is held for minutes, so everything it should do is decided here,
# dry-run on a CPU (--dry-run), and on the GPU it is only run. Each step runs under `timeout` with
# what is left of the budget, so the script ends before the device tool's limit and $OUT holds
# what it did. One failing step does not stop the next.
#
#   benchmarks/gpu_check.sh [--dry-run] [BUDGET_SECONDS]      (or GPU_CHECK_BUDGET; default 540)
#
# Steps: install, device, cuda_tests, testbeds (`pytest testbeds -n 4 --stitch-device cuda`, default
# scale, cold model cache), pipeline (benchmarks/pipeline.py), mnist (`--stitch-scale small` on the
# MNIST folder GPU_CHECK_MNIST, default data/mnist, with --stitch-resume-able results).
# $OUT (default: a temp dir) gets at most 8 files, the device tool's limit: <step>.log for each step,
# summary.txt (one line per step: name, exit status or "skipped", seconds) and results.tar.gz (each
# step's results and reports, the pipeline's markdown table). The model cache stays in a work dir.
#
# --dry-run (or GPU_CHECK_DEVICE=cpu): device cpu, pip install --dry-run (the shared venv is left
# alone), a tiny subset (GPU_CHECK_SUBSET), the MNIST tier at smoke, the pipeline at its smallest.
# Caps: testbeds at most 45% of the budget (GPU_CHECK_TESTBEDS_S), pipeline 20% (GPU_CHECK_PIPELINE_S),
# so a slow step leaves the later ones their turn; the MNIST tier gets what is left.
# Other knobs: PYTHON (python3), GPU_CHECK_WORKERS (4; 2 in a dry run), GPU_CHECK_WORK (work dir),
# GPU_CHECK_RESUME_FROM (an earlier results.tar.gz: the MNIST tier resumes from its rows),
# GPU_CHECK_SKIP (step names, e.g. "cuda_tests pipeline", for a rerun; keep install on a bare machine).
set -euo pipefail

dry=0
budget=${GPU_CHECK_BUDGET:-540}
for arg in "$@"; do
    case $arg in
        --dry-run) dry=1 ;;
        ''|*[!0-9]*) echo "gpu_check.sh: unknown argument '$arg'; expected --dry-run or a budget in seconds" >&2; exit 2 ;;
        *) budget=$arg ;;
    esac
done
device=${GPU_CHECK_DEVICE:-cuda}
[ "$device" = cpu ] && dry=1
[ "$dry" = 1 ] && device=cpu

cd "$(dirname "$0")/.."
root=$PWD
py=${PYTHON:-python3}
OUT=${OUT:-$(mktemp -d /tmp/gpu_check_out.XXXXXX)}
mkdir -p "$OUT"
work=${GPU_CHECK_WORK:-$(mktemp -d /tmp/gpu_check_work.XXXXXX)}
mkdir -p "$work"
mnist=${GPU_CHECK_MNIST:-data/mnist}
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export STITCHTEST_CACHE="$work/cache"   # cold: a fresh folder each run
reserve=${GPU_CHECK_RESERVE:-15}        # seconds kept back for the kill grace and packing
start=$SECONDS
: >"$OUT/summary.txt"

if [ "$dry" = 1 ]; then
    workers=${GPU_CHECK_WORKERS:-2}
    read -r -a subset <<<"${GPU_CHECK_SUBSET:-testbeds/random_controls/test_random_controls.py -k self_stitch --stitch-seeds 1 --stitch-methods dm,linear_cka}"
    mnist_scale=${GPU_CHECK_MNIST_SCALE:-smoke}
    pipeline_args=(--cells 1 --objectives dm --steps 5)
    pip_args=(--dry-run)
else
    workers=${GPU_CHECK_WORKERS:-4}
    read -r -a subset <<<"${GPU_CHECK_SUBSET:-testbeds}"
    mnist_scale=${GPU_CHECK_MNIST_SCALE:-small}
    pipeline_args=(--threads 4)
    pip_args=()
fi

# run NAME CAP CMD...: CMD under `timeout` (SIGINT first, so pytest writes its reports; KILL 10 s
# later) for at most CAP seconds (0: no cap) and what is left of the budget; logs to $OUT/NAME.log.
run() {
    local name=$1 cap=$2 left status t0
    shift 2
    left=$((budget - (SECONDS - start) - reserve))
    [ "$cap" -gt 0 ] && [ "$cap" -lt "$left" ] && left=$cap
    case " ${GPU_CHECK_SKIP:-} " in *" $name "*) left=-1 ;; esac
    if [ "$left" -lt 5 ]; then
        echo "$name skipped 0" >>"$OUT/summary.txt"
        if [ "$left" = -1 ]; then echo "skipped: in GPU_CHECK_SKIP" >"$OUT/$name.log"
        else echo "skipped: $left s left of the ${budget} s budget" >"$OUT/$name.log"; fi
        return 0
    fi
    echo "== $name (at most ${left} s): $*" | tee "$OUT/$name.log"
    t0=$SECONDS
    status=0
    timeout -s INT -k 10 "$left" "$@" >>"$OUT/$name.log" 2>&1 || status=$?
    echo "$name $status $((SECONDS - t0))" | tee -a "$OUT/summary.txt"
}

device_info() {
    if command -v nvidia-smi >/dev/null; then nvidia-smi; else echo "nvidia-smi: not here"; fi
    "$py" - "$device" <<'EOF'
import os, platform, sys, torch
from stitchtest.runtime import devices
print(f"python {platform.python_version()} ({sys.executable}), torch {torch.__version__}, "
      f"CUDA build {torch.version.cuda}, {os.cpu_count()} CPU cores: {devices.cpu_name()} ({devices.cpu_features()})")
print(f"torch.cuda.is_available() = {torch.cuda.is_available()}, devices: {torch.cuda.device_count()}")
for i in range(torch.cuda.device_count()):
    p = torch.cuda.get_device_properties(i)
    print(f"  cuda:{i} {p.name}, capability {p.major}.{p.minor}, {p.total_memory / 2**30:.1f} GiB, "
          f"{p.multi_processor_count} SMs, bf16 {torch.cuda.is_bf16_supported()}")
if sys.argv[1] != "cpu" and not torch.cuda.is_available():
    sys.exit("device: CUDA requested but torch sees no GPU")
EOF
}

# rows NAME DIR: say in NAME's log how many result rows the step left (none: the plugin stayed inert,
# e.g. under xdist where the controller collected no testbed, or the step was cut before any cell).
rows() {
    local n
    n=$(cat "$2"/results-*.jsonl 2>/dev/null | wc -l || true)
    echo "rows: $n lines in $2/results-*.jsonl" >>"$OUT/$1.log"
    [ "$n" -gt 0 ] || echo "WARNING: $1 wrote no result rows under $2" | tee -a "$OUT/$1.log"
}

export -f device_info
export py device

pack() {
    tar -czf "$OUT/results.tar.gz" -C "$work" --exclude=cache --exclude='cache-*' .
}
trap pack EXIT  # also when a step breaks the script itself

cuda_files=$(grep -l "not torch.cuda.is_available()" tests/*.py || true)
testbed_dirs=(--stitch-results-dir "$work/testbeds/results" --stitch-report-dir "$work/testbeds/reports")
mnist_dirs=(--stitch-results-dir "$work/mnist/results" --stitch-report-dir "$work/mnist/reports")
mkdir -p "$work/pipeline" "$work/mnist"
resume=()
if [ -n "${GPU_CHECK_RESUME_FROM:-}" ]; then
    if tar -xzf "$GPU_CHECK_RESUME_FROM" -C "$work" ./mnist/results; then resume=(--stitch-resume)
    else echo "gpu_check.sh: no mnist/results in $GPU_CHECK_RESUME_FROM; the MNIST tier starts afresh" >&2; fi
fi

run install 120 "$py" -m pip install "${pip_args[@]}" --no-deps --no-build-isolation -e .
run device 60 bash -c device_info
# shellcheck disable=SC2086  # one word per file
run cuda_tests 300 env STITCHTEST_CACHE="$work/cache-tests" \
    "$py" -m pytest $cuda_files -k cuda -rs -v -p no:cacheprovider
run testbeds "${GPU_CHECK_TESTBEDS_S:-$((budget * 45 / 100))}" \
    "$py" -m pytest "${subset[@]}" -n "$workers" --stitch-device "$device" "${testbed_dirs[@]}" -p no:cacheprovider
grep -q '^skipped' "$OUT/testbeds.log" || rows testbeds "$work/testbeds/results"
run pipeline "${GPU_CHECK_PIPELINE_S:-$((budget * 20 / 100))}" \
    "$py" benchmarks/pipeline.py "${pipeline_args[@]}" --write-report "$work/pipeline/performance-run.md"
if [ -d "$mnist" ]; then
    run mnist 0 "$py" -m pytest "${subset[@]}" -n "$workers" --stitch-device "$device" --stitch-scale "$mnist_scale" \
        --stitch-data "$mnist" "${mnist_dirs[@]}" "${resume[@]}" -p no:cacheprovider
    grep -q '^skipped' "$OUT/mnist.log" || rows mnist "$work/mnist/results"
else
    echo "mnist skipped 0" >>"$OUT/summary.txt"
    echo "skipped: no MNIST folder at $mnist (carry it: docs/running/gpu.md)" >"$OUT/mnist.log"
fi
trap - EXIT
pack
echo "done in $((SECONDS - start)) s of ${budget}; $OUT: $(ls "$OUT" | tr '\n' ' ')"
