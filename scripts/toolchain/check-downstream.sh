#!/usr/bin/env bash
# The cargo contract with candle (issue 14): `cargo check` of tests/downstream-candle,
# a crate that depends on sparse24 and on candle-core with `cuda`. Cargo merges the two
# crates' cudarc features, runs every build script (cudarc's feature and version
# checks, candle-kernels' nvcc build, sparse24's kernels) and links nothing: linking
# candle's CUDA build needs CUDA libraries these machines do not have.
# Two checks: sparse24's default features (cuda-13000 beside candle's
# cuda-version-from-build-system), and sparse24 with default-features = false (candle's
# nvcc --version decides). The target folder lives outside the clone so CI reuses it:
# candle-kernels' nvcc build is the expensive part.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
"$root/scripts/toolchain/install-cuda-compiler.sh" >/dev/null
cuda="${SPARSE24_CUDA_DIR:-$root/.cuda}/nvidia/cu13"
# On PATH, where candle-kernels' build (cudaforge) and sparse24's build.rs find it.
# Not through NVCC: the cached target folder is only reused under the same settings.
export PATH="$cuda/bin:$PATH"
# candle-kernels builds for this compute capability (no GPU to ask here), with one nvcc
# per core (cudaforge's default is half the cores; this variable is not tracked, so
# changing it does not invalidate the cache).
export CUDA_COMPUTE_CAP=80
export CUDAFORGE_THREADS="${CUDAFORGE_THREADS:-$(nproc)}"
export CARGO_TARGET_DIR="${SPARSE24_DOWNSTREAM_TARGET:-$HOME/.cache/sparse24/downstream-target}"
mkdir -p "$CARGO_TARGET_DIR"
cd "$root/tests/downstream-candle"
# --locked: its Cargo.lock is committed; after a dependency change in sparse24, run
# `cargo update -p sparse24` here.
echo "== downstream: sparse24 + candle-core (cuda), default features (target: $CARGO_TARGET_DIR)"
time cargo check --locked
echo "== downstream: sparse24 with default-features = false + candle-core (cuda)"
time cargo check --locked --no-default-features
# The workspace's candle crate with candle's CUDA backend: the same settings and
# target folder, so candle-kernels' nvcc build above serves it too.
echo "== sparse24-candle with its cuda feature (sparse24's kernels on candle's stream)"
cd "$root"
time cargo check --locked -p sparse24-candle --features cuda --all-targets
