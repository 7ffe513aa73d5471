//! Mask selection on the CPU: magnitude, any score matrix (Wanda), and detection of
//! an existing 2:4 pattern. Ties go to the lower index, the same rule the GPU kernels
//! use, so CPU and GPU masks agree bit for bit.

use crate::dtype::{self, non_finite_at, Element};
use crate::error::Result;
use crate::format::{Mask24, Sparse24};
use crate::pattern::{Pattern, GROUP};
use crate::shape;
use crate::shape::{check_len, check_shape};

/// The two best positions of a group by score: the first maximum, then the first
/// maximum of the rest (so ties go to the lower index).
pub fn top_two<S: PartialOrd + Copy>(scores: [S; 4]) -> Pattern {
    let mut best = 0;
    for i in 1..4 {
        if scores[i] > scores[best] {
            best = i;
        }
    }
    let mut second = usize::from(best == 0);
    for i in 0..4 {
        if i != best && scores[i] > scores[second] {
            second = i;
        }
    }
    let (a, b) = if best < second {
        (best, second)
    } else {
        (second, best)
    };
    Pattern::from_indices(a, b).unwrap_or(Pattern::P01)
}

fn mask_by<F>(rows: usize, cols: usize, what: &'static str, score: F) -> Result<Mask24>
where
    F: Fn(usize) -> f32 + Sync,
{
    let shape = check_shape(rows, cols)?;
    Mask24::from_groups(shape, |g| {
        let mut s = [0f32; 4];
        for (i, v) in s.iter_mut().enumerate() {
            *v = score(g * GROUP + i);
            if !v.is_finite() {
                return Err(non_finite_at(what, g * GROUP + i, cols));
            }
        }
        Ok(top_two(s))
    })
}

/// Keeps the two largest |w| of every group of four.
pub fn magnitude_mask<T: Element>(w: &[T], rows: usize, cols: usize) -> Result<Mask24> {
    let shape = check_shape(rows, cols)?;
    check_len("weights", shape.elements(), w.len())?;
    mask_by(rows, cols, "weights", |i| w[i].to_f32().abs())
}

/// Keeps the two highest scores of every group of four (any score matrix).
pub fn score_mask(scores: &[f32], rows: usize, cols: usize) -> Result<Mask24> {
    let shape = check_shape(rows, cols)?;
    check_len("scores", shape.elements(), scores.len())?;
    mask_by(rows, cols, "scores", |i| scores[i])
}

/// Wanda scores |W_ij|·‖x_j‖₂ from per-input-channel activation norms (len = cols).
pub fn wanda_scores<T: Element>(
    w: &[T],
    rows: usize,
    cols: usize,
    act_norms: &[f32],
) -> Result<Vec<f32>> {
    let shape = check_shape(rows, cols)?;
    check_len("weights", shape.elements(), w.len())?;
    check_len("activation norms", cols, act_norms.len())?;
    dtype::check_finite("activation norms", act_norms, cols)?;
    Ok(w.iter()
        .enumerate()
        .map(|(i, v)| v.to_f32().abs() * act_norms[i % cols])
        .collect())
}

/// Per-input-channel L2 norms of activations X [n, cols]. The activations are not
/// scanned; a norm that comes out non-finite (a NaN or ±Inf in its channel, or an
/// overflow to +Inf) is refused, naming the channel as the column of row 0.
pub fn activation_norms<T: Element>(x: &[T], n: usize, cols: usize) -> Result<Vec<f32>> {
    check_len(
        "activations",
        shape::tokens_by("activations", "cols", n, cols)?,
        x.len(),
    )?;
    let mut sq = vec![0f64; cols];
    for row in x.chunks_exact(cols) {
        for (s, v) in sq.iter_mut().zip(row) {
            *s += v.to_f64() * v.to_f64();
        }
    }
    let norms: Vec<f32> = sq.into_iter().map(|s| s.sqrt() as f32).collect();
    dtype::check_finite("activation norms", &norms, cols)?;
    Ok(norms)
}

/// The Wanda mask: [`wanda_scores`] then [`score_mask`].
pub fn wanda_mask<T: Element>(
    w: &[T],
    rows: usize,
    cols: usize,
    act_norms: &[f32],
) -> Result<Mask24> {
    score_mask(&wanda_scores(w, rows, cols, act_norms)?, rows, cols)
}

/// Whether a dense matrix is 2:4 sparse; `Err` names the first violation.
pub fn check_two_four<T: Element>(w: &[T], rows: usize, cols: usize) -> Result<()> {
    Mask24::detect(w, rows, cols).map(|_| ())
}

/// Magnitude-prunes and compresses in one call.
pub fn prune_magnitude<T: Element>(w: &[T], rows: usize, cols: usize) -> Result<Sparse24<T>> {
    Sparse24::compress_masked(w, &magnitude_mask(w, rows, cols)?)
}
