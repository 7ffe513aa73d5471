//! The MaskLLM mask learner (src/learn): exhaustive optima on small layers, loss
//! decrease, reproducibility, the gradient against finite differences, export, and a
//! short run on the committed MiniLM activations.

use rand::{rngs::StdRng, Rng, SeedableRng};
use sparse24::learn::{self, Calibration, LearnConfig, MaskLearner, Precision, Prior};
use sparse24::mask::{SampleParams, CANDIDATES};
use sparse24::methods::{self, prune_layer, Method, Pruned, Recipe, RefitConfig, SparseGptConfig};
use sparse24::{Mask24, Pattern, Sparse24};

/// A layer W [rows, cols] and activations X [n, cols] with correlated channels of
/// unequal scale (so the best mask differs from magnitude and Wanda), random normal.
fn synthetic(rows: usize, cols: usize, n: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut normal = move || -> f64 {
        let (u, v): (f64, f64) = (rng.gen_range(1e-12..1.0), rng.gen());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    };
    let w: Vec<f32> = (0..rows * cols).map(|_| normal() as f32).collect();
    let mix: Vec<f64> = (0..cols * cols).map(|_| normal()).collect();
    let scale: Vec<f64> = (0..cols).map(|_| 0.3 + normal().abs()).collect();
    let mut x = Vec::with_capacity(n * cols);
    for _ in 0..n {
        let z: Vec<f64> = (0..cols).map(|_| normal()).collect();
        for j in 0..cols {
            // Own channel plus a shared component: strong off-diagonal G.
            let shared: f64 = (0..cols).map(|k| z[k] * mix[k * cols + j]).sum::<f64>() * 0.3;
            x.push(((z[j] + shared) * scale[j]) as f32);
        }
    }
    (w, x)
}

/// Per-row exhaustive optimum of tr(D·G·Dᵀ)/‖X·Wᵀ‖² over all 2:4 masks (cols ≤ 16).
fn exhaustive_optimum(w: &[f32], rows: usize, cols: usize, calib: &Calibration, norm: f64) -> f64 {
    let groups = cols / 4;
    let g = calib.gram();
    let mut total = 0.0;
    for r in 0..rows {
        let wr = &w[r * cols..(r + 1) * cols];
        let mut best = f64::INFINITY;
        for code in 0..CANDIDATES.pow(groups as u32) {
            let mut d = vec![0f64; cols];
            let mut c = code;
            for grp in 0..groups {
                let p = Pattern::ALL[c % CANDIDATES];
                c /= CANDIDATES;
                for k in 0..4 {
                    if !p.keeps(k) {
                        d[grp * 4 + k] = wr[grp * 4 + k] as f64;
                    }
                }
            }
            let q: f64 = (0..cols)
                .map(|i| {
                    (0..cols)
                        .map(|j| d[i] * g[i * cols + j] * d[j])
                        .sum::<f64>()
                })
                .sum();
            best = best.min(q);
        }
        total += best;
    }
    total / norm
}

fn config(steps: usize, prior: Prior) -> LearnConfig {
    LearnConfig {
        steps,
        prior,
        eval_every: 5,
        ..LearnConfig::default()
    }
}

