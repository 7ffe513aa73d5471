//! ptxsim against the GPU (issue 6, GPU check phase "crosscheck"): every kernel family
//! runs the same PTX (the compute_80 text, `CodeChoice::Ptx`, JIT-compiled by the
//! driver) on the same inputs through [`CudaExecutor`] and through ptxsim's
//! [`SimExecutor`], and the outputs are compared: bit for bit for integer and layout
//! kernels (decompress, prune + compress, hard-mask export, Philox), within rounding
//! for float kernels (sparse GEMM, soft mask sampling), reporting the largest absolute
//! and relative difference. One line per case; exit status 1 on any mismatch.
//!
//! ```text
//! cargo run --release --example crosscheck            # GPU vs ptxsim
//! cargo run --release --example crosscheck -- --sim-only   # ptxsim side only (no GPU)
//! ```
//! Without a CUDA device it prints "skipped: no CUDA device (...)" and exits 0.
//!
//! Each case is written once, generic over the [`Executor`] trait
//! (`run_case<E: Executor>(exec, case) -> Result<Vec<u8>>`).

use half::{bf16, f16};
use rand::{rngs::StdRng, Rng, SeedableRng};
use sparse24::cuda::{CodeChoice, CudaExecutor};
use sparse24::launch::Executor;
use sparse24::mask::{SampleParams, Sampling};
use sparse24::ops::gemm::{sparse_linear_with_plan_on, GemmConfig, SparseGemmPlan};
use sparse24::ops::prune::HostSelection;
use sparse24::ops::{decompress, mask, prune as dprune};
use sparse24::sim::SimExecutor;
use sparse24::{prune, Activation, DType, Element, Epilogue, Result, Sparse24};
use std::process::ExitCode;
use std::time::Instant;

/// How two outputs must agree.
#[derive(Copy, Clone, Debug)]
enum Compare {
    /// Byte for byte.
    Exact,
    /// As little-endian values of this dtype, |a − b| ≤ rtol·|b| + atol·max|b|.
    Float { dtype: DType, rtol: f64, atol: f64 },
}

#[derive(Copy, Clone, Debug)]
enum Kind {
    Decompress,
    Gemm {
        config: GemmConfig,
        tokens: usize,
        out_dtype: DType,
        act: Activation,
        splits: usize,
    },
    PruneMagnitude,
    PruneScores,
    MaskForward(Sampling),
    MaskHardCompress,
    Philox {
        groups: usize,
    },
}

#[derive(Copy, Clone, Debug)]
struct Case {
    kind: Kind,
    dtype: DType,
    rows: usize,
    cols: usize,
}

impl Case {
    fn name(&self) -> String {
        let shape = format!("{}x{}", self.rows, self.cols);
        let d = self.dtype.name();
        match self.kind {
            Kind::Decompress => format!("decompress {d} {shape}"),
            Kind::Gemm {
                config,
                tokens,
                out_dtype,
                act,
                splits,
            } => format!(
                "gemm {} {d}->{} t={tokens} {shape} {act:?} splits={splits}",
                config.name(),
                out_dtype.name()
            ),
            Kind::PruneMagnitude => format!("prune magnitude {d} {shape}"),
            Kind::PruneScores => format!("prune scores {d} {shape}"),
            Kind::MaskForward(s) => format!("mask forward {s:?} {d} {shape}"),
            Kind::MaskHardCompress => format!("mask hard compress {d} {shape}"),
            Kind::Philox { groups } => format!("philox words {groups} groups"),
        }
    }

    fn compare(&self) -> Compare {
        let ulp16 = |d: DType| match d {
            DType::BF16 => 2f64.powi(-7),
            DType::F16 => 2f64.powi(-10),
            DType::F32 => 1e-5,
        };
        match self.kind {
            // f32 results are compared as f32 (bf16/f16 outputs are exact in f32);
            // the sum order inside the tensor core is not specified.
            Kind::Gemm { out_dtype, .. } => Compare::Float {
                dtype: DType::F32,
                rtol: 2.0 * ulp16(out_dtype),
                atol: 1e-5,
            },
            // exp/log go through approximate PTX instructions.
            Kind::MaskForward(_) => Compare::Float {
                dtype: self.dtype,
                rtol: 2.0 * ulp16(self.dtype).max(1e-5),
                atol: 1e-6,
            },
            _ => Compare::Exact,
        }
    }
}

