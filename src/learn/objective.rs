//! The layer-wise reconstruction objective of mask learning, through the Gram matrix.
//!
//! With calibration activations X [n, in], G = XᵀX [in, in] and D = W − W_eff, the
//! loss ‖X·Wᵀ − X·W_effᵀ‖² / ‖X·Wᵀ‖² equals tr(D·G·Dᵀ) / tr(W·G·Wᵀ) and its gradient
//! with respect to W_eff is −2·D·G / tr(W·G·Wᵀ): O(out·in²) per evaluation, whatever
//! n is. Rows are independent; each row's sums run in a fixed order, so results are
//! the same bits for any number of threads.

use crate::dtype::{check_finite, Element};
use crate::error::{Error, Result};
use crate::prune;
use crate::shape;
use crate::shape::{check_len, check_shape};
use rayon::prelude::*;
use std::ops::{Add, Mul};

/// Rows of D handled per pass over G (each pass streams G once for all of them).
const ROW_BLOCK: usize = 8;

/// Arithmetic of the quadratic form: f32 (fast, the default) or f64 (the reference).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum Precision {
    /// f32 products, f64 sums: fast.
    #[default]
    F32,
    /// f64 throughout: the reference.
    F64,
}

/// What the Gram kernel needs of a float type.
trait Real: Copy + Default + Send + Sync + Add<Output = Self> + Mul<Output = Self> {
    fn of(v: f64) -> Self;
    fn f64(self) -> f64;
}

impl Real for f32 {
    fn of(v: f64) -> Self {
        v as f32
    }
    fn f64(self) -> f64 {
        self as f64
    }
}

impl Real for f64 {
    fn of(v: f64) -> Self {
        v
    }
    fn f64(self) -> f64 {
        self
    }
}

/// Rows of G computed per task by [`Calibration::from_activations`].
const GRAM_BAND_ROWS: usize = 64;

/// What a calibration set contributes to one layer input: G = XᵀX and the
/// per-channel norms ‖X_j‖₂ (Wanda's scores). Layers that share an input (q, k, v)
/// share one.
#[derive(Clone, Debug)]
pub struct Calibration {
    cols: usize,
    tokens: usize,
    gram64: Vec<f64>,
    gram32: Vec<f32>,
    norms: Vec<f32>,
}

impl Calibration {
    /// G and the channel norms of activations X [tokens, cols], in f64. Unlike a
    /// GEMM's X, calibration activations are statistics to validate: a NaN or ±Inf
    /// is refused, naming the token (row) and channel (column).
    pub fn from_activations<T: Element>(x: &[T], tokens: usize, cols: usize) -> Result<Self> {
        check_shape(1, cols)?;
        check_len(
            "activations",
            shape::tokens_by("activations", "cols", tokens, cols)?,
            x.len(),
        )?;
        // G is [cols, cols]: refuse a channel count whose Gram matrix cannot exist.
        let gram_len = shape::product("Gram matrix", ["cols", "cols"], cols, cols)?;
        check_finite("activations", x, cols)?;
        // G by faer's matrix product (tens of thousands of tokens × 1536 channels is
        // tens of GFLOP), one fixed band of G's rows per task: the same sums in the
        // same order on any thread count.
        let xt = faer::Mat::<f64>::from_fn(cols, tokens, |j, t| x[t * cols + j].to_f64());
        let mut gram64 = vec![0f64; gram_len];
        gram64
            .par_chunks_mut(GRAM_BAND_ROWS * cols)
            .enumerate()
            .for_each(|(b, band)| {
                let rows = band.len() / cols;
                let dst = faer::MatMut::from_row_major_slice_mut(band, rows, cols);
                faer::linalg::matmul::matmul(
                    dst,
                    faer::Accum::Replace,
                    xt.as_ref().subrows(b * GRAM_BAND_ROWS, rows),
                    xt.as_ref().transpose(),
                    1.0,
                    faer::Par::Seq,
                );
            });
        let gram32 = gram64.iter().map(|&v| v as f32).collect();
        let norms = prune::activation_norms(x, tokens, cols)?;
        Ok(Calibration {
            cols,
            tokens,
            gram64,
            gram32,
            norms,
        })
    }

    /// Checks a damping factor for [`Calibration::damped`]: finite and ≥ 0 (callers
    /// check it before reading any data).
    pub fn check_damping(delta: f64) -> Result<()> {
        if !(delta.is_finite() && delta >= 0.0) {
            return Err(Error::InvalidArgument {
                what: "damping",
                why: format!("must be finite and >= 0, got {delta}"),
            });
        }
        Ok(())
    }

