//! MaskLLM mask learning for one linear layer on the CPU.
//!
//! Given W [out, in] and calibration activations X [n, in] (as a [`Calibration`]:
//! G = XᵀX and channel norms), learn logits π [out, in/4, 6] minimising
//! L − λ·Σ(W⊙M̃)² with L = ‖X·Wᵀ − X·(W⊙M̃)ᵀ‖² / ‖X·Wᵀ‖² and M̃ the Gumbel-softmax
//! soft mask of [`crate::mask`] (same Philox noise as the fused kernels). Adam on π,
//! τ and κ on linear schedules, the prior's hard mask evaluated first and the argmax
//! mask every `eval_every` steps: the best hard mask seen is the result, so it is
//! never worse than the prior. Every sum runs in a fixed order: a seed gives the
//! same bits on any machine and thread count.
//!
//! [`MaskLearner::run`] runs on the CPU; [`MaskLearner::run_on`] runs the same loop
//! on an [`Executor`] (a GPU through cudarc, or ptxsim) with [`DeviceLearnStep`].

mod adam;
mod config;
pub mod device;
mod objective;
pub mod sampling;
mod tensors;

pub use adam::Adam;
pub use config::{AdamConfig, LearnConfig, Linear, Prior};
pub use device::DeviceLearnStep;
pub use objective::{Calibration, Precision};
pub use tensors::{read_matrix, tensor_names, Matrix};

use crate::dtype::{check_finite, Element};
use crate::error::{Error, Result};
use crate::format::{Mask24, Sparse24};
use crate::launch::Executor;
use crate::mask::{self, SampleParams, CANDIDATES};
use crate::pattern::GROUP;
use crate::prune;
use crate::shape::{check_len, check_shape};
use std::time::Instant;

/// Curve points reserved up front; a long run grows the curve as it goes (a huge
/// `steps` must not turn into one huge allocation before the first step).
const CURVE_PREALLOC: usize = 1 << 16;

/// The soft objective at one set of logits and one noise draw.
#[derive(Clone, Debug)]
pub struct StepEval {
    /// L: relative squared reconstruction error of W ⊙ M̃.
    pub loss: f64,
    /// R = Σ(W ⊙ M̃)².
    pub reg: f64,
    /// L − λ·R, what is minimised.
    pub objective: f64,
    /// d(L − λR)/dπ, [out, in/4, 6] (empty when not asked for).
    pub grad: Vec<f64>,
}

/// One point of the loss curve.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct CurvePoint {
    /// The step (0-based).
    pub step: usize,
    /// Gumbel-softmax temperature τ at this step.
    pub tau: f32,
    /// Logit scale κ at this step.
    pub kappa: f32,
    /// L of the soft mask drawn at this step.
    pub soft_loss: f64,
    /// L − λ·R at this step.
    pub objective: f64,
    /// L of the argmax mask after this step's update, where evaluated.
    pub hard_loss: Option<f64>,
}

/// What the progress callback sees after every step.
#[derive(Copy, Clone, Debug)]
pub struct Progress<'a> {
    /// The layer being learned.
    pub layer: &'a str,
    /// The step just done (0-based).
    pub step: usize,
    /// Steps of the run.
    pub steps: usize,
    /// This step's point of the loss curve.
    pub point: CurvePoint,
    /// Best hard-mask L so far (the prior's included).
    pub best_loss: f64,
    /// Mean wall time per step so far.
    pub secs_per_step: f64,
}

/// The result of a run.
#[derive(Clone, Debug)]
pub struct Learned {
    rows: usize,
    cols: usize,
    /// The best hard mask seen.
    pub mask: Mask24,
    /// Logits whose argmax is [`Learned::mask`] (one-hot logits when the prior won).
    pub best_logits: Vec<f32>,
    /// Logits after the last step.
    pub final_logits: Vec<f32>,
    /// Step after which the best mask was evaluated; `None`: the prior.
    pub best_step: Option<usize>,
    /// L of the best mask.
    pub best_loss: f64,
    /// L of the prior mask.
    pub prior_loss: f64,
    /// The loss curve, one point per step.
    pub curve: Vec<CurvePoint>,
    /// Wall time of the run.
    pub seconds: f64,
}

impl Learned {
    /// Mean wall time per optimisation step.
    pub fn secs_per_step(&self) -> f64 {
        self.seconds / self.curve.len().max(1) as f64
    }

    /// The export: [`mask::hard_mask_compress`] of the best logits.
    pub fn compress<T: Element>(&self, w: &[T]) -> Result<Sparse24<T>> {
        mask::hard_mask_compress(w, self.rows, self.cols, &self.best_logits)
    }
}

/// Logits whose argmax is `mask` exactly: 1 for its pattern, 0 for the others.
pub fn one_hot_logits(mask: &Mask24) -> Vec<f32> {
    mask.patterns()
        .iter()
        .flat_map(|p| {
            let k = p.ordinal();
            (0..CANDIDATES).map(move |i| if i == k { 1.0 } else { 0.0 })
        })
        .collect()
}