fn cases() -> Vec<Case> {
    use DType::{BF16, F16, F32};
    use GemmConfig::{
        Decode, Prefill, PrefillT128x128 as T128, PrefillT128x128A2 as T128A2,
        PrefillT256x64 as T256, PrefillT256x64W16 as T256W16,
    };
    let mut v = Vec::new();
    for (dtype, rows, cols) in [(F32, 37, 80), (F16, 64, 128), (BF16, 33, 48)] {
        v.push(Case {
            kind: Kind::Decompress,
            dtype,
            rows,
            cols,
        });
    }
    for (config, dtype, tokens, rows, cols, out_dtype, act, splits) in [
        (Decode, BF16, 1, 40, 272, BF16, Activation::None, 1),
        (Decode, F16, 7, 48, 1024, F32, Activation::Silu, 4),
        (Decode, BF16, 16, 100, 768, F32, Activation::Gelu, 3),
        (Prefill, F16, 70, 72, 96, F16, Activation::Relu, 1),
        (Prefill, BF16, 64, 40, 528, F32, Activation::None, 2),
        (T128, BF16, 130, 136, 272, F32, Activation::None, 1),
        (T128A2, F16, 37, 72, 528, F16, Activation::Gelu, 2),
        (T256, BF16, 70, 260, 96, BF16, Activation::Silu, 1),
        (T256W16, F16, 70, 260, 528, F32, Activation::Relu, 2),
        (T256, F16, 37, 72, 48, F32, Activation::GeluErf, 1),
    ] {
        v.push(Case {
            kind: Kind::Gemm {
                config,
                tokens,
                out_dtype,
                act,
                splits,
            },
            dtype,
            rows,
            cols,
        });
    }
    for (dtype, rows, cols) in [(F32, 37, 80), (F16, 65, 64), (BF16, 3, 48)] {
        v.push(Case {
            kind: Kind::PruneMagnitude,
            dtype,
            rows,
            cols,
        });
        v.push(Case {
            kind: Kind::PruneScores,
            dtype,
            rows,
            cols,
        });
    }
    for (dtype, rows, cols) in [(F32, 37, 80), (BF16, 65, 64), (F16, 3, 48)] {
        v.push(Case {
            kind: Kind::MaskForward(Sampling::Soft),
            dtype,
            rows,
            cols,
        });
        v.push(Case {
            kind: Kind::MaskForward(Sampling::Hard),
            dtype,
            rows,
            cols,
        });
        v.push(Case {
            kind: Kind::MaskHardCompress,
            dtype,
            rows,
            cols,
        });
    }
    v.push(Case {
        kind: Kind::Philox { groups: 1000 },
        dtype: F32,
        rows: 1,
        cols: 16,
    });
    v
}

/// Random values in (−1, 1), never zero (seeded: both executors see the same).
fn values<T: Element>(rng: &mut StdRng, n: usize) -> Vec<T> {
    (0..n)
        .map(|_| {
            let mut u: f32 = rng.gen_range(-1.0..1.0);
            if u.abs() < 1e-3 {
                u = 0.5;
            }
            T::from_f32(u)
        })
        .collect()
}

fn sparse_bytes<T: Element>(s: &Sparse24<T>) -> Vec<u8> {
    let mut b = bytemuck::cast_slice::<T, u8>(s.values()).to_vec();
    b.extend_from_slice(bytemuck::cast_slice::<u16, u8>(s.metadata()));
    b
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    bytemuck::cast_slice::<f32, u8>(v).to_vec()
}

