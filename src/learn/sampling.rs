//! The soft-mask forward and backward of [`crate::mask`], parallel over rows.
//!
//! Same per-group arithmetic as `mask::forward_f64` / `mask::backward_f64` (built
//! from the same primitives: Philox noise, softmax, expansion), so W_eff and the
//! logit gradients are the same bits; the regulariser sum is added per row, then
//! over rows in order. The forward keeps each group's ỹ, so the backward does not
//! regenerate the noise.

use crate::mask::{self, SampleParams, CANDIDATES};
use crate::pattern::{Pattern, GROUP};
use crate::philox;
use rayon::prelude::*;

/// The soft forward of a layer: W_eff, R = Σ W_eff², and ỹ per group.
pub struct SoftForward {
    /// W ⊙ M̃, [out, in].
    pub w_eff: Vec<f64>,
    /// R = Σ W_eff².
    pub reg: f64,
    /// ỹ: the soft mask's weights of the six candidates, per group.
    pub y: Vec<[f64; CANDIDATES]>,
}

/// Soft forward of W [rows, cols] (validated by the caller).
pub fn forward(w: &[f32], cols: usize, logits: &[f32], p: &SampleParams) -> SoftForward {
    let gpr = cols / GROUP;
    let rows: Vec<(Vec<f64>, f64, Vec<[f64; CANDIDATES]>)> = w
        .par_chunks_exact(cols)
        .zip(logits.par_chunks_exact(gpr * CANDIDATES))
        .enumerate()
        .map(|(r, (wr, lr))| {
            let mut out = Vec::with_capacity(cols);
            let mut ys = Vec::with_capacity(gpr);
            let mut reg = 0f64;
            for (j, (quad, l)) in wr
                .chunks_exact(GROUP)
                .zip(lr.chunks_exact(CANDIDATES))
                .enumerate()
            {
                let noise = philox::gumbel6(p.seed, (r * gpr + j) as u64, p.step);
                let y = mask::probs(l, &noise, p.kappa, p.tau);
                let m = mask::expand(&y);
                for k in 0..GROUP {
                    let v = quad[k] as f64 * m[k];
                    reg += v * v;
                    out.push(v);
                }
                ys.push(y);
            }
            (out, reg, ys)
        })
        .collect();
    let mut f = SoftForward {
        w_eff: Vec::with_capacity(w.len()),
        reg: 0.0,
        y: Vec::with_capacity(w.len() / GROUP),
    };
    for (out, reg, ys) in rows {
        f.w_eff.extend(out);
        f.reg += reg;
        f.y.extend(ys);
    }
    f
}

/// dπ of L − λ·R given dL/dW_eff (rounded to f32, as the reference takes it).
pub fn backward(
    w: &[f32],
    fwd: &SoftForward,
    dw_eff: &[f32],
    lambda: f32,
    p: &SampleParams,
) -> Vec<f64> {
    let scale = p.kappa as f64 / p.tau as f64;
    let lambda = lambda as f64;
    let mut out = vec![0f64; fwd.y.len() * CANDIDATES];
    out.par_chunks_mut(CANDIDATES)
        .zip(w.par_chunks_exact(GROUP))
        .zip(dw_eff.par_chunks_exact(GROUP))
        .zip(fwd.y.par_iter())
        .for_each(|(((o, quad), dq), y)| {
            let m = mask::expand(y);
            let dm: [f64; 4] = std::array::from_fn(|k| {
                let wk = quad[k] as f64;
                dq[k] as f64 * wk - 2.0 * lambda * wk * wk * m[k]
            });
            let dy: [f64; 6] = std::array::from_fn(|i| {
                let [a, b] = Pattern::ALL[i].indices();
                dm[a] + dm[b]
            });
            for (j, oj) in o.iter_mut().enumerate() {
                let d: f64 = y.iter().zip(&dy).map(|(yi, di)| yi * (dy[j] - di)).sum();
                *oj = scale * y[j] * d;
            }
        });
    out
}
