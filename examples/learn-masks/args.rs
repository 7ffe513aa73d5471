//! Command line of the learn-masks example.

use sparse24::learn::{Calibration, LearnConfig, Prior};
use sparse24::methods::{Method, ProximalConfig, Recipe, RefitConfig};
use std::path::PathBuf;

pub const USAGE: &str =
    "usage: learn-masks [--methods LIST] [--layers REGEX] [--steps N] [--lr LR] [--prior wanda|magnitude]
                   [--seed N] [--eval-every K] [--damping D] [--out masks.safetensors] [--plot loss.svg]
                   [--model DIR] [--acts calibration.safetensors] [--held-out held-out.safetensors]
                   [--quiet] [--device auto|cpu|gpu] [--proximal-growth G] [--proximal-steps N]
  --model: the unzipped all-MiniLM-L6-v2 (default target/minilm/model; scripts/minilm/fetch-minilm.sh
           fetches it).
  --acts: calibration activations, \"{block}.{attn_in|attn_out_in|inter_in|out_in}\" [tokens, in]
           (default target/minilm/activations/calibration.safetensors, written by
           scripts/minilm/minilm.sh capture; data/minilm-activations.safetensors has block 0's).
  --held-out: activations of the same layers on held-out text: every method's error is also
           reported on them (the methods never see them).
  --damping: learn on G + D·mean(diag G)·I (default 0; the table still reports undamped
           errors).
  --methods (or --method): comma-separated, from magnitude, wanda, sparsegpt, learned,
           proximal, sr-ste, step (each with its paper's settings, see sparse24::methods), each
           optionally +refit (least-squares refit of the kept weights); default
           magnitude,wanda,learned. --out gets the learned masks (or the first method's);
           every other method a sibling file -<method>.
  --proximal-growth, --proximal-steps: the proximal method's strength growth per step
           (> 1, default 1.05) and step budget (default 300); 1.02 and 900 fit block 3 of
           MiniLM 4.6-8.6% better at about twice the time (docs/methods-minilm.md).
  --device: auto (default) learns (and runs SparseGPT's row sweep and the proximal
            operator) on the GPU when a CUDA
            device is present, else on the CPU.";

/// Where the learner runs.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Device {
    Auto,
    Cpu,
    Gpu,
}

pub struct Args {
    /// The methods compared, as `--methods` names them (`wanda+refit`, …).
    pub methods: Vec<String>,
    pub layers: String,
    pub steps: usize,
    pub lr: Option<f32>,
    pub wanda_prior: bool,
    pub seed: Option<u64>,
    pub eval_every: Option<usize>,
    pub out: PathBuf,
    pub plot: PathBuf,
    pub model: PathBuf,
    pub acts: PathBuf,
    pub held_out: Option<PathBuf>,
    pub quiet: bool,
    pub damping: f64,
    pub device: Device,
    /// `--proximal-growth`, `--proximal-steps`.
    pub proximal_growth: Option<f64>,
    pub proximal_steps: Option<usize>,
}

fn num<T: std::str::FromStr>(flag: &str, v: Option<String>) -> Result<T, String> {
    let v = v.ok_or(format!("{flag} needs a value"))?;
    v.parse().map_err(|_| format!("{flag}: cannot parse {v:?}"))
}

pub fn parse(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut a = Args {
        methods: DEFAULT_METHODS.iter().map(|m| m.to_string()).collect(),
        layers: ".*".into(),
        steps: 200,
        lr: None,
        wanda_prior: true,
        seed: None,
        eval_every: None,
        out: root.join("target/learn-masks/masks.safetensors"),
        plot: root.join("target/learn-masks/loss.svg"),
        model: root.join("target/minilm/model"),
        acts: root.join("target/minilm/activations/calibration.safetensors"),
        held_out: None,
        quiet: false,
        damping: 0.0,
        device: Device::Auto,
        proximal_growth: None,
        proximal_steps: None,
    };
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--layers" => a.layers = val()?,
            "--methods" | "--method" => {
                a.methods = val()?.split(',').map(|m| m.trim().to_string()).collect();
            }
            "--steps" => a.steps = num(&flag, it.next())?,
            "--lr" => a.lr = Some(num(&flag, it.next())?),
            "--seed" => a.seed = Some(num(&flag, it.next())?),
            "--eval-every" => a.eval_every = Some(num(&flag, it.next())?),
            "--prior" => {
                a.wanda_prior = match val()?.as_str() {
                    "wanda" => true,
                    "magnitude" => false,
                    p => return Err(format!("--prior: wanda or magnitude, not {p:?}")),
                }
            }
            "--out" => a.out = val()?.into(),
            "--plot" => a.plot = val()?.into(),
            "--model" => a.model = val()?.into(),
            "--acts" => a.acts = val()?.into(),
            "--held-out" => a.held_out = Some(val()?.into()),
            "--quiet" => a.quiet = true,
            "--damping" => a.damping = num(&flag, it.next())?,
            "--proximal-growth" => a.proximal_growth = Some(num(&flag, it.next())?),
            "--proximal-steps" => a.proximal_steps = Some(num(&flag, it.next())?),
            "--device" => {
                a.device = match val()?.as_str() {
                    "auto" => Device::Auto,
                    "cpu" => Device::Cpu,
                    "gpu" => Device::Gpu,
                    d => return Err(format!("--device: auto, cpu or gpu, not {d:?}")),
                }
            }
            "-h" | "--help" => return Err(USAGE.into()),
            f => return Err(format!("unknown argument {f:?}\n{USAGE}")),
        }
    }
    Ok(a)
}

