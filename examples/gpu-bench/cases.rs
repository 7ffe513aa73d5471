//! The cases: the layer shapes and token counts, each case's host data (random X, W
//! pruned 2:4 by magnitude, the f64 reference on sampled tokens) and the check of a
//! device result against it; `--host-only` runs the host side alone.

use super::args::Args;
use super::error::{BenchError, Res};
use cudarc::driver::{CudaSlice, CudaStream};
use half::{bf16, f16};
use rand::{rngs::StdRng, Rng, SeedableRng};
use rayon::prelude::*;
use sparse24::{prune, DType, Element, Sparse24};
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone, Debug)]
pub struct Shape {
    pub label: &'static str,
    pub out: usize,
    pub inn: usize,
    pub tokens: Vec<usize>,
}

pub fn shapes(quick: bool) -> Vec<(DType, Shape)> {
    let layers: [(&str, usize, usize); 5] = [
        ("4096x4096", 4096, 4096),
        ("14336x4096", 14336, 4096),
        ("4096x14336", 4096, 14336),
        ("28672x8192", 28672, 8192),
        ("8192x28672", 8192, 28672),
    ];
    let mut v = Vec::new();
    if quick {
        for &(label, out, inn) in &layers {
            v.push((
                DType::BF16,
                Shape {
                    label,
                    out,
                    inn,
                    tokens: vec![1, 16, 2048],
                },
            ));
        }
        v.push((
            DType::F16,
            Shape {
                label: "14336x4096",
                out: 14336,
                inn: 4096,
                tokens: vec![16],
            },
        ));
        return v;
    }
    for dtype in [DType::BF16, DType::F16] {
        for &(label, out, inn) in &layers {
            v.push((
                dtype,
                Shape {
                    label,
                    out,
                    inn,
                    tokens: vec![1, 16, 128, 2048, 8192],
                },
            ));
        }
        v.push((
            dtype,
            Shape {
                label: "square 4096",
                out: 4096,
                inn: 4096,
                tokens: vec![4096],
            },
        ));
        v.push((
            dtype,
            Shape {
                label: "square 8192",
                out: 8192,
                inn: 8192,
                tokens: vec![8192],
            },
        ));
        v.push((
            dtype,
            Shape {
                label: "16384x8192",
                out: 16384,
                inn: 8192,
                tokens: vec![16384],
            },
        ));
    }
    v
}

