#!/usr/bin/env bash
# Builds the sparse24 wheel (python/, maturin, release, with the kernels) into the
# folder given (default target/python-wheel) and prints the wheel's path.
# maturin comes from the cached torch venv (scripts/python/torch-venv.sh); nvcc is
# the pinned one of .cuda/ (scripts/toolchain/install-cuda-compiler.sh). The cargo
# target folder lives outside the clone ($SPARSE24_PYTHON_TARGET, default
# ~/.cache/sparse24/python-target) so that CI rebuilds only what changed: the first
# build compiles sparse24 (faer, the kernels) in release, later ones relink.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${1:-$root/target/python-wheel}"
venv="$("$root/scripts/python/torch-venv.sh")"
"$root/scripts/toolchain/install-cuda-compiler.sh" >&2
export NVCC="${SPARSE24_CUDA_DIR:-$root/.cuda}/nvidia/cu13/bin/nvcc"
export CARGO_TARGET_DIR="${SPARSE24_PYTHON_TARGET:-$HOME/.cache/sparse24/python-target}"
mkdir -p "$CARGO_TARGET_DIR"
rm -rf "$out"
"$venv/bin/maturin" build --release --locked --manifest-path "$root/python/Cargo.toml" --out "$out" >&2
ls "$out"/sparse24-*.whl