/// What the tool compares without `--methods`.
pub const DEFAULT_METHODS: [&str; 3] = ["magnitude", "wanda", "learned"];

impl Args {
    /// The recipes of `--methods`, validated (known names, no repeats) with the
    /// learner's settings for `learned`.
    pub fn recipes(&self, cfg: &LearnConfig) -> Result<Vec<Recipe>, String> {
        let mut out: Vec<Recipe> = Vec::new();
        for m in &self.methods {
            let (name, refit) = match m.strip_suffix("+refit") {
                Some(n) => (n, true),
                None => (m.as_str(), false),
            };
            let method = match Method::from_name(name).map_err(|e| format!("--methods: {e}"))? {
                Method::Learned(_) => Method::Learned(cfg.clone()),
                Method::Proximal(_) => Method::Proximal(self.proximal()?),
                other => other,
            };
            let mut r = Recipe::new(method);
            if refit {
                r = r.with_refit(RefitConfig::default());
            }
            if out.iter().any(|o| o.label() == r.label()) {
                return Err(format!("--methods: {} given twice", r.label()));
            }
            out.push(r);
        }
        if out.is_empty() {
            return Err("--methods: no method given".into());
        }
        Ok(out)
    }

    /// Where a recipe's layers are written: `--out` for the learned masks (or the
    /// first recipe when there are none), a sibling `-<label>` for the others.
    pub fn output_of(&self, recipes: &[Recipe], label: &str) -> PathBuf {
        let main = recipes
            .iter()
            .find(|r| r.label() == "learned")
            .unwrap_or(&recipes[0])
            .label();
        if label == main {
            self.out.clone()
        } else {
            crate::output::sibling(&self.out, label)
        }
    }

    /// The learner's settings, validated (with the damping) before any file is read.
    pub fn config(&self) -> Result<LearnConfig, String> {
        let mut cfg = LearnConfig {
            steps: self.steps,
            prior: if self.wanda_prior {
                Prior::Wanda
            } else {
                Prior::Magnitude
            },
            ..LearnConfig::default()
        };
        if let Some(lr) = self.lr {
            cfg.adam.lr = lr;
        }
        if let Some(s) = self.seed {
            cfg.seed = s;
        }
        if let Some(k) = self.eval_every {
            cfg.eval_every = k;
        }
        cfg.validate().map_err(|e| e.to_string())?;
        Calibration::check_damping(self.damping).map_err(|e| format!("--damping: {e}"))?;
        self.proximal()?;
        Ok(cfg)
    }

    /// The proximal method's settings: its defaults with `--proximal-growth` and
    /// `--proximal-steps`, validated.
    pub fn proximal(&self) -> Result<ProximalConfig, String> {
        let mut p = ProximalConfig::default();
        if let Some(g) = self.proximal_growth {
            p.strength_growth = g;
        }
        if let Some(n) = self.proximal_steps {
            p.max_steps = n;
        }
        p.validate().map_err(|e| format!("--proximal-*: {e}"))?;
        Ok(p)
    }

    /// Every file the run writes: one per method, and the plot.
    pub fn outputs(&self, recipes: &[Recipe]) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = recipes
            .iter()
            .map(|r| self.output_of(recipes, &r.label()))
            .collect();
        v.push(self.plot.clone());
        v
    }
}
