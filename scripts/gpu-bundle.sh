#!/usr/bin/env bash
# Builds here (x86-64, no GPU needed) everything the GPU check runs, into one
# git-ignored folder small enough to carry to a GPU machine (< 64 MiB):
#   .device-bundle/bin.tar.gz  bin/: stripped release binaries: GPU tests, the
#                         cross-check, the wgmma layout probes, examples (quickstart,
#                         learn-masks, ...) and the
#                         GPU benchmark
#   .device-bundle/MANIFEST  what was built, from which commit
# Then, on the GPU machine: scripts/gpu-check.sh (it needs no cargo and no network).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/toolchain/install-cuda-compiler.sh >/dev/null
bundle=.device-bundle
rm -rf "$bundle" && mkdir -p "$bundle/bin"
py="$(command -v python3)"
# Test binaries: cargo prints their paths as JSON.
# --all-features: the sim, learn and cusparselt targets, require-kernels (no
# bundle without kernels) and gemm-sweep (the staged GEMM tiles' sweep, which
# gpu-bench's full set, FULL=1, times). sparse24-candle is left out: its `cuda` feature builds
# candle's CUDA kernels (tens of minutes here), and its GPU test is not bundled yet.
cargo test --release --workspace --exclude sparse24-candle --all-features --no-run --message-format=json 2>/dev/null \
  | "$py" -c '
import json, sys
for line in sys.stdin:
    try: m = json.loads(line)
    except ValueError: continue
    if m.get("reason") == "compiler-artifact" and m.get("profile", {}).get("test") and m.get("executable"):
        print(m["target"]["name"], m["executable"])
' | while read -r name exe; do
  case "$name" in
    # What the GPU check runs: GPU tests and the ptxsim-vs-GPU cross-check.
    gpu|crosscheck) cp "$exe" "$bundle/bin/$name" ;;
  esac
done
cargo build --release --all-features --examples 2>/dev/null
target_dir="${CARGO_TARGET_DIR:-target}"
for ex in quickstart gpu-bench crosscheck wgmma-probes hopper-roofline learn-masks; do
  if [[ -f "$target_dir/release/examples/$ex" ]]; then
    cp "$target_dir/release/examples/$ex" "$bundle/bin/$ex"
  else
    echo "warning: example $ex was not built; the GPU check will report it as not run" >&2
  fi
done
strip "$bundle"/bin/* 2>/dev/null || true
# The Python wheel (issue 23) for gpu-check.sh's `python` phase (after the strip).
cp "$(scripts/python/build-wheel.sh)" "$bundle/bin/"
# The same layout as scripts/, so that gpu-check.sh finds gpu/gpu-env.sh beside it.
mkdir -p "$bundle/gpu"
cp scripts/gpu-check.sh "$bundle/"
cp scripts/gpu/gpu-env.sh "$bundle/gpu/"
{
  echo "commit $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (dirty)')"
  echo "built $(date -u +%Y-%m-%dT%H:%MZ) on $(uname -m)"
  ls -la "$bundle/bin"
} > "$bundle/MANIFEST"
# Each binary embeds every kernel's fatbin and PTX (~10 MB each); gzip brings the
# set to a quarter, under the device tool's 64 MiB. gpu-check.sh unpacks it.
tar czf "$bundle/bin.tar.gz" -C "$bundle" bin && rm -rf "$bundle/bin"
cat "$bundle/MANIFEST"
du -sh "$bundle"
