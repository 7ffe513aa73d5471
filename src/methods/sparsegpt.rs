//! SparseGPT (Frantar & Alistarh, "SparseGPT: Massive Language Models Can Be
//! Accurately Pruned in One-Shot", ICML 2023) for the 2:4 pattern.
//!
//! Columns are visited left to right in blocks. At the first column of every group of
//! four, each row keeps the two weights of the group with the largest
//! `w² / [H⁻¹]ᵢᵢ²` (the OBS saliency, taken on the weights as already updated), and
//! every column, once fixed, pushes its rounding error onto the columns to its right
//! through the row of the Cholesky factor of `H⁻¹`: the optimal update of the
//! remaining weights for the layer's squared error, H = XᵀX + λI. Inside a block the
//! update is applied column by column; the rest of the row gets the block's errors
//! after the block ("lazy batch" updates). Rows are independent: they run in parallel in
//! fixed chunks, so the result does not depend on the thread count.
//!
//! Settings from the paper's reference implementation: dampening λ = 1% of the mean
//! diagonal of H, blocks of 128 columns; input channels that never fire (Hᵢᵢ = 0) get
//! Hᵢᵢ = 1 and their weights zeroed (they contribute nothing on the calibration set).

use super::linalg::{inverse_upper_cholesky, square};
use super::{MethodProgress, Pruned};
use crate::dtype::{check_finite, Element};
use crate::error::{Error, Result};
use crate::format::Mask24;
use crate::launch::Executor;
use crate::learn::Calibration;
use crate::pattern::{Pattern, GROUP};
use crate::prune::top_two;
use crate::shape::{check_len, check_shape};
use rayon::prelude::*;
use std::time::Instant;

/// Rows per parallel work item (fixed: results do not depend on the thread count).
const ROW_CHUNK: usize = 16;

/// SparseGPT's two settings.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct SparseGptConfig {
    /// λ as a fraction of the mean diagonal of XᵀX (the paper: 0.01).
    pub damping: f64,
    /// Columns per lazy-update block, a multiple of 4 (the paper: 128).
    pub block: usize,
}

impl Default for SparseGptConfig {
    fn default() -> Self {
        SparseGptConfig {
            damping: 0.01,
            block: 128,
        }
    }
}

impl SparseGptConfig {
    /// Refuses settings out of range (a typed error naming the field).
    pub fn validate(&self) -> Result<()> {
        Calibration::check_damping(self.damping)?;
        if self.block == 0 || !self.block.is_multiple_of(GROUP) {
            return Err(Error::InvalidArgument {
                what: "block",
                why: format!(
                    "SparseGPT's block must be a positive multiple of 4, got {}",
                    self.block
                ),
            });
        }
        Ok(())
    }
}

/// Prunes W [rows, cols] to 2:4 with SparseGPT's mask selection and weight update on
/// the calibration statistics. `on_progress` is called after every block of columns.
pub fn sparsegpt<T: Element>(
    w: &[T],
    rows: usize,
    cols: usize,
    calib: &Calibration,
    cfg: &SparseGptConfig,
    mut on_progress: impl FnMut(&MethodProgress),
) -> Result<Pruned> {
    let start = Instant::now();
    let (mut wd, u) = prepare(w, rows, cols, calib, cfg)?;
    let n = cols;
    let groups_per_row = n / GROUP;
    let mut patterns = vec![Pattern::P01; rows * groups_per_row];
    let mut errs = vec![0f64; rows * cfg.block];
    let mut i1 = 0;
    while i1 < n {
        let i2 = (i1 + cfg.block).min(n);
        let count = i2 - i1;
        wd.par_chunks_mut(ROW_CHUNK * n)
            .zip(errs.par_chunks_mut(ROW_CHUNK * cfg.block))
            .zip(patterns.par_chunks_mut(ROW_CHUNK * groups_per_row))
            .for_each(|((wc, ec), pc)| {
                let nr = wc.len() / n;
                for r in 0..nr {
                    let wr = &mut wc[r * n..(r + 1) * n];
                    let er = &mut ec[r * cfg.block..r * cfg.block + count];
                    let pr = &mut pc[r * groups_per_row..(r + 1) * groups_per_row];
                    block_row(wr, er, pr, &u, n, i1, i2);
                }
                // The rest of each row: W[:, i2..] -= E · U[i1..i2, i2..], as one
                // axpy per fixed column (faer's small-matrix product wrote out of
                // bounds on a strided row-major destination: valgrind, faer 0.24.4).
                if i2 < n {
                    for r in 0..nr {
                        let er = &ec[r * cfg.block..r * cfg.block + count];
                        let tail = &mut wc[r * n + i2..(r + 1) * n];
                        for (k, &e) in er.iter().enumerate() {
                            if e == 0.0 {
                                continue;
                            }
                            let urow = &u[(i1 + k) * n + i2..(i1 + k + 1) * n];
                            for (t, &uv) in tail.iter_mut().zip(urow) {
                                *t -= e * uv;
                            }
                        }
                    }
                }
            });
        i1 = i2;
        on_progress(&MethodProgress {
            method: "sparsegpt",
            done: i2,
            total: n,
            unit: "columns",
            seconds: start.elapsed().as_secs_f64(),
        });
    }
    let mask = Mask24::new(rows, cols, patterns)?;
    Pruned::from_f64(mask, &wd, true)
}

