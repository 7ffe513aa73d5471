//! STEP (Lu et al., "STEP: Learning N:M Structured Sparsity Masks from Scratch with
//! Precondition", ICML 2023), layer by layer: Adam-aware 2:4 mask learning.
//!
//! Two phases on the loss and gradient of [`srste`](super::srste) (the layer's
//! reconstruction on the calibration statistics; straight-through gradient at the
//! magnitude-masked weights plus the sparse-refined decay):
//! 1. **Precondition**: plain Adam, its second moment v estimated along the way.
//!    [`AutoSwitch`] samples the relative change of v every step and ends the phase
//!    once those samples concentrate below a threshold.
//! 2. **Mask learning**: v is frozen at its value at the switch and used as a fixed
//!    preconditioner; the first moment keeps running: W ← W − η·m̂ / (√v_frozen + ε).
//!
//! The output is the final magnitude mask and W ⊙ M.
//!
//! Adaptation to a layer-wise problem: the paper's precondition phase trains the dense
//! model, whose gradient is informative during fine-tuning; here the dense weights are
//! the exact optimum of the reconstruction loss (gradient zero), so the precondition
//! phase takes the straight-through gradient of the masked weights, the one the
//! mask-learning phase sees. The two phases, the frozen variance and the automatic
//! switch by a concentration test on sampled variance changes are the paper's;
//! [`AutoSwitch`]'s statistic and constants (relative L1 change per step, a window of
//! 10 samples, mean + 2 standard errors below 2%) are this project's reading, not
//! numbers from the paper. Adam's β and ε are Adam's defaults; the step size, step
//! count and λ_w are [`SrSteConfig`]'s.

use super::srste::{apply_mask, magnitude_mask, srste_gradient, step_size, LayerLoss, Moments};
use super::{MethodProgress, Pruned, SrSteConfig};
use crate::dtype::Element;
use crate::error::{Error, Result};
use crate::learn::Calibration;
use std::collections::VecDeque;
use std::time::Instant;

/// When the precondition phase ends.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct AutoSwitchConfig {
    /// Samples of the variance's relative change tested together.
    pub window: usize,
    /// The phase ends once the samples' mean plus two standard errors is ≤ this.
    pub threshold: f64,
    /// Steps before which the phase never ends.
    pub min_steps: usize,
    /// Steps at which the phase ends whatever the test says.
    pub max_steps: usize,
}

impl Default for AutoSwitchConfig {
    fn default() -> Self {
        AutoSwitchConfig {
            window: 10,
            threshold: 0.02,
            min_steps: 10,
            max_steps: 100,
        }
    }
}

/// The switch rule: fed the (bias-corrected) second moment after every step, says
/// when the precondition phase is over.
#[derive(Clone, Debug)]
pub struct AutoSwitch {
    cfg: AutoSwitchConfig,
    prev: Option<Vec<f64>>,
    samples: VecDeque<f64>,
    steps: usize,
}

impl AutoSwitch {
    /// A switch with no history.
    pub fn new(cfg: AutoSwitchConfig) -> Result<AutoSwitch> {
        if cfg.window < 2 {
            return Err(Error::InvalidArgument {
                what: "window",
                why: format!("the switch tests at least 2 samples, got {}", cfg.window),
            });
        }
        if !(cfg.threshold.is_finite() && cfg.threshold > 0.0) {
            return Err(Error::InvalidArgument {
                what: "threshold",
                why: format!("must be finite and > 0, got {}", cfg.threshold),
            });
        }
        Ok(AutoSwitch {
            cfg,
            prev: None,
            samples: VecDeque::with_capacity(cfg.window),
            steps: 0,
        })
    }

    /// The sample of one step: ‖v − v_prev‖₁ / ‖v‖₁ (0 when v is all zero).
    fn relative_change(prev: &[f64], v: &[f64]) -> f64 {
        let num: f64 = v.iter().zip(prev).map(|(a, b)| (a - b).abs()).sum();
        let den: f64 = v.iter().map(|a| a.abs()).sum();
        if den > 0.0 {
            num / den
        } else {
            0.0
        }
    }

