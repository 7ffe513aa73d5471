#!/usr/bin/env bash
# Builds the sparse24 wheel (python/, maturin, release, with the kernels) into the
# folder given (default target/python-wheel) and prints the wheel's path.
# maturin comes from the cached torch venv (scripts/python/torch-venv.sh); nvcc is
# the pinned one of .cuda/ (scripts/toolchain/install-cuda-compiler.sh); the cargo
# target folder is a cached one outside the clone (env.sh).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${1:-$root/target/python-wheel}"
# shellcheck source=scripts/python/env.sh
source "$root/scripts/python/env.sh"
rm -rf "$out"
"$venv/bin/maturin" build --release --locked --manifest-path "$root/python/Cargo.toml" --out "$out" >&2
ls "$out"/sparse24-*.whl