/// One case on any executor: its output bytes.
fn run_case<E: Executor>(exec: &E, c: &Case) -> Result<Vec<u8>> {
    match c.dtype {
        DType::F32 => run_typed::<E, f32>(exec, c),
        DType::F16 => run_typed::<E, f16>(exec, c),
        DType::BF16 => run_typed::<E, bf16>(exec, c),
    }
}

fn run_typed<E: Executor, T: Element>(exec: &E, c: &Case) -> Result<Vec<u8>> {
    let mut rng = StdRng::seed_from_u64(0x5EED ^ (c.rows * 1000 + c.cols) as u64);
    let (rows, cols) = (c.rows, c.cols);
    let params = SampleParams {
        seed: 0x1234_5678_9ABC,
        step: 3,
        kappa: 300.0,
        tau: 0.5,
    };
    Ok(match c.kind {
        Kind::Decompress => {
            let w: Vec<T> = values(&mut rng, rows * cols);
            let s = prune::prune_magnitude(&w, rows, cols)?;
            bytemuck::cast_slice::<T, u8>(&decompress::decompress_on(exec, &s)?).to_vec()
        }
        Kind::Gemm {
            config,
            tokens,
            out_dtype,
            act,
            splits,
        } => {
            let x: Vec<T> = values(&mut rng, tokens * cols);
            let w: Vec<T> = values(&mut rng, rows * cols);
            let bias: Vec<T> = values(&mut rng, rows);
            let s = prune::prune_magnitude(&w, rows, cols)?;
            let plan = SparseGemmPlan::new(config, tokens, rows, cols, splits)?;
            let epi = Epilogue {
                alpha: 0.75,
                bias: Some(&bias),
                activation: act,
                ..Default::default()
            };
            f32_bytes(&sparse_linear_with_plan_on(
                exec, &plan, &x, &s, &epi, out_dtype,
            )?)
        }
        Kind::PruneMagnitude => {
            let w: Vec<T> = values(&mut rng, rows * cols);
            sparse_bytes(&dprune::prune_compress_on(
                exec,
                &w,
                rows,
                cols,
                HostSelection::Magnitude,
            )?)
        }
        Kind::PruneScores => {
            let w: Vec<T> = values(&mut rng, rows * cols);
            let scores: Vec<f32> = values(&mut rng, rows * cols);
            sparse_bytes(&dprune::prune_compress_on(
                exec,
                &w,
                rows,
                cols,
                HostSelection::Scores(&scores),
            )?)
        }
        Kind::MaskForward(s) => {
            let w: Vec<T> = values(&mut rng, rows * cols);
            let logits: Vec<f32> = values(&mut rng, rows * cols / 4 * 6);
            let f = mask::forward_on(exec, &w, rows, cols, &logits, &params, s, false)?;
            bytemuck::cast_slice::<T, u8>(&f.w_eff).to_vec()
        }
        Kind::MaskHardCompress => {
            let w: Vec<T> = values(&mut rng, rows * cols);
            let logits: Vec<f32> = values(&mut rng, rows * cols / 4 * 6);
            sparse_bytes(&mask::hard_mask_compress_on(exec, &w, rows, cols, &logits)?)
        }
        Kind::Philox { groups } => {
            let words = mask::philox_words_on(exec, groups, params.seed, params.step)?;
            bytemuck::cast_slice::<u32, u8>(&words).to_vec()
        }
    })
}

fn to_f64(bytes: &[u8], d: DType) -> Vec<f64> {
    match d {
        DType::F32 => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64)
            .collect(),
        DType::F16 => bytes
            .chunks_exact(2)
            .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f64())
            .collect(),
        DType::BF16 => bytes
            .chunks_exact(2)
            .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f64())
            .collect(),
    }
}