/// On 16-column layers every row's best mask is found by enumerating 6⁴ masks. The
/// learner must never be worse than its prior (it returns the best hard mask seen,
/// prior included) and, over 12 random layers, close most of the gap between the
/// Wanda prior and the optimum: MaskLLM's claim is exactly that learning beats the
/// one-shot criterion, so closing under half of the gap here would be a failure.
#[test]
fn learned_masks_approach_the_exhaustive_optimum() {
    let (rows, cols, n) = (8, 16, 64);
    let (mut prior_sum, mut learned_sum, mut opt_sum) = (0.0, 0.0, 0.0);
    let mut optimal_layers = 0;
    for seed in 0..12u64 {
        let (w, x) = synthetic(rows, cols, n, 100 + seed);
        let calib = Calibration::from_activations(&x, n, cols).unwrap();
        let learner = MaskLearner::new(&w, rows, cols, &calib, config(300, Prior::Wanda)).unwrap();
        let res = learner.run(|_| {}).unwrap();
        let opt = exhaustive_optimum(&w, rows, cols, &calib, learner.norm());
        assert!(
            res.best_loss <= res.prior_loss,
            "seed {seed}: learned worse than prior"
        );
        assert!(
            res.best_loss >= opt * (1.0 - 1e-9),
            "seed {seed}: below the optimum?"
        );
        assert_eq!(learner.mask_loss(&res.mask).unwrap(), res.best_loss);
        if res.best_loss <= opt * (1.0 + 1e-9) {
            optimal_layers += 1;
        }
        println!(
            "seed {seed}: prior (Wanda) {:.5}  learned {:.5}  optimum {:.5}  best step {:?}",
            res.prior_loss, res.best_loss, opt, res.best_step
        );
        prior_sum += res.prior_loss;
        learned_sum += res.best_loss;
        opt_sum += opt;
    }
    let closed = (prior_sum - learned_sum) / (prior_sum - opt_sum);
    println!(
        "mean prior {:.5}, learned {:.5}, optimum {:.5}: {:.1}% of the gap closed, {optimal_layers}/12 layers optimal",
        prior_sum / 12.0,
        learned_sum / 12.0,
        opt_sum / 12.0,
        100.0 * closed
    );
    assert!(
        closed >= 0.5,
        "closed only {:.1}% of the prior-optimum gap",
        100.0 * closed
    );
}

#[test]
fn the_loss_decreases() {
    let (rows, cols, n) = (32, 64, 128);
    let (w, x) = synthetic(rows, cols, n, 7);
    let calib = Calibration::from_activations(&x, n, cols).unwrap();
    for prior in [Prior::Magnitude, Prior::Wanda] {
        let learner = MaskLearner::new(&w, rows, cols, &calib, config(200, prior)).unwrap();
        let res = learner.run(|_| {}).unwrap();
        let mean =
            |s: &[learn::CurvePoint]| s.iter().map(|p| p.soft_loss).sum::<f64>() / s.len() as f64;
        let (first, last) = (mean(&res.curve[..20]), mean(&res.curve[180..]));
        println!(
            "{prior:?}: soft loss {first:.4} (first 20 steps) -> {last:.4} (last 20); hard {:.4} -> {:.4}",
            res.prior_loss, res.best_loss
        );
        assert!(
            last < first,
            "{prior:?}: soft loss rose from {first} to {last}"
        );
        assert!(
            res.best_loss < res.prior_loss,
            "{prior:?}: no improvement on the prior"
        );
    }
}

#[test]
fn a_seed_gives_the_same_bits_on_any_thread_count() {
    let (rows, cols, n) = (24, 48, 40);
    let (w, x) = synthetic(rows, cols, n, 3);
    let calib = Calibration::from_activations(&x, n, cols).unwrap();
    let cfg = config(60, Prior::Magnitude);
    let learner = MaskLearner::new(&w, rows, cols, &calib, cfg.clone()).unwrap();
    let run_on = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| learner.run(|_| {}).unwrap())
    };
    let (a, b) = (run_on(1), run_on(3));
    assert_eq!(a.mask, b.mask);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a.final_logits), bits(&b.final_logits));
    let curve = |r: &learn::Learned| {
        r.curve
            .iter()
            .map(|p| p.objective.to_bits())
            .collect::<Vec<_>>()
    };
    assert_eq!(curve(&a), curve(&b));
    // Another seed draws other noise and another start.
    let other = MaskLearner::new(&w, rows, cols, &calib, LearnConfig { seed: 99, ..cfg }).unwrap();
    let c = other.run(|_| {}).unwrap();
    assert_ne!(bits(&a.final_logits), bits(&c.final_logits));
}

