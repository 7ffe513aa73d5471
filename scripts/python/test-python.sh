#!/usr/bin/env bash
# The Python package's CI step (scripts/test.sh): fmt of the extension crate,
# builds the wheel, installs it into
# the cached torch venv (torch 2.11 from PyPI, created once by torch-venv.sh) and
# runs python/tests with pytest against the installed wheel, then the benchmark's
# CPU part (the op's host overhead per call). GPU tests report
# "skipped: no CUDA device" without one.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/python/env.sh
source "$root/scripts/python/env.sh"
# The extension crate is its own workspace (python/README.md): the main workspace's
# fmt step does not see it. Its clippy is left to developers
# (`cargo clippy --release --manifest-path python/Cargo.toml -- -D warnings`): run
# here it would rebuild pyo3 twice per run, since maturin builds pyo3 under other
# environment variables (PYO3_PYTHON, ...) than a plain cargo call.
cargo fmt --manifest-path "$root/python/Cargo.toml" -- --check
wheel="$("$root/scripts/python/build-wheel.sh")"
echo "wheel: $wheel ($(du -h "$wheel" | cut -f1))"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --force-reinstall "$wheel"
# From the tests' folder with the pytest script (not `python -m`, which would put the
# working directory first on sys.path): `import sparse24` is the installed wheel, not
# python/sparse24 without its compiled module. No cache folder in the clone.
cd "$root/python/tests"
PYTHONDONTWRITEBYTECODE=1 "$venv/bin/pytest" -q -rs -p no:cacheprovider .
PYTHONDONTWRITEBYTECODE=1 "$venv/bin/python" "$root/python/bench/bench_linear.py" --quick
