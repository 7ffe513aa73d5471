//! The 2:4 proximal operator (`methods::proximal_group`): the global minimum against a
//! brute-force grid search on random groups (and on the case the earlier
//! coordinate-descent operator got wrong), every support case reached with the root
//! isolation never out of budget, its exact properties (identity at strength 0, a
//! fixed point on 2:4 groups, signs kept, magnitudes shrunk, 2:4 at large strength),
//! and the proximal method's output on small layers (legal 2:4, the refit's optimum
//! for its mask, schedule errors typed). The method against the exhaustive optimum is
//! in tests/methods.rs.

#[path = "common/learn_cases.rs"]
mod learn_cases;

use learn_cases::synthetic;
use proptest::prelude::*;
use sparse24::learn::Calibration;
use sparse24::methods::proximal_group::{objective, prox_group, prox_group_report, Face};
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

/// The operator's objective is at most the brute force's, within rounding.
fn assert_global(v: [f64; 4], s: f64) -> Result<(), TestCaseError> {
    let z = prox_group(v, s);
    let (zb, fb) = brute_force(v, s);
    let fz = full_objective(z, v, s);
    let scale = v.iter().map(|x| x * x).sum::<f64>().max(1e-300);
    prop_assert!(
        fz <= fb + 1e-12 * scale,
        "v {v:?} s {s}: prox {z:?} {fz} > brute {zb:?} {fb}"
    );
    Ok(())
}

/// The case the coordinate-descent operator got wrong (it kept two entries, cost 0.5,
/// where three cost 0.484: the descent broke the tie of the two equal entries), and
/// one whose minimum has its smallest entry on the smaller root of its equation.
#[test]
fn operator_matches_brute_force_on_known_cases() {
    assert_global([1.0, 1.0, 0.0, 1.388952009188295], 0.7282788389138795).unwrap();
    let (z, report) = prox_group_report([1.0, 1.0, 0.0, 1.388952009188295], 0.7282788389138795);
    assert_eq!(report.face, Face::Three, "{z:?}");
    let v = [
        1.3243611034107712,
        -1.7525208676975483,
        1.2722291341632994,
        1.6489141546231887,
    ];
    assert_global(v, 0.32726686101550406).unwrap();
    let (z, report) = prox_group_report(v, 0.32726686101550406);
    assert_eq!(report.face, Face::FourSmallerRoot, "{z:?}");
    assert!(!report.isolation.exhausted);
}

/// Every support case occurs on random groups and the isolation of the four-nonzero,
/// smaller-root case never runs out of its budget.
#[test]
fn every_case_reached_within_budget() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(2501);
    let mut seen = std::collections::BTreeMap::new();
    let mut most_visits = 0;
    for _ in 0..200_000 {
        let v: [f64; 4] = std::array::from_fn(|_| rng.gen_range(-2.0..2.0));
        let s = rng.gen_range(0.0..3.0);
        let (_, report) = prox_group_report(v, s);
        assert!(!report.isolation.exhausted, "v {v:?} s {s}");
        most_visits = most_visits.max(report.isolation.visits);
        *seen.entry(format!("{:?}", report.face)).or_insert(0u32) += 1;
    }
    println!("faces {seen:?}; most isolation visits {most_visits}");
    for face in ["Two", "Three", "Four", "FourSmallerRoot"] {
        assert!(seen.contains_key(face), "{face} never reached: {seen:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// The global minimum: never worse than a brute-force grid search polished by
    /// coordinate descent, on random groups with zeros and ties, weak and strong
    /// strengths. Its objective is the sign-free one, signs kept, magnitudes shrunk.
    #[test]
    fn operator_matches_brute_force(v in group(), s in prop_oneof![0.0f64..0.3, 0.3f64..3.0]) {
        assert_global(v, s)?;
        let z = prox_group(v, s);
        let fz = full_objective(z, v, s);
        let scale = v.iter().map(|x| x * x).sum::<f64>().max(1e-300);
        let a = v.map(f64::abs);
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
