//! Weight refit for any 2:4 mask: the kept weights of each row re-solved by least
//! squares on the calibration statistics.
//!
//! For a row w and its kept set S (half the columns), the refit v minimises
//! `(v − w)·(G + λI)·(v − w)ᵀ` with v zero outside S: the layer's squared output
//! error on the calibration tokens (G = XᵀX), plus λ‖v − w‖², which pulls the kept
//! weights toward their dense values where the calibration tokens say little
//! (λ = `damping` × mean diag G, as SparseGPT's dampening). The optimum solves the
//! normal equations `(G + λI)_SS · v_S = ((G + λI)·w)_S`: exactly by Cholesky when S is
//! small enough, else by conjugate gradients started from the dense weights. Rows
//! are independent and run in parallel in fixed chunks.

use super::linalg::spd_solve;
use super::{MethodProgress, Pruned};
use crate::dtype::{check_finite, Element};
use crate::error::{Error, Result};
use crate::format::Mask24;
use crate::learn::Calibration;
use crate::shape::check_len;
use faer::Mat;
use rayon::prelude::*;
use std::time::Instant;

/// Rows solved between two progress reports.
const PROGRESS_ROWS: usize = 256;

/// How the refit solves.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct RefitConfig {
    /// λ as a fraction of the mean diagonal of G (0.01, SparseGPT's dampening).
    pub damping: f64,
    /// Kept weights per row up to which the normal equations are solved exactly
    /// (Cholesky, O(k³) per row); above it, conjugate gradients.
    pub exact_max_kept: usize,
    /// Conjugate-gradient iterations at most.
    pub cg_iterations: usize,
    /// Conjugate gradients stop when ‖residual‖ ≤ tolerance · ‖right-hand side‖.
    pub cg_tolerance: f64,
}

impl Default for RefitConfig {
    fn default() -> Self {
        RefitConfig {
            damping: 0.01,
            exact_max_kept: 1024,
            cg_iterations: 200,
            cg_tolerance: 1e-8,
        }
    }
}

impl RefitConfig {
    /// Refuses settings out of range (a typed error naming the field).
    pub fn validate(&self) -> Result<()> {
        Calibration::check_damping(self.damping)?;
        if !(self.cg_tolerance.is_finite() && self.cg_tolerance >= 0.0) {
            return Err(Error::InvalidArgument {
                what: "cg_tolerance",
                why: format!("must be finite and >= 0, got {}", self.cg_tolerance),
            });
        }
        Ok(())
    }
}

/// The refit of W [mask.rows(), mask.cols()] under `mask`: pruned weights zero, kept
/// weights the least-squares optimum above. `on_progress` is called every few hundred
/// rows.
pub fn refit<T: Element>(
    w: &[T],
    mask: &Mask24,
    calib: &Calibration,
    cfg: &RefitConfig,
    mut on_progress: impl FnMut(&MethodProgress),
) -> Result<Pruned> {
    cfg.validate()?;
    let (rows, n) = (mask.rows(), mask.cols());
    check_len("weights", rows * n, w.len())?;
    check_len("calibration channels", n, calib.cols())?;
    check_finite("weights", w, n)?;
    let start = Instant::now();
    let g = calib.gram();
    let lambda = cfg.damping * (0..n).map(|i| g[i * n + i]).sum::<f64>() / n as f64;
    let mut out = vec![0f64; rows * n];
    let mut done = 0;
    for (chunk_out, chunk_w) in out
        .chunks_mut(PROGRESS_ROWS * n)
        .zip(w.chunks(PROGRESS_ROWS * n))
    {
        chunk_out
            .par_chunks_mut(n)
            .zip(chunk_w.par_chunks(n))
            .enumerate()
            .try_for_each(|(r, (vr, wr))| {
                let row = done + r;
                let wr: Vec<f64> = wr.iter().map(|v| v.to_f64()).collect();
                let kept: Vec<usize> = (0..n).filter(|&c| mask.keeps(row, c)).collect();
                let v = solve_row(g, n, lambda, &wr, &kept, cfg).map_err(|e| match e {
                    Error::InvalidArgument { what, why } => Error::InvalidArgument {
                        what,
                        why: format!("row {row}: {why}"),
                    },
                    other => other,
                })?;
                for (&c, x) in kept.iter().zip(v) {
                    vr[c] = x;
                }
                Ok::<(), Error>(())
            })?;
        done += chunk_out.len() / n;
        on_progress(&MethodProgress {
            method: "refit",
            done,
            total: rows,
            unit: "rows",
            seconds: start.elapsed().as_secs_f64(),
        });
    }
    Pruned::from_f64(mask.clone(), &out, true)
}

/// The kept weights of one row: `(G + λI)_SS · v = ((G + λI)·w)_S`.
fn solve_row(
    g: &[f64],
    n: usize,
    lambda: f64,
    w: &[f64],
    kept: &[usize],
    cfg: &RefitConfig,
) -> Result<Vec<f64>> {
    let k = kept.len();
    let mut b: Vec<f64> = kept
        .iter()
        .map(|&a| {
            let grow = &g[a * n..(a + 1) * n];
            grow.iter().zip(w).map(|(p, q)| p * q).sum::<f64>() + lambda * w[a]
        })
        .collect();
    let a_at = |i: usize, j: usize| g[kept[i] * n + kept[j]] + if i == j { lambda } else { 0.0 };
    if k <= cfg.exact_max_kept {
        let a = Mat::from_fn(k, k, a_at);
        spd_solve(&a, &mut b)?;
        return Ok(b);
    }
    // Conjugate gradients from the dense weights; A·p gathered from G.
    let apply = |p: &[f64], out: &mut [f64]| {
        for (i, o) in out.iter_mut().enumerate() {
            let grow = &g[kept[i] * n..(kept[i] + 1) * n];
            *o = kept.iter().zip(p).map(|(&c, x)| grow[c] * x).sum::<f64>() + lambda * p[i];
        }
    };
    let mut x: Vec<f64> = kept.iter().map(|&c| w[c]).collect();
    let mut ap = vec![0f64; k];
    apply(&x, &mut ap);
    let mut r: Vec<f64> = b.iter().zip(&ap).map(|(p, q)| p - q).collect();
    let mut p = r.clone();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let stop = cfg.cg_tolerance * dot(&b, &b).sqrt();
    let mut rr = dot(&r, &r);
    for _ in 0..cfg.cg_iterations {
        if rr.sqrt() <= stop {
            break;
        }
        apply(&p, &mut ap);
        let pap = dot(&p, &ap);
        if pap <= 0.0 || !pap.is_finite() {
            return Err(Error::InvalidArgument {
                what: "refit system",
                why: "the matrix is not positive definite (raise the damping)".into(),
            });
        }
        let alpha = rr / pap;
        for i in 0..k {
            x[i] += alpha * p[i];
            r[i] -= alpha * ap[i];
        }
        let rr_new = dot(&r, &r);
        let beta = rr_new / rr;
        for i in 0..k {
            p[i] = r[i] + beta * p[i];
        }
        rr = rr_new;
    }
    Ok(x)
}
