#!/usr/bin/env bash
# Warp-stall breakdown of one kernel launch (Nsight Compute raw metrics, clocks left
# alone) on the GPU machine, after scripts/gpu-bundle.sh: the first launch of kernels
# matching KERNEL inside `gpu-bench --quick --only ONLY`. Prints each stall reason in
# warps per issued instruction, largest first, and a few throughput counters.
#   KERNEL=sgemm_256x64_bf16 ONLY=14336x4096 SPARSE24_PREFILL_TILE=256x64 \
#     scripts/gpu/gpu-stalls.sh
set -u
# shellcheck source=scripts/gpu/ncu-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/ncu-env.sh"
metrics='regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio'
metrics+=',sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active'
metrics+=',smsp__inst_executed.sum,sm__warps_active.avg.per_cycle_active'
metrics+=',l1tex__data_pipe_lsu_wavefronts_mem_shared.sum,lts__t_sector_hit_rate.pct'
metrics+=',gpu__time_duration.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed'
timeout 200 "$ncu" --clock-control none -k "regex:$kernel" -c 1 --metrics "$metrics" --page raw --csv \
  "$bundle/bin/gpu-bench" --quick --reps 1 --only "${ONLY:-14336x4096}" > "$out/stalls-$name.csv" 2> "$out/stalls-$name.err"
echo "ncu exit $? ($kernel)"
python3 - "$out/stalls-$name.csv" <<'PY'
import csv, sys
rows = [r for r in csv.reader(open(sys.argv[1])) if r]
hdr = next((i for i, r in enumerate(rows) if "ID" in r[0] or r[0] == "ID"), None)
if hdr is None or hdr + 2 >= len(rows):
    print("no metrics parsed"); sys.exit(0)
names, units, vals = rows[hdr], rows[hdr + 1], rows[hdr + 2]
stalls, other = [], []
for n, v in zip(names, vals):
    try: x = float(v.replace(",", ""))
    except ValueError: continue
    if "issue_stalled" in n:
        stalls.append((x, n.replace("smsp__average_warps_issue_stalled_", "").replace("_per_issue_active.ratio", "")))
    else:
        other.append((n, x))
for x, n in sorted(stalls, reverse=True)[:12]:
    print(f"  stall {n:28s} {x:7.2f}")
for n, x in other:
    print(f"  {n:70s} {x:,.2f}")
PY
