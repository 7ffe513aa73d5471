//! SR-STE (Zhou et al., "Learning N:M Fine-grained Structured Sparse Neural Networks
//! From Scratch", ICLR 2021), layer by layer with Adam: the baseline STEP improves on.
//!
//! Dense weights W start at the layer's weights W₀. Every step the mask M is the two
//! largest |W| of each group; the forward pass uses W ⊙ M, and the gradient taken
//! there is applied to the dense W (the straight-through estimator) plus the
//! sparse-refined term λ_w·(1 − M) ⊙ W, which decays the pruned weights so the mask
//! settles. The loss is the layer's reconstruction on the calibration statistics,
//! ℓ(W) = ½·tr((W − W₀)·G·(W − W₀)ᵀ) / mean(diag G): the objective of the other
//! methods, scaled so that its curvature is about one per weight (the decay then
//! weighs against it as against a network loss of unit curvature; this scaling is
//! this project's choice). Adam updates W; the output is the final mask and W ⊙ M.
//!
//! Settings: the straight-through gradient with the sparse-refined term is the
//! paper's; Adam (β = 0.9, 0.999, ε = 10⁻⁸: Adam's own defaults) is the optimiser of
//! the STEP paper's SR-STE baseline for Adam-trained models (SR-STE's paper used
//! momentum SGD). The paper's λ_w = 2·10⁻⁴ weighs the decay against a whole network's
//! loss; against this unit-curvature layer loss it leaves the pruned weights free to
//! regrow (on synthetic layers SR-STE then ends worse than magnitude pruning: 0.127 vs
//! 0.111 relative error), so the default here is λ_w = 1, where the decay balances the
//! loss's pull on a pruned weight for whitened inputs. That value, the step size (3%
//! of the weights' RMS, decaying linearly to zero) and the step count are this
//! project's, picked on synthetic layers (tests/step.rs's generator), not on MiniLM.

use super::{MethodProgress, Pruned};
use crate::dtype::{check_finite, Element};
use crate::error::{Error, Result};
use crate::format::Mask24;
use crate::learn::{Calibration, Precision};
use crate::pattern::GROUP;
use crate::prune::top_two;
use crate::shape::{check_len, check_shape};
use std::time::Instant;

/// SR-STE's settings.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct SrSteConfig {
    /// Adam steps.
    pub steps: usize,
    /// The first step size as a fraction of the weights' RMS (decays linearly to 0).
    pub lr: f64,
    /// λ_w, the sparse-refined decay of the pruned weights, relative to the loss's
    /// mean curvature (1; the paper's 2e-4 is relative to a network's loss).
    pub decay: f64,
    /// Adam's β₁.
    pub beta1: f64,
    /// Adam's β₂.
    pub beta2: f64,
    /// Adam's ε.
    pub eps: f64,
    /// Arithmetic of the gradient's product with G.
    pub precision: Precision,
}

impl Default for SrSteConfig {
    fn default() -> Self {
        SrSteConfig {
            steps: 200,
            lr: 0.03,
            decay: 1.0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            precision: Precision::F32,
        }
    }
}

impl SrSteConfig {
    /// Refuses settings out of range (a typed error naming the field).
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &'static str, v: f64, rule: &str| {
            Err(Error::InvalidArgument {
                what,
                why: format!("must be {rule}, got {v}"),
            })
        };
        if self.steps == 0 {
            return bad("steps", 0.0, "at least 1");
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad("lr", self.lr, "finite and > 0");
        }
        if !(self.decay.is_finite() && self.decay >= 0.0) {
            return bad("decay", self.decay, "finite and >= 0");
        }
        for (what, b) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&b) {
                return bad(what, b, "in [0, 1)");
            }
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return bad("eps", self.eps, "finite and > 0");
        }
        Ok(())
    }
}

/// The layer's reconstruction loss ℓ(W) = ½·tr((W − W₀)·G·(W − W₀)ᵀ) / mean(diag G)
/// on calibration statistics, and its gradient (W − W₀)·G / mean(diag G).
pub struct LayerLoss<'a> {
    w0: Vec<f64>,
    rows: usize,
    calib: &'a Calibration,
    scale: f64,
    precision: Precision,
}

impl<'a> LayerLoss<'a> {
    /// The loss of reconstructing W₀ [rows, cols] (checked: shape, finite values,
    /// calibration with some signal).
    pub fn new<T: Element>(
        w0: &[T],
        rows: usize,
        cols: usize,
        calib: &'a Calibration,
        precision: Precision,
    ) -> Result<LayerLoss<'a>> {
        let shape = check_shape(rows, cols)?;
        check_len("weights", shape.elements(), w0.len())?;
        check_len("calibration channels", cols, calib.cols())?;
        check_finite("weights", w0, cols)?;
        let g = calib.gram();
        let mean_diag = (0..cols).map(|i| g[i * cols + i]).sum::<f64>() / cols as f64;
        if !(mean_diag > 0.0 && mean_diag.is_finite()) {
            return Err(Error::InvalidArgument {
                what: "calibration",
                why: "every activation is zero: nothing to fit".into(),
            });
        }
        Ok(LayerLoss {
            w0: w0.iter().map(|v| v.to_f64()).collect(),
            rows,
            calib,
            scale: 1.0 / mean_diag,
            precision,
        })
    }

    /// W₀ in f64.
    pub fn dense(&self) -> &[f64] {
        &self.w0
    }

    /// ℓ(W) (in f64 whatever the precision).
    pub fn value(&self, w: &[f64]) -> Result<f64> {
        let d: Vec<f64> = w.iter().zip(&self.w0).map(|(a, b)| a - b).collect();
        Ok(0.5 * self.scale * self.calib.quadratic(&d, self.rows)?)
    }

    /// ∇ℓ at W.
    pub fn gradient(&self, w: &[f64]) -> Vec<f64> {
        let d: Vec<f64> = w.iter().zip(&self.w0).map(|(a, b)| a - b).collect();
        let (_, mut dg) = self
            .calib
            .quadratic_and_product(&d, self.rows, self.precision, true);
        dg.iter_mut().for_each(|v| *v *= self.scale);
        dg
    }
}