    /// G + δ·mean(diag G)·I: as if isotropic virtual tokens were added, so that
    /// directions the calibration tokens never visit (G is rank-deficient when there
    /// are fewer tokens than channels) are not free. Channel norms are unchanged.
    pub fn damped(&self, delta: f64) -> Result<Calibration> {
        Calibration::check_damping(delta)?;
        let n = self.cols;
        let mean_diag = (0..n).map(|i| self.gram64[i * n + i]).sum::<f64>() / n as f64;
        let mut c = self.clone();
        for i in 0..n {
            c.gram64[i * n + i] += delta * mean_diag;
            c.gram32[i * n + i] = c.gram64[i * n + i] as f32;
        }
        Ok(c)
    }

    /// Input channels (the layer's `in`).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Tokens the statistics were taken over.
    pub fn tokens(&self) -> usize {
        self.tokens
    }

    /// ‖X_j‖₂ per input channel.
    pub fn norms(&self) -> &[f32] {
        &self.norms
    }

    /// G = XᵀX, [cols, cols] row-major, f64.
    pub fn gram(&self) -> &[f64] {
        &self.gram64
    }

    /// G in f32 (what [`Precision::F32`] and the device step use).
    pub(crate) fn gram32(&self) -> &[f32] {
        &self.gram32
    }

    /// ‖X·Wᵀ‖² for W [rows, cols] in f64: the denominator of every relative layer
    /// error; zero or non-finite (nothing to reconstruct) is `Error::InvalidArgument`.
    pub fn output_norm(&self, w: &[f64], rows: usize) -> Result<f64> {
        let norm = self.quadratic(w, rows)?;
        if !(norm.is_finite() && norm > 0.0) {
            return Err(Error::InvalidArgument {
                what: "weights",
                why: format!("‖X·Wᵀ‖² is {norm}: nothing to reconstruct"),
            });
        }
        Ok(norm)
    }

    /// tr(A·G·Aᵀ) for A [rows, cols] in f64 (e.g. ‖X·Wᵀ‖² for A = W).
    pub fn quadratic(&self, a: &[f64], rows: usize) -> Result<f64> {
        check_len(
            "matrix",
            shape::product("matrix", ["rows", "cols"], rows, self.cols)?,
            a.len(),
        )?;
        let (q, _) = quad_rows::<f64>(a, rows, self.cols, &self.gram64, false);
        Ok(q)
    }

    /// tr(D·G·Dᵀ) and, when `grad` is set, D·G [rows, cols] (f64 out), in the
    /// chosen precision.
    pub(crate) fn quadratic_and_product(
        &self,
        d: &[f64],
        rows: usize,
        precision: Precision,
        grad: bool,
    ) -> (f64, Vec<f64>) {
        match precision {
            Precision::F64 => quad_rows::<f64>(d, rows, self.cols, &self.gram64, grad),
            Precision::F32 => quad_rows::<f32>(d, rows, self.cols, &self.gram32, grad),
        }
    }
}

/// Σ_r d_r·G·d_rᵀ and (optionally) the products d_r·G, rows in blocks of
/// [`ROW_BLOCK`]. Per-row sums in a fixed order; the block totals are added in row
/// order afterwards.
fn quad_rows<R: Real>(
    d: &[f64],
    rows: usize,
    cols: usize,
    gram: &[R],
    want_product: bool,
) -> (f64, Vec<f64>) {
    let blocks: Vec<(f64, Vec<f64>)> = d
        .par_chunks(ROW_BLOCK * cols)
        .map(|chunk| {
            let nr = chunk.len() / cols;
            let dr: Vec<R> = chunk.iter().map(|&v| R::of(v)).collect();
            let mut acc = vec![R::default(); nr * cols];
            for i in 0..cols {
                let grow = &gram[i * cols..(i + 1) * cols];
                for r in 0..nr {
                    let di = dr[r * cols + i];
                    if di.f64() == 0.0 {
                        continue;
                    }
                    for (a, &g) in acc[r * cols..(r + 1) * cols].iter_mut().zip(grow) {
                        *a = *a + di * g;
                    }
                }
            }
            let q: f64 = (0..nr)
                .map(|r| {
                    let (a, x) = (
                        &acc[r * cols..(r + 1) * cols],
                        &chunk[r * cols..(r + 1) * cols],
                    );
                    a.iter().zip(x).map(|(p, v)| p.f64() * v).sum::<f64>()
                })
                .sum();
            let prod = if want_product {
                acc.iter().map(|v| v.f64()).collect()
            } else {
                Vec::new()
            };
            (q, prod)
        })
        .collect();
    let mut total = 0f64;
    let mut product = Vec::with_capacity(if want_product { rows * cols } else { 0 });
    for (q, p) in blocks {
        total += q;
        product.extend(p);
    }
    (total, product)
}
