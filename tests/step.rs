//! STEP's automatic switch on synthetic variance trajectories (it switches once the
//! variance's changes have settled, and not before), SR-STE's gradient against finite
//! differences, and STEP / SR-STE outputs: legal 2:4 layers that beat magnitude
//! pruning on the calibration tokens. Against the exhaustive optimum: tests/methods.rs.

#[path = "common/learn_cases.rs"]
mod learn_cases;

use learn_cases::synthetic;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use sparse24::learn::{Calibration, Precision};
use sparse24::methods::{
    prune_layer, srste, srste_gradient, step, AutoSwitch, AutoSwitchConfig, LayerLoss, Method,
    Recipe, SrSteConfig, StepConfig,
};

/// The step at which the switch first says yes on a trajectory (1-based), if ever.
fn switch_step(cfg: AutoSwitchConfig, traj: impl Iterator<Item = Vec<f64>>) -> Option<usize> {
    let mut s = AutoSwitch::new(cfg).unwrap();
    for (t, v) in traj.enumerate() {
        if s.observe(&v) {
            return Some(t + 1);
        }
    }
    None
}

fn cfg(max_steps: usize) -> AutoSwitchConfig {
    AutoSwitchConfig {
        max_steps,
        ..AutoSwitchConfig::default()
    }
}

/// A variance vector scaled by `f` (every coordinate changes by the same relative
/// amount), on random positive coordinates.
fn scaled(base: &[f64], f: f64) -> Vec<f64> {
    base.iter().map(|b| b * f).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Relative changes c/t (what a bias-corrected running mean of stationary
    /// squares does): the switch waits until they are below the threshold, and comes
    /// within a window plus a factor 2 of that point.
    #[test]
    fn switches_once_changes_settle(c in 0.2f64..2.0, seed in any::<u64>()) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let base: Vec<f64> = (0..64).map(|_| rng.gen_range(0.1..2.0)).collect();
        let a = AutoSwitchConfig { max_steps: 100_000, ..AutoSwitchConfig::default() };
        let mut f = 1.0;
        let traj = (1..).map(|t: usize| { f *= 1.0 + c / t as f64; scaled(&base, f) });
        let t = switch_step(a, traj).unwrap();
        // The sample of step t is (c/t)/(1 + c/t); all of the window's must be small.
        let change = |t: usize| (c / t as f64) / (1.0 + c / t as f64);
        prop_assert!(change(t) <= a.threshold, "switched at {t} with change {}", change(t));
        let settle = (1..).find(|&t| change(t) <= a.threshold).unwrap();
        prop_assert!(t <= 2 * settle + a.window, "switched at {t}, settled at {settle}");
        prop_assert!(t >= a.min_steps);
    }

    /// Changes that stay above the threshold never switch before the cap; noisy
    /// changes whose mean sits at the threshold do not either (not concentrated).
    #[test]
    fn does_not_switch_before_it_should(rate in 1.0f64..4.0, seed in any::<u64>()) {
        let a = cfg(500);
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let base: Vec<f64> = (0..32).map(|_| rng.gen_range(0.1..2.0)).collect();
        // Relative change rate × threshold each step.
        let r = rate * a.threshold;
        let mut f = 1.0;
        let traj = (0..).map(|_| { f /= 1.0 - r; scaled(&base, f) });
        prop_assert_eq!(switch_step(a, traj), Some(a.max_steps));
        // Alternating changes of 0.2 and 1.8 times the threshold: mean at it.
        let mut f = 1.0;
        let traj = (0..).map(|t: usize| {
            let r = if t.is_multiple_of(2) { 0.2 } else { 1.8 } * a.threshold;
            f /= 1.0 - r;
            scaled(&base, f)
        });
        prop_assert_eq!(switch_step(a, traj), Some(a.max_steps));
    }
}