/// Learns a 2:4 mask of one layer.
#[derive(Clone, Debug)]
pub struct MaskLearner<'c> {
    label: String,
    w: Vec<f32>,
    rows: usize,
    cols: usize,
    calib: &'c Calibration,
    cfg: LearnConfig,
    norm: f64,
    prior: Mask24,
}

impl<'c> MaskLearner<'c> {
    /// A learner for W [rows, cols] (f32/f16/bf16) on `calib` (cols channels).
    pub fn new<T: Element>(
        w: &[T],
        rows: usize,
        cols: usize,
        calib: &'c Calibration,
        cfg: LearnConfig,
    ) -> Result<Self> {
        cfg.validate()?;
        let shape = check_shape(rows, cols)?;
        check_len("weights", shape.elements(), w.len())?;
        check_len("calibration channels", cols, calib.cols())?;
        check_finite("weights", w, cols)?;
        let w: Vec<f32> = w.iter().map(|v| v.to_f32()).collect();
        let w64: Vec<f64> = w.iter().map(|&v| v as f64).collect();
        let norm = calib.output_norm(&w64, rows)?;
        let prior = match cfg.prior {
            Prior::Magnitude => prune::magnitude_mask(&w, rows, cols)?,
            Prior::Wanda => prune::wanda_mask(&w, rows, cols, calib.norms())?,
        };
        Ok(MaskLearner {
            label: String::new(),
            w,
            rows,
            cols,
            calib,
            cfg,
            norm,
            prior,
        })
    }

    /// Names the layer in progress reports.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// The run's settings.
    pub fn config(&self) -> &LearnConfig {
        &self.cfg
    }

    /// ‖X·Wᵀ‖².
    pub fn norm(&self) -> f64 {
        self.norm
    }

    /// The one-shot mask the run starts from.
    pub fn prior_mask(&self) -> &Mask24 {
        &self.prior
    }

    /// L of a hard mask: ‖X·Wᵀ − X·(W⊙M)ᵀ‖² / ‖X·Wᵀ‖² (in f64).
    pub fn mask_loss(&self, m: &Mask24) -> Result<f64> {
        if (m.rows(), m.cols()) != (self.rows, self.cols) {
            return Err(Error::InvalidArgument {
                what: "mask",
                why: format!(
                    "shape {}x{} differs from the layer's {}x{}",
                    m.rows(),
                    m.cols(),
                    self.rows,
                    self.cols
                ),
            });
        }
        let d: Vec<f64> = self
            .w
            .iter()
            .zip(m.to_dense())
            .map(|(&v, keep)| if keep { 0.0 } else { v as f64 })
            .collect();
        Ok(self.calib.quadratic(&d, self.rows)? / self.norm)
    }

    /// MaskLLM's initial logits: small noise plus the prior (see
    /// [`mask::init_logits_from_prior`]).
    pub fn initial_logits(&self) -> Result<Vec<f32>> {
        mask::init_logits_from_prior(&self.prior, self.cfg.seed, self.cfg.prior_strength)
    }

    /// The sampling parameters of step `step`.
    pub fn sample_params(&self, step: usize) -> SampleParams {
        let steps = self.cfg.steps;
        SampleParams {
            seed: self.cfg.seed,
            step: step as u32,
            kappa: self.cfg.kappa.at(step, steps),
            tau: self.cfg.tau.at(step, steps),
        }
    }

    /// The soft objective L − λ·R at `logits` under the noise of `p`, and its
    /// gradient with respect to the logits when `with_grad`.
    pub fn objective(&self, logits: &[f32], p: &SampleParams, with_grad: bool) -> Result<StepEval> {
        mask::check_logits(self.rows, self.cols, logits.len())?;
        p.validate()?;
        check_finite("logits", logits, self.cols / GROUP * CANDIDATES)?;
        let fwd = sampling::forward(&self.w, self.cols, logits, p);
        let reg = fwd.reg;
        let d: Vec<f64> = self
            .w
            .iter()
            .zip(&fwd.w_eff)
            .map(|(&a, b)| a as f64 - b)
            .collect();
        let (q, prod) =
            self.calib
                .quadratic_and_product(&d, self.rows, self.cfg.precision, with_grad);
        let loss = q / self.norm;
        let objective = loss - self.cfg.lambda as f64 * reg;
        let grad = if with_grad {
            let scale = -2.0 / self.norm;
            let dw_eff: Vec<f32> = prod.iter().map(|v| (scale * v) as f32).collect();
            sampling::backward(&self.w, &fwd, &dw_eff, self.cfg.lambda, p)
        } else {
            Vec::new()
        };
        Ok(StepEval {
            loss,
            reg,
            objective,
            grad,
        })
    }

