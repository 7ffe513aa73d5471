//! MaskLLM mask sampling, CPU reference in f64: the yardstick the fused kernels of
//! kernels/mask_sampling.cu are judged against.
//!
//! Per group of four weights there are six f32 logits π, one per candidate of
//! [`Pattern::ALL`] (S is the 6×4 0/1 table of kept positions). With scale κ,
//! temperature τ and Gumbel noise g from [`crate::philox`]:
//! - soft: ỹ = softmax((κπ + g)/τ), M̃ = ỹ·S (four values summing to 2);
//! - hard: M = S[argmax(κπ + g)] (ties to the lower candidate); backward is
//!   straight-through, i.e. through the soft ỹ;
//! - output W_eff = W ⊙ M, optionally R = Σ(W ⊙ M)² (the sparse-weight regulariser).
//!
//! Logits are laid out [rows, cols/4, 6] f32. The noise of group `row·cols/4 + j` is
//! [`philox::gumbel6`]`(seed, group, step)`, regenerated in backward from the seed.

use crate::dtype::{check_finite, Element};
use crate::error::{Error, Result};
use crate::format::{Mask24, Sparse24};
use crate::pattern::{Pattern, GROUP};
use crate::philox;
use crate::shape::{check_len, check_shape};

/// Candidates (logits) per group.
pub const CANDIDATES: usize = crate::abi::CANDIDATE_KEEPS.len();

/// Soft (Gumbel-softmax) or hard (one-hot argmax, straight-through) sampling.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Sampling {
    /// Gumbel-softmax probabilities: a differentiable mixture of the six candidates.
    Soft,
    /// The one-hot argmax candidate, with the soft gradient passed straight through.
    Hard,
}

/// What one sampling step needs besides the tensors.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct SampleParams {
    /// Philox key.
    pub seed: u64,
    /// Philox counter word 2: the training step (fresh noise per step).
    pub step: u32,
    /// Logit scale κ (> 0).
    pub kappa: f32,
    /// Temperature τ (> 0).
    pub tau: f32,
}

impl SampleParams {
    /// Rejects κ or τ that are not finite and positive.
    pub fn validate(&self) -> Result<()> {
        positive("kappa", self.kappa)?;
        positive("tau", self.tau)
    }
}

fn positive(what: &'static str, v: f32) -> Result<()> {
    if !(v.is_finite() && v > 0.0) {
        return Err(Error::InvalidArgument {
            what,
            why: format!("must be finite and > 0, got {v}"),
        });
    }
    Ok(())
}

/// Checks a logits buffer against a [rows, cols] weight shape.
pub fn check_logits(rows: usize, cols: usize, len: usize) -> Result<()> {
    let shape = check_shape(rows, cols)?;
    check_len("logits", shape.logits(), len)
}

/// The perturbed scores κπ + g of one group.
pub fn perturbed(logits: &[f32], noise: &[f64; 6], kappa: f32) -> [f64; 6] {
    std::array::from_fn(|i| kappa as f64 * logits[i] as f64 + noise[i])
}

/// softmax((κπ + g)/τ) of one group.
pub fn probs(logits: &[f32], noise: &[f64; 6], kappa: f32, tau: f32) -> [f64; 6] {
    let z = perturbed(logits, noise, kappa).map(|v| v / tau as f64);
    let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let e = z.map(|v| (v - m).exp());
    let s: f64 = e.iter().sum();
    e.map(|v| v / s)
}

/// Index of the largest score, ties to the lower index.
pub fn argmax6(s: &[f64; 6]) -> usize {
    (1..6).fold(0, |b, i| if s[i] > s[b] { i } else { b })
}

/// Largest minus second largest score (how safely [`argmax6`] is decided).
pub fn margin6(s: &[f64; 6]) -> f64 {
    let b = argmax6(s);
    let second = (0..6)
        .filter(|&i| i != b)
        .map(|i| s[i])
        .fold(f64::NEG_INFINITY, f64::max);
    s[b] - second
}

/// Expands candidate weights into per-position mask values: M_k = Σ_i y_i·S_ik.
pub fn expand(y: &[f64; 6]) -> [f64; 4] {
    let mut m = [0f64; 4];
    for (p, &yi) in Pattern::ALL.iter().zip(y) {
        for k in p.indices() {
            m[k] += yi;
        }
    }
    m
}

/// The one-hot vector of candidate `i`.
fn one_hot(i: usize) -> [f64; 6] {
    std::array::from_fn(|j| if j == i { 1.0 } else { 0.0 })
}

