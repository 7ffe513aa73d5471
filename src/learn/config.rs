//! Settings of a mask-learning run, MaskLLM's recipe as defaults.

use super::objective::Precision;
use crate::error::{Error, Result};

/// Where the initial logits come from.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Prior {
    /// Keep the two largest |w| of each group.
    Magnitude,
    /// Keep the two largest |w|·‖x‖₂ of each group.
    Wanda,
}

/// A linear schedule from `start` (first step) to `end` (last step).
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Linear {
    /// The value at the first step.
    pub start: f32,
    /// The value at the last step.
    pub end: f32,
}

impl Linear {
    /// The value at `step` of `steps` (start at 0, end at steps − 1).
    pub fn at(&self, step: usize, steps: usize) -> f32 {
        if steps <= 1 {
            return self.start;
        }
        let t = step as f64 / (steps - 1) as f64;
        (self.start as f64 + (self.end as f64 - self.start as f64) * t) as f32
    }
}

/// Adam's settings (Kingma & Ba), on the logits.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct AdamConfig {
    /// Learning rate.
    pub lr: f32,
    /// Decay of the first moment.
    pub beta1: f32,
    /// Decay of the second moment.
    pub beta2: f32,
    /// Added to the second moment's square root.
    pub eps: f32,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

/// Everything a [`super::MaskLearner`] run is configured by.
#[derive(Clone, Debug, PartialEq)]
pub struct LearnConfig {
    /// Optimisation steps.
    pub steps: usize,
    /// Gumbel-softmax temperature τ (MaskLLM: 4 → 0.05).
    pub tau: Linear,
    /// Logit scale κ (MaskLLM: 100 → 500).
    pub kappa: Linear,
    /// One-shot mask the logits start from.
    pub prior: Prior,
    /// Prior strength (MaskLLM: 3).
    pub prior_strength: f32,
    /// Sparse-weight regulariser λ (MaskLLM: 1e-5): the loss is L − λ·Σ(W⊙M̃)².
    pub lambda: f32,
    /// The optimiser of the logits.
    pub adam: AdamConfig,
    /// Philox key for the initial logits and the Gumbel noise.
    pub seed: u64,
    /// The hard (argmax) mask is evaluated every this many steps, and after the last.
    pub eval_every: usize,
    /// Arithmetic of the quadratic form.
    pub precision: Precision,
}

impl Default for LearnConfig {
    fn default() -> Self {
        LearnConfig {
            steps: 200,
            tau: Linear {
                start: 4.0,
                end: 0.05,
            },
            kappa: Linear {
                start: 100.0,
                end: 500.0,
            },
            prior: Prior::Wanda,
            prior_strength: 3.0,
            lambda: 1e-5,
            adam: AdamConfig::default(),
            seed: 0x5eed_2024,
            eval_every: 10,
            precision: Precision::F32,
        }
    }
}

/// The most steps a run may take. Far beyond any schedule in use (MaskLLM trains for
/// about 2,000), and small enough that the per-step loss history (12 bytes a step on
/// the device, a curve point on the host) stays within memory.
pub const MAX_STEPS: usize = 10_000_000;

fn bad(what: &'static str, why: String) -> Error {
    Error::InvalidArgument { what, why }
}

fn positive(what: &'static str, v: f32) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(bad(what, format!("must be finite and > 0, got {v}")))
    }
}

impl LearnConfig {
    /// Rejects settings no run can use.
    pub fn validate(&self) -> Result<()> {
        if self.steps == 0 || self.steps > MAX_STEPS {
            return Err(bad(
                "steps",
                format!("must be in 1..={MAX_STEPS}, got {}", self.steps),
            ));
        }
        if self.eval_every == 0 {
            return Err(bad("eval_every", "must be at least 1".into()));
        }
        positive("tau.start", self.tau.start)?;
        positive("tau.end", self.tau.end)?;
        positive("kappa.start", self.kappa.start)?;
        positive("kappa.end", self.kappa.end)?;
        positive("adam.lr", self.adam.lr)?;
        positive("adam.eps", self.adam.eps)?;
        for (what, b) in [
            ("adam.beta1", self.adam.beta1),
            ("adam.beta2", self.adam.beta2),
        ] {
            if !(0.0..1.0).contains(&b) {
                return Err(bad(what, format!("must be in [0, 1), got {b}")));
            }
        }
        if !self.prior_strength.is_finite() {
            return Err(bad("prior_strength", "must be finite".into()));
        }
        if !self.lambda.is_finite() {
            return Err(bad("lambda", "must be finite".into()));
        }
        Ok(())
    }
}
