//! The 2:4 proximal operator on the device (kernels/proximal.cu) on ptxsim, against
//! the CPU version (`methods::proximal_group::prox_groups`): the same bits on random
//! groups (zeros, ties, equal magnitudes, every strength regime, every support case of
//! the operator), and the whole
//! proximal method through `proximal_on` equal to `proximal` on a small layer.

#[path = "common/learn_cases.rs"]
mod learn_cases;

use learn_cases::synthetic;
use rand::{Rng, SeedableRng};
use sparse24::learn::Calibration;
use sparse24::methods::proximal_group::{prox_group_report, prox_groups, Face};
use sparse24::methods::{proximal, proximal_on, ProximalConfig};
use sparse24::sim::SimExecutor;

/// How many values of `a` and `b` differ in their bits.
fn bits_differ(a: &[f64], b: &[f64]) -> usize {
    a.iter()
        .zip(b)
        .filter(|(x, y)| x.to_bits() != y.to_bits())
        .count()
}

#[test]
fn device_operator_matches_the_cpu_bit_for_bit() {
    if !sparse24::kernels::compiled() {
        println!("skipped: built without nvcc (no kernels embedded)");
        return;
    }
    let exec = SimExecutor::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(20);
    // 300 groups: a partial last block of 256 threads.
    let w: Vec<f64> = (0..1200)
        .map(|i| match i % 13 {
            0 => 0.0,
            1 => 0.5,
            2 => -0.5,
            _ => rng.gen_range(-2.0..2.0),
        })
        .collect();
    for s in [0.0, 0.01, 0.3, 1.0, 5.0] {
        let dev = sparse24::ops::proximal::prox_groups_on(&exec, &w, s).unwrap();
        let mut cpu = w.clone();
        prox_groups(&mut cpu, s);
        let differ = bits_differ(&dev, &cpu);
        let two = cpu
            .chunks(4)
            .filter(|g| g.iter().filter(|v| **v != 0.0).count() <= 2)
            .count();
        println!(
            "strength {s}: {differ} of {} values differ; {two} of 300 groups 2:4",
            w.len()
        );
        assert_eq!(differ, 0, "strength {s}");
    }
    // Every support case, the four-nonzero smaller-root one included (rare: found by
    // scanning random groups on the CPU), in one launch at one strength.
    let s = 0.4;
    let mut cases: Vec<f64> = Vec::new();
    let mut faces = std::collections::BTreeMap::new();
    while faces.get(&Face::FourSmallerRoot).copied().unwrap_or(0) < 8 {
        let scale = rng.gen_range(0.2..2.5);
        let v: [f64; 4] = std::array::from_fn(|_| scale * rng.gen_range(-1.0..1.0));
        let face = prox_group_report(v, s).1.face;
        let n = faces.entry(face).or_insert(0u32);
        if *n < 64 {
            *n += 1;
            cases.extend_from_slice(&v);
        }
    }
    println!("faces in the mixed launch: {faces:?}");
    assert_eq!(faces.len(), 4, "{faces:?}");
    let dev = sparse24::ops::proximal::prox_groups_on(&exec, &cases, s).unwrap();
    let mut cpu = cases.clone();
    prox_groups(&mut cpu, s);
    assert_eq!(bits_differ(&dev, &cpu), 0, "mixed launch");
    assert!(sparse24::ops::proximal::prox_groups_on(&exec, &w[..6], 1.0).is_err());
    assert!(sparse24::ops::proximal::prox_groups_on(&exec, &w, f64::NAN).is_err());
}

#[test]
fn device_method_matches_the_cpu_method() {
    if !sparse24::kernels::compiled() {
        println!("skipped: built without nvcc (no kernels embedded)");
        return;
    }
    let (rows, cols, tokens) = (6, 32, 48);
    let (w, x) = synthetic(rows, cols, tokens, 9);
    let calib = Calibration::from_activations(&x, tokens, cols).unwrap();
    let cfg = ProximalConfig {
        max_steps: 40,
        strength_growth: 1.2,
        ..Default::default()
    };
    let cpu = proximal(&w, rows, cols, &calib, &cfg, |_| {}).unwrap();
    let dev = proximal_on(&SimExecutor::new(), &w, rows, cols, &calib, &cfg, |_| {}).unwrap();
    assert_eq!(dev.mask, cpu.mask);
    assert_eq!(dev.weights, cpu.weights);
}
