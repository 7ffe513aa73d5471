#!/usr/bin/env bash
# Bounded libFuzzer runs of the fuzz targets in fuzz/ (docs/fuzzing.md): installs the
# pinned cargo-fuzz if missing, builds the targets without the CUDA kernels, makes seed
# corpora from the project's own files, runs each target for SPARSE24_FUZZ_SECONDS and
# prints executions, cov and ft per target. Exits non-zero if a target crashed, timed
# out or ran out of memory, with the input's path and a dump in the log.
#
#   SPARSE24_FUZZ_SECONDS  seconds per target (default 45; 0 skips, as does
#                          SPARSE24_SKIP_FUZZ=1)
#   SPARSE24_FUZZ_TARGETS  targets to run (default: all three)
#   SPARSE24_FUZZ_TARGET   cargo target dir, outside the clone so CI reuses it
#   SPARSE24_FUZZ_CORPUS   corpora that grow across runs, outside the clone
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

seconds=${SPARSE24_FUZZ_SECONDS:-${FUZZ_SECONDS:-45}}
if [[ "${SPARSE24_SKIP_FUZZ:-0}" == 1 || "$seconds" == 0 ]]; then
  echo "fuzz: skipped (SPARSE24_SKIP_FUZZ=1 or SPARSE24_FUZZ_SECONDS=0)"
  exit 0
fi
read -ra targets <<<"${SPARSE24_FUZZ_TARGETS:-sparse24_file torch_pair ptx_module}"
cargo_fuzz_version=0.13.2
target_dir=${SPARSE24_FUZZ_TARGET:-$HOME/.cache/sparse24/fuzz-target}
corpus_root=${SPARSE24_FUZZ_CORPUS:-$HOME/.cache/sparse24/fuzz-corpus}
work=target/fuzz
# Seed files are far under 64 KiB; PTX seeds are cut at 64 KiB too (one kernel of
# sparse_gemm is ~150 KiB): longer inputs cost more than they cover.
file_max_len=65536
ptx_max_len_cap=65536

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# -- cargo-fuzz, pinned; a second run finds it in ~/.cargo/bin.
t0=$(now)
if [[ "$(cargo fuzz --version 2>/dev/null || true)" != "cargo-fuzz $cargo_fuzz_version" ]]; then
  echo "== fuzz: installing cargo-fuzz $cargo_fuzz_version"
  cargo install cargo-fuzz --version "$cargo_fuzz_version" --locked
fi
echo "fuzz: cargo-fuzz $cargo_fuzz_version ready in $(elapsed "$t0") s"

# -- Build. No sanitizer: the targets are safe Rust (ASan needs -Zsanitizer, nightly or
# RUSTC_BOOTSTRAP, and a second build); panics and overflow checks (-a) are the oracle.
# SPARSE24_NO_NVCC: the loaders and ptxsim need no kernels, so this is one CPU build.
t0=$(now)
echo "== fuzz: build (target dir $target_dir)"
SPARSE24_NO_NVCC=1 cargo fuzz build -O -a --sanitizer none --target-dir "$target_dir"
echo "fuzz: build took $(elapsed "$t0") s"
bin_dir="$target_dir/x86_64-unknown-linux-gnu/release"

# -- Seed corpora, rebuilt each run from the current writers and kernels.
rm -rf "$work/seeds" "$work/artifacts" "$work/logs"
mkdir -p "$work/seeds" "$work/artifacts" "$work/logs"
for t in sparse24_file torch_pair; do
  SPARSE24_FUZZ_WRITE_SEEDS="$work/seeds/$t" "$bin_dir/$t" >/dev/null 2>&1
