//! The 2:4 proximal operator (`methods::proximal_group`): what it guarantees (never
//! worse than the best 2:4 point, signs kept, magnitudes shrunk), the brute-force
//! comparison it fails on a known case (ignored, issue 20 open), its exact properties (identity at strength 0, a fixed
//! point on 2:4 groups, signs kept, 2:4 at large strength), and the proximal method's
//! output on small layers (legal 2:4, the refit's optimum for its mask, schedule
//! errors typed). The method against the exhaustive optimum is in tests/methods.rs.

#[path = "common/learn_cases.rs"]
mod learn_cases;

use learn_cases::synthetic;
use proptest::prelude::*;
use sparse24::learn::Calibration;
use sparse24::methods::proximal_group::{objective, prox_group};
use sparse24::methods::{proximal, refit, Method, ProximalConfig, Recipe, RefitConfig};
use sparse24::Error;

/// ½‖z − v‖² + s·Σ|z_i z_j z_k| for any signs.
fn full_objective(z: [f64; 4], v: [f64; 4], s: f64) -> f64 {
    let a = z.map(f64::abs);
    let quad: f64 = z
        .iter()
        .zip(&v)
        .map(|(p, q)| (p - q) * (p - q))
        .sum::<f64>()
        * 0.5;
    quad + s * (a[0] * a[1] * a[2] + a[0] * a[1] * a[3] + a[0] * a[2] * a[3] + a[1] * a[2] * a[3])
}

/// Brute force: every point of a 33⁴ grid over the box [−|v_i|, |v_i|] (no sign or
/// order assumed), the best polished by exact coordinate minimisation (soft
/// thresholding per coordinate) until it stops improving.
fn brute_force(v: [f64; 4], s: f64) -> ([f64; 4], f64) {
    const N: usize = 33;
    let axis = |i: usize| -> Vec<f64> {
        (0..N)
            .map(|k| v[i].abs() * (2.0 * k as f64 / (N - 1) as f64 - 1.0))
            .collect()
    };
    let axes: Vec<Vec<f64>> = (0..4).map(axis).collect();
    let mut best = ([0.0; 4], f64::INFINITY);
    for &a in &axes[0] {
        for &b in &axes[1] {
            for &c in &axes[2] {
                for &d in &axes[3] {
                    let z = [a, b, c, d];
                    let f = full_objective(z, v, s);
                    if f < best.1 {
                        best = (z, f);
                    }
                }
            }
        }
    }
    let mut z = best.0;
    for _ in 0..10_000 {
        let before = full_objective(z, v, s);
        for i in 0..4 {
            let o: Vec<f64> = (0..4).filter(|&j| j != i).map(|j| z[j].abs()).collect();
            let c = o[0] * o[1] + o[0] * o[2] + o[1] * o[2];
            z[i] = v[i].signum() * (v[i].abs() - s * c).max(0.0);
        }
        if full_objective(z, v, s) >= before {
            break;
        }
    }
    let f = full_objective(z, v, s);
    if f < best.1 {
        (z, f)
    } else {
        best
    }
}

fn group() -> impl Strategy<Value = [f64; 4]> {
    prop::array::uniform4(prop_oneof![
        4 => -2.0f64..2.0,
        1 => Just(0.0),
        1 => Just(1.0),
    ])
}

