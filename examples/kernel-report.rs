//! What a developer without a GPU tunes against: for every kernel, ptxas's registers,
//! shared memory and spills, the occupancy they allow on sm_80 and sm_90, the SASS
//! instruction mix (when cuobjdump is available), ptxsim's counters on a
//! representative shape, and the roofline floor of the sparse GEMM on LLM layers.
//!
//! `cargo run --release --example kernel-report`

use rand::{rngs::StdRng, Rng, SeedableRng};
use sparse24::kernels::{self, ResourceUsage};
use sparse24::launch::{Arg, Executor, Launch};
use sparse24::mask::{SampleParams, Sampling};
use sparse24::ops::gemm::{self, SparseGemmPlan};
use sparse24::ops::{decompress, mask, prune as gprune};
use sparse24::sim::{SimBuffer, SimExecutor};
use sparse24::Epilogue;
use sparse24::{bf16, prune, DType, Result};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

#[path = "kernel-report/decode.rs"]
mod decode;
#[path = "kernel-report/hopper.rs"]
mod hopper;
#[path = "../ptxsim/tests/common/pipeline_case.rs"]
mod pipeline_case;
#[path = "kernel-report/staged.rs"]
mod staged;

/// Per-SM limits used for occupancy: (registers, threads, CTAs, shared bytes).
const SM80: (u32, u32, u32, u32) = (65536, 2048, 32, 164 * 1024);
const SM90: (u32, u32, u32, u32) = (65536, 2048, 32, 228 * 1024);
/// Measured H100 ceilings (REFERENCES.md / HARDWARE.md).
const H100_BW: f64 = 3.0e12;
const H100_DENSE_FLOPS: f64 = 790e12;
const H100_SPARSE_FLOPS: f64 = 1580e12;

/// CTAs per SM allowed by registers, threads, CTA slots and shared memory.
fn occupancy(u: &ResourceUsage, threads: u32, dyn_smem: u32, sm: (u32, u32, u32, u32)) -> u32 {
    let warps = threads.div_ceil(32);
    // Registers are allocated per warp in units of 256.
    let regs_per_warp = (u.registers.max(1) * 32).div_ceil(256) * 256;
    let by_regs = (sm.0 / regs_per_warp) / warps.max(1);
    let by_threads = sm.1 / threads.max(1);
    let smem = u.shared_bytes + dyn_smem;
    let by_smem = sm.3.checked_div(smem).unwrap_or(sm.2);
    by_regs.min(by_threads).min(sm.2).min(by_smem)
}

/// Runs launches on ptxsim and keeps, per kernel, its launch shape and counters.
struct Recorder {
    sim: SimExecutor,
    seen: RefCell<BTreeMap<&'static str, (Launch, ptxsim::LaunchStats)>>,
}

impl Executor for Recorder {
    type Buffer = SimBuffer;
    fn name(&self) -> &'static str {
        "ptxsim"
    }
    fn upload_bytes(&self, data: &[u8]) -> Result<SimBuffer> {
        self.sim.upload_bytes(data)
    }
    fn alloc_zeroed(&self, bytes: usize) -> Result<SimBuffer> {
        self.sim.alloc_zeroed(bytes)
    }
    fn download_bytes(&self, buf: &SimBuffer) -> Result<Vec<u8>> {
        self.sim.download_bytes(buf)
    }
    fn ptr(&self, buf: &SimBuffer) -> u64 {
        self.sim.ptr(buf)
    }
    fn sm_count(&self) -> Result<usize> {
        self.sim.sm_count()
    }
    fn launch<A: AsRef<[Arg]>>(&self, l: &Launch<A>) -> Result<()> {
        self.sim.launch(l)?;
        if let Some(st) = self.sim.last_stats() {
            self.seen
                .borrow_mut()
                .entry(l.kernel)
                .or_insert((l.to_vec(), st));
        }
        Ok(())
    }
}

fn cuobjdump() -> Option<PathBuf> {
    let local = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cuda/nvidia/cu13/bin/cuobjdump");
    std::env::var_os("CUOBJDUMP")
        .map(PathBuf::from)
        .or(Some(local))
        .filter(|p| p.is_file())
}

/// The SASS of a fatbin, by cuobjdump.
fn sass_text(tool: &PathBuf, fatbin: &[u8]) -> Option<String> {
    let path = std::env::temp_dir().join(format!("sparse24-report-{}.fatbin", std::process::id()));
    std::fs::write(&path, fatbin).ok()?;
    let o = Command::new(tool).arg("-sass").arg(&path).output();
    let _ = std::fs::remove_file(&path);
    Some(String::from_utf8_lossy(&o.ok()?.stdout).into_owned())
}