    /// Runs the configured steps, calling `on_progress` after each.
    pub fn run(&self, mut on_progress: impl FnMut(&Progress)) -> Result<Learned> {
        let start = Instant::now();
        let steps = self.cfg.steps;
        let prior_loss = self.mask_loss(&self.prior)?;
        let mut best_mask = self.prior.clone();
        let mut best_logits = one_hot_logits(&self.prior);
        let (mut best_loss, mut best_step) = (prior_loss, None);
        let mut logits = self.initial_logits()?;
        let mut adam = Adam::new(self.cfg.adam, logits.len());
        let mut curve = Vec::with_capacity(steps.min(CURVE_PREALLOC));
        for step in 0..steps {
            let p = self.sample_params(step);
            let ev = self.objective(&logits, &p, true)?;
            adam.step(&mut logits, &ev.grad);
            let hard_loss = if (step + 1) % self.cfg.eval_every == 0 || step + 1 == steps {
                let m = mask::hard_mask(&logits, self.rows, self.cols)?;
                let l = self.mask_loss(&m)?;
                if l < best_loss {
                    (best_loss, best_step) = (l, Some(step));
                    best_logits.clone_from(&logits);
                    best_mask = m;
                }
                Some(l)
            } else {
                None
            };
            let point = CurvePoint {
                step,
                tau: p.tau,
                kappa: p.kappa,
                soft_loss: ev.loss,
                objective: ev.objective,
                hard_loss,
            };
            curve.push(point);
            on_progress(&Progress {
                layer: &self.label,
                step,
                steps,
                point,
                best_loss,
                secs_per_step: start.elapsed().as_secs_f64() / (step + 1) as f64,
            });
        }
        Ok(Learned {
            rows: self.rows,
            cols: self.cols,
            mask: best_mask,
            best_logits,
            final_logits: logits,
            best_step,
            best_loss,
            prior_loss,
            curve,
            seconds: start.elapsed().as_secs_f64(),
        })
    }

    /// Runs the configured steps on `exec` (GPU or ptxsim): the loop of
    /// [`MaskLearner::run`] with every step, and the hard-mask evaluations, on the
    /// device. The host synchronises only at the evaluation points (every
    /// `eval_every` steps and after the last): there it reads back the hard loss, the
    /// steps' losses since the last evaluation (so `on_progress` is called in bursts,
    /// in step order) and, when the hard mask improved, the logits.
    ///
    /// Losses are computed with f32 products (f64 final sums), so they match the
    /// CPU run's to rounding, not bit for bit; `prior_loss` and `best_loss` are the
    /// device's evaluations of those masks.
    pub fn run_on<E: Executor>(
        &self,
        exec: &E,
        mut on_progress: impl FnMut(&Progress),
    ) -> Result<Learned> {
        let start = Instant::now();
        let steps = self.cfg.steps;
        let init = self.initial_logits()?;
        let mut dev = DeviceLearnStep::new(exec, self, &init)?;
        let mut best_logits = one_hot_logits(&self.prior);
        let prior_loss = dev.hard_loss_of(exec, &best_logits)?;
        let (mut best_loss, mut best_step) = (prior_loss, None);
        let mut curve: Vec<CurvePoint> = Vec::with_capacity(steps.min(CURVE_PREALLOC));
        for step in 0..steps {
            let p = self.sample_params(step);
            dev.step(exec, step, p.tau, p.kappa, self.cfg.lambda)?;
            if !((step + 1) % self.cfg.eval_every == 0 || step + 1 == steps) {
                continue;
            }
            let hard = dev.hard_loss(exec)?;
            if hard < best_loss {
                (best_loss, best_step) = (hard, Some(step));
                best_logits = dev.logits(exec)?;
            }
            let (losses, regs) = dev.history(exec)?;
            let secs_per_step = start.elapsed().as_secs_f64() / (step + 1) as f64;
            for s in curve.len()..=step {
                let q = self.sample_params(s);
                let soft_loss = losses[s];
                let point = CurvePoint {
                    step: s,
                    tau: q.tau,
                    kappa: q.kappa,
                    soft_loss,
                    objective: soft_loss - self.cfg.lambda as f64 * regs[s] as f64,
                    hard_loss: (s == step).then_some(hard),
                };
                curve.push(point);
                on_progress(&Progress {
                    layer: &self.label,
                    step: s,
                    steps,
                    point,
                    best_loss,
                    secs_per_step,
                });
            }
        }
        let final_logits = dev.logits(exec)?;
        let mask = mask::hard_mask(&best_logits, self.rows, self.cols)?;
        Ok(Learned {
            rows: self.rows,
            cols: self.cols,
            mask,
            best_logits,
            final_logits,
            best_step,
            best_loss,
            prior_loss,
            curve,
            seconds: start.elapsed().as_secs_f64(),
        })
    }
}