/// The operator against the brute-force minimum. FAILS today (issue 20 stays open):
/// coordinate descent from two starts finds a coordinate-wise minimum, not always the
/// global one, e.g. v = [1, 1, 0, 1.389], s = 0.728: the operator keeps the two largest
/// (cost 0.5) where three nonzeros cost 0.484 (the descent from |v| breaks the tie of
/// the two equal entries and falls into the 2:4 corner).
#[test]
#[ignore = "known bug, issue 20 open: the operator is a local (coordinate-descent) solution, not the exact prox"]
fn operator_matches_brute_force() {
    let v = [1.0, 1.0, 0.0, 1.388952009188295];
    let s = 0.7282788389138795;
    let z = prox_group(v, s);
    let (zb, fb) = brute_force(v, s);
    let fz = full_objective(z, v, s);
    assert!(fz <= fb + 1e-12, "prox {z:?} {fz} > brute {zb:?} {fb}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// What the operator guarantees today: never worse than the best 2:4 point (the
    /// two largest kept), its objective the sign-free one, signs kept and magnitudes
    /// shrunk. (Not yet the global minimum: above.)
    #[test]
    fn operator_beats_the_best_2_4_point(v in group(), s in prop_oneof![0.0f64..0.3, 0.3f64..3.0]) {
        let z = prox_group(v, s);
        let fz = full_objective(z, v, s);
        let scale = v.iter().map(|x| x * x).sum::<f64>().max(1e-300);
        prop_assert!(fz.is_finite());
        let a = v.map(f64::abs);
        let mut order = [0usize, 1, 2, 3];
        order.sort_by(|&i, &j| a[j].total_cmp(&a[i]));
        let mut two = [0.0; 4];
        two[order[0]] = v[order[0]];
        two[order[1]] = v[order[1]];
        prop_assert!(fz <= full_objective(two, v, s) + 1e-12 * scale);
        let za = z.map(f64::abs);
        prop_assert!((objective(za, a, s) - fz).abs() <= 1e-12 * scale.max(fz.abs()));
        for i in 0..4 {
            prop_assert!(z[i] == 0.0 || z[i].signum() == v[i].signum());
            prop_assert!(z[i].abs() <= v[i].abs());
        }
    }

    #[test]
    fn operator_exact_cases(v in group(), s in 0.0f64..3.0) {
        // Strength 0: the identity.
        prop_assert_eq!(prox_group(v, 0.0), v);
        // A 2:4 group is a fixed point at any strength (its regulariser is 0).
        let mut two = v;
        two[1] = 0.0;
        two[3] = 0.0;
        prop_assert_eq!(prox_group(two, s), two);
        // Strong enough, the output is 2:4: at strength s·max|v|² ≥ 4 a third nonzero
        // costs more than dropping it (each of its triples weighs s·z³ against ½z²).
        let top = v.iter().fold(0f64, |m, x| m.max(x.abs()));
        if top > 0.0 {
            let z = prox_group(v, 4.0 / (top * top) + s);
            prop_assert!(z.iter().filter(|x| **x != 0.0).count() <= 2, "{z:?}");
        }
    }
}

#[test]
fn method_outputs_legal_layers_with_refit_optimal_weights() {
    let (rows, cols, tokens) = (12, 32, 80);
    for seed in [3u64, 4] {
        let (w, x) = synthetic(rows, cols, tokens, seed);
        let calib = Calibration::from_activations(&x, tokens, cols).unwrap();
        let cfg = ProximalConfig::default();
        let mut steps = 0;
        let p = proximal(&w, rows, cols, &calib, &cfg, |pr| {
            if pr.method == "proximal" {
                steps = pr.done;
            }
        })
        .unwrap();
        assert!(steps > 0 && steps <= cfg.max_steps);
        // Legal 2:4, zero where pruned; the refit of its own mask changes nothing.
        let layer = p.compress::<f32>().unwrap();
        assert_eq!(layer.values().len(), rows * cols / 2);
        let again = refit(&w, &p.mask, &calib, &RefitConfig::default(), |_| {}).unwrap();
        assert_eq!(again.weights, p.weights);
        let e = p.error(&w, &calib).unwrap();
        let mag = sparse24::methods::prune_layer(
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
        println!("seed {seed}: proximal {e:.4} magnitude {mag:.4} after {steps} steps");
        assert!(e.is_finite() && e < mag, "{e} vs magnitude {mag}");
        // Without the refit: the proximal steps' own weights, still legal.
        let raw = proximal(
            &w,
            rows,
            cols,
            &calib,
            &ProximalConfig { refit: None, ..cfg },
            |_| {},
        )
        .unwrap();
        assert_eq!(raw.mask, p.mask);
        raw.compress::<f32>().unwrap();
    }
}

#[test]
fn bad_settings_are_typed_errors() {
    let (w, x) = synthetic(4, 16, 20, 1);
    let calib = Calibration::from_activations(&x, 20, 16).unwrap();
    for cfg in [
        ProximalConfig {
            strength_growth: 1.0,
            ..Default::default()
        },
        ProximalConfig {
            strength_start: f64::NAN,
            ..Default::default()
        },
        ProximalConfig {
            max_steps: 0,
            ..Default::default()
        },
    ] {
        let r = proximal(&w, 4, 16, &calib, &cfg, |_| {});
        assert!(matches!(r, Err(Error::InvalidArgument { .. })), "{r:?}");
    }
    let zeros = vec![0f32; 64];
    assert!(proximal(&zeros, 4, 16, &calib, &ProximalConfig::default(), |_| {}).is_err());
    let r = proximal(&w, 4, 12, &calib, &ProximalConfig::default(), |_| {});
    assert!(r.is_err());
}
