//! One interface for 2:4 methods: magnitude, Wanda, SparseGPT, the learned
//! (MaskLLM-style) masks, the proximal method, SR-STE and STEP, each optionally followed by a least-squares refit of the
//! kept weights.
//!
//! Every method takes a layer's weights W [rows, cols] and, where it uses them, the
//! layer's calibration statistics ([`Calibration`]: G = XᵀX and the channel norms),
//! and returns a [`Pruned`] layer: a [`Mask24`] and the weights to compress under it
//! (W itself with the pruned entries zeroed, or W updated by the method).
//!
//! ```
//! use sparse24::learn::Calibration;
//! use sparse24::methods::{prune_layer, Method, Recipe};
//! let (rows, cols, tokens) = (8, 16, 64);
//! let w: Vec<f32> = (0..rows * cols).map(|i| ((i * 37 % 23) as f32 - 11.0) / 8.0).collect();
//! let x: Vec<f32> = (0..tokens * cols).map(|i| ((i * 53 % 29) as f32 - 14.0) / 9.0).collect();
//! let calib = Calibration::from_activations(&x, tokens, cols)?;
//! let recipe = Recipe::new(Method::SparseGpt(Default::default()));
//! let pruned = prune_layer(&recipe, &w, rows, cols, Some(&calib), |_| {})?;
//! let magnitude = prune_layer(&Recipe::new(Method::Magnitude), &w, rows, cols, None, |_| {})?;
//! // SparseGPT's error on the calibration tokens is below plain magnitude pruning's.
//! assert!(pruned.error(&w, &calib)? < magnitude.error(&w, &calib)?);
//! let layer = pruned.compress::<f32>()?;
//! assert_eq!(layer.values().len(), rows * cols / 2);
//! # Ok::<(), sparse24::Error>(())
//! ```

mod linalg;
pub mod prox_roots;
mod proximal;
pub mod proximal_group;
mod refit;
mod sparsegpt;
mod srste;
mod step;

pub use proximal::{proximal, proximal_on, ProximalConfig};
pub use refit::{refit, RefitConfig};
pub use sparsegpt::{sparsegpt, sparsegpt_on, SparseGptConfig};
pub use srste::{srste, srste_gradient, LayerLoss, SrSteConfig};
pub use step::{step, AutoSwitch, AutoSwitchConfig, StepConfig};

use crate::dtype::{check_finite, Element};
use crate::error::{Error, Result};
use crate::format::{Mask24, Sparse24};
use crate::launch::Executor;
use crate::learn::{Calibration, LearnConfig, MaskLearner};
use crate::prune;
use crate::shape::{check_len, check_shape};
use std::time::Instant;

/// A way to choose a 2:4 mask (and, for some, new weights).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Method {
    /// The two largest |w| of each group of four.
    Magnitude,
    /// The two largest |w|·‖x‖ (Wanda: Sun et al., 2023).
    Wanda,
    /// SparseGPT's mask and weight update ([`sparsegpt`]).
    SparseGpt(SparseGptConfig),
    /// The mask learned by [`MaskLearner`] (MaskLLM-style, on the CPU).
    Learned(LearnConfig),
    /// The proximal method of Kübler et al. ([`proximal()`]): the 2:4 regulariser's
    /// proximal operator, an increasing strength, then a refit of the kept weights.
    Proximal(ProximalConfig),
    /// SR-STE with Adam ([`srste()`]): the straight-through baseline of STEP.
    SrSte(SrSteConfig),
    /// STEP ([`step()`]): Adam's variance estimated, frozen at an automatic switch, then
    /// used as the preconditioner of mask learning.
    Step(StepConfig),
}

impl Method {
    /// Every method's name, as `--method` takes them.
    pub const NAMES: [&'static str; 7] = [
        "magnitude",
        "wanda",
        "sparsegpt",
        "learned",
        "proximal",
        "sr-ste",
        "step",
    ];

    /// The method's name, as the tools take it (one of [`Method::NAMES`]).
    pub fn name(&self) -> &'static str {
        match self {
            Method::Magnitude => "magnitude",
            Method::Wanda => "wanda",
            Method::SparseGpt(_) => "sparsegpt",
            Method::Learned(_) => "learned",
            Method::Proximal(_) => "proximal",
            Method::SrSte(_) => "sr-ste",
            Method::Step(_) => "step",
        }
    }

    /// The method of a name of [`Method::NAMES`] with its default settings (the
    /// settings of its paper where it has one); anything else is
    /// `Error::InvalidArgument` listing the names.
    pub fn from_name(name: &str) -> Result<Method> {
        Ok(match name.trim().to_ascii_lowercase().as_str() {
            "magnitude" => Method::Magnitude,
            "wanda" => Method::Wanda,
            "sparsegpt" => Method::SparseGpt(SparseGptConfig::default()),
            "learned" | "maskllm" => Method::Learned(LearnConfig::default()),
            "proximal" => Method::Proximal(ProximalConfig::default()),
            "sr-ste" | "srste" => Method::SrSte(SrSteConfig::default()),
            "step" => Method::Step(StepConfig::default()),
            _ => {
                return Err(Error::InvalidArgument {
                    what: "method",
                    why: format!(
                        "unknown method `{name}`; expected one of {}",
                        Method::NAMES.join(", ")
                    ),
                })
            }
        })
    }

    /// Whether the method reads calibration statistics.
    pub fn needs_calibration(&self) -> bool {
        !matches!(self, Method::Magnitude)
    }

    /// Whether the method changes the kept weights.
    pub fn updates_weights(&self) -> bool {
        matches!(
            self,
            Method::SparseGpt(_) | Method::Proximal(_) | Method::SrSte(_) | Method::Step(_)
        )
    }
}

