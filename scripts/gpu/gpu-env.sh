# Sourced by the scripts that run on the GPU machine (gpu-check.sh; gpu-profile.sh and
# gpu-stalls.sh through ncu-env.sh): unpacks the bundle's binaries into $bundle/bin and
# puts the CUDA libraries the binaries open by file name on the loader path. Needs
# $bundle.
bin="$bundle/bin"
if [[ ! -d "$bin" && -f "$bundle/bin.tar.gz" ]]; then
  tar xzf "$bundle/bin.tar.gz" -C "$bundle"
fi
# cuSPARSELt ships inside the Python environment there, not on the loader path.
# nvidia.cusparselt may be a namespace package (no __file__): try its __path__, then
# any libcusparseLt.so.0 under site-packages/nvidia. The benchmark also takes the file
# itself from SPARSE24_CUSPARSELT (src/cusparselt.rs).
cslt="$(python3 - 2>/dev/null <<'PY' || true
import glob, os, site
cands = []
try:
    import nvidia.cusparselt as m
    dirs = list(getattr(m, "__path__", []))
    if getattr(m, "__file__", None):
        dirs.append(os.path.dirname(m.__file__))
    cands += [os.path.join(d, "lib") for d in dirs]
except Exception:
    pass
sp = site.getsitepackages() + [site.getusersitepackages()]
cands += [os.path.dirname(f) for d in sp
          for f in glob.glob(os.path.join(d, "nvidia", "**", "libcusparseLt.so.0"), recursive=True)]
for d in cands:
    if os.path.isfile(os.path.join(d, "libcusparseLt.so.0")):
        print(d)
        break
PY
)"
# cudarc opens cuBLAS(Lt) and NVRTC by file name, so their folders go on the loader
# path too: the toolkit's lib64 and the pip wheels' nvidia/*/lib folders.
libdirs="$(python3 - 2>/dev/null <<'PY' || true
import glob, os, site
sp = site.getsitepackages() + [site.getusersitepackages()]
seen = []
for d in sp:
    for f in glob.glob(os.path.join(d, "nvidia", "**", "libcublasLt.so*"), recursive=True):
        if os.path.dirname(f) not in seen:
            seen.append(os.path.dirname(f))
print(":".join(seen))
PY
)"
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
  [[ -d "$d" ]] && libdirs="${libdirs:+$libdirs:}$d"
done
[[ -n "$libdirs" ]] && export LD_LIBRARY_PATH="$libdirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [[ -n "$cslt" && -d "$cslt" ]]; then
  export LD_LIBRARY_PATH="$cslt${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export SPARSE24_CUSPARSELT="${SPARSE24_CUSPARSELT:-$cslt/libcusparseLt.so.0}"
fi
# tool NAME: the path of a CUDA tool (ncu, compute-sanitizer) or nothing.
tool() {
  command -v "$1" || ls /usr/local/cuda*/bin/"$1" /opt/nvidia/nsight-compute/*/"$1" 2>/dev/null | head -n 1
}
