# Sourced by gpu-profile.sh and gpu-stalls.sh (Nsight Compute on one kernel launch
# inside gpu-bench): $bundle, the output folder $out, the CUDA environment of
# gpu-env.sh, $ncu, and $kernel (KERNEL, a regex of the kernel name) with $name, its
# file-name form. Exits when ncu is not found or KERNEL is not set.
bundle="${BUNDLE:-.device-bundle}"
out="${OUT:-$PWD/gpu-profile-out}"
mkdir -p "$out"
# shellcheck source=scripts/gpu/gpu-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/gpu-env.sh"
ncu="$(tool ncu)"
[[ -n "$ncu" ]] || { echo "ncu not found"; exit 1; }
kernel="${KERNEL:?KERNEL: a regex of the kernel name}"
name="$(echo "$kernel" | tr -c 'A-Za-z0-9_.-' '_')"
