//! The Hopper GEMM's section of the kernel report: the pipeline the kernel has (from
//! the tile and its SASS, so a one-warpgroup toy cannot pass for it), the main loop's
//! instructions per HGMMA.SP, shared-memory and L1 bytes per multiply-add, and a
//! model of its 2048-token rate against the measured wgmma.sp peak and dense cuBLAS.
//! A model, not a measurement: the GPU check's `hopper-roofline`, `gpu-tests` and
//! `bench` phases measure.

use sparse24::ops::gemm::GemmConfig;
use sparse24::DType;

/// Measured on an H100 (shared/HARDWARE.md, REFERENCES.md, 2026-11-26): wgmma.sp
/// m64n128k32 bf16 with A from registers, two or three warpgroups per SM, all SMs busy,
/// and cuBLAS dense on real GEMMs (the low and high end).
const WGMMA_SP_PEAK_TFLOPS: f64 = 1931.0;
const CUBLAS_DENSE_TFLOPS: [f64; 2] = [720.0, 822.0];
/// H100 SXM: SMs, boost clock, shared-memory bandwidth per SM per clock, HBM3.
const SMS: f64 = 132.0;
const CLOCK_HZ: f64 = 1.83e9;
const SMEM_BYTES_PER_CLK: f64 = 128.0;
const HBM_BYTES_PER_S: f64 = 3.0e12;

/// The main loop in SASS: the backward branch whose range holds the most HGMMA.SP;
/// returns (instructions in it, HGMMA.SP in it).
fn main_loop(body: &str) -> Option<(usize, usize)> {
    let lines: Vec<(u64, &str)> = body
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix("/*")?;
            let (addr, text) = rest.split_once("*/")?;
            // The instruction, without the trailing encoding comment.
            let text = text.split("/*").next().unwrap_or("").trim();
            Some((u64::from_str_radix(addr, 16).ok()?, text))
        })
        .collect();
    let mut best: Option<(usize, usize)> = None;
    for &(addr, text) in &lines {
        let Some(target) = text.split("BRA 0x").nth(1).and_then(|t| {
            let hex: String = t.chars().take_while(char::is_ascii_hexdigit).collect();
            u64::from_str_radix(&hex, 16).ok()
        }) else {
            continue;
        };
        if target >= addr {
            continue;
        }
        let range: Vec<&str> = lines
            .iter()
            .filter(|(a, _)| *a >= target && *a <= addr)
            .map(|(_, t)| *t)
            .collect();
        let hgmma = range.iter().filter(|t| t.contains("HGMMA.SP")).count();
        if hgmma > 0 && best.is_none_or(|(_, h)| hgmma > h) {
            best = Some((range.len(), hgmma));
        }
    }
    best
}

/// `USETMAXREG` immediates: (released to, allocated to).
fn setmaxnreg(body: &str) -> (Option<u32>, Option<u32>) {
    let imm = |l: &str| {
        l.split("/*")
            .nth(1)
            .unwrap_or("")
            .split("0x")
            .last()
            .and_then(|h| {
                u32::from_str_radix(h.split(|c: char| !c.is_ascii_hexdigit()).next()?, 16).ok()
            })
    };
    let find = |what: &str| {
        body.lines()
            .find(|l| l.contains("USETMAXREG") && l.contains(what))
            .and_then(imm)
    };
    (find("DEALLOC"), find("ALLOC.CTAPOOL"))
}

