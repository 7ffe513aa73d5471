//! A 20-step learner run on the GPU (src/learn/device.rs) against the CPU learner
//! with the same seed: losses within rounding and the same argmax on ≥ 99% of the
//! groups whose top-two logits differ by more than 1e-3.

#[path = "../common/learn_cases.rs"]
mod learn_cases;

use super::GpuTest;
use libtest_mimic::Failed;
use sparse24::bf16;
use sparse24::cuda::{CodeChoice, CudaExecutor};

pub fn tests() -> Vec<(&'static str, GpuTest)> {
    vec![
        ("learn_20_steps_f32_vs_cpu", || run::<f32>(64, 128)),
        ("learn_20_steps_bf16_vs_cpu", || run::<bf16>(96, 192)),
        ("learn_whole_run_f32_vs_cpu", || whole_run::<f32>(256, 512)),
        ("learn_whole_run_bf16_vs_cpu", || {
            whole_run::<bf16>(192, 384)
        }),
        ("learn_cublaslt_gram_vs_kernel", || {
            cublas_vs_kernel(320, 448)
        }),
        ("sparsegpt_device_vs_cpu", || sparsegpt_device(384, 1536)),
        ("proximal_operator_device_vs_cpu", || {
            proximal_operator_device(384 * 1536)
        }),
    ]
}

/// The 2:4 proximal operator (kernels/proximal.cu) on a MiniLM-sized layer's weights
/// (normal, a few exact ties and zeros) at four strengths against the CPU version: the
/// same bits (both round every operation the same way; ptxsim checks the same), and
/// every support case hit at the middle strengths. Both times printed.
fn proximal_operator_device(weights: usize) -> Result<(), Failed> {
    use rand::{Rng, SeedableRng};
    use sparse24::methods::proximal_group::{prox_group_report, prox_groups};
    let exec = CudaExecutor::new(CodeChoice::Fatbin)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(2501);
    let w: Vec<f64> = (0..weights)
        .map(|i| match i % 97 {
            0 => 0.0,
            1 | 2 => 0.25,
            _ => rng.gen_range(-1.0..1.0) * rng.gen_range(0.1..1.0),
        })
        .collect();
    for s in [0.05, 0.5, 2.0, 20.0] {
        let t = std::time::Instant::now();
        let dev = sparse24::ops::proximal::prox_groups_on(&exec, &w, s)?;
        let dev_s = t.elapsed().as_secs_f64();
        let mut cpu = w.clone();
        let t = std::time::Instant::now();
        prox_groups(&mut cpu, s);
        let cpu_s = t.elapsed().as_secs_f64();
        let differ = dev
            .iter()
            .zip(&cpu)
            .filter(|(a, b)| a.to_bits() != b.to_bits())
            .count();
        let mut faces = std::collections::BTreeMap::new();
        for g in w.chunks_exact(4) {
            let face = prox_group_report([g[0], g[1], g[2], g[3]], s).1.face;
            *faces.entry(format!("{face:?}")).or_insert(0u32) += 1;
        }
        println!(
            "strength {s}: {differ} of {weights} values differ; faces {faces:?}; CPU {cpu_s:.3} s, GPU (with copies) {dev_s:.3} s"
        );
        if differ != 0 {
            return Err(format!("strength {s}: {differ} values differ from the CPU").into());
        }
    }
    Ok(())
}

/// SparseGPT's row sweep on the GPU (`methods::sparsegpt_on`) against the CPU version on
/// a MiniLM-sized layer: the same mask (ties to rounding excepted: at most 0.1% of the
/// groups) and weights within rounding; both times printed.
fn sparsegpt_device(rows: usize, cols: usize) -> Result<(), Failed> {
    use sparse24::learn::Calibration;
    use sparse24::methods::{sparsegpt, sparsegpt_on, SparseGptConfig};
    let exec = CudaExecutor::new(CodeChoice::Fatbin)?;
    let tokens = 2 * cols;
    let (w, x) = learn_cases::synthetic(rows, cols, tokens, 21);
    let calib = Calibration::from_activations(&x, tokens, cols)?;
    let cfg = SparseGptConfig::default();
    let t = std::time::Instant::now();
    let cpu = sparsegpt(&w, rows, cols, &calib, &cfg, |_| {})?;
    let cpu_s = t.elapsed().as_secs_f64();
    let t = std::time::Instant::now();
    let dev = sparsegpt_on(&exec, &w, rows, cols, &calib, &cfg, |_| {})?;
    let dev_s = t.elapsed().as_secs_f64();
    let groups = rows * cols / 4;
    let differ = (0..rows)
        .flat_map(|r| (0..cols / 4).map(move |g| (r, g)))
        .filter(|&(r, g)| {
            (0..4).any(|k| dev.mask.keeps(r, 4 * g + k) != cpu.mask.keeps(r, 4 * g + k))
        })
        .count();
    let wide = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
    let rel = sparse24::reference::rel_error(&wide(&dev.weights), &wide(&cpu.weights));
    println!(
        "{rows}x{cols}: {differ}/{groups} groups differ, weights rel diff {rel:.2e}; CPU {cpu_s:.3} s, GPU (U on the CPU + sweep) {dev_s:.3} s"
    );
    if differ * 1000 > groups || (differ == 0 && rel > 1e-6) {
        return Err(format!("{differ} groups differ, weights rel diff {rel}").into());
    }
    Ok(())
}

