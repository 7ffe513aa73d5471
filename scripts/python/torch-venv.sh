#!/usr/bin/env bash
# Creates (once) the cached virtual environment the Python package's tests and
# benchmark run in, and prints its folder. PyTorch's Linux wheel from PyPI pulls
# several GB of nvidia-* CUDA libraries, so the venv lives outside the clone
# (~/.cache/sparse24/torch-venv, or $SPARSE24_TORCH_VENV) and is never reinstalled
# per run: a stamp holding the pinned list makes a second call a no-op.
# torch is pinned to the version the GPU machine runs (2.11).
set -euo pipefail
venv="${SPARSE24_TORCH_VENV:-$HOME/.cache/sparse24/torch-venv}"
packages=(
  torch==2.11.0
  numpy==2.2.6
  pytest==8.4.2
  maturin==1.9.6
)
stamp="$venv/.pinned"
want="$(printf '%s\n' "${packages[@]}")"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$venv/bin/python" ]]; then
  echo "$venv"
  exit 0
fi
py="$(command -v python3 || command -v python)"
echo "creating the torch venv in $venv (first run: several GB) ..." >&2
rm -rf "$venv"
mkdir -p "$(dirname "$venv")"
"$py" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${packages[@]}" >&2
printf '%s\n' "${packages[@]}" > "$stamp"
echo "$venv"
