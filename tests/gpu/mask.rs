//! Prune + compress, check and the fused mask-sampling kernels on a real GPU against
//! the CPU reference: the cases of tests/common/{prune,mask}_cases.rs from the fatbin
//! and from the compute_80 PTX, an LLM-sized layer bit for bit, and the bandwidth of
//! prune + compress and of the forward.

#[path = "../common/mask_cases.rs"]
mod mask_cases;
#[path = "../common/prune_cases.rs"]
mod prune_cases;

use super::GpuTest;
use libtest_mimic::Failed;
use rand::{rngs::StdRng, SeedableRng};
use sparse24::cuda::{CodeChoice, CudaExecutor};
use sparse24::launch::Executor;
use sparse24::mask::{SampleParams, Sampling, CANDIDATES};
use sparse24::ops::{mask as dev, prune as dprune};
use sparse24::{bf16, prune, Sparse24};
use std::time::Instant;

pub fn tests() -> Vec<(&'static str, GpuTest)> {
    vec![
        ("prune_cases_fatbin", || prune_all(CodeChoice::Fatbin)),
        ("prune_cases_compute80_ptx", || prune_all(CodeChoice::Ptx)),
        ("mask_cases_fatbin", || mask_all(CodeChoice::Fatbin)),
        ("mask_cases_compute80_ptx", || mask_all(CodeChoice::Ptx)),
        ("prune_and_mask_llm_layer_bf16", llm_layer),
    ]
}

fn prune_all(code: CodeChoice) -> Result<(), Failed> {
    prune_cases::run_all(&CudaExecutor::new(code)?, 21).map_err(Failed::from)
}

fn mask_all(code: CodeChoice) -> Result<(), Failed> {
    mask_cases::run_all(&CudaExecutor::new(code)?, 31).map_err(Failed::from)
}

/// Seconds per run of `launches` (after a warm-up), synchronising only at the end.
fn time_launches(
    exec: &CudaExecutor,
    launches: &[sparse24::launch::Launch],
) -> Result<f64, Failed> {
    let run = || launches.iter().try_for_each(|l| exec.launch(l));
    run()?;
    exec.stream()
        .synchronize()
        .map_err(|e| Failed::from(e.to_string()))?;
    let reps = 20;
    let t = Instant::now();
    for _ in 0..reps {
        run()?;
    }
    exec.stream()
        .synchronize()
        .map_err(|e| Failed::from(e.to_string()))?;
    Ok(t.elapsed().as_secs_f64() / reps as f64)
}

fn llm_layer() -> Result<(), Failed> {
    let exec = CudaExecutor::new(CodeChoice::Fatbin)?;
    let (rows, cols) = (4096, 4096);
    let n = rows * cols;
    let mut rng = StdRng::seed_from_u64(2);
    let w = mask_cases::weights::<bf16>(&mut rng, n);
    // Bit for bit on a full layer.
    let gpu = dprune::prune_compress_on(&exec, &w, rows, cols, dprune::HostSelection::Magnitude)?;
    let cpu = Sparse24::compress_masked(&w, &prune::magnitude_mask(&w, rows, cols)?)?;
    if gpu != cpu || gpu.metadata() != cpu.metadata() {
        return Err("4096x4096 bf16 prune_compress differs from the CPU".into());
    }
    // Bandwidth: bytes that must move over time.
    let dw = exec.upload(&w)?;
    let values = exec.alloc_zeroed(n)?;
    let meta = exec.alloc_zeroed(n / 8)?;
    let status = exec.alloc_zeroed(32)?;
    let l = dprune::prune_compress_launches(
        sparse24::DType::BF16,
        dprune::Selection::Magnitude,
        exec.ptr(&dw),
        exec.ptr(&values),
        exec.ptr(&meta),
        exec.ptr(&status),
        rows,
        cols,
    )?;
    let t = time_launches(&exec, &l)?;
    let bytes = (2 * n + n + n / 8) as f64;
    println!(
        "prune_compress bf16 {rows}x{cols}: {:.1} us, {:.0} GB/s",
        t * 1e6,
        bytes / t / 1e9
    );
    let lg = mask_cases::logits(&mut rng, n / 4 * CANDIDATES);
    let dl = exec.upload(&lg)?;
    let out = exec.alloc_zeroed(2 * n)?;
    let ws = exec.alloc_zeroed(4 * dev::forward_workspace_len(rows, cols)?)?;
    let total = exec.alloc_zeroed(4)?;
    let p = SampleParams {
        seed: 1,
        step: 2,
        kappa: 200.0,
        tau: 1.0,
    };
    let reg = dev::RegSum {
        workspace: exec.ptr(&ws),
        out: exec.ptr(&total),
    };
    let l = dev::forward_launches(
        sparse24::DType::BF16,
        exec.ptr(&dw),
        exec.ptr(&dl),
        exec.ptr(&out),
        Some(reg),
        rows,
        cols,
        &p,
        Sampling::Soft,
    )?;
    let t = time_launches(&exec, &l)?;
    let bytes = (4 * n + 6 * n) as f64; // W in, W_eff out, 6 f32 logits per 4 weights
    println!(
        "mask_forward bf16 soft+reg {rows}x{cols}: {:.1} us, {:.0} GB/s",
        t * 1e6,
        bytes / t / 1e9
    );
    Ok(())
}
