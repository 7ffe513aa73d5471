#!/usr/bin/env bash
# Profiles one sparse24 kernel launch with Nsight Compute on the GPU machine (after
# scripts/gpu-bundle.sh built .device-bundle here): the first launch of kernels
# matching KERNEL (a regex) inside `gpu-bench --quick --only ONLY`, full section set,
# clocks left as they are. Writes $OUT/ncu-<name>.txt (details page) and prints the
# headline metrics.
#   KERNEL=sgemm_256x64_bf16 ONLY=14336x4096 SPARSE24_PREFILL_TILE=256x64 \
#     scripts/gpu/gpu-profile.sh
set -u
# shellcheck source=scripts/gpu/ncu-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/ncu-env.sh"
timeout 240 "$ncu" --clock-control none --set full --import-source no -k "regex:$kernel" -c 1 \
  --page details "$bundle/bin/gpu-bench" --quick --reps 1 --only "${ONLY:-14336x4096}" \
  > "$out/ncu-$name.txt" 2>&1
echo "ncu exit $?"
grep -E "Duration|Compute \(SM\) Throughput|Memory Throughput|DRAM Throughput|L2 Cache Throughput|Registers Per|Achieved Occupancy|Theoretical Occupancy|Issue Slots Busy|No Eligible|Warp Cycles Per Issued|Stall|Executed Ipc|L1/TEX Hit|L2 Hit|Bank|Uncoalesced|Est. Speedup|OPT" "$out/ncu-$name.txt" | head -80
