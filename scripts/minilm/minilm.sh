#!/usr/bin/env bash
# Runs a MiniLM script with pinned Python dependencies installed into
# target/pyenv-deps (git-ignored), the model fetched by scripts/minilm/fetch-minilm.sh.
#   scripts/minilm/minilm.sh capture                 -> target/minilm/activations/{calibration,held-out}.safetensors,
#                                                       data/minilm-{activations,held-out,ci-weights}.safetensors
#   scripts/minilm/minilm.sh eval MASKS.safetensors…  -> embedding similarity vs dense
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
deps="$root/target/pyenv-deps"
if [ ! -f "$deps/.pinned-v1" ]; then
  python3 -m pip install --quiet --target "$deps" --no-deps \
    numpy==2.2.6 safetensors==0.5.3 tokenizers==0.21.1 >&2
  touch "$deps/.pinned-v1"
fi
model="$("$root/scripts/minilm/fetch-minilm.sh")"
export PYTHONDONTWRITEBYTECODE=1
# One sentence at a time gives small matrices: OpenBLAS's threads only contend (15x
# the CPU time of one thread on the 2-core machine).
export OPENBLAS_NUM_THREADS=1
export PYTHONPATH="$deps${PYTHONPATH:+:$PYTHONPATH}"
cmd="${1:-}"
shift || true
case "$cmd" in
  capture) exec python3 "$root/scripts/minilm/capture-minilm-activations.py" "$model" \
    "$("$root/scripts/minilm/fetch-brown.sh")" "$root/data" "$root/target/minilm/activations" ;;
  eval) exec python3 "$root/scripts/minilm/eval-minilm-embeddings.py" "$model" \
    "$("$root/scripts/minilm/fetch-brown.sh")" "$@" ;;
  *) echo "usage: $0 capture | eval MASKS.safetensors..." >&2; exit 2 ;;
esac
