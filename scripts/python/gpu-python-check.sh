#!/usr/bin/env bash
# On the GPU machine (scripts/gpu-check.sh's `python` phase): installs the wheel that
# scripts/gpu-bundle.sh put beside the binaries (folder $1) into a temporary folder
# for the machine's own python3 (which holds torch 2.11), then runs the GPU tests of
# python/tests and the benchmark (the op vs F.linear and torch._cslt_sparse_mm at
# 1-16 tokens) into $2/python-bench.md (gpu-check.sh's output folder).
set -euo pipefail
bin="${1:?usage: gpu-python-check.sh BIN_FOLDER OUT_FOLDER}"
out="${2:?usage: gpu-python-check.sh BIN_FOLDER OUT_FOLDER}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
site="$(mktemp -d)"
python3 -m pip install --quiet --no-index --no-deps --no-compile --target "$site" "$bin"/sparse24-*.whl
export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}" PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
cd "$root/python/tests"
python3 -m pytest -q -rs -p no:cacheprovider test_gpu.py test_op.py
python3 "$root/python/bench/bench_linear.py" --quick --out "$out/python-bench.md"