/// Static SASS counts per (kernel, arch) of the opcodes that matter here.
fn sass_mix(
    tool: &PathBuf,
    fatbin: &[u8],
) -> BTreeMap<(String, String), BTreeMap<&'static str, u32>> {
    const OPS: [(&str, &str); 10] = [
        ("HMMA.SP", "HMMA.SP"),
        ("HMMA.16816", "HMMA dense"),
        ("LDSM", "LDSM"),
        ("LDGSTS", "LDGSTS"),
        ("LDG.E.128", "LDG.128"),
        ("LDG.E.64", "LDG.64"),
        ("STG.E.128", "STG.128"),
        ("LDS.128", "LDS.128"),
        ("BAR.SYNC", "BAR"),
        ("HGMMA.SP", "HGMMA.SP"),
    ];
    let mut out = BTreeMap::new();
    let Some(text) = sass_text(tool, fatbin) else {
        return out;
    };
    let (mut arch, mut func) = (String::new(), String::new());
    for line in text.lines() {
        if let Some(a) = line.trim().strip_prefix("arch = ") {
            arch = a.to_string();
        } else if let Some(f) = line.trim().strip_prefix("Function : ") {
            func = f.to_string();
        } else if line.contains("/*") && !func.is_empty() {
            let e: &mut BTreeMap<&'static str, u32> =
                out.entry((func.clone(), arch.clone())).or_default();
            for (pat, name) in OPS {
                if line.contains(pat) {
                    *e.entry(name).or_default() += 1;
                }
            }
        }
    }
    out
}

fn representative_runs(rec: &Recorder) -> Result<()> {
    let mut rng = StdRng::seed_from_u64(1);
    let mut rand_w = |n: usize| -> Vec<bf16> {
        (0..n)
            .map(|_| {
                bf16::from_f32(rng.gen_range(0.05f32..1.0) * if rng.gen() { 1.0 } else { -1.0 })
            })
            .collect()
    };
    // Sparse GEMM: decode (16 tokens, split-K) and prefill (128 tokens).
    let (out, inn) = (256, 2048);
    let w = rand_w(out * inn);
    let s = prune::prune_magnitude(&w, out, inn)?;
    for tokens in [16usize, 128] {
        let x = rand_w(tokens * inn);
        let plan = SparseGemmPlan::choose(tokens, out, inn, gemm::DEFAULT_SM_COUNT)?;
        gemm::sparse_linear_with_plan_on(rec, &plan, &x, &s, &Epilogue::default(), DType::BF16)?;
        println!(
            "  ran {} tokens={tokens} out={out} in={inn}: {:?}, {} split(s)",
            plan.config.name(),
            plan.config,
            plan.splits
        );
    }
    // The larger prefill tiles (normally chosen from 256 tokens on), each forced.
    let (out, inn, tokens) = (256, 512, 256);
    let w = rand_w(out * inn);
    let s = prune::prune_magnitude(&w, out, inn)?;
    let x = rand_w(tokens * inn);
    for config in gemm::GemmConfig::PREFILL.into_iter().skip(1) {
        let plan = SparseGemmPlan::new(config, tokens, out, inn, 1)?;
        gemm::sparse_linear_with_plan_on(rec, &plan, &x, &s, &Epilogue::default(), DType::BF16)?;
        println!(
            "  ran {} tokens={tokens} out={out} in={inn}: {:?}, grid {:?}",
            config.name(),
            config,
            plan.grid()
        );
    }
    // The Hopper kernel (sm_90a) on the same shape, forced (plans pick it on
    // compute capability 9.0 only; ptxsim runs sm_90a code).
    for config in gemm::GemmConfig::WGMMA {
        let plan = SparseGemmPlan::new(config, tokens, out, inn, 1)?;
        gemm::sparse_linear_with_plan_on(rec, &plan, &x, &s, &Epilogue::default(), DType::BF16)?;
        println!(
            "  ran {} tokens={tokens} out={out} in={inn}: {:?}, grid {:?}",
            config.name(),
            config,
            plan.grid()
        );
    }
    // Formats and mask sampling on a 128×1024 bf16 weight.
    let (rows, cols) = (128, 1024);
    let w = rand_w(rows * cols);
    let s = prune::prune_magnitude(&w, rows, cols)?;
    decompress::decompress_on(rec, &s)?;
    gprune::prune_compress_on(rec, &w, rows, cols, gprune::HostSelection::Magnitude)?;
    let logits: Vec<f32> = (0..rows * cols / 4 * 6)
        .map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 5000.0)
        .collect();
    let p = SampleParams {
        seed: 42,
        step: 1,
        kappa: 100.0,
        tau: 4.0,
    };
    mask::forward_on(rec, &w, rows, cols, &logits, &p, Sampling::Soft, true)?;
    let dw = rand_w(rows * cols);
    mask::backward_on(rec, &w, rows, cols, &logits, &dw, 1e-5, &p, Sampling::Soft)?;
    mask::hard_mask_compress_on(rec, &w, rows, cols, &logits)?;
    Ok(())
}