/// A method and, optionally, a refit of the kept weights after it.
#[derive(Clone, Debug)]
pub struct Recipe {
    /// How the mask is chosen.
    pub method: Method,
    /// A least-squares refit of the kept weights afterwards, if any.
    pub refit: Option<RefitConfig>,
}

impl Recipe {
    /// The method alone.
    pub fn new(method: Method) -> Recipe {
        Recipe {
            method,
            refit: None,
        }
    }

    /// The method, then [`refit`] on its mask.
    pub fn with_refit(mut self, cfg: RefitConfig) -> Recipe {
        self.refit = Some(cfg);
        self
    }

    /// `magnitude`, `sparsegpt+refit`, …: the method's name, `+refit` when refit.
    pub fn label(&self) -> String {
        match self.refit {
            Some(_) => format!("{}+refit", self.method.name()),
            None => self.method.name().to_string(),
        }
    }

    /// Whether the recipe reads calibration statistics.
    pub fn needs_calibration(&self) -> bool {
        self.method.needs_calibration() || self.refit.is_some()
    }
}

/// What a long-running method reports as it goes.
#[derive(Copy, Clone, Debug)]
pub struct MethodProgress {
    /// The method's name.
    pub method: &'static str,
    /// Units done.
    pub done: usize,
    /// Units in all.
    pub total: usize,
    /// What `done` and `total` count: columns, rows or steps.
    pub unit: &'static str,
    /// Wall time so far.
    pub seconds: f64,
}

/// A pruned layer: the mask, and the weights to compress under it (zero wherever
/// the mask prunes).
#[derive(Clone, Debug)]
pub struct Pruned {
    /// The 2:4 mask chosen.
    pub mask: Mask24,
    /// [rows, cols], zero at every pruned position.
    pub weights: Vec<f32>,
    /// Whether the kept weights differ from the input's (an update or a refit).
    pub weights_updated: bool,
}

impl Pruned {
    /// The mask with the input weights kept as they are.
    pub fn masked<T: Element>(mask: Mask24, w: &[T]) -> Result<Pruned> {
        let weights = mask.apply(w)?.iter().map(|v| v.to_f32()).collect();
        Ok(Pruned {
            mask,
            weights,
            weights_updated: false,
        })
    }

    /// Weights computed in f64 by a method: rounded to f32, checked finite and zero
    /// where the mask prunes.
    pub(crate) fn from_f64(mask: Mask24, w: &[f64], updated: bool) -> Result<Pruned> {
        let cols = mask.cols();
        let weights: Vec<f32> = w.iter().map(|&v| v as f32).collect();
        if let Some(i) = weights.iter().position(|v| !v.is_finite()) {
            return Err(Error::InvalidArgument {
                what: "weights",
                why: format!(
                    "the update made weight (row {}, column {}) non-finite (raise the damping)",
                    i / cols,
                    i % cols
                ),
            });
        }
        if let Some(i) =
            (0..weights.len()).find(|&i| weights[i] != 0.0 && !mask.keeps(i / cols, i % cols))
        {
            return Err(Error::InvalidArgument {
                what: "weights",
                why: format!(
                    "weight (row {}, column {}) is pruned by the mask but nonzero",
                    i / cols,
                    i % cols
                ),
            });
        }
        Ok(Pruned {
            mask,
            weights,
            weights_updated: updated,
        })
    }

    /// The compressed layer in element type T (an f16/bf16 overflow of an updated
    /// weight is `Error::NonFinite` naming it).
    pub fn compress<T: Element>(&self) -> Result<Sparse24<T>> {
        let w: Vec<T> = self.weights.iter().map(|&v| T::from_f32(v)).collect();
        check_finite("weights", &w, self.mask.cols())?;
        Sparse24::compress_masked(&w, &self.mask)
    }

    /// ‖X·Wᵀ − X·W'ᵀ‖² / ‖X·Wᵀ‖² on the calibration statistics, for the dense W
    /// this layer was pruned from.
    pub fn error<T: Element>(&self, w: &[T], calib: &Calibration) -> Result<f64> {
        layer_error(w, &self.weights, self.mask.rows(), calib)
    }
}

