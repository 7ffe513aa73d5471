#!/usr/bin/env bash
# Runs a MiniLM script with pinned Python dependencies installed into
# target/pyenv-deps (git-ignored), the model fetched by scripts/minilm/fetch-minilm.sh.
#   scripts/minilm/minilm.sh capture                 -> data/minilm-activations.safetensors,
#                                                       data/minilm-ci-weights.safetensors
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
export PYTHONPATH="$deps${PYTHONPATH:+:$PYTHONPATH}"
cmd="${1:-}"
shift || true
case "$cmd" in
  capture) exec python3 "$root/scripts/minilm/capture-minilm-activations.py" "$model" "$root/data" ;;
  eval) exec python3 "$root/scripts/minilm/eval-minilm-embeddings.py" "$model" "$@" ;;
  *) echo "usage: $0 capture | eval MASKS.safetensors..." >&2; exit 2 ;;
esac