/// Noise, soft probabilities and forward mask of one group.
struct GroupSample {
    y: [f64; 6],
    mask: [f64; 4],
}

fn sample_group(logits: &[f32], group: u64, p: &SampleParams, s: Sampling) -> GroupSample {
    let noise = philox::gumbel6(p.seed, group, p.step);
    let y = probs(logits, &noise, p.kappa, p.tau);
    let mask = match s {
        Sampling::Soft => expand(&y),
        Sampling::Hard => expand(&one_hot(argmax6(&perturbed(logits, &noise, p.kappa)))),
    };
    GroupSample { y, mask }
}

fn check_inputs<T: Element>(
    w: &[T],
    rows: usize,
    cols: usize,
    logits: &[f32],
    p: &SampleParams,
) -> Result<()> {
    p.validate()?;
    let shape = check_shape(rows, cols)?;
    check_len("weights", shape.elements(), w.len())?;
    check_logits(rows, cols, logits.len())?;
    check_finite("weights", w, cols)?;
    check_finite("logits", logits, shape.logits_per_row())
}

/// The forward mask of every group, [rows, cols] in f64 (for tests and tools).
pub fn sample_mask(
    rows: usize,
    cols: usize,
    logits: &[f32],
    p: &SampleParams,
    s: Sampling,
) -> Result<Vec<f64>> {
    p.validate()?;
    check_logits(rows, cols, logits.len())?;
    Ok(logits
        .chunks_exact(CANDIDATES)
        .enumerate()
        .flat_map(|(g, l)| sample_group(l, g as u64, p, s).mask)
        .collect())
}

/// Forward in f64: W_eff = W ⊙ M and R = Σ(W ⊙ M)².
pub fn forward_f64<T: Element>(
    w: &[T],
    rows: usize,
    cols: usize,
    logits: &[f32],
    p: &SampleParams,
    s: Sampling,
) -> Result<(Vec<f64>, f64)> {
    check_inputs(w, rows, cols, logits, p)?;
    let mut out = Vec::with_capacity(w.len());
    let mut reg = 0f64;
    for (g, (quad, l)) in w
        .chunks_exact(GROUP)
        .zip(logits.chunks_exact(CANDIDATES))
        .enumerate()
    {
        let m = sample_group(l, g as u64, p, s).mask;
        for k in 0..GROUP {
            let v = quad[k].to_f64() * m[k];
            reg += v * v;
            out.push(v);
        }
    }
    Ok((out, reg))
}

/// What the forward returns: W_eff in the weights' type and, when asked, R.
#[derive(Clone, Debug, PartialEq)]
pub struct Forward<T> {
    /// The effective weights: W times the sampled mask.
    pub w_eff: Vec<T>,
    /// The regulariser R, when it was asked for.
    pub reg: Option<f64>,
}

/// Forward, rounded to the weights' type (what the kernel is compared with).
pub fn forward<T: Element>(
    w: &[T],
    rows: usize,
    cols: usize,
    logits: &[f32],
    p: &SampleParams,
    s: Sampling,
    with_reg: bool,
) -> Result<Forward<T>> {
    let (out, reg) = forward_f64(w, rows, cols, logits, p, s)?;
    Ok(Forward {
        w_eff: out.into_iter().map(T::from_f64).collect(),
        reg: with_reg.then_some(reg),
    })
}