done
ptx_seeds="$work/seeds/ptx_module"
mkdir -p "$ptx_seeds"
shopt -s nullglob
for f in target/debug/build/sparse24-*/out/*.ptx ptxsim/tests/kernels/*.ptx fuzz/seeds/ptx_module/*.ptx; do
  cp "$f" "$ptx_seeds/"
done
shopt -u nullglob
# A module over the cap is also split into its header plus one function each, so every
# kernel is a seed libFuzzer can mutate whole.
for f in "$ptx_seeds"/*.ptx; do
  (($(stat -c %s "$f") > ptx_max_len_cap)) || continue
  awk -v stem="${f%.ptx}" '
    /^[ \t]*(\.visible|\.weak)?[ \t]*\.(entry|func)[ \t]/ && !/;[ \t]*$/ { n++ }
    n == 0 { header = header $0 "\n"; next }
    { file = sprintf("%s.part%03d.ptx", stem, n)
      if (!(file in started)) { printf "%s", header > file; started[file] = 1 }
      print > file }' "$f"
  rm "$f"
done
# The longest seed, at most the cap (libFuzzer cuts longer seeds to max_len).
ptx_max_len=$(find "$ptx_seeds" -name '*.ptx' -printf '%s\n' | sort -n | tail -1)
ptx_max_len=$((${ptx_max_len:-0} > ptx_max_len_cap || ${ptx_max_len:-0} == 0 ? ptx_max_len_cap : ptx_max_len))

# -- Runs.
crashed=()
rows=()
for t in "${targets[@]}"; do
  case "$t" in
    ptx_module) max_len=$ptx_max_len ;;
    *) max_len=$file_max_len ;;
  esac
  corpus="$corpus_root/$t"
  mkdir -p "$corpus" "$work/artifacts/$t"
  log="$work/logs/$t.log"
  echo "== fuzz: $t for $seconds s (max_len $max_len, seeds $(ls "$work/seeds/$t" | wc -l), corpus $(ls "$corpus" | wc -l))"
  t0=$(now)
  rc=0
  # New inputs go to the first folder (kept across runs); the seeds are read only.
  "$bin_dir/$t" "$corpus" "$work/seeds/$t" \
    -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/$t/" >"$log" 2>&1 || rc=$?
  took=$(elapsed "$t0")
  execs=$(awk '/^stat::number_of_executed_units:/ { print $2 }' "$log" | tail -1)
  rate=$(awk '/^stat::average_exec_per_sec:/ { print $2 }' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+.*cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 || true)
  cov=$(sed -nE 's/.*cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.*ft: ([0-9]+).*/\1/p' <<<"$last")
  corp=$(sed -nE 's/.*corp: ([0-9]+\/[0-9]+[a-zA-Z]*).*/\1/p' <<<"$last")
  found=$(find "$work/artifacts/$t" -type f | wc -l)
  rows+=("$(printf '%-14s %6s %10s %7s %6s %6s %12s %7s' "$t" "$took" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$found")")
  grep -E '^(#[0-9]+ +(INITED|DONE)|stat::|Done )' "$log" | sed 's/^/  /' || true
  if ((rc != 0 || found > 0)); then
    crashed+=("$t")
    echo "!! fuzz: $t failed (exit $rc); libFuzzer's report:"
    report='panicked at|==[0-9]+== ERROR|ALARM|out-of-memory|deadly signal'
    if grep -q -E "$report" "$log"; then
      grep -E -m1 -A40 "$report" "$log" || true
    else
      tail -60 "$log"
    fi
    for a in "$work/artifacts/$t"/*; do
      [[ -f "$a" ]] || continue
      echo "!! input: $a ($(stat -c %s "$a") bytes)"
      echo "!! hex (first 1 KiB):"
      head -c 1024 "$a" | od -A x -t x1z -v | sed 's/^/   /'
      echo "!! base64 (first 16 KiB; decode with base64 -d):"
      head -c 16384 "$a" | base64 -w 100 | sed 's/^/   /'
    done
  fi
done

echo "== fuzz summary (executions, exec/s, libFuzzer's cov and ft at the end)"
printf '%-14s %6s %10s %7s %6s %6s %12s %7s\n' target secs execs exec/s cov ft corp/bytes crashes
printf '%s\n' "${rows[@]}"
if ((${#crashed[@]})); then
  echo "fuzz: FAILED: ${crashed[*]} (inputs under $work/artifacts; see docs/fuzzing.md)"
  exit 1
fi
