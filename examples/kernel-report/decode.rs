//! The decode section of the kernel report: bytes of W in flight per SM for each decode
//! tile, from the tile's own parameters (`TileShape::w_bytes_in_flight_per_warp`, the
//! warps per CTA) and the CTAs per SM that ptxas's registers and the shared memory
//! allow, against what Little's law asks of an H100: copy bandwidth × loaded latency
//! / SMs. Then, for the five LLM layers at 1, 8, 9 and 16 tokens, the plan's grid and
//! the bytes in flight it keeps per SM (fewer CTAs than SMs × occupancy leave SMs
//! short). Arithmetic, not a measurement: gpu-bench's token sweep measures.

use sparse24::kernels::{self, ResourceUsage};
use sparse24::ops::gemm::{GemmConfig, GemmDevice, SparseGemmPlan};
use sparse24::DType;

/// Measured device copy bandwidth of an H100 (bench/RESULTS.md, read + write) and the
/// loaded DRAM latency the issue takes (1 µs), 132 SMs, 228 KiB shared memory per SM.
const COPY_BYTES_PER_S: f64 = 3.0e12;
const LOADED_LATENCY_S: f64 = 1.0e-6;
const SMS: usize = 132;
const SMEM_PER_SM: usize = 228 * 1024;
const REGS_PER_SM: usize = 65536;
/// The five LLM layers (REFERENCES.md).
const LAYERS: [(usize, usize); 5] = [
    (4096, 4096),
    (14336, 4096),
    (4096, 14336),
    (28672, 8192),
    (8192, 28672),
];

/// CTAs per SM by registers (allocated per warp in units of 256), threads and shared
/// memory (1 KiB reserved per CTA).
fn ctas_per_sm(u: &ResourceUsage, threads: usize, smem: usize) -> usize {
    let warps = threads.div_ceil(32);
    let regs_per_warp = (u.registers.max(1) as usize * 32).div_ceil(256) * 256;
    let by_regs = REGS_PER_SM / regs_per_warp / warps.max(1);
    let by_threads = 2048 / threads.max(1);
    let by_smem = SMEM_PER_SM / (smem + 1024);
    by_regs.min(by_threads).min(by_smem).min(32)
}

pub fn report() {
    let need = COPY_BYTES_PER_S * LOADED_LATENCY_S / SMS as f64;
    println!(
        "\n## Decode: W bytes in flight per SM against Little's law (H100: {:.1} TB/s copy × {:.0} µs loaded latency / {SMS} SMs = {:.1} KB per SM; aim 2× = {:.1} KB)\n",
        COPY_BYTES_PER_S / 1e12,
        LOADED_LATENCY_S * 1e6,
        need / 1e3,
        2.0 * need / 1e3
    );
    let Ok(m) = kernels::module("sparse_gemm") else {
        println!("sparse_gemm is not embedded");
        return;
    };
    let mut usage = kernels::parse_ptxas_report(m.ptxas_report);
    // The sm_90 decode tile's module (sm_90 machine code only).
    if let Ok(m90) = kernels::module(GemmConfig::DECODE_SM90[0].module()) {
        usage.extend(kernels::parse_ptxas_report(m90.ptxas_report));
    }
    println!("| tile | arch | regs | smem B | CTAs/SM | warps/SM | W stages ahead × steps | in flight per warp | per SM | × Little |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let configs = std::iter::once(GemmConfig::Decode)
        .chain(GemmConfig::DECODE)
        .chain(GemmConfig::DECODE_SM90);
    let mut occ = Vec::new();
    for c in configs {
        let t = c.tile();
        let Ok(name) = c.kernel(DType::BF16) else {
            continue;
        };
        for arch in ["sm_80", "sm_90"] {
            let Some(u) = usage.iter().find(|u| u.kernel == name && u.arch == arch) else {
                continue;
            };
            let smem = u.shared_bytes as usize + t.dynamic_shared_bytes();
            let ctas = ctas_per_sm(u, t.threads, smem);
            let warps = ctas * t.warps_per_cta();
            let per_warp = t.w_bytes_in_flight_per_warp();
            let per_sm = warps * per_warp;
            if arch == "sm_90" {
                occ.push((c, ctas));
            }
            println!(
                "| {} | {arch} | {} | {smem} | {ctas} | {warps} | {} × {} | {:.1} KB | {:.1} KB | {:.1}× |",
                c.tile_name(),
                u.registers,
                t.a_prefetch,
                t.steps_per_stage,
                per_warp as f64 / 1e3,
                per_sm as f64 / 1e3,
                per_sm as f64 / need
            );
        }
    }
    println!("\nPer layer (bf16, H100: 132 SMs, compute capability 9.0), the plan's choice and the bytes in flight it keeps per SM while every SM has work (resident CTAs = min(CTAs/SM, grid / SMs)):\n");
    println!("| out×in | tokens | tile | splits | chunk (k32 steps) | grid CTAs | CTAs per SM | W in flight per SM | × Little |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let device = GemmDevice {
        sm_count: SMS,
        compute_capability: (9, 0),
    };
    for (out, inn) in LAYERS {
        for tokens in [1usize, 8, 9, 16] {
            let Ok(p) = SparseGemmPlan::choose_for(tokens, out, inn, device) else {
                continue;
            };
            let t = p.config.tile();
            let grid = p.tiles() * p.splits;
            let resident = occ
                .iter()
                .find(|(c, _)| *c == p.config)
                .map(|&(_, n)| n)
                .unwrap_or(1);
            let per_sm_ctas = (resident as f64).min(grid as f64 / SMS as f64);
            let bytes = per_sm_ctas * (t.warps_per_cta() * t.w_bytes_in_flight_per_warp()) as f64;
            println!(
                "| {out}×{inn} | {tokens} | {} | {} | {} | {grid} | {per_sm_ctas:.2} | {:.1} KB | {:.1}× |",
                p.config.tile_name(),
                p.splits,
                p.chunk_steps,
                bytes / 1e3,
                bytes / need
            );
        }
    }
    let legacy = GemmConfig::Decode.tile();
    let legacy_sm = legacy.warps_per_cta() * legacy.w_bytes_in_flight_per_warp();
    println!(
        "\nThe original `decode` tile's plan aims at about one CTA per SM (its split-K \
         sweep, bench/RESULTS.md): {:.1} KB in flight per SM ({:.1}× Little), the \
         measured latency-bound profile. A CTA whose chunk has few 8-step stages keeps \
         the ring full only in its middle: a chunk of 3 stages (24 steps) issues 2, then 1.",
        legacy_sm as f64 / 1e3,
        legacy_sm as f64 / need
    );
    println!(
        "\nW in flight per warp = W stages requested ahead of the MMAs × 8 k32 steps × \
         (512 B of values + 64 B of metadata) per 16-row tile. X is staged once per CTA \
         (decode8: up to 64 steps, decode16 and decode16c: 32) and is not counted. \
         decode16c (sm_90 only) keeps its W stages in a shared-memory ring filled by the \
         bulk copy engine: its \"stages ahead\" are the ring's slots, all in flight \
         while a stage is computed (read into registers, the slot refilled at once). \
         Unmeasured: the \
         loaded latency and whether these bytes reach the bandwidth are for the GPU \
         check (gpu-bench --token-sweep)."
    );
}