/// Backward in f64: dπ of the loss L − λ·R given dL/dW_eff (W constant):
/// dM = dW_eff ⊙ W − 2λ·W² ⊙ M, dỹ_i = Σ_k S_ik·dM_k,
/// dz_j = ỹ_j·(dỹ_j − Σ_i ỹ_i·dỹ_i), dπ_j = (κ/τ)·dz_j. M is the forward mask (the
/// hard one for [`Sampling::Hard`]); the path to π always runs through the soft ỹ.
#[allow(clippy::too_many_arguments)]
pub fn backward_f64<T: Element>(
    w: &[T],
    rows: usize,
    cols: usize,
    logits: &[f32],
    dw_eff: &[T],
    lambda: f32,
    p: &SampleParams,
    s: Sampling,
) -> Result<Vec<f64>> {
    check_inputs(w, rows, cols, logits, p)?;
    check_len("gradient", w.len(), dw_eff.len())?;
    check_finite("gradient", dw_eff, cols)?;
    if !lambda.is_finite() {
        return Err(Error::InvalidArgument {
            what: "lambda",
            why: format!("must be finite, got {lambda}"),
        });
    }
    let scale = p.kappa as f64 / p.tau as f64;
    let mut out = Vec::with_capacity(logits.len());
    for (g, ((quad, dq), l)) in w
        .chunks_exact(GROUP)
        .zip(dw_eff.chunks_exact(GROUP))
        .zip(logits.chunks_exact(CANDIDATES))
        .enumerate()
    {
        let gs = sample_group(l, g as u64, p, s);
        let dm: [f64; 4] = std::array::from_fn(|k| {
            let wk = quad[k].to_f64();
            dq[k].to_f64() * wk - 2.0 * lambda as f64 * wk * wk * gs.mask[k]
        });
        let dy: [f64; 6] = std::array::from_fn(|i| {
            let [a, b] = Pattern::ALL[i].indices();
            dm[a] + dm[b]
        });
        // dỹ_j − Σ_i ỹ_i·dỹ_i summed as Σ_i ỹ_i·(dỹ_j − dỹ_i): at low temperature ỹ
        // is nearly one-hot and the plain difference cancels, even in f64.
        out.extend((0..CANDIDATES).map(|j| {
            let d: f64 = gs.y.iter().zip(&dy).map(|(y, di)| y * (dy[j] - di)).sum();
            scale * gs.y[j] * d
        }));
    }
    Ok(out)
}

/// Backward rounded to f32 (the logits' type).
#[allow(clippy::too_many_arguments)]
pub fn backward<T: Element>(
    w: &[T],
    rows: usize,
    cols: usize,
    logits: &[f32],
    dw_eff: &[T],
    lambda: f32,
    p: &SampleParams,
    s: Sampling,
) -> Result<Vec<f32>> {
    Ok(backward_f64(w, rows, cols, logits, dw_eff, lambda, p, s)?
        .into_iter()
        .map(|v| v as f32)
        .collect())
}

/// The learned mask: argmax of the logits per group (no noise), ties to the lower
/// candidate.
pub fn hard_mask(logits: &[f32], rows: usize, cols: usize) -> Result<Mask24> {
    check_logits(rows, cols, logits.len())?;
    check_finite("logits", logits, cols / GROUP * CANDIDATES)?;
    let patterns = logits
        .chunks_exact(CANDIDATES)
        .map(|l| Pattern::ALL[argmax6(&std::array::from_fn(|i| l[i] as f64))])
        .collect();
    Mask24::new(rows, cols, patterns)
}

/// The inference export of a learned mask: [`hard_mask`] then compress.
pub fn hard_mask_compress<T: Element>(
    w: &[T],
    rows: usize,
    cols: usize,
    logits: &[f32],
) -> Result<Sparse24<T>> {
    let shape = check_shape(rows, cols)?;
    check_len("weights", shape.elements(), w.len())?;
    Sparse24::compress_masked(w, &hard_mask(logits, rows, cols)?)
}

/// Initial logits in f64 before rounding: π0 = 0.01·N(0, 1) from
/// [`philox::normal6`] with step [`philox::INIT_STEP`], then each candidate gets
/// (overlap with the prior's pattern − 1)·std(π0)·strength, std over all logits of
/// the layer (population form, divided by the count).
pub fn init_logits_from_prior_f64(prior: &Mask24, seed: u64, strength: f32) -> Result<Vec<f64>> {
    if !strength.is_finite() {
        return Err(Error::InvalidArgument {
            what: "strength",
            why: format!("must be finite, got {strength}"),
        });
    }
    let mut pi: Vec<f64> = (0..prior.patterns().len())
        .flat_map(|g| philox::normal6(seed, g as u64, philox::INIT_STEP).map(|z| 0.01 * z))
        .collect();
    let n = pi.len() as f64;
    let mean = pi.iter().sum::<f64>() / n;
    let std = (pi.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt();
    let raise = std * strength as f64;
    for (l, prior_p) in pi.chunks_exact_mut(CANDIDATES).zip(prior.patterns()) {
        for (v, cand) in l.iter_mut().zip(Pattern::ALL) {
            *v += (cand.overlap(*prior_p) as f64 - 1.0) * raise;
        }
    }
    Ok(pi)
}

/// [`init_logits_from_prior_f64`] rounded to f32, laid out [rows, cols/4, 6].
pub fn init_logits_from_prior(prior: &Mask24, seed: u64, strength: f32) -> Result<Vec<f32>> {
    Ok(init_logits_from_prior_f64(prior, seed, strength)?
        .into_iter()
        .map(|v| v as f32)
        .collect())
}
