//! Device learner steps ([`DeviceLearnStep`]) against the CPU [`MaskLearner`] step
//! by step (same seed, same Philox noise, same Adam settings): shared by the ptxsim
//! and GPU tests.

#![allow(dead_code)]

use rand::{rngs::StdRng, Rng, SeedableRng};
use sparse24::launch::Executor;
use sparse24::learn::{Adam, Calibration, DeviceLearnStep, LearnConfig, MaskLearner};
use sparse24::mask::CANDIDATES;
use sparse24::Element;

/// A layer W [rows, cols] and activations X [n, cols] with correlated channels.
pub fn synthetic(rows: usize, cols: usize, n: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut normal = move || -> f64 {
        let (u, v): (f64, f64) = (rng.gen_range(1e-12..1.0), rng.gen());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    };
    let w: Vec<f32> = (0..rows * cols).map(|_| normal() as f32).collect();
    let mut x = Vec::with_capacity(n * cols);
    for _ in 0..n {
        let shared = normal();
        for j in 0..cols {
            let scale = 0.5 + (j % 7) as f64 * 0.25;
            x.push(((normal() + 0.5 * shared) * scale) as f32);
        }
    }
    (w, x)
}

/// How far the device run is from the CPU run.
#[derive(Clone, Debug, Default)]
pub struct Comparison {
    /// Largest relative difference of the per-step soft losses.
    pub loss_rel: f64,
    /// Largest |Δπ| over the run.
    pub logits_abs: f64,
    /// Largest |Δπ| over the run, relative to max |π|.
    pub logits_rel: f64,
    /// Largest elementwise relative |Δπ| (against max(|π|, 1e-3)).
    pub logits_elem_rel: f64,
    /// dπ of the first step: max |Δ| relative to max |dπ|.
    pub grad_rel: f64,
    /// Groups whose CPU top-two logits differ by more than `margin`.
    pub decided_groups: usize,
    /// Of those, groups with the same argmax on both.
    pub same_argmax: usize,
    pub groups: usize,
    pub final_loss_cpu: f64,
    pub final_loss_dev: f64,
}

fn argmax_margin(l: &[f32]) -> (usize, f32) {
    let mut idx: Vec<usize> = (0..l.len()).collect();
    idx.sort_by(|&a, &b| l[b].total_cmp(&l[a]).then(a.cmp(&b)));
    (idx[0], l[idx[0]] - l[idx[1]])
}

/// Runs `steps` learner steps of a synthetic layer on the CPU and on `exec`.
pub fn compare<E: Executor, T: Element>(
    exec: &E,
    rows: usize,
    cols: usize,
    steps: usize,
    seed: u64,
    margin: f32,
) -> Result<Comparison, String> {
    let (w32, x) = synthetic(rows, cols, 2 * cols, seed);
    let w: Vec<T> = w32.iter().map(|&v| T::from_f32(v)).collect();
    let calib = Calibration::from_activations(&x, 2 * cols, cols).map_err(|e| e.to_string())?;
    let cfg = LearnConfig {
        steps,
        seed,
        ..LearnConfig::default()
    };
    let learner =
        MaskLearner::new(&w, rows, cols, &calib, cfg.clone()).map_err(|e| e.to_string())?;
    let mut logits = learner.initial_logits().map_err(|e| e.to_string())?;
    let mut dev = DeviceLearnStep::new(exec, &learner, &logits).map_err(|e| e.to_string())?;
    let mut adam = Adam::new(cfg.adam, logits.len());
    let mut c = Comparison::default();
    for step in 0..steps {
        let p = learner.sample_params(step);
        let ev = learner
            .objective(&logits, &p, true)
            .map_err(|e| e.to_string())?;
        adam.step(&mut logits, &ev.grad);
        dev.step(exec, step, p.tau, p.kappa, cfg.lambda)
            .map_err(|e| e.to_string())?;
        let dl = dev.loss(exec).map_err(|e| e.to_string())?;
        c.loss_rel = c
            .loss_rel
            .max((dl - ev.loss).abs() / ev.loss.abs().max(1e-30));
        if step == 0 {
            let g = dev.logit_grad(exec).map_err(|e| e.to_string())?;
            let scale = ev.grad.iter().fold(0f64, |m, v| m.max(v.abs()));
            let diff = g
                .iter()
                .zip(&ev.grad)
                .fold(0f64, |m, (a, b)| m.max((*a as f64 - b).abs()));
            c.grad_rel = diff / scale.max(1e-30);
        }
        let got = dev.logits(exec).map_err(|e| e.to_string())?;
        let scale = logits.iter().fold(0f32, |m, v| m.max(v.abs())) as f64;
        for (a, b) in got.iter().zip(&logits) {
            let d = (*a as f64 - *b as f64).abs();
            c.logits_abs = c.logits_abs.max(d);
            c.logits_rel = c.logits_rel.max(d / scale);
            c.logits_elem_rel = c.logits_elem_rel.max(d / (b.abs() as f64).max(1e-3));
        }
        if step + 1 == steps {
            c.final_loss_cpu = ev.loss;
            c.final_loss_dev = dl;
            for (gc, gd) in logits
                .chunks_exact(CANDIDATES)
                .zip(got.chunks_exact(CANDIDATES))
            {
                c.groups += 1;
                let (ac, mc) = argmax_margin(gc);
                if mc > margin {
                    c.decided_groups += 1;
                    c.same_argmax += (argmax_margin(gd).0 == ac) as usize;
                }
            }
        }
    }
    Ok(c)
}
