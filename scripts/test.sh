#!/usr/bin/env bash
# The whole test suite: pinned CUDA compiler (installed if missing), format check,
# clippy with warnings as errors, then every test of the workspace: CPU property
# tests, kernels on ptxsim, and GPU tests (reported as ignored without a device).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/install-cuda-compiler.sh
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo test"
cargo test --workspace 2>&1 | tee target/test.log
# libFuzzer on the file loaders and ptxsim, bounded (scripts/fuzz.sh; SPARSE24_SKIP_FUZZ=1
# skips). After the tests, so the kernels' PTX is there to seed ptxsim's target.
echo "== fuzz (bounded runs)"
time scripts/fuzz.sh
# The kernels were built: show their ptxas figures (registers, spills) in the log.
echo "== kernel report (ptxas, occupancy, SASS mix, ptxsim counters, roofline)"
cargo run --quiet --profile test --example kernel-report | tee target/kernel-report.md
echo "== ptxas: registers and spills per kernel and architecture"
for f in target/debug/build/sparse24-*/out/*.ptxas.txt; do
  [[ -f "$f" ]] || continue
  awk -v m="$(basename "$f" .ptxas.txt)" '
    /Compiling entry function/ { split($0, q, "\x27"); k = q[2]; a = q[4] }
    /spill stores/ { sp = $5 + $9 }
    /Used [0-9]+ registers/ { for (i = 1; i <= NF; i++) if ($i == "Used") r = $(i + 1);
                              printf "  %-14s %-28s %-6s %4s regs  %s spill bytes\n", m, k, a, r, sp }' "$f"
done