/// Prints the section; `sass` is the module's SASS text where cuobjdump ran.
pub fn report(sass: Option<&str>) {
    println!("\n## Hopper GEMM (sm_90a, wgmma.mma_async.sp): pipeline, main loop, model\n");
    println!(
        "| tile | warpgroups (producer + consumers) | stages in flight | smem/stage | regs producer/consumer (SASS setmaxnreg) | HGMMA.SP per stage | SASS instr per HGMMA.SP (main loop) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for c in GemmConfig::WGMMA {
        let t = c.tile();
        let consumers = (t.threads - t.producer_threads) / 128;
        let stage_bytes = t.tokens * t.steps_per_stage * 32 * 2;
        let hgmma_per_stage = (t.rows / 64) * t.steps_per_stage;
        let name = c.kernel(DType::BF16).unwrap_or("?");
        let body = sass.and_then(|s| {
            s.split("Function : ")
                .find(|f| f.starts_with(name))
                .map(str::to_string)
        });
        let (regs, per) = match &body {
            Some(b) => {
                let (dec, inc) = setmaxnreg(b);
                let per = main_loop(b)
                    .map(|(n, h)| format!("{:.1} ({n} instr, {h} HGMMA.SP)", n as f64 / h as f64))
                    .unwrap_or_else(|| "loop not found".into());
                (
                    format!(
                        "{}/{}",
                        dec.map_or("?".into(), |v| v.to_string()),
                        inc.map_or("?".into(), |v| v.to_string())
                    ),
                    per,
                )
            }
            None => ("(no SASS)".into(), "(no SASS)".into()),
        };
        println!(
            "| {} | 1 + {consumers} | {} | {} KiB | {regs} | {hgmma_per_stage} | {per} |",
            c.tile_name(),
            t.stages,
            stage_bytes / 1024,
        );

        // Bytes per dense-equivalent multiply-add of one stage of one CTA: each
        // m64nNk32 .sp reads its B (N × 32 × 2 bytes) from shared memory; the bulk copy
        // writes the stage once; W (values 16 B + metadata 2 B per lane-step) streams
        // through L1 into registers.
        let macs = (t.rows * t.tokens * t.steps_per_stage * 32) as f64;
        let smem = (hgmma_per_stage * t.tokens * 32 * 2 + stage_bytes) as f64;
        let w_bytes = (t.rows * t.steps_per_stage * 16) as f64 * 1.125;
        let smem_per_mac = smem / macs;
        let l1_per_mac = (smem + w_bytes) / macs;
        let cap =
            |bytes_per_mac: f64| SMEM_BYTES_PER_CLK / bytes_per_mac * 2.0 * SMS * CLOCK_HZ / 1e12;
        // Off-chip traffic of a 4096 × 4096 layer at 2048 tokens with this tile: every
        // CTA reads its W block and its X block once (the L2 serves the rest: an
        // upper bound on DRAM bytes, the L2→SM stream).
        let (tokens, out, inn) = (2048usize, 4096usize, 4096usize);
        let ctas = out.div_ceil(t.rows) * tokens.div_ceil(t.tokens);
        let l2_bytes =
            ctas as f64 * (t.rows as f64 * inn as f64 * 1.125 + t.tokens as f64 * inn as f64 * 2.0);
        let flops = 2.0 * (tokens * out * inn) as f64;
        let l2_tbps = |tflops: f64| l2_bytes / (flops / (tflops * 1e12)) / 1e12;
        let model = WGMMA_SP_PEAK_TFLOPS.min(cap(l1_per_mac));
        println!();
        println!(
            "- {}: shared memory {smem_per_mac:.4} B per multiply-add (wgmma B reads + bulk writes), \
             {l1_per_mac:.4} B with W's stream through L1; caps at {SMEM_BYTES_PER_CLK} B/clk/SM: \
             {:.0} TFLOP/s (smem only), {:.0} TFLOP/s (smem + W through L1)",
            c.tile_name(),
            cap(smem_per_mac),
            cap(l1_per_mac)
        );
        println!(
            "- model at 2048 tokens × 4096 × 4096: min(wgmma.sp peak {WGMMA_SP_PEAK_TFLOPS}, \
             L1/smem cap) = {model:.0} TFLOP/s dense-equivalent = {:.2}–{:.2}× cuBLAS dense \
             ({}–{} TFLOP/s measured); the L2→SM stream it needs: {:.1} TB/s; DRAM floor \
             ({:.0} MB of W and X once, 3 TB/s) {:.1} µs vs {:.1} µs of compute",
            model / CUBLAS_DENSE_TFLOPS[1],
            model / CUBLAS_DENSE_TFLOPS[0],
            CUBLAS_DENSE_TFLOPS[0],
            CUBLAS_DENSE_TFLOPS[1],
            l2_tbps(model),
            (out * inn) as f64 * 1.125 / 1e6 + (tokens * inn * 2) as f64 / 1e6,
            ((out * inn) as f64 * 1.125 + (tokens * inn * 2) as f64) / HBM_BYTES_PER_S * 1e6,
            flops / (model * 1e12) * 1e6,
        );
        println!(
            "- issue: each consumer warp issues the loop's instructions per stage; two consumer \
             warps share each of the 4 schedulers, so the loop costs 2 × (instr per stage) issue \
             cycles per {:.0} tensor cycles at the peak rate",
            macs / (WGMMA_SP_PEAK_TFLOPS * 1e12 / 2.0 / SMS / CLOCK_HZ)
        );
    }
    println!(
        "\nUnmeasured: every figure above is arithmetic on the tile and its SASS. The L2->SM \
         stream is the figure most at risk (HARDWARE.md lists it as an unknown): if the L2 \
         delivers less, the rate falls in proportion, and a 2-CTA cluster sharing X by \
         multicast (ptxsim runs it) would halve X's share of it. The GPU check measures the \
         kernel: hopper-roofline (the wgmma.sp rate, RS vs SS), gpu-tests (hopper_* \
         correctness) and bench (its speed against cuBLASLt and cuSPARSELt)."
    );
}