/// `MaskLearner::run_on` on the GPU (cuBLASLt for D·G) against the CPU run.
fn whole_run<T: sparse24::Element>(rows: usize, cols: usize) -> Result<(), Failed> {
    let exec = CudaExecutor::new(CodeChoice::Fatbin)?;
    let c = learn_cases::compare_runs::<_, T>(&exec, rows, cols, 40, 10, 5, 1e-3)?;
    println!(
        "{rows}x{cols} {:?}: {c:?}\n  ms/step: CPU {:.2}, GPU {:.3}",
        T::DTYPE,
        1e3 * c.cpu_seconds / c.steps as f64,
        1e3 * c.dev_seconds / c.steps as f64
    );
    if c.progress_calls != c.steps || !c.progress_in_order {
        return Err(format!("progress: {c:?}").into());
    }
    if c.prior_rel > 1e-4 || c.soft_rel > 1e-3 || c.hard_rel > 1e-3 {
        return Err(format!("losses differ: {c:?}").into());
    }
    if c.dev_best > c.dev_prior {
        return Err(format!("worse than the prior: {c:?}").into());
    }
    let agree = c.same_argmax as f64 / c.decided_groups.max(1) as f64;
    if agree < 0.99 {
        return Err(format!("argmax agrees on {agree:.4} of decided groups: {c:?}").into());
    }
    Ok(())
}

/// Five steps with D·G on cuBLASLt and on learn_gram_product: the same losses to
/// f32 rounding.
fn cublas_vs_kernel(rows: usize, cols: usize) -> Result<(), Failed> {
    use sparse24::learn::{Calibration, DeviceLearnStep, LearnConfig, MaskLearner};
    let exec = CudaExecutor::new(CodeChoice::Fatbin)?;
    let (w, x) = learn_cases::synthetic(rows, cols, 2 * cols, 17);
    let calib = Calibration::from_activations(&x, 2 * cols, cols)?;
    let cfg = LearnConfig {
        steps: 5,
        ..LearnConfig::default()
    };
    let learner = MaskLearner::new(&w, rows, cols, &calib, cfg.clone())?;
    let init = learner.initial_logits()?;
    let mut lib = DeviceLearnStep::new(&exec, &learner, &init)?;
    if !lib.uses_library_gram() {
        return Err("cuBLASLt is not on the loader path".into());
    }
    let mut own = DeviceLearnStep::new(&exec, &learner, &init)?.with_kernel_gram();
    for step in 0..cfg.steps {
        let p = learner.sample_params(step);
        lib.step(&exec, step, p.tau, p.kappa, cfg.lambda)?;
        own.step(&exec, step, p.tau, p.kappa, cfg.lambda)?;
    }
    let (a, _) = lib.history(&exec)?;
    let (b, _) = own.history(&exec)?;
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs() / y.abs().max(1e-30))
        .fold(0f64, f64::max);
    let (ha, hb) = (lib.hard_loss(&exec)?, own.hard_loss(&exec)?);
    println!("{rows}x{cols}: soft losses within {worst:.2e}, hard {ha:.6} vs {hb:.6}");
    if worst > 1e-4 || (ha - hb).abs() / hb > 1e-4 {
        return Err(format!("cuBLASLt vs kernel: {worst:.2e}, hard {ha} vs {hb}").into());
    }
    Ok(())
}

fn run<T: sparse24::Element>(rows: usize, cols: usize) -> Result<(), Failed> {
    let exec = CudaExecutor::new(CodeChoice::Fatbin)?;
    let c = learn_cases::compare::<_, T>(&exec, rows, cols, 20, 3, 1e-3)?;
    println!("{rows}x{cols} {:?}: {c:?}", T::DTYPE);
    if c.loss_rel > 1e-3 {
        return Err(format!("losses differ: {c:?}").into());
    }
    let agree = c.same_argmax as f64 / c.decided_groups.max(1) as f64;
    if agree < 0.99 {
        return Err(format!("argmax agrees on {:.4} of decided groups: {c:?}", agree).into());
    }
    Ok(())
}
