# Sourced by build-wheel.sh and test-python.sh: one setting of what the Python
# package's cargo builds see, so that clippy and maturin share one cached build.
# $root must be set to the repository root.
venv="$("$root/scripts/python/torch-venv.sh")"
"$root/scripts/toolchain/install-cuda-compiler.sh" >&2
export NVCC="${SPARSE24_CUDA_DIR:-$root/.cuda}/nvidia/cu13/bin/nvcc"
# Outside the clone so that CI rebuilds only what changed: the first build compiles
# sparse24 (faer, the kernels) in release, later ones relink.
export CARGO_TARGET_DIR="${SPARSE24_PYTHON_TARGET:-$HOME/.cache/sparse24/python-target}"
mkdir -p "$CARGO_TARGET_DIR"
