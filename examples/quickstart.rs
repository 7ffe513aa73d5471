//! The main job: prune a 4096×4096 bf16 weight to 2:4 by magnitude, compress it, run
//! the sparse linear layer Y = X·Wᵀ for a batch of tokens, and compare with the dense
//! layer on the pruned weight: error against an f64 reference, and time.
//! On the GPU when one is present, otherwise on the CPU reference path (it says which).
//!
//! `cargo run --release --example quickstart -- [--out 4096] [--in 4096] [--tokens 64]`

use rand::{rngs::StdRng, Rng, SeedableRng};
use sparse24::cuda::{CodeChoice, CudaExecutor};
use sparse24::launch::Executor;
use sparse24::ops::gemm::{self, DeviceEpilogue, DeviceSlice, DeviceSparse24, SparseGemmPlan};
use sparse24::reference::{self, rel_error};
use sparse24::Epilogue;
use sparse24::{bf16, prune, DType, Sparse24};
use std::time::Instant;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (out, inn, tokens) = (arg("--out", 4096), arg("--in", 4096), arg("--tokens", 64));
    let mut rng = StdRng::seed_from_u64(2024);
    let w: Vec<bf16> = (0..out * inn)
        .map(|_| bf16::from_f32(rng.gen_range(-1.0..1.0)))
        .collect();
    let x: Vec<bf16> = (0..tokens * inn)
        .map(|_| bf16::from_f32(rng.gen_range(-1.0..1.0)))
        .collect();

    let t = Instant::now();
    let mask = prune::magnitude_mask(&w, out, inn)?;
    let sparse = sparse24::Sparse24::compress_masked(&w, &mask)?;
    println!(
        "pruned and compressed W [{out} x {inn}] bf16 in {:.1} ms: {} -> {} bytes ({:.4}x)",
        t.elapsed().as_secs_f64() * 1e3,
        out * inn * 2,
        sparse.bytes(),
        sparse.bytes() as f64 / (out * inn * 2) as f64
    );
    let dense_pruned = sparse.decompress();
    let epi = Epilogue::<bf16>::default();

    // f64 reference on a sample of tokens (the full one is slow for big shapes).
    let sample = tokens.min(4);
    let reference = reference::linear_sparse_f64(&x[..sample * inn], sample, &sparse, &epi)?;

    match sparse24::cuda::context() {
        Ok(_) => return run_gpu(&x, tokens, &sparse, &reference, sample),
        Err(e) => println!("{e}: running the CPU reference path"),
    }
    let t = Instant::now();
    let y_sparse = reference::linear_sparse(&x, tokens, &sparse, &epi)?;
    let sparse_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let y_dense = reference::linear_dense(&x, tokens, &dense_pruned, out, inn, &epi)?;
    let dense_s = t.elapsed().as_secs_f64();

    let head = |y: &[bf16]| {
        y[..sample * out]
            .iter()
            .map(|v| v.to_f64())
            .collect::<Vec<_>>()
    };
    let flops = 2.0 * (tokens * out * inn) as f64;
    println!(
        "CPU path, {tokens} tokens, {} threads:",
        rayon::current_num_threads()
    );
    println!(
        "  sparse: {:8.1} ms  {:6.1} GFLOP/s (dense-equivalent)  rel. error vs f64 {:.2e}",
        sparse_s * 1e3,
        flops / sparse_s / 1e9,
        rel_error(&head(&y_sparse), &reference)
    );
    println!(
        "  dense:  {:8.1} ms  {:6.1} GFLOP/s                     rel. error vs f64 {:.2e}",
        dense_s * 1e3,
        flops / dense_s / 1e9,
        rel_error(&head(&y_dense), &reference)
    );
    println!("  sparse/dense speed ratio: {:.2}x", dense_s / sparse_s);
    Ok(())
}

/// The GPU path: the mma.sp sparse GEMM on device 0, timed over repeated launches.
fn run_gpu(
    x: &[bf16],
    tokens: usize,
    sparse: &Sparse24<bf16>,
    reference: &[f64],
    sample: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let (out, inn) = (sparse.rows(), sparse.cols());
    let exec = CudaExecutor::new(CodeChoice::Fatbin)?;
    let ctx = sparse24::cuda::context()?;
    let sms = exec.sm_count()?;
    println!("GPU path: {} ({sms} SMs)", ctx.name()?);
    let plan = SparseGemmPlan::choose(tokens, out, inn, sms)?;
    let w = DeviceSparse24::upload(&exec, sparse)?;
    let xb = exec.upload(x)?;
    let yb = exec.alloc_zeroed(tokens * out * 2)?;
    let ws = exec.alloc_zeroed(plan.workspace_bytes().max(1))?;
    let workspace = (plan.workspace_bytes() > 0).then(|| DeviceSlice {
        ptr: exec.ptr(&ws),
        len: plan.workspace_bytes(),
    });
    let epi = DeviceEpilogue::default();
    let run = || {
        gemm::sparse_linear_with_workspace(&exec, &plan, &w, &xb, &yb, DType::BF16, &epi, workspace)
    };
    run()?;
    exec.stream().synchronize()?;
    let y = gemm::output_to_f32(&exec.download_bytes(&yb)?, DType::BF16);
    let head: Vec<f64> = y[..sample * out].iter().map(|&v| v as f64).collect();
    let reps = 50;
    let t = Instant::now();
    for _ in 0..reps {
        run()?;
    }
    exec.stream().synchronize()?;
    let s = t.elapsed().as_secs_f64() / reps as f64;
    let flops = 2.0 * (tokens * out * inn) as f64;
    println!(
        "  sparse ({:?}, {} split(s)): {:8.3} ms  {:7.1} TFLOP/s (dense-equivalent)  {:6.0} GB/s of W  rel. error vs f64 {:.2e}",
        plan.config,
        plan.splits,
        s * 1e3,
        flops / s / 1e12,
        sparse.bytes() as f64 / s / 1e9,
        rel_error(&head, reference)
    );
    println!(
        "  (dense cuBLAS and cuSPARSELt side by side: cargo run --release --example gpu-bench)"
    );
    Ok(())
}
