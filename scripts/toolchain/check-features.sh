#!/usr/bin/env bash
# The feature sets other than the test suite's --all-features, as a dependent builds
# them (issue 14): the default set, the CPU-only build (no nvcc), the CUDA version
# left to the environment (12.8), and `require-kernels` refusing to build
# without nvcc. clippy -D warnings: code compiled in one set only stays warning-free.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# SPARSE24_NO_NVCC hides nvcc: each set gets its own build-script folder, and
# compiling the kernels again for a check would cost minutes of nvcc.
export SPARSE24_NO_NVCC=1
# ptxsim has no features: clippy's --all-features check covered it.
echo "== default features, CPU-only build (sparse24, all default targets)"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
time cargo clippy --locked -p sparse24 --all-targets -- -D warnings 2>&1 | tee "$log"
grep -q "nvcc not found.*require-kernels" "$log" \
  || { echo "error: the CPU-only build did not warn" >&2; exit 1; }
# One value only: cudarc re-runs its build on every change of the variable.
echo "== --no-default-features, CUDA version from CUDARC_CUDA_VERSION=12080"
time CUDARC_CUDA_VERSION=12080 cargo clippy --locked -p sparse24 --lib --no-default-features -- -D warnings
echo "== require-kernels without nvcc must fail"
if cargo check --locked -p sparse24 --lib --features require-kernels >"$log" 2>&1; then
  echo "error: require-kernels built without nvcc" >&2
  exit 1
fi
grep "require-kernels" "$log" | grep -v "^warning" | head -n 3
grep -q "the \`require-kernels\` feature is on, but nvcc was not found" "$log" \
  || { cat "$log" >&2; echo "error: require-kernels failed for another reason" >&2; exit 1; }
echo "ok: require-kernels refused to build without nvcc"