/// What the CPU and GPU sweeps share: the checks, W in f64 (columns that never fire
/// zeroed), H = XᵀX with those columns' diagonal set to 1 and λ = damping × mean
/// diagonal added, and the upper Cholesky factor U of H⁻¹, row-major.
fn prepare<T: Element>(
    w: &[T],
    rows: usize,
    cols: usize,
    calib: &Calibration,
    cfg: &SparseGptConfig,
) -> Result<(Vec<f64>, Vec<f64>)> {
    cfg.validate()?;
    let shape = check_shape(rows, cols)?;
    check_len("weights", shape.elements(), w.len())?;
    check_len("calibration channels", cols, calib.cols())?;
    check_finite("weights", w, cols)?;
    let n = cols;
    let mut h = calib.gram().to_vec();
    let mut wd: Vec<f64> = w.iter().map(|v| v.to_f64()).collect();
    for i in 0..n {
        if h[i * n + i] == 0.0 {
            h[i * n + i] = 1.0;
            wd.iter_mut().skip(i).step_by(n).for_each(|v| *v = 0.0);
        }
    }
    let mean_diag = (0..n).map(|i| h[i * n + i]).sum::<f64>() / n as f64;
    for i in 0..n {
        h[i * n + i] += cfg.damping * mean_diag;
    }
    let u = inverse_upper_cholesky(&square(&h, n))?;
    // Row-major copy of U: every update reads a row of it.
    Ok((wd, (0..n * n).map(|k| u[(k / n, k % n)]).collect()))
}

/// [`sparsegpt`] with the row sweep on `exec`'s device (kernels/sparsegpt.cu: one warp
/// per row, f64 as on the CPU); H, its damping and the Cholesky factor of H⁻¹ (one
/// `in × in` factorisation) stay on the CPU. The same mask as the CPU version except
/// where two saliencies of a group tie to rounding (the updates run in another order),
/// and weights equal to rounding. `on_progress` is called once, when the sweep is done.
pub fn sparsegpt_on<E: Executor, T: Element>(
    exec: &E,
    w: &[T],
    rows: usize,
    cols: usize,
    calib: &Calibration,
    cfg: &SparseGptConfig,
    mut on_progress: impl FnMut(&MethodProgress),
) -> Result<Pruned> {
    let start = Instant::now();
    let (wd, u) = prepare(w, rows, cols, calib, cfg)?;
    let wb = exec.upload(&wd)?;
    let ub = exec.upload(&u)?;
    let groups = rows * (cols / GROUP);
    let kb = exec.alloc_zeroed(groups)?;
    let launch = crate::ops::sparsegpt::sparsegpt_rows_launch(
        rows,
        cols,
        exec.ptr(&wb),
        exec.ptr(&ub),
        exec.ptr(&kb),
        crate::ops::sparsegpt::MAX_SHARED_BYTES_SM90,
    )?;
    exec.launch(&launch)?;
    let wd: Vec<f64> = bytemuck::pod_collect_to_vec(&exec.download_bytes(&wb)?);
    let keep = exec.download_bytes(&kb)?;
    let patterns = keep
        .iter()
        .map(|&b| {
            Pattern::from_keep_bits(b).ok_or_else(|| Error::InvalidArgument {
                what: "sparsegpt kernel",
                why: format!("returned keep bits {b:#06b}, not a 2:4 pattern"),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    on_progress(&MethodProgress {
        method: "sparsegpt",
        done: cols,
        total: cols,
        unit: "columns",
        seconds: start.elapsed().as_secs_f64(),
    });
    Pruned::from_f64(Mask24::new(rows, cols, patterns)?, &wd, true)
}

/// One row through the columns i1..i2 of a block: choose the pattern of each group at
/// its first column, fix each column and spread its error over the rest of the block.
fn block_row(
    wr: &mut [f64],
    er: &mut [f64],
    pr: &mut [Pattern],
    u: &[f64],
    n: usize,
    i1: usize,
    i2: usize,
) {
    let mut pattern = Pattern::P01;
    for i in i1..i2 {
        if i % GROUP == 0 {
            let mut s = [0f64; GROUP];
            for (j, v) in s.iter_mut().enumerate() {
                let d = u[(i + j) * n + i + j];
                *v = wr[i + j] * wr[i + j] / (d * d);
            }
            pattern = top_two(s);
            pr[i / GROUP] = pattern;
        }
        let q = if pattern.keeps(i % GROUP) { wr[i] } else { 0.0 };
        let err = (wr[i] - q) / u[i * n + i];
        wr[i] = q;
        let urow = &u[i * n..(i + 1) * n];
        for j in i + 1..i2 {
            wr[j] -= err * urow[j];
        }
        er[i - i1] = err;
    }
}
