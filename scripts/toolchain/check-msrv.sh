#!/usr/bin/env bash
# The workspace's rust-version must be at least the highest rust-version that any
# package of the resolved dependency graph (all features) declares: only one
# toolchain is installable here, so the minimum is checked from `cargo metadata`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
time cargo metadata --locked --format-version 1 --all-features | python3 -c '
import json, sys
meta = json.load(sys.stdin)
def key(v):
    parts = [int(x) for x in v.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))
members = set(meta["workspace_members"])
ours = {p["name"]: p.get("rust_version") for p in meta["packages"] if p["id"] in members}
deps = [(key(p["rust_version"]), p["name"], p["version"], p["rust_version"])
        for p in meta["packages"] if p["id"] not in members and p.get("rust_version")]
need = max(deps)
top = sorted(f"{n} {v}" for k, n, v, _ in deps if k == need[0])
joined = ", ".join(top)
print(f"highest dependency rust-version: {need[3]} ({joined})")
bad = {n: v for n, v in ours.items() if v is None or key(v) < need[0]}
for n, v in sorted(ours.items()):
    print(f"  {n}: rust-version {v}")
if bad:
    sys.exit(f"rust-version below {need[3]}: {bad}")
'