/// d(L − λR)/dπ of the whole step (Gumbel-softmax, mask, Gram objective) against
/// central differences of the f64 objective at the same noise.
#[test]
fn the_step_gradient_matches_finite_differences() {
    let (rows, cols, n) = (3, 16, 20);
    let (w, x) = synthetic(rows, cols, n, 11);
    let calib = Calibration::from_activations(&x, n, cols).unwrap();
    let mut rng = StdRng::seed_from_u64(5);
    for (kappa, tau, h) in [
        (1.0f32, 1.0f32, 1e-3f32),
        (100.0, 4.0, 1e-5),
        (300.0, 0.5, 1e-6),
    ] {
        let cfg = LearnConfig {
            lambda: 0.05,
            precision: Precision::F64,
            ..LearnConfig::default()
        };
        let learner = MaskLearner::new(&w, rows, cols, &calib, cfg).unwrap();
        let logits: Vec<f32> = (0..rows * cols / 4 * CANDIDATES)
            .map(|_| rng.gen_range(-1.0..1.0) / kappa)
            .collect();
        let p = SampleParams {
            seed: 42,
            step: 3,
            kappa,
            tau,
        };
        let an = learner.objective(&logits, &p, true).unwrap().grad;
        let f = |l: &[f32]| learner.objective(l, &p, false).unwrap().objective;
        let (mut num, mut den) = (0f64, 0f64);
        for i in 0..logits.len() {
            let (mut hi, mut lo) = (logits.clone(), logits.clone());
            hi[i] += h;
            lo[i] -= h;
            let fd = (f(&hi) - f(&lo)) / (hi[i] as f64 - lo[i] as f64);
            num += (fd - an[i]).powi(2);
            den += an[i].powi(2);
        }
        let rel = (num / den).sqrt();
        println!("kappa {kappa} tau {tau}: |fd - analytic| / |analytic| = {rel:.2e}");
        assert!(
            den > 0.0 && rel < 1e-4,
            "kappa {kappa} tau {tau}: relative error {rel:e}"
        );
    }
}

#[test]
fn exported_masks_are_legal_and_round_trip() {
    use half::{bf16, f16};
    let (rows, cols, n) = (16, 32, 48);
    let (w, x) = synthetic(rows, cols, n, 21);
    let calib = Calibration::from_activations(&x, n, cols).unwrap();
    let res = MaskLearner::new(&w, rows, cols, &calib, config(40, Prior::Wanda))
        .unwrap()
        .run(|_| {})
        .unwrap();
    fn check<T: sparse24::Element>(w: &[T], res: &learn::Learned, mask: &Mask24) {
        let s: Sparse24<T> = res.compress(w).unwrap();
        s.validate().unwrap();
        assert_eq!(&s.mask(), mask);
        assert_eq!(s.decompress(), mask.apply(w).unwrap());
        let again = Sparse24::compress_masked(&s.decompress(), &s.mask()).unwrap();
        assert_eq!(again.values(), s.values());
        assert_eq!(again.metadata(), s.metadata());
    }
    check(&w, &res, &res.mask);
    let wh: Vec<f16> = w.iter().map(|&v| f16::from_f32(v)).collect();
    check(&wh, &res, &res.mask);
    let wb: Vec<bf16> = w.iter().map(|&v| bf16::from_f32(v)).collect();
    check(&wb, &res, &res.mask);
    // The prior's one-hot logits export the prior exactly.
    let prior = MaskLearner::new(&w, rows, cols, &calib, config(1, Prior::Wanda)).unwrap();
    let onehot = learn::one_hot_logits(prior.prior_mask());
    let s = sparse24::mask::hard_mask_compress(&w, rows, cols, &onehot).unwrap();
    assert_eq!(&s.mask(), prior.prior_mask());
}

#[test]
fn bad_inputs_are_errors() {
    let (w, x) = synthetic(4, 16, 8, 1);
    let calib = Calibration::from_activations(&x, 8, 16).unwrap();
    assert!(MaskLearner::new(
        &w,
        4,
        16,
        &calib,
        LearnConfig {
            steps: 0,
            ..Default::default()
        }
    )
    .is_err());
    assert!(MaskLearner::new(&w[..60], 4, 16, &calib, LearnConfig::default()).is_err());
    assert!(MaskLearner::new(&w, 2, 32, &calib, LearnConfig::default()).is_err());
    let mut nan = w.clone();
    nan[5] = f32::NAN;
    assert!(MaskLearner::new(&nan, 4, 16, &calib, LearnConfig::default()).is_err());
    assert!(Calibration::from_activations(&x, 0, 16).is_err());
    assert!(learn::read_matrix(b"not safetensors", "w").is_err());
}