    /// Records the second moment after a step; true once the phase should end (and
    /// from then on).
    pub fn observe(&mut self, v: &[f64]) -> bool {
        self.steps += 1;
        if let Some(prev) = &self.prev {
            if self.samples.len() == self.cfg.window {
                self.samples.pop_front();
            }
            self.samples.push_back(Self::relative_change(prev, v));
        }
        self.prev = Some(v.to_vec());
        if self.steps >= self.cfg.max_steps {
            return true;
        }
        if self.steps < self.cfg.min_steps || self.samples.len() < self.cfg.window {
            return false;
        }
        let n = self.samples.len() as f64;
        let mean = self.samples.iter().sum::<f64>() / n;
        let var = self.samples.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (n - 1.0);
        mean + 2.0 * (var / n).sqrt() <= self.cfg.threshold
    }
}

/// STEP's settings.
#[derive(Copy, Clone, Debug, Default, PartialEq)]
pub struct StepConfig {
    /// Steps in all (both phases), Adam's settings, the step size and SR-STE's decay.
    pub base: SrSteConfig,
    /// The automatic switch.
    pub switch: AutoSwitchConfig,
}

/// Prunes W [rows, cols] to 2:4 by STEP on the calibration statistics.
/// `on_progress` hears after every step. Returns the pruned layer; the step at which
/// the precondition phase ended is reported through `on_progress`'s `method`
/// (`step` before, `step-learn` after).
pub fn step<T: Element>(
    w: &[T],
    rows: usize,
    cols: usize,
    calib: &Calibration,
    cfg: &StepConfig,
    mut on_progress: impl FnMut(&MethodProgress),
) -> Result<Pruned> {
    let b = &cfg.base;
    b.validate()?;
    let mut switch = AutoSwitch::new(cfg.switch)?;
    let loss = LayerLoss::new(w, rows, cols, calib, b.precision)?;
    let start = Instant::now();
    let mut cur = loss.dense().to_vec();
    let sigma = (cur.iter().map(|v| v * v).sum::<f64>() / cur.len() as f64).sqrt();
    let mut mo = Moments::new(cur.len());
    let mut frozen: Option<Vec<f64>> = None;
    for t in 0..b.steps {
        let (g, _) = srste_gradient(&loss, &cur, b.decay)?;
        let lr = step_size(b.lr * sigma, t, b.steps);
        match &frozen {
            None => {
                mo.t += 1;
                let c1 = 1.0 - b.beta1.powi(mo.t);
                let c2 = 1.0 - b.beta2.powi(mo.t);
                for (((p, &gi), m), v) in cur.iter_mut().zip(&g).zip(&mut mo.m).zip(&mut mo.v) {
                    *m = b.beta1 * *m + (1.0 - b.beta1) * gi;
                    *v = b.beta2 * *v + (1.0 - b.beta2) * gi * gi;
                    *p -= lr * (*m / c1) / ((*v / c2).sqrt() + b.eps);
                }
                let vhat: Vec<f64> = mo.v.iter().map(|v| v / c2).collect();
                if switch.observe(&vhat) {
                    frozen = Some(vhat);
                }
            }
            Some(vf) => {
                mo.t += 1;
                let c1 = 1.0 - b.beta1.powi(mo.t);
                for (((p, &gi), m), v) in cur.iter_mut().zip(&g).zip(&mut mo.m).zip(vf) {
                    *m = b.beta1 * *m + (1.0 - b.beta1) * gi;
                    *p -= lr * (*m / c1) / (v.sqrt() + b.eps);
                }
            }
        }
        on_progress(&MethodProgress {
            method: if frozen.is_some() {
                "step-learn"
            } else {
                "step"
            },
            done: t + 1,
            total: b.steps,
            unit: "steps",
            seconds: start.elapsed().as_secs_f64(),
        });
    }
    let mask = magnitude_mask(&cur, rows, cols)?;
    Pruned::from_f64(mask.clone(), &apply_mask(&cur, &mask), true)
}
