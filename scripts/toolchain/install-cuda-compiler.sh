#!/usr/bin/env bash
# Installs the pinned CUDA 13.0 compiler from PyPI into .cuda/ (git-ignored).
# Pinned to 13.0 because the GPU machines run driver 580 (CUDA 13.0): PTX from a
# newer nvcc fails to load there with CUDA_ERROR_UNSUPPORTED_PTX_VERSION.
# Idempotent: a second run only checks the stamp and exits.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
dest="${SPARSE24_CUDA_DIR:-$root/.cuda}"
packages=(
  nvidia-cuda-nvcc==13.0.88
  nvidia-cuda-runtime==13.0.96
  nvidia-cuda-crt==13.0.88
  nvidia-nvvm==13.0.88
  nvidia-cuda-cccl==13.0.85
  # Disassemblers for SASS inspection; the 13.0 line is not on PyPI. They only read
  # cubins, so a newer version is harmless.
  nvidia-cuda-cuobjdump==13.2.86
  nvidia-cuda-nvdisasm==13.2.86
)
stamp="$dest/.installed"
want="$(printf '%s\n' "${packages[@]}")"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$dest/nvidia/cu13/bin/nvcc" ]]; then
  echo "pinned CUDA compiler present: $dest/nvidia/cu13/bin/nvcc"
  exit 0
fi
py="$(command -v python3 || command -v python)"
echo "installing the pinned CUDA compiler into $dest ..."
rm -rf "$dest"
mkdir -p "$dest"
# A wheel cache speeds up CI re-installs (pip's own cache is used when present).
"$py" -m pip install --quiet --disable-pip-version-check --no-deps --target "$dest" "${packages[@]}"
bin="$dest/nvidia/cu13/bin"
# The wheels put nvdisasm/cuobjdump beside nvcc; make sure all are executable.
chmod +x "$bin"/* "$dest/nvidia/cu13/nvvm/bin/"* 2>/dev/null || true
"$bin/nvcc" --version | tail -n 2
printf '%s\n' "${packages[@]}" > "$stamp"
# build.rs watches .cuda/ only once it exists: a build made before this install (CPU
# only) would not notice it. Touching build.rs makes cargo run it again.
if [[ "$dest" == "$root/.cuda" ]]; then
  touch "$root/build.rs"
fi
echo "pinned CUDA compiler installed: $bin/nvcc"