fn main() -> Result<()> {
    if !kernels::compiled() {
        println!(
            "this build carries no kernels (nvcc was not found at build time): nothing to report"
        );
        return Ok(());
    }
    println!("# sparse24 kernel report (no GPU needed)\n");
    println!("representative runs on ptxsim:");
    let rec = Recorder {
        sim: SimExecutor::new(),
        seen: RefCell::new(BTreeMap::new()),
    };
    representative_runs(&rec)?;
    let seen = rec.seen.borrow();
    let tool = cuobjdump();

    println!("\n## Resources (ptxas) and occupancy (CTAs/SM at the launch's block and dynamic shared memory)\n");
    println!("| kernel | arch | regs | static smem | dyn smem | spill B | block | CTAs/SM |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut mixes = BTreeMap::new();
    for m in kernels::MODULES {
        if let Some(t) = &tool {
            mixes.extend(sass_mix(t, m.fatbin));
        }
        for u in kernels::parse_ptxas_report(m.ptxas_report) {
            if u.arch != "sm_80" && u.arch != "sm_90" && u.arch != "sm_90a" {
                continue;
            }
            let launch = seen.get(u.kernel.as_str()).map(|(l, _)| l);
            let (block, dyn_smem) = launch
                .map(|l| (l.block[0] * l.block[1] * l.block[2], l.dynamic_shared_bytes))
                .unwrap_or((0, 0));
            let occ = if block == 0 {
                "-".to_string()
            } else {
                occupancy(
                    &u,
                    block,
                    dyn_smem,
                    if u.arch == "sm_80" { SM80 } else { SM90 },
                )
                .to_string()
            };
            println!(
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                u.kernel,
                u.arch,
                u.registers,
                u.shared_bytes,
                dyn_smem,
                u.spill_store_bytes + u.spill_load_bytes,
                if block == 0 {
                    "-".into()
                } else {
                    block.to_string()
                },
                occ
            );
        }
    }

    println!("\n## SASS instruction mix (static counts, sm_90)\n");
    match &tool {
        None => {
            println!("cuobjdump not found (run scripts/toolchain/install-cuda-compiler.sh, or set CUOBJDUMP)")
        }
        Some(_) => {
            for ((func, arch), ops) in &mixes {
                if arch == "sm_90" && !ops.is_empty() {
                    let s: Vec<String> = ops.iter().map(|(k, v)| format!("{k} {v}")).collect();
                    println!("- {func}: {}", s.join(", "));
                }
            }
        }
    }

    println!("\n## ptxsim counters on the representative shapes\n");
    println!("| kernel | grid×block | thread-instr | tensor instr | instr per tensor op | sectors/request | bank conflicts | global B read / written |");
    println!("|---|---|---|---|---|---|---|---|");
    for (k, (l, st)) in seen.iter() {
        // mma/mma.sp (warp-level) and wgmma (warpgroup-level) issued.
        let tensor = st.tensor_instructions() + st.wgmma_instructions();
        let per = if tensor > 0 {
            format!("{:.1}", st.warp_instructions as f64 / tensor as f64)
        } else {
            "-".into()
        };
        println!(
            "| {k} | {:?}×{:?} | {} | {tensor} | {per} | {:.2} | {} | {} / {} |",
            l.grid,
            l.block,
            st.thread_instructions,
            st.sectors_per_request(),
            st.shared_bank_conflicts,
            st.global_bytes_read,
            st.global_bytes_written
        );
    }

    println!("\n## Roofline floor of the sparse GEMM on H100 (3.0 TB/s, 790 TFLOP/s dense, 1580 sparse, bf16)\n");
    println!(
        "| out×in | tokens | sparse floor µs | bound | dense floor µs | best ratio dense/sparse |"
    );
    println!("|---|---|---|---|---|---|");
    for (out, inn) in [
        (4096usize, 4096usize),
        (14336, 4096),
        (4096, 14336),
        (28672, 8192),
        (8192, 28672),
    ] {
        for tokens in [1usize, 16, 128, 2048, 8192] {
            let flops = 2.0 * (tokens * out * inn) as f64;
            let act = 2.0 * (tokens * (inn + out)) as f64;
            let sparse_bytes = 0.5625 * 2.0 * (out * inn) as f64 + act;
            let dense_bytes = 2.0 * (out * inn) as f64 + act;
            let (sm, sc) = (sparse_bytes / H100_BW, flops / H100_SPARSE_FLOPS);
            let dense = (dense_bytes / H100_BW).max(flops / H100_DENSE_FLOPS);
            let sparse = sm.max(sc);
            println!(
                "| {out}×{inn} | {tokens} | {:.1} | {} | {:.1} | {:.2} |",
                sparse * 1e6,
                if sm >= sc { "memory" } else { "compute" },
                dense * 1e6,
                dense / sparse
            );
        }
    }

    let hopper_sass = tool.as_ref().and_then(|t| {
        kernels::module("sparse_gemm_sm90")
            .ok()
            .and_then(|m| sass_text(t, m.fatbin))
    });
    hopper::report(hopper_sass.as_deref());
    let gemm_sass = tool.as_ref().and_then(|t| {
        kernels::module("sparse_gemm")
            .ok()
            .and_then(|m| sass_text(t, m.fatbin))
    });
    staged::report(&seen, gemm_sass.as_deref());
    decode::report();

    // Every kernel on every architecture (the table above shows sm_80 and sm_90 only):
    // the figures scripts/test.sh puts in the CI log.
    println!("\n## ptxas: registers and spills per kernel and architecture\n");
    println!("```text");
    for m in kernels::MODULES {
        for u in kernels::parse_ptxas_report(m.ptxas_report) {
            println!(
                "  {:<14} {:<28} {:<6} {:>4} regs  {} spill bytes",
                m.name,
                u.kernel,
                u.arch,
                u.registers,
                u.spill_store_bytes + u.spill_load_bytes
            );
        }
    }
    println!("```");
    wgmma_speed()?;
    Ok(())
}

/// ptxsim's own speed on wgmma code, on one host thread: the pipelined Hopper toy of
/// ptxsim/tests/kernels/pipeline.cu (TMA ring of B, consumer warpgroup issuing m64n64k16
/// wgmmas with A from registers, stmatrix, TMA store) on small-integer data.
fn wgmma_speed() -> Result<()> {
    const PTX: &str = include_str!("../ptxsim/tests/kernels/pipeline.ptx");
    let sim = sparse24::Error::from;
    let (ctas, ktiles) = (8usize, 8usize);
    let module = ptxsim::Module::parse(PTX).map_err(sim)?;
    let mut dev = ptxsim::Device::new();
    dev.set_threads(Some(1));
    let mut rng = StdRng::seed_from_u64(7);
    let small = |rng: &mut StdRng| bf16::from_f32(rng.gen_range(-3i32..=3) as f32).to_bits();
    let b: Vec<u8> = (0..64 * 64 * ktiles)
        .flat_map(|_| small(&mut rng).to_le_bytes())
        .collect();
    let a: Vec<u8> = (0..ctas * ktiles * 128 * 16)
        .flat_map(|_| ((small(&mut rng) as u32) | (small(&mut rng) as u32) << 16).to_le_bytes())
        .collect();
    let (gb, ga) = (
        dev.alloc(b.len()).map_err(sim)?,
        dev.alloc(a.len()).map_err(sim)?,
    );
    dev.write(gb, &b).map_err(sim)?;
    dev.write(ga, &a).map_err(sim)?;
    let gd = dev.alloc(64 * 64 * 2 * ctas).map_err(sim)?;
    let (cfg, params) = pipeline_case::launch(gb, ga, gd, ctas, ktiles)
        .map_err(|e| sparse24::Error::Sim(format!("tensor map: {e}")))?;
    let start = std::time::Instant::now();
    let st = dev
        .launch(&module, "pipeline", &cfg, &params)
        .map_err(sim)?;
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    println!("\n## ptxsim speed on wgmma code (one host thread, wall time)\n");
    println!(
        "pipeline.ptx (TMA ring → wgmma m64n64k16, A from registers → stmatrix → TMA store), {ctas} CTAs × {} threads, K = {}: {} thread-instructions and {} wgmma in {:.3} s = {:.1} M thread-instructions/s, {:.0} wgmma/s (each an exact 64×64×16 product, every descriptor byte through the race shadow)",
        pipeline_case::THREADS,
        64 * ktiles,
        st.thread_instructions,
        st.wgmma_instructions(),
        secs,
        st.thread_instructions as f64 / secs / 1e6,
        st.wgmma_instructions() as f64 / secs
    );
    Ok(())
}
