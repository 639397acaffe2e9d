#!/usr/bin/env bash
# The GPU run of issue 13, in one go, under a time limit of its own (default 540 s):
#
#   1. tests   python -m pytest -m gpu tests -q -rs, with ZFCORE_REQUIRE_GPU=1 (no skips)
#   2. memcheck, initcheck, racecheck: compute-sanitizer on bench/gpu_launchers.py (if found)
#   3. kernels python bench/gpu_kernels.py   (every kernel at ZFNet's shapes, batch 128, vs torch)
#   4. step    python bench/gpu_step.py      (ZFNet forward and training step vs PyTorch + cuDNN)
#   5. train   python -m zfcore.train --device gpu        (the default run), wall time
#   6. vis     python -m zfcore.visualize RUN --device gpu (on its checkpoint), wall time
#   7. analyses python bench/gpu_analyses.py (top-9 scan, projection, occlusion vs torch)
#
#     bench/gpu_run.sh [stage ...]          # default: all, in this order
#     OUT=/tmp/out GPU_RUN_LIMIT_S=300 bench/gpu_run.sh kernels step
#
# Every log goes to $OUT (at most 8 files: the device tool brings back 8): summary.txt (one
# line per stage: exit status, wall time, its limit; SKIPPED when the time ran out), env.txt,
# tests.log, sanitizer.log, kernels.txt, step.txt, train_vis.log, analyses.txt. A stage is
# cut at min(its own limit, the time left); the script always exits 0 once the summary is
# written, so that everything comes back; read summary.txt first.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/zfcore-gpu-run}
mkdir -p "$OUT"
LIMIT=${GPU_RUN_LIMIT_S:-540}
PY=${PYTHON:-python3}
START=$(date +%s)
RUNS=${RUNS_DIR:-/tmp/zfcore-gpu-runs}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 ZFCORE_REQUIRE_GPU=1
SUMMARY=$OUT/summary.txt
: > "$SUMMARY"

# stage NAME BUDGET_S LOGFILE COMMAND...
stage() {
  local name=$1 budget=$2 log=$OUT/$3
  shift 3
  local left=$(( LIMIT - ($(date +%s) - START) ))
  if (( left < 20 )); then
    echo "$name: SKIPPED (the run's time limit of ${LIMIT}s is reached)" | tee -a "$SUMMARY"
    return
  fi
  (( budget > left )) && budget=$left
  echo "== $name (limit ${budget}s): $*" >> "$log"
  local t0 t1 rc
  t0=$(date +%s%N)
  timeout -k 5 "$budget" "$@" >> "$log" 2>&1
  rc=$?
  t1=$(date +%s%N)
  local ms=$(( (t1 - t0) / 1000000 ))
  local note=""
  (( rc == 124 || rc == 137 )) && note=" TIMED OUT"
  printf '%s: rc=%d wall=%d.%03ds limit=%ds%s\n' "$name" "$rc" $((ms / 1000)) $((ms % 1000)) \
    "$budget" "$note" | tee -a "$SUMMARY"
}

sanitizer() {
  command -v compute-sanitizer 2>/dev/null ||
    ls /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda-*/bin/compute-sanitizer \
      /opt/nvidia/*/compute-sanitizer/compute-sanitizer 2>/dev/null | head -1
}

run_stage() {
  case $1 in
    tests)
      stage tests 150 tests.log "$PY" -m pytest -m gpu tests -q -rs -p no:cacheprovider
      # a skip is a failure of this run: say so in the summary
      if grep -qE '[0-9]+ skipped' "$OUT/tests.log"; then
        echo "tests: WARNING: skips in a ZFCORE_REQUIRE_GPU=1 run: $(grep -E 'skipped' \
          "$OUT/tests.log" | tail -1)" | tee -a "$SUMMARY"
      fi ;;
    memcheck|initcheck|racecheck)
      local san
      san=$(sanitizer)
      if [ -z "$san" ]; then
        echo "$1: SKIPPED (no compute-sanitizer found)" | tee -a "$SUMMARY"
        return
      fi
      stage "$1" 60 sanitizer.log "$san" --tool "$1" --error-exitcode 99 \
        "$PY" bench/gpu_launchers.py ;;
    kernels) stage kernels 120 kernels.txt "$PY" bench/gpu_kernels.py ;;
    step) stage step 60 step.txt "$PY" bench/gpu_step.py ;;
    train)
      rm -rf "$RUNS/default"
      stage train 150 train_vis.log "$PY" -m zfcore.train --device gpu --out "$RUNS/default" ;;
    vis)
      rm -rf "$RUNS/vis"
      stage vis 90 train_vis.log "$PY" -m zfcore.visualize "$RUNS/default" --out "$RUNS/vis" \
        --device gpu
      { echo "== metrics.csv"; cat "$RUNS/default/metrics.csv"; echo "== scores.json";
        cat "$RUNS/vis/scores.json"; echo; } >> "$OUT/train_vis.log" 2>&1 ;;
    analyses) stage analyses 90 analyses.txt "$PY" bench/gpu_analyses.py ;;
    *) echo "unknown stage $1" | tee -a "$SUMMARY" ;;
  esac
}

{
  date -u
  git log --oneline -1 2>/dev/null
  nvidia-smi 2>&1 | head -15
  "$PY" -c "import sys, numpy, cupy; print(sys.version.split()[0], 'numpy', numpy.__version__,
'cupy', cupy.__version__, 'CUDA runtime', cupy.cuda.runtime.runtimeGetVersion())" 2>&1
  "$PY" -c "import torch; print('torch', torch.__version__, 'cudnn',
torch.backends.cudnn.version())" 2>&1
  echo "compute-sanitizer: $(sanitizer)"
} > "$OUT/env.txt" 2>&1

STAGES=("$@")
(( ${#STAGES[@]} )) || STAGES=(tests memcheck initcheck racecheck kernels step train vis analyses)
for s in "${STAGES[@]}"; do
  run_stage "$s"
done
echo "total wall $(( $(date +%s) - START ))s of ${LIMIT}s" | tee -a "$SUMMARY"
exit 0