/// ‖X·Wᵀ − X·W'ᵀ‖² / ‖X·Wᵀ‖² through G = XᵀX, for W and W' [rows, cols].
pub fn layer_error<T: Element>(
    w: &[T],
    pruned: &[f32],
    rows: usize,
    calib: &Calibration,
) -> Result<f64> {
    let cols = calib.cols();
    let shape = check_shape(rows, cols)?;
    check_len("weights", shape.elements(), w.len())?;
    check_len("pruned weights", shape.elements(), pruned.len())?;
    let w64: Vec<f64> = w.iter().map(|v| v.to_f64()).collect();
    let d: Vec<f64> = w64.iter().zip(pruned).map(|(a, &b)| a - b as f64).collect();
    let norm = calib.output_norm(&w64, rows)?;
    Ok(calib.quadratic(&d, rows)? / norm)
}

/// Prunes one layer with a recipe. `calib` is required when
/// [`Recipe::needs_calibration`]; `on_progress` hears from the long-running steps
/// (SparseGPT's column blocks, the learner's steps, the refit's rows).
pub fn prune_layer<T: Element>(
    recipe: &Recipe,
    w: &[T],
    rows: usize,
    cols: usize,
    calib: Option<&Calibration>,
    on_progress: impl FnMut(&MethodProgress),
) -> Result<Pruned> {
    // No executor: the type parameter only names one (nothing is recorded or run).
    prune_layer_with::<crate::launch::record::RecordingExecutor, T>(
        None,
        recipe,
        w,
        rows,
        cols,
        calib,
        on_progress,
    )
}

/// [`prune_layer`] with the steps that have a device version on `exec`'s device:
/// SparseGPT's row sweep ([`sparsegpt_on`]), the proximal operator ([`proximal_on`]);
/// everything else (and the refit) on the CPU.
pub fn prune_layer_on<E: Executor, T: Element>(
    exec: &E,
    recipe: &Recipe,
    w: &[T],
    rows: usize,
    cols: usize,
    calib: Option<&Calibration>,
    on_progress: impl FnMut(&MethodProgress),
) -> Result<Pruned> {
    prune_layer_with(Some(exec), recipe, w, rows, cols, calib, on_progress)
}

fn prune_layer_with<E: Executor, T: Element>(
    exec: Option<&E>,
    recipe: &Recipe,
    w: &[T],
    rows: usize,
    cols: usize,
    calib: Option<&Calibration>,
    mut on_progress: impl FnMut(&MethodProgress),
) -> Result<Pruned> {
    let shape = check_shape(rows, cols)?;
    check_len("weights", shape.elements(), w.len())?;
    let need = |what: &str| {
        calib.ok_or_else(|| Error::InvalidArgument {
            what: "calibration",
            why: format!("{what} needs calibration statistics"),
        })
    };
    let pruned = match &recipe.method {
        Method::Magnitude => Pruned::masked(prune::magnitude_mask(w, rows, cols)?, w)?,
        Method::Wanda => {
            let c = need("wanda")?;
            check_len("calibration channels", cols, c.cols())?;
            Pruned::masked(prune::wanda_mask(w, rows, cols, c.norms())?, w)?
        }
        Method::SparseGpt(cfg) => match exec {
            Some(e) => sparsegpt::sparsegpt_on(
                e,
                w,
                rows,
                cols,
                need("sparsegpt")?,
                cfg,
                &mut on_progress,
            )?,
            None => sparsegpt::sparsegpt(w, rows, cols, need("sparsegpt")?, cfg, &mut on_progress)?,
        },
        Method::Learned(cfg) => {
            let start = Instant::now();
            let learner = MaskLearner::new(w, rows, cols, need("learned")?, cfg.clone())?;
            let learned = learner.run(|p| {
                on_progress(&MethodProgress {
                    method: "learned",
                    done: p.step + 1,
                    total: p.steps,
                    unit: "steps",
                    seconds: start.elapsed().as_secs_f64(),
                })
            })?;
            Pruned::masked(learned.mask, w)?
        }
        Method::Proximal(cfg) => match exec {
            Some(e) => {
                proximal::proximal_on(e, w, rows, cols, need("proximal")?, cfg, &mut on_progress)?
            }
            None => proximal::proximal(w, rows, cols, need("proximal")?, cfg, &mut on_progress)?,
        },
        Method::SrSte(cfg) => srste::srste(w, rows, cols, need("sr-ste")?, cfg, &mut on_progress)?,
        Method::Step(cfg) => step::step(w, rows, cols, need("step")?, cfg, &mut on_progress)?,
    };
    match &recipe.refit {
        None => Ok(pruned),
        Some(cfg) => refit::refit(w, &pruned.mask, need("refit")?, cfg, on_progress),
    }
}