/// CI-sized run on the committed MiniLM data: block 0's attention input and query
/// weight, and the attention-output input and its dense weight
/// (data/minilm-ci-weights.safetensors holds those two f16 weights), learned on 1024
/// calibration tokens of the Brown corpus and judged on 512 held-out tokens from other
/// texts (data/minilm-held-out.safetensors). Held out, the learned mask beats Wanda's
/// and the learned mask with its refit beats SparseGPT, each by a margin (measured
/// 2026-12-01, query / attention output: Wanda 0.0977 / 0.0782, SparseGPT 0.0830 /
/// 0.0524, learned 0.0827 / 0.0583, learned + refit 0.0730 / 0.0489).
#[test]
fn minilm_block0_learns_on_committed_activations() {
    let root = env!("CARGO_MANIFEST_DIR");
    let read = |f: &str| std::fs::read(format!("{root}/data/{f}")).unwrap();
    let acts = read("minilm-activations.safetensors");
    let held_acts = read("minilm-held-out.safetensors");
    let weights = read("minilm-ci-weights.safetensors");
    for (act, weight) in [
        ("0.attn_in", "encoder.layer.0.attention.self.query.weight"),
        (
            "0.attn_out_in",
            "encoder.layer.0.attention.output.dense.weight",
        ),
    ] {
        let x = learn::read_matrix(&acts, act).unwrap();
        let xh = learn::read_matrix(&held_acts, act).unwrap();
        let w = learn::read_matrix(&weights, weight).unwrap();
        let wh: Vec<half::f16> = w.data.iter().map(|&v| half::f16::from_f32(v)).collect();
        let calib = Calibration::from_activations(&x.data, x.rows, x.cols).unwrap();
        let held = Calibration::from_activations(&xh.data, xh.rows, xh.cols).unwrap();
        let cfg = LearnConfig {
            steps: 60,
            ..LearnConfig::default()
        };
        let learner = MaskLearner::new(&wh, w.rows, w.cols, &calib, cfg).unwrap();
        let magnitude = learner
            .mask_loss(&sparse24::prune::magnitude_mask(&wh, w.rows, w.cols).unwrap())
            .unwrap();
        let res = learner.run(|_| {}).unwrap();
        let held_err = |p: &Pruned| p.error(&wh, &held).unwrap();
        let learned = Pruned::masked(res.mask.clone(), &wh).unwrap();
        let refit =
            methods::refit(&wh, &res.mask, &calib, &RefitConfig::default(), |_| {}).unwrap();
        let wanda = Recipe::new(Method::Wanda);
        let sgpt = Recipe::new(Method::SparseGpt(SparseGptConfig::default()));
        let prune = |r: &Recipe| prune_layer(r, &wh, w.rows, w.cols, Some(&calib), |_| {}).unwrap();
        let (wanda, sgpt) = (prune(&wanda), prune(&sgpt));
        println!(
            "{weight}: in-sample magnitude {magnitude:.4}  Wanda {:.4}  learned {:.4}  ({:.1} ms/step, {} tokens); \
             held-out Wanda {:.4} SparseGPT {:.4} learned {:.4} learned+refit {:.4}",
            res.prior_loss,
            res.best_loss,
            1e3 * res.secs_per_step(),
            x.rows,
            held_err(&wanda),
            held_err(&sgpt),
            held_err(&learned),
            held_err(&refit),
        );
        assert!(res.best_loss.is_finite() && res.best_loss <= res.prior_loss);
        res.compress(&wh).unwrap().validate().unwrap();
        assert!(held_err(&learned) < 0.95 * held_err(&wanda));
        assert!(held_err(&refit) < 0.97 * held_err(&sgpt));
        refit.compress::<half::f16>().unwrap().validate().unwrap();
    }
}

