//! The sparse GEMM on a real GPU against the f64 CPU reference: every test case of
//! tests/common/gemm_cases.rs from the fatbin and from the compute_80 PTX (the code an
//! A100 build JITs), LLM-sized shapes with the heuristic's plan, every prefill tile on
//! larger shapes (fatbin and PTX), and split-K determinism.

#[path = "../common/gemm_cases.rs"]
mod gemm_cases;

use super::GpuTest;
use gemm_cases::{
    run_case, Case, CASES, DECODE90_CASES, DECODE_CASES, WGMMA_CASES, WGMMA_PERSISTENT_CASES,
};
use libtest_mimic::Failed;
use sparse24::cuda::{CodeChoice, CudaExecutor};
use sparse24::launch::Executor;
use sparse24::ops::gemm::{max_shared_per_block, GemmConfig, SparseGemmPlan};
use sparse24::{Activation, DType};

/// The Hopper kernel's tests: run on compute capability 9.0 only (tests/gpu/main.rs
/// marks them ignored elsewhere: sm_90a code runs on no other chip).
pub fn hopper_tests() -> Vec<(&'static str, GpuTest)> {
    vec![
        ("hopper_gemm_cases", hopper_cases),
        ("hopper_gemm_llm_shapes", hopper_llm_shapes),
        ("hopper_decode16c_cases", hopper_decode16c_cases),
    ]
}

/// tests/common/gemm_cases.rs's DECODE90_CASES (the sm_90 bulk-copy decode tile,
/// split-K across a thread-block cluster) from the fatbin's sm_90 code, each run twice
/// (the two relative errors equal to the bit: a proxy for identical outputs).
fn hopper_decode16c_cases() -> Result<(), Failed> {
    let exec = CudaExecutor::new(CodeChoice::Fatbin)?;
    for (i, c) in DECODE90_CASES.iter().enumerate() {
        let (err, tol, p) = run_case(&exec, c, 900 + i as u64)?;
        let (err2, _, _) = run_case(&exec, c, 900 + i as u64)?;
        if err.to_bits() != err2.to_bits() {
            return Err(format!("{c:?}: two runs differ ({err:e} vs {err2:e})").into());
        }
        println!(
            "{:?} {:?} t={} {}x{} splits={} (cluster): rel err {err:.2e} (≤ {tol:.0e})",
            p.config, c.dtype, c.tokens, c.out, c.inn, p.splits
        );
    }
    Ok(())
}

/// tests/common/gemm_cases.rs's WGMMA_CASES from the fatbin's sm_90a code.
fn hopper_cases() -> Result<(), Failed> {
    let exec = CudaExecutor::new(CodeChoice::Fatbin)?;
    // The SS form (feature hopper-ss, the GPU bundle's) beside the RS kernel.
    #[cfg(feature = "hopper-ss")]
    let ss = gemm_cases::WGMMA_SS_CASES;
    #[cfg(not(feature = "hopper-ss"))]
    let ss: &[Case] = &[];
    for (i, c) in WGMMA_CASES
        .iter()
        .chain(WGMMA_PERSISTENT_CASES)
        .chain(ss)
        .enumerate()
    {
        let (err, tol, p) = run_case(&exec, c, 300 + i as u64)?;
        println!(
            "{:?} {:?} t={} {}x{} splits={} grid={:?}: rel err {err:.2e} (≤ {tol:.0e})",
            p.config,
            c.dtype,
            c.tokens,
            c.out,
            c.inn,
            p.splits,
            p.launch_grid()
        );
    }
    Ok(())
}

/// LLM-sized shapes with tails on the Hopper kernel, the plan chosen for this device
/// (which must be the Hopper kernel from 64 tokens on), against the f64 reference.
fn hopper_llm_shapes() -> Result<(), Failed> {
    let exec = CudaExecutor::new(CodeChoice::Fatbin)?;
    let dev = exec.gemm_device()?;
    for &(tokens, out, inn, dtype, out_dtype, act, beta) in &[
        (
            2048,
            4096,
            4096,
            DType::BF16,
            DType::BF16,
            Activation::None,
            None,
        ),
        (
            300,
            1000,
            2064,
            DType::F16,
            DType::F32,
            Activation::Gelu,
            Some(0.5),
        ),
        (
            129,
            4096,
            14336,
            DType::BF16,
            DType::F32,
            Activation::Silu,
            None,
        ),
    ] {
        let p = SparseGemmPlan::choose_for_with(tokens, out, inn, dev, None)?;
        if p.config != GemmConfig::Wgmma256x128 {
            return Err(format!(
                "{tokens}x{out}x{inn}: the plan took {:?} on {dev:?}",
                p.config
            )
            .into());
        }
        let c = Case {
            config: p.config,
            dtype,
            tokens,
            out,
            inn,
            out_dtype,
            act,
            alpha: 1.0,
            beta,
            bias: true,
            splits: p.splits,
            resident_ctas: p.resident_ctas,
        };
        let (err, tol, p) = run_case(&exec, &c, 13)?;
        println!(
            "{} {dtype:?}->{out_dtype:?} t={tokens} {out}x{inn} grid={:?}: rel err {err:.2e} (≤ {tol:.0e})",
            p.config.name(),
            p.grid()
        );
    }
    Ok(())
}