pub fn random_vec<T: Element>(n: usize, seed: u64) -> Vec<T> {
    const CHUNK: usize = 1 << 16;
    let mut v = vec![T::from_f32(0.0); n];
    v.par_chunks_mut(CHUNK).enumerate().for_each(|(c, out)| {
        let mut rng = StdRng::seed_from_u64(seed ^ (c as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        for x in out {
            // Never zero: a zero would make magnitude pruning ambiguous.
            let mut u: f32 = rng.gen_range(-1.0..1.0);
            if u.abs() < 1e-3 {
                u = 0.5;
            }
            *x = T::from_f32(u);
        }
    });
    v
}

/// One layer's host data: X, the pruned dense W and its 2:4 form.
pub struct Host<T> {
    pub tokens: usize,
    pub out: usize,
    pub inn: usize,
    pub x: Vec<T>,
    /// Tokens the correctness check compares.
    pub check_tokens: Vec<usize>,
    /// f64 reference rows Y[t, :] for `check_tokens`.
    pub reference: Vec<Vec<f64>>,
}

pub fn host_weights<T: Element>(out: usize, inn: usize, seed: u64) -> Res<(Vec<T>, Sparse24<T>)> {
    let w: Vec<T> = random_vec(out * inn, seed);
    let sparse = prune::prune_magnitude(&w, out, inn)?;
    let pruned = sparse.decompress();
    Ok((pruned, sparse))
}

pub fn host_case<T: Element>(
    tokens: usize,
    w_pruned: &[T],
    sparse: &Sparse24<T>,
    seed: u64,
) -> Host<T> {
    let (out, inn) = (sparse.rows(), sparse.cols());
    let x: Vec<T> = random_vec(tokens * inn, seed);
    let mut check_tokens = vec![0, tokens / 2, tokens - 1];
    check_tokens.dedup();
    let reference = check_tokens
        .iter()
        .map(|&t| {
            let xr: Vec<f64> = x[t * inn..(t + 1) * inn]
                .iter()
                .map(|v| v.to_f32() as f64)
                .collect();
            (0..out)
                .into_par_iter()
                .map(|o| {
                    w_pruned[o * inn..(o + 1) * inn]
                        .iter()
                        .zip(&xr)
                        .map(|(w, x)| w.to_f32() as f64 * x)
                        .sum()
                })
                .collect()
        })
        .collect();
    Host {
        tokens,
        out,
        inn,
        x,
        check_tokens,
        reference,
    }
}

/// ‖Y[t, :] − ref‖ / ‖ref‖ over the checked tokens of the output at `y` (dtype T).
pub fn check_output<T: Element>(
    stream: &Arc<CudaStream>,
    y: &CudaSlice<u8>,
    h: &Host<T>,
) -> Res<f64> {
    let row = h.out * T::DTYPE.size();
    let (mut num, mut den) = (0f64, 0f64);
    for (t, r) in h.check_tokens.iter().zip(&h.reference) {
        let bytes = stream.clone_dtoh(&y.slice(t * row..(t + 1) * row))?;
        for (b, &r) in bytes.chunks_exact(2).zip(r) {
            let v = match T::DTYPE {
                DType::BF16 => bf16::from_le_bytes([b[0], b[1]]).to_f64(),
                _ => f16::from_le_bytes([b[0], b[1]]).to_f64(),
            };
            if v.is_nan() {
                return Ok(f64::INFINITY);
            }
            num += (v - r) * (v - r);
            den += r * r;
        }
    }
    Ok((num / den.max(f64::MIN_POSITIVE)).sqrt())
}

/// Token count rounded up to a multiple of 16.
pub fn padded_tokens(t: usize) -> usize {
    t.div_ceil(16) * 16
}

pub fn tolerance(d: DType) -> f64 {
    match d {
        DType::BF16 => 1e-2,
        _ => 2e-3,
    }
}

/// The CPU side of the selected cases, without a device: how long the host
/// preparation takes (it counts against the GPU check's time cap) and a check of the
/// f64 reference against the crate's CPU sparse reference on the first checked token.
pub fn host_only(args: &Args) -> Res<()> {
    for (dtype, shape) in shapes(args.quick) {
        let label = format!("{} {}", shape.label, dtype.name());
        if !args.selects(&label) {
            continue;
        }
        match dtype {
            DType::BF16 => host_only_layer::<bf16>(&shape, &label)?,
            _ => host_only_layer::<f16>(&shape, &label)?,
        }
    }
    Ok(())
}

fn host_only_layer<T: Element>(shape: &Shape, label: &str) -> Res<()> {
    let t0 = Instant::now();
    let (w_pruned, sparse) = host_weights::<T>(shape.out, shape.inn, 1)?;
    let t_w = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let frag = sparse24::layout::to_fragment_order(&sparse);
    let t_f = t1.elapsed().as_secs_f64();
    for &tokens in &shape.tokens {
        let t2 = Instant::now();
        let h = host_case(tokens, &w_pruned, &sparse, 2);
        let t_r = t2.elapsed().as_secs_f64();
        let t = h.check_tokens[0];
        let x = &h.x[t * h.inn..(t + 1) * h.inn];
        let y = sparse24::reference::linear_sparse_f64(x, 1, &sparse, &Default::default())?;
        let err = sparse24::reference::rel_error(&y, &h.reference[0]);
        if err.is_nan() || err > 1e-12 {
            return Err(BenchError::ReferenceMismatch {
                label: label.to_string(),
                tokens,
                err,
            });
        }
        println!(
            "{label} t={tokens}: weights {t_w:.1} s, fragment order {t_f:.1} s ({} values), \
             X + reference {t_r:.1} s, reference check {err:.0e}",
            frag.values.len()
        );
    }
    Ok(())
}