/// The learner's parallel sampling equals the f64 reference of src/mask.rs: W_eff
/// and dπ bit for bit, R to rounding (summed per row first).
#[test]
fn parallel_sampling_matches_the_reference() {
    use sparse24::learn::sampling;
    use sparse24::mask::{self, Sampling};
    let (rows, cols) = (9, 48);
    let mut rng = StdRng::seed_from_u64(8);
    let w: Vec<f32> = (0..rows * cols).map(|_| rng.gen_range(-2.0..2.0)).collect();
    let logits: Vec<f32> = (0..rows * cols / 4 * CANDIDATES)
        .map(|_| rng.gen_range(-0.05..0.05))
        .collect();
    let dw: Vec<f32> = (0..rows * cols).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let p = SampleParams {
        seed: 0xabc,
        step: 17,
        kappa: 150.0,
        tau: 2.5,
    };
    let (w_eff, reg) = mask::forward_f64(&w, rows, cols, &logits, &p, Sampling::Soft).unwrap();
    let fwd = sampling::forward(&w, cols, &logits, &p);
    assert_eq!(fwd.w_eff, w_eff);
    assert!((fwd.reg - reg).abs() <= 1e-12 * reg);
    let want = mask::backward_f64(&w, rows, cols, &logits, &dw, 0.01, &p, Sampling::Soft).unwrap();
    assert_eq!(sampling::backward(&w, &fwd, &dw, 0.01, &p), want);
}

#[test]
fn damping_adds_to_the_diagonal_only() {
    let (w, x) = synthetic(4, 16, 8, 2);
    let calib = Calibration::from_activations(&x, 8, 16).unwrap();
    let d = calib.damped(0.1).unwrap();
    let mean_diag: f64 = (0..16).map(|i| calib.gram()[i * 17]).sum::<f64>() / 16.0;
    for i in 0..16 {
        for j in 0..16 {
            let want = calib.gram()[i * 16 + j] + if i == j { 0.1 * mean_diag } else { 0.0 };
            assert_eq!(d.gram()[i * 16 + j], want);
        }
    }
    assert_eq!(d.norms(), calib.norms());
    assert!(calib.damped(-1.0).is_err());
    // Damping makes every mask's error relative to a larger ‖X·Wᵀ‖², still finite.
    let l = MaskLearner::new(&w, 4, 16, &d, config(5, Prior::Wanda)).unwrap();
    assert!(l.mask_loss(l.prior_mask()).unwrap().is_finite());
}

/// G = XᵀX against a compensated f64 sum per entry, on shapes whose channel count is
/// not a multiple of the 64-row bands G is computed in (and one smaller than a band):
/// relative error at f64 rounding level, exactly symmetric, the same on one thread.
#[test]
fn gram_matches_the_f64_reference() {
    for (tokens, cols, seed) in [(37, 16, 5), (300, 112, 6), (129, 144, 7)] {
        let (_, x) = synthetic(4, cols, tokens, seed);
        let calib = Calibration::from_activations(&x, tokens, cols).unwrap();
        let g = calib.gram();
        for i in 0..cols {
            for j in 0..cols {
                // Kahan-summed reference in f64 over the f32 inputs.
                let (mut sum, mut comp) = (0f64, 0f64);
                for t in 0..tokens {
                    let y = x[t * cols + i] as f64 * x[t * cols + j] as f64 - comp;
                    let s = sum + y;
                    comp = (s - sum) - y;
                    sum = s;
                }
                let scale = (g[i * cols + i] * g[j * cols + j]).sqrt();
                let err = (g[i * cols + j] - sum).abs() / scale;
                assert!(err < 1e-12, "({i}, {j}): {} vs {sum}", g[i * cols + j]);
                assert_eq!(g[i * cols + j], g[j * cols + i], "({i}, {j}) not symmetric");
            }
        }
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let serial = one.install(|| Calibration::from_activations(&x, tokens, cols).unwrap());
        assert_eq!(serial.gram(), g);
    }
}