pub fn tests() -> Vec<(&'static str, GpuTest)> {
    vec![
        ("gemm_cases_fatbin", || cases(CodeChoice::Fatbin)),
        ("gemm_cases_compute80_ptx", || cases(CodeChoice::Ptx)),
        ("gemm_llm_shapes_fatbin", llm_shapes),
        ("gemm_llm_prefill_tiles_fatbin", || {
            prefill_tiles(CodeChoice::Fatbin)
        }),
        ("gemm_llm_prefill_tiles_compute80_ptx", || {
            prefill_tiles(CodeChoice::Ptx)
        }),
        ("gemm_split_k_deterministic", determinism),
    ]
}

fn cases(code: CodeChoice) -> Result<(), Failed> {
    let exec = CudaExecutor::new(code)?;
    for (i, c) in CASES.iter().chain(DECODE_CASES).enumerate() {
        let (err, tol, p) = run_case(&exec, c, 100 + i as u64)?;
        println!(
            "{:?} {:?} t={} {}x{} splits={}: rel err {err:.2e} (≤ {tol:.0e})",
            p.config, c.dtype, c.tokens, c.out, c.inn, p.splits
        );
    }
    Ok(())
}

fn llm_shapes() -> Result<(), Failed> {
    let exec = CudaExecutor::new(CodeChoice::Fatbin)?;
    let sms = exec.sm_count()?;
    for &(tokens, out, inn) in &[
        (1, 4096, 4096),
        (16, 14336, 4096),
        (7, 4096, 14336),
        (256, 4096, 4096),
    ] {
        for dtype in [DType::BF16, DType::F16] {
            let p = SparseGemmPlan::choose(tokens, out, inn, sms)?;
            let c = Case {
                config: p.config,
                dtype,
                tokens,
                out,
                inn,
                out_dtype: DType::F32,
                act: Activation::None,
                alpha: 1.0,
                beta: None,
                bias: true,
                splits: p.splits,
                resident_ctas: p.resident_ctas,
            };
            let (err, tol, p) = run_case(&exec, &c, 7)?;
            println!(
                "{:?} {dtype:?} t={tokens} {out}x{inn} splits={}: rel err {err:.2e} (≤ {tol:.0e})",
                p.config, p.splits
            );
        }
    }
    Ok(())
}

/// Every prefill tile on shapes several CTAs wide and deep, with tails, against the
/// f64 reference (the benchmark's `--prefill-tiles` times the same kernels). Named
/// `llm` so that scripts/gpu-check.sh's sanitizer phases (small shapes only) skip it.
fn prefill_tiles(code: CodeChoice) -> Result<(), Failed> {
    let exec = CudaExecutor::new(code)?;
    let limit = max_shared_per_block(exec.gemm_device()?.compute_capability);
    // Tiles this device cannot hold (the wide staged tiles on a 99 KiB part) are the
    // plan's typed error, not a case.
    for config in GemmConfig::PREFILL
        .into_iter()
        .filter(|c| c.tile().shared_bytes() <= limit)
    {
        for &(tokens, out, inn, dtype, out_dtype, act, beta, splits) in &[
            (
                300,
                2048,
                2048,
                DType::BF16,
                DType::BF16,
                Activation::None,
                None,
                1,
            ),
            (
                520,
                1000,
                2064,
                DType::F16,
                DType::F32,
                Activation::Gelu,
                Some(0.5),
                1,
            ),
            (
                257,
                520,
                3072,
                DType::BF16,
                DType::F32,
                Activation::Silu,
                None,
                3,
            ),
        ] {
            let c = Case {
                config,
                dtype,
                tokens,
                out,
                inn,
                out_dtype,
                act,
                alpha: 1.0,
                beta,
                bias: true,
                splits,
                resident_ctas: 0,
            };
            let (err, tol, p) = run_case(&exec, &c, 11)?;
            println!(
                "{} {dtype:?}->{out_dtype:?} t={tokens} {out}x{inn} grid={:?} splits={}: rel err {err:.2e} (≤ {tol:.0e})",
                config.name(),
                p.grid(),
                p.splits
            );
        }
    }
    Ok(())
}

fn determinism() -> Result<(), Failed> {
    let exec = CudaExecutor::new(CodeChoice::Fatbin)?;
    let c = Case {
        config: GemmConfig::Decode,
        dtype: DType::BF16,
        tokens: 5,
        out: 4096,
        inn: 4096,
        out_dtype: DType::F32,
        act: Activation::Silu,
        alpha: 1.0,
        beta: None,
        bias: false,
        splits: 8,
        resident_ctas: 0,
    };
    let (a, b) = gemm_cases::run_twice(&exec, &c, 3)?;
    if a != b {
        return Err("split-K result differs between two runs with one workspace".into());
    }
    // The decode tiles' batched reduction: 12 and 20 splits (more than one batch of
    // decode16's 8 partials), real CTA orders.
    for (config, tokens, splits) in [(GemmConfig::Decode8, 5, 12), (GemmConfig::Decode16, 13, 20)] {
        let c = Case {
            config,
            tokens,
            splits,
            ..c
        };
        let (a, b) = gemm_cases::run_twice(&exec, &c, 3)?;
        if a != b {
            return Err(format!("{config:?}: split-K result differs between two runs").into());
        }
    }
    Ok(())
}