#[test]
fn settled_variance_switches_at_the_first_full_window() {
    let a = AutoSwitchConfig {
        window: 5,
        min_steps: 3,
        ..cfg(50)
    };
    // Constant v: every sample 0; the window fills after 6 observations.
    assert_eq!(switch_step(a, std::iter::repeat(vec![1.0; 8])), Some(6));
    // Never earlier than min_steps either.
    let b = AutoSwitchConfig { min_steps: 20, ..a };
    assert_eq!(switch_step(b, std::iter::repeat(vec![1.0; 8])), Some(20));
    assert!(AutoSwitch::new(AutoSwitchConfig { window: 1, ..a }).is_err());
    assert!(AutoSwitch::new(AutoSwitchConfig {
        threshold: f64::NAN,
        ..a
    })
    .is_err());
}

/// SR-STE's gradient is the straight-through gradient of the loss at the masked
/// weights plus the decay of the pruned ones: the gradient at p = W of
/// S(p) = ℓ(W ⊙ M + (p − W)) + ½λ‖(1 − M) ⊙ p‖², the mask M of W held fixed (the
/// forward uses W ⊙ M, a perturbation passes straight through). Central differences
/// of S (in f64, on the loss's own f64 value) agree with it on random layers.
#[test]
fn srste_gradient_matches_finite_differences() {
    let (rows, cols, tokens) = (3, 16, 30);
    for seed in [11u64, 12, 13] {
        let (w, x) = synthetic(rows, cols, tokens, seed);
        let calib = Calibration::from_activations(&x, tokens, cols).unwrap();
        let loss = LayerLoss::new(&w, rows, cols, &calib, Precision::F64).unwrap();
        // A point away from W₀ (else the loss's gradient is zero at kept weights).
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let cur: Vec<f64> = loss
            .dense()
            .iter()
            .map(|v| v + rng.gen_range(-0.3..0.3))
            .collect();
        let decay = 0.05;
        let (g, mask) = srste_gradient(&loss, &cur, decay).unwrap();
        let pruned = |i: usize| !mask.keeps(i / cols, i % cols);
        let surrogate = |p: &[f64]| {
            let forward: Vec<f64> = (0..p.len())
                .map(|i| if pruned(i) { 0.0 } else { cur[i] } + (p[i] - cur[i]))
                .collect();
            let pen: f64 = (0..p.len())
                .filter(|&i| pruned(i))
                .map(|i| p[i] * p[i])
                .sum();
            loss.value(&forward).unwrap() + 0.5 * decay * pen
        };
        let h = 1e-5;
        let fd: Vec<f64> = (0..cur.len())
            .map(|i| {
                let (mut a, mut b) = (cur.clone(), cur.clone());
                a[i] += h;
                b[i] -= h;
                (surrogate(&a) - surrogate(&b)) / (2.0 * h)
            })
            .collect();
        let rel = sparse24::reference::rel_error(&g, &fd);
        println!("seed {seed}: SR-STE gradient vs central differences rel {rel:.2e}");
        assert!(rel < 1e-6, "seed {seed}: {rel}");
    }
}

#[test]
fn step_and_srste_give_legal_layers_better_than_magnitude() {
    let (rows, cols, tokens) = (12, 32, 80);
    for seed in [7u64, 8] {
        let (w, x) = synthetic(rows, cols, tokens, seed);
        let calib = Calibration::from_activations(&x, tokens, cols).unwrap();
        let mag = prune_layer(
            &Recipe::new(Method::Magnitude),
            &w,
            rows,
            cols,
            None,
            |_| {},
        )
        .unwrap()
        .error(&w, &calib)
        .unwrap();
        let sr = srste(&w, rows, cols, &calib, &SrSteConfig::default(), |_| {}).unwrap();
        let mut switched = None;
        let st = step(&w, rows, cols, &calib, &StepConfig::default(), |p| {
            if p.method == "step-learn" && switched.is_none() {
                switched = Some(p.done);
            }
        })
        .unwrap();
        for (name, p) in [("sr-ste", &sr), ("step", &st)] {
            let layer = p.compress::<f32>().unwrap();
            assert_eq!(layer.values().len(), rows * cols / 2);
            let e = p.error(&w, &calib).unwrap();
            println!("seed {seed}: {name} {e:.4} magnitude {mag:.4}");
            assert!(e.is_finite() && e < mag, "{name}: {e} vs magnitude {mag}");
        }
        let t = switched.expect("STEP never switched");
        println!("seed {seed}: STEP switched after step {}", t - 1);
        assert!(t > AutoSwitchConfig::default().min_steps);
    }
}