/// Ok(summary) when the outputs agree, Err(summary) otherwise.
fn compare(gpu: &[u8], sim: &[u8], how: Compare) -> std::result::Result<String, String> {
    if gpu.len() != sim.len() {
        return Err(format!(
            "lengths differ: gpu {} bytes, ptxsim {}",
            gpu.len(),
            sim.len()
        ));
    }
    match how {
        Compare::Exact => match gpu.iter().zip(sim).position(|(a, b)| a != b) {
            None => Ok(format!("bit-exact ({} bytes)", gpu.len())),
            Some(i) => Err(format!(
                "first differing byte at {i} of {} (gpu {:#04x}, ptxsim {:#04x}); {} bytes differ",
                gpu.len(),
                gpu[i],
                sim[i],
                gpu.iter().zip(sim).filter(|(a, b)| a != b).count()
            )),
        },
        Compare::Float { dtype, rtol, atol } => {
            let (g, s) = (to_f64(gpu, dtype), to_f64(sim, dtype));
            let scale = s.iter().fold(0f64, |m, v| m.max(v.abs()));
            let (mut max_abs, mut max_rel, mut exact, mut bad) = (0f64, 0f64, 0usize, None);
            for (i, (a, b)) in g.iter().zip(&s).enumerate() {
                if a.to_bits() == b.to_bits() {
                    exact += 1;
                    continue;
                }
                let d = (a - b).abs();
                if d.is_nan() {
                    bad.get_or_insert(i);
                    max_abs = f64::NAN;
                    continue;
                }
                max_abs = max_abs.max(d);
                max_rel = max_rel.max(d / b.abs().max(f64::MIN_POSITIVE));
                if d > rtol * b.abs() + atol * scale {
                    bad.get_or_insert(i);
                }
            }
            let summary = format!(
                "{exact}/{} bit-equal, max abs diff {max_abs:.2e}, max rel diff {max_rel:.2e} (rtol {rtol:.1e})",
                g.len()
            );
            match bad {
                None => Ok(summary),
                Some(i) => Err(format!(
                    "{summary}; first outside at {i}: gpu {} ptxsim {}",
                    g[i], s[i]
                )),
            }
        }
    }
}

fn main() -> ExitCode {
    let sim_only = std::env::args().any(|a| a == "--sim-only");
    if !sparse24::kernels::compiled() {
        println!(
            "skipped: the GPU kernels were not compiled into this build (no nvcc at build time)"
        );
        return ExitCode::SUCCESS;
    }
    let gpu = if sim_only {
        None
    } else {
        match sparse24::cuda::context() {
            Err(e) => {
                println!("skipped: no CUDA device ({e})");
                return ExitCode::SUCCESS;
            }
            Ok(_) => match CudaExecutor::new(CodeChoice::Ptx) {
                Ok(g) => Some(g),
                Err(e) => {
                    println!("FAIL creating the CUDA executor: {e}");
                    return ExitCode::FAILURE;
                }
            },
        }
    };
    let sim = SimExecutor::new();
    let (mut ok, mut failed) = (0usize, 0usize);
    for c in cases() {
        let name = c.name();
        let t = Instant::now();
        let s = run_case(&sim, &c);
        let line = match (&gpu, s) {
            (_, Err(e)) => Err(format!("ptxsim: {e}")),
            (None, Ok(s)) => Ok(format!("ptxsim ran ({} bytes)", s.len())),
            (Some(g), Ok(s)) => match run_case(g, &c) {
                Err(e) => Err(format!("gpu: {e}")),
                Ok(gb) => compare(&gb, &s, c.compare()),
            },
        };
        let secs = t.elapsed().as_secs_f64();
        match line {
            Ok(m) => {
                ok += 1;
                println!("ok   {name}: {m} [{secs:.1} s]");
            }
            Err(m) => {
                failed += 1;
                println!("FAIL {name}: {m} [{secs:.1} s]");
            }
        }
    }
    println!(
        "crosscheck ({}): {ok} ok, {failed} failed",
        if gpu.is_some() {
            "GPU compute_80 PTX vs ptxsim"
        } else {
            "ptxsim only"
        }
    );
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
