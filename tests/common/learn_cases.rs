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

/// [`synthetic`] with 2·cols tokens: W in `T` and its calibration statistics.
fn synthetic_layer<T: Element>(
    rows: usize,
    cols: usize,
    seed: u64,
) -> Result<(Vec<T>, Calibration), String> {
    let (w32, x) = synthetic(rows, cols, 2 * cols, seed);
    let w = w32.iter().map(|&v| T::from_f32(v)).collect();
    let calib = Calibration::from_activations(&x, 2 * cols, cols).map_err(|e| e.to_string())?;
    Ok((w, calib))
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
    let (w, calib) = synthetic_layer::<T>(rows, cols, seed)?;
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

/// A whole run on `exec` ([`MaskLearner::run_on`]) against the CPU run
/// ([`MaskLearner::run`]) with the same seed.
#[derive(Clone, Debug, Default)]
pub struct RunComparison {
    pub steps: usize,
    /// Progress calls on the device run, and whether they came in step order.
    pub progress_calls: usize,
    pub progress_in_order: bool,
    /// Relative difference of the prior's loss.
    pub prior_rel: f64,
    /// Largest relative difference of the per-step soft losses.
    pub soft_rel: f64,
    /// Largest relative difference of the objectives L − λR.
    pub objective_rel: f64,
    /// Largest relative difference of the hard losses at the evaluation points.
    pub hard_rel: f64,
    /// Final logits: groups whose CPU top-two differ by more than the margin, and
    /// of those, how many have the same argmax on the device.
    pub decided_groups: usize,
    pub same_argmax: usize,
    /// Groups where the two best masks differ.
    pub mask_differs: usize,
    pub groups: usize,
    pub cpu_best: f64,
    pub dev_best: f64,
    pub dev_prior: f64,
    pub cpu_seconds: f64,
    pub dev_seconds: f64,
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-30)
}

pub fn compare_runs<E: Executor, T: Element>(
    exec: &E,
    rows: usize,
    cols: usize,
    steps: usize,
    eval_every: usize,
    seed: u64,
    margin: f32,
) -> Result<RunComparison, String> {
    let (w, calib) = synthetic_layer::<T>(rows, cols, seed)?;
    let cfg = LearnConfig {
        steps,
        seed,
        eval_every,
        ..LearnConfig::default()
    };
    let learner = MaskLearner::new(&w, rows, cols, &calib, cfg).map_err(|e| e.to_string())?;
    let cpu = learner.run(|_| {}).map_err(|e| e.to_string())?;
    let mut order = Vec::new();
    let dev = learner
        .run_on(exec, |p| order.push(p.step))
        .map_err(|e| e.to_string())?;
    let mut c = RunComparison {
        steps,
        progress_calls: order.len(),
        progress_in_order: order.iter().copied().eq(0..steps),
        prior_rel: rel(dev.prior_loss, cpu.prior_loss),
        cpu_best: cpu.best_loss,
        dev_best: dev.best_loss,
        dev_prior: dev.prior_loss,
        cpu_seconds: cpu.seconds,
        dev_seconds: dev.seconds,
        ..RunComparison::default()
    };
    if cpu.curve.len() != dev.curve.len() {
        return Err(format!(
            "curves: {} CPU points, {} device points",
            cpu.curve.len(),
            dev.curve.len()
        ));
    }
    for (a, b) in dev.curve.iter().zip(&cpu.curve) {
        c.soft_rel = c.soft_rel.max(rel(a.soft_loss, b.soft_loss));
        c.objective_rel = c.objective_rel.max(rel(a.objective, b.objective));
        match (a.hard_loss, b.hard_loss) {
            (Some(x), Some(y)) => c.hard_rel = c.hard_rel.max(rel(x, y)),
            (None, None) => {}
            _ => return Err(format!("step {}: evaluated on one side only", a.step)),
        }
    }
    for (gc, gd) in cpu
        .final_logits
        .chunks_exact(CANDIDATES)
        .zip(dev.final_logits.chunks_exact(CANDIDATES))
    {
        c.groups += 1;
        let (ac, mc) = argmax_margin(gc);
        if mc > margin {
            c.decided_groups += 1;
            c.same_argmax += (argmax_margin(gd).0 == ac) as usize;
        }
    }
    c.mask_differs = cpu
        .mask
        .patterns()
        .iter()
        .zip(dev.mask.patterns())
        .filter(|(a, b)| a != b)
        .count();
    Ok(c)
}