/// The two largest |w| of each group (ties: the lower index), as a mask.
pub(crate) fn magnitude_mask(w: &[f64], rows: usize, cols: usize) -> Result<Mask24> {
    let patterns = w
        .chunks_exact(GROUP)
        .map(|g| top_two([g[0].abs(), g[1].abs(), g[2].abs(), g[3].abs()]))
        .collect();
    Mask24::new(rows, cols, patterns)
}

/// W ⊙ M.
pub(crate) fn apply_mask(w: &[f64], mask: &Mask24) -> Vec<f64> {
    let cols = mask.cols();
    w.iter()
        .enumerate()
        .map(|(i, &v)| {
            if mask.keeps(i / cols, i % cols) {
                v
            } else {
                0.0
            }
        })
        .collect()
}

/// SR-STE's gradient at dense W: ∇ℓ(W ⊙ M) + λ_w·(1 − M) ⊙ W with M the magnitude
/// mask of W, and M. It is the gradient at p = W of
/// ℓ(W ⊙ M + (p − W)) + ½λ_w‖(1 − M) ⊙ p‖² (the forward at the masked weights, a
/// perturbation passing straight through; what the tests check by finite differences).
pub fn srste_gradient(loss: &LayerLoss, w: &[f64], decay: f64) -> Result<(Vec<f64>, Mask24)> {
    let rows = loss.rows;
    let cols = loss.calib.cols();
    let mask = magnitude_mask(w, rows, cols)?;
    let mut g = loss.gradient(&apply_mask(w, &mask));
    for (i, gi) in g.iter_mut().enumerate() {
        if mask.keeps(i / cols, i % cols) {
            continue;
        }
        // The straight-through gradient passes to pruned weights too; the decay adds.
        *gi += decay * w[i];
    }
    Ok((g, mask))
}

/// Adam's moments over f64 parameters (bias-corrected on use).
pub(crate) struct Moments {
    pub(crate) m: Vec<f64>,
    pub(crate) v: Vec<f64>,
    pub(crate) t: i32,
}

impl Moments {
    pub(crate) fn new(len: usize) -> Moments {
        Moments {
            m: vec![0.0; len],
            v: vec![0.0; len],
            t: 0,
        }
    }
}

/// Step size of step `t` (0-based) of `steps`: linear decay from `lr`.
pub(crate) fn step_size(lr: f64, t: usize, steps: usize) -> f64 {
    lr * (1.0 - t as f64 / steps as f64)
}

/// Prunes W [rows, cols] to 2:4 by SR-STE with Adam on the calibration statistics.
/// `on_progress` hears after every step.
pub fn srste<T: Element>(
    w: &[T],
    rows: usize,
    cols: usize,
    calib: &Calibration,
    cfg: &SrSteConfig,
    mut on_progress: impl FnMut(&MethodProgress),
) -> Result<Pruned> {
    cfg.validate()?;
    let loss = LayerLoss::new(w, rows, cols, calib, cfg.precision)?;
    let start = Instant::now();
    let mut cur = loss.dense().to_vec();
    let sigma = (cur.iter().map(|v| v * v).sum::<f64>() / cur.len() as f64).sqrt();
    let mut mo = Moments::new(cur.len());
    for t in 0..cfg.steps {
        let (g, _) = srste_gradient(&loss, &cur, cfg.decay)?;
        mo.t += 1;
        let c1 = 1.0 - cfg.beta1.powi(mo.t);
        let c2 = 1.0 - cfg.beta2.powi(mo.t);
        let lr = step_size(cfg.lr * sigma, t, cfg.steps);
        for (((p, &gi), m), v) in cur.iter_mut().zip(&g).zip(&mut mo.m).zip(&mut mo.v) {
            *m = cfg.beta1 * *m + (1.0 - cfg.beta1) * gi;
            *v = cfg.beta2 * *v + (1.0 - cfg.beta2) * gi * gi;
            *p -= lr * (*m / c1) / ((*v / c2).sqrt() + cfg.eps);
        }
        on_progress(&MethodProgress {
            method: "sr-ste",
            done: t + 1,
            total: cfg.steps,
            unit: "steps",
            seconds: start.elapsed().as_secs_f64(),
        });
    }
    let mask = magnitude_mask(&cur, rows, cols)?;
    Pruned::from_f64(mask.clone(), &apply_mask(&cur, &mask), true)
}
