#!/usr/bin/env bash
# The comparison of every 2:4 method on all 36 linear layers of all-MiniLM-L6-v2
# (docs/methods-minilm.md): in-sample and held-out layer errors, time per layer, and
# the end-to-end held-out embedding cosine with every layer pruned. CPU only.
#   scripts/minilm/methods-table.sh [OUT_DIR]   (default target/methods-table)
# STEPS (default 40) sets the learner's steps; METHODS and LAYERS (a regex, default every
# layer) narrow the run. Captures the Brown-corpus activations
# first when target/minilm/activations/ has none (scripts/minilm/minilm.sh capture).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-$root/target/methods-table}"
steps="${STEPS:-40}"
acts="$root/target/minilm/activations"
methods="${METHODS:-magnitude,wanda,sparsegpt,learned,sparsegpt+refit,learned+refit,proximal,sr-ste,step}"
layers="${LAYERS:-.}"
mkdir -p "$out"
if [ ! -f "$acts/held-out.safetensors" ]; then
  "$root/scripts/minilm/minilm.sh" capture
fi
model="$("$root/scripts/minilm/fetch-minilm.sh")"
(cd "$root" && cargo run --quiet --release --features learn --example learn-masks -- \
  --device cpu --methods "$methods" --steps "$steps" --layers "$layers" --model "$model" \
  --acts "$acts/calibration.safetensors" --held-out "$acts/held-out.safetensors" \
  --out "$out/masks.safetensors" --plot "$out/loss.svg") | tee "$out/learn-masks.txt"
files=()
# learn-masks writes the learned masks (or, without them, the first method's) to --out,
# every other method beside it.
case ",$methods," in *,learned,*) main=learned ;; *) main="${methods%%,*}" ;; esac
for m in ${methods//,/ }; do
  if [ "$m" = "$main" ]; then files+=("$out/masks.safetensors"); else files+=("$out/masks-$m.safetensors"); fi
done
"$root/scripts/minilm/minilm.sh" eval "${files[@]}" | tee "$out/eval.txt"
python3 "$root/scripts/minilm/plot-methods.py" "$out/learn-masks.txt" "$out/methods.svg"
