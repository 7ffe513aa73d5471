//! The Hopper GEMM's section of the kernel report: the pipeline the kernel has (from
//! the tile and its SASS, so a one-warpgroup toy cannot pass for it), the main loop's
//! instructions per HGMMA.SP, shared-memory and L1 bytes per multiply-add, and a
//! model of its 2048-token rate against the measured wgmma.sp peak and dense cuBLAS.
//! A model, not a measurement: the GPU check's `hopper-roofline`, `gpu-tests` and
//! `bench` phases measure.

use sparse24::ops::gemm::tiles::TileShape;
use sparse24::ops::gemm::{GemmConfig, GemmDevice, SparseGemmPlan};
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
        // The innermost loop with the most: the persistent kernel's unit loop holds
        // the K loop's HGMMA.SP too.
        if hgmma > 0 && best.is_none_or(|(n, h)| hgmma > h || (hgmma == h && range.len() < n)) {
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

/// One stage of one CTA in bytes per dense-equivalent multiply-add: each m64nNk32 .sp
/// reads its B (N × 32 × 2 bytes) from shared memory; the bulk copy writes the stage
/// once; W (values 16 B + metadata 2 B per lane-step) streams through L1 into registers.
struct StageModel {
    macs: f64,
    smem_per_mac: f64,
    l1_per_mac: f64,
}

fn stage_model(t: &TileShape) -> StageModel {
    let macs = (t.rows * t.tokens * t.steps_per_stage * 32) as f64;
    let stage_bytes = t.tokens * t.steps_per_stage * 32 * 2;
    let hgmma_per_stage = (t.rows / 64) * t.steps_per_stage;
    let mut smem = (hgmma_per_stage * t.tokens * 32 * 2 + stage_bytes) as f64;
    let mut w_bytes = (t.rows * t.steps_per_stage * 16) as f64 * 1.125;
    if t.w_by_bulk_copy() {
        // The SS form: each wgmma.sp also reads its 64 rows × 16 compressed values
        // from shared memory, the bulk copy writes the W slot, and only the metadata
        // (2 bits per kept value) goes through L1.
        smem += (hgmma_per_stage * 64 * 16 * 2 + t.w_stage_bytes()) as f64;
        w_bytes = (t.rows * t.steps_per_stage * 16) as f64 * 0.25;
    }
    StageModel {
        macs,
        smem_per_mac: smem / macs,
        l1_per_mac: (smem + w_bytes) / macs,
    }
}

/// TFLOP/s (dense-equivalent) the shared memory and L1 allow at `bytes_per_mac`.
fn cap(bytes_per_mac: f64) -> f64 {
    SMEM_BYTES_PER_CLK / bytes_per_mac * 2.0 * SMS * CLOCK_HZ / 1e12
}

impl StageModel {
    /// The modelled rate: the wgmma.sp peak or the L1/smem cap, whichever is lower.
    fn model_tflops(&self) -> f64 {
        WGMMA_SP_PEAK_TFLOPS.min(cap(self.l1_per_mac))
    }
}

/// Off-chip bytes of a persistent plan's walk, modelled wave by wave: the resident CTAs
/// take units u, u + CTAs, … (kernels/gemm/sm90_schedule.cuh's order, mirrored here
/// for the model only: ptxsim checks the kernel's own walk), every wave reads the W
/// row blocks and X token tiles its units touch once, and nothing stays in L2 from one
/// wave to the next (pessimistic: the H100's 50 MB L2 keeps some). Returns (bytes with
/// the plan's bands, bytes in plain row-major order).
fn walk_bytes(p: &SparseGemmPlan) -> (f64, f64) {
    let t = p.config.tile();
    let (mt, nt) = (p.out.div_ceil(t.rows), p.tokens.div_ceil(t.tokens));
    let w_block = t.rows as f64 * p.inn as f64 * 1.125;
    let x_tile = t.tokens as f64 * p.inn as f64 * 2.0;
    let ctas = p.launch_grid()[0] as usize;
    let bytes = |band: usize| {
        let tile_of = |u: usize| {
            let tile = u / p.splits;
            let (b, r) = (tile / (band * mt), tile % (band * mt));
            let width = band.min(nt - b * band);
            (r / width, b * band + r % width)
        };
        let mut total = 0.0;
        for wave in (0..p.units()).step_by(ctas.max(1)) {
            let mut rows = std::collections::BTreeSet::new();
            let mut toks = std::collections::BTreeSet::new();
            for u in wave..(wave + ctas).min(p.units()) {
                let (m, n) = tile_of(u);
                rows.insert(m);
                toks.insert(n);
            }
            total += rows.len() as f64 * w_block + toks.len() as f64 * x_tile;
        }
        total
    };
    (bytes(p.band() as usize), bytes(nt))
}

/// The persistent walk's effect on off-chip traffic for the shapes on an H100.
fn walk_report(model_tflops: f64) {
    println!(
        "\n### Persistent tile walk (one CTA per SM, bands of token tiles; model)\n\n\
         Off-chip bytes per GEMM, wave by wave with nothing kept in L2 across waves \
         (an upper bound), with the plan's band against plain row-major order, and the \
         time they take at {:.1} TB/s against the compute time at the modelled rate:\n",
        HBM_BYTES_PER_S / 1e12
    );
    println!("| tokens × out × in | units | band | MB banded | MB row-major | µs banded / row-major / compute |");
    println!("|---|---|---|---|---|---|");
    let h100 = GemmDevice {
        sm_count: SMS as usize,
        compute_capability: (9, 0),
    };
    for (tokens, out, inn) in [
        (2048, 4096, 4096),
        (8192, 4096, 4096),
        (8192, 14336, 4096),
        (8192, 4096, 14336),
        (8192, 28672, 8192),
        (8192, 8192, 28672),
        (8192, 8192, 8192),
    ] {
        let Ok(p) = SparseGemmPlan::choose_for_with(tokens, out, inn, h100, None) else {
            continue;
        };
        let (banded, plain) = walk_bytes(&p);
        let us = |b: f64| b / HBM_BYTES_PER_S * 1e6;
        let compute = 2.0 * (tokens * out * inn) as f64 / (model_tflops * 1e12) * 1e6;
        println!(
            "| {tokens} × {out} × {inn} | {} | {} | {:.0} | {:.0} | {:.0} / {:.0} / {compute:.0} |",
            p.units(),
            p.band(),
            banded / 1e6,
            plain / 1e6,
            us(banded),
            us(plain)
        );
    }
}

/// Prints the section; `sass` is the module's SASS text where cuobjdump ran.
pub fn report(sass: Option<&str>) {
    println!("\n## Hopper GEMM (sm_90a, wgmma.mma_async.sp): pipeline, main loop, model\n");
    println!(
        "| tile | warpgroups (producer + consumers) | stages in flight | smem/stage | regs producer/consumer (SASS setmaxnreg) | HGMMA.SP per stage | SASS instr per HGMMA.SP (main loop) |"
    );
    println!("|---|---|---|---|---|---|---|");
    // The RS tiles, and the SS form's where compiled (feature `hopper-ss`).
    let ss = GemmConfig::WGMMA_SS
        .into_iter()
        .filter(|c| c.kernel(DType::BF16).is_ok());
    let mut notes = Vec::new();
    for c in GemmConfig::WGMMA.into_iter().chain(ss) {
        let t = c.tile();
        let consumers = (t.threads - t.producer_threads) / 128;
        let stage_bytes = t.tokens * t.steps_per_stage * 32 * 2 + t.w_stage_bytes();
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

        let StageModel {
            macs,
            smem_per_mac,
            l1_per_mac,
        } = stage_model(&t);
        // Off-chip traffic of a 4096 × 4096 layer at 2048 tokens with this tile: every
        // CTA reads its W block and its X block once (the L2 serves the rest: an
        // upper bound on DRAM bytes, the L2→SM stream).
        let (tokens, out, inn) = (2048usize, 4096usize, 4096usize);
        let ctas = out.div_ceil(t.rows) * tokens.div_ceil(t.tokens);
        let l2_bytes =
            ctas as f64 * (t.rows as f64 * inn as f64 * 1.125 + t.tokens as f64 * inn as f64 * 2.0);
        let flops = 2.0 * (tokens * out * inn) as f64;
        let l2_tbps = |tflops: f64| l2_bytes / (flops / (tflops * 1e12)) / 1e12;
        let model = stage_model(&t).model_tflops();
        let what = if t.w_by_bulk_copy() {
            "wgmma A and B reads + bulk writes of X and W"
        } else {
            "wgmma B reads + bulk writes"
        };
        notes.push(format!(
            "- {}: shared memory {smem_per_mac:.4} B per multiply-add ({what}), \
             {l1_per_mac:.4} B with W's stream through L1; caps at {SMEM_BYTES_PER_CLK} B/clk/SM: \
             {:.0} TFLOP/s (smem only), {:.0} TFLOP/s (smem + W through L1)",
            c.tile_name(),
            cap(smem_per_mac),
            cap(l1_per_mac)
        ));
        notes.push(format!(
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
        ));
        notes.push(format!(
            "- issue: each consumer warp issues the loop's instructions per stage; two consumer \
             warps share each of the 4 schedulers, so the loop costs 2 × (instr per stage) issue \
             cycles per {:.0} tensor cycles at the peak rate",
            macs / (WGMMA_SP_PEAK_TFLOPS * 1e12 / 2.0 / SMS / CLOCK_HZ)
        ));
    }
    // The notes after the whole table (its rows stay one markdown table).
    println!();
    for n in notes {
        println!("{n}");
    }
    let model = GemmConfig::WGMMA.first().map_or(WGMMA_SP_PEAK_TFLOPS, |c| {
        stage_model(&c.tile()).model_tflops()
    });
    walk_report(model);
    println!(
        "\nUnmeasured: every figure above is arithmetic on the tile and its SASS. The L2->SM \
         stream is the figure most at risk (HARDWARE.md lists it as an unknown): if the L2 \
         delivers less, the rate falls in proportion, and a 2-CTA cluster sharing X by \
         multicast (ptxsim runs it) would halve X's share of it. The GPU check measures the \
         kernel: hopper-roofline (the wgmma.sp rate, RS vs SS), gpu-tests (hopper_* \
         correctness) and bench (its speed against cuBLASLt and cuSPARSELt)."
    );
}
