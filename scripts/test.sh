#!/usr/bin/env bash
# The whole test suite: pinned CUDA compiler (installed if missing), format check,
# clippy with warnings as errors, then every test of the workspace with every feature
# (CPU property tests, kernels on ptxsim, the mask learner, GPU tests reported as
# ignored without a device), the other feature sets a dependent builds, and the
# cargo contract: rust-version, `cargo package`, a crate beside candle (issue 14).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/toolchain/install-cuda-compiler.sh
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings (all features)"
# sparse24-candle's `cuda` feature builds candle's CUDA backend, which links CUDA
# libraries these machines lack: it has its own steps below (CPU here,
# `cargo check --features cuda` in check-downstream.sh).
cargo clippy --workspace --exclude sparse24-candle --all-targets --all-features -- -D warnings
# rustdoc's own lints (broken intra-doc links, unclosed HTML tags in doc comments) as
# errors. The dependencies' metadata is the one clippy just built, so this documents
# only the workspace's own crates: about 5 s on 2 shared cores.
echo "== cargo doc -D warnings (all features)"
time RUSTDOCFLAGS="-D warnings" cargo doc --workspace --exclude sparse24-candle --no-deps --all-features
# --all-features: the targets behind sim, learn and cusparselt, and require-kernels
# (the suite never runs without its kernels).
echo "== cargo test (all features)"
mkdir -p target
cargo test --workspace --exclude sparse24-candle --all-features 2>&1 | tee target/test.log
# sparse24 layers in candle on the CPU, with all-MiniLM-L6-v2 (fetched once into a
# folder outside the clone; its test fails rather than skips under CI=true).
echo "== sparse24-candle (CPU): clippy -D warnings, tests with all-MiniLM-L6-v2"
minilm="${SPARSE24_MINILM_DIR:-$HOME/.cache/sparse24/minilm}"
scripts/minilm/fetch-minilm.sh "$minilm" >/dev/null
# SPARSE24_NO_NVCC: these tests run on the CPU, and sparse24 with this crate's
# (default) features would otherwise compile its kernels a second time.
export SPARSE24_NO_NVCC=1
time cargo clippy -p sparse24-candle --all-targets -- -D warnings
SPARSE24_MINILM_DIR="$minilm" bash -c 'time cargo test -p sparse24-candle' 2>&1 | tee target/test-candle.log
unset SPARSE24_NO_NVCC
# libFuzzer on the file loaders and ptxsim, bounded (scripts/toolchain/fuzz.sh;
# SPARSE24_SKIP_FUZZ=1 skips). After the tests, so the kernels' PTX is there to seed
# ptxsim's target.
echo "== fuzz (bounded runs)"
time scripts/toolchain/fuzz.sh
# The kernels were built: show their ptxas figures in the log. The report ends with
# registers and spill bytes per kernel and architecture, parsed from the reports
# embedded in this build (src/ptxas_report.rs, the parser build.rs uses too).
echo "== kernel report (ptxas, occupancy, SASS mix, ptxsim counters, roofline, registers and spills)"
cargo run --quiet --profile test --all-features --example kernel-report | tee target/kernel-report.md
scripts/toolchain/check-features.sh
scripts/toolchain/check-msrv.sh
echo "== cargo package --workspace (verification build with the pinned nvcc)"
# --allow-dirty only so that a local run with uncommitted edits gets here; the
# verification build is the same (a clean CI clone has nothing uncommitted).
# sparse24-candle is `publish = false` (cargo would still package and verify it,
# building candle a second time): left out.
NVCC="${SPARSE24_CUDA_DIR:-$PWD/.cuda}/nvidia/cu13/bin/nvcc" bash -c 'time cargo package --workspace --exclude sparse24-candle --locked --allow-dirty'
scripts/toolchain/check-downstream.sh
# The Python package (python/, issue 23): the wheel built by maturin (its own cached
# target folder), then pytest against torch 2.11 in a cached venv outside the clone.
echo "== python: sparse24 wheel and pytest against torch (scripts/python/test-python.sh)"
time scripts/python/test-python.sh
