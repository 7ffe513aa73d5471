//! The CPU reference of mask sampling (src/mask.rs) and its generator (src/philox.rs).

use proptest::prelude::*;
use rand::{rngs::StdRng, Rng, SeedableRng};
use sparse24::mask::{self, SampleParams, Sampling, CANDIDATES};
use sparse24::{philox, prune, Error, Pattern};

/// Random123's published known answers for Philox4x32-10: the three
/// "philox4x32 10" lines of tests/kat_vectors in github.com/DEShawResearch/random123
/// (columns: counter[4], key[2], expected output[4]).
const KAT: [([u32; 4], [u32; 2], [u32; 4]); 3] = [
    (
        [0, 0, 0, 0],
        [0, 0],
        [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8],
    ),
    (
        [u32::MAX; 4],
        [u32::MAX; 2],
        [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
    ),
    (
        [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
        [0xa4093822, 0x299f31d0],
        [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
    ),
];

#[test]
fn philox_known_answers() {
    for (ctr, key, want) in KAT {
        assert_eq!(
            philox::philox4x32_10(ctr, key),
            want,
            "ctr {ctr:x?} key {key:x?}"
        );
    }
}

#[test]
fn philox_group_words_follow_the_counter_layout() {
    let (seed, group, step) = (0x0123_4567_89ab_cdefu64, 0x1_0000_0002u64, 7);
    let w = philox::group_words(seed, group, step);
    let key = [0x89ab_cdef, 0x0123_4567];
    assert_eq!(w[..4], philox::philox4x32_10([2, 1, 7, 0], key));
    assert_eq!(w[4..], philox::philox4x32_10([2, 1, 7, 1], key));
}

#[test]
fn gumbel_and_normal_have_their_moments() {
    let n = 20_000u64;
    let g: Vec<f64> = (0..n).flat_map(|i| philox::gumbel6(3, i, 0)).collect();
    let mean = g.iter().sum::<f64>() / g.len() as f64;
    assert!((mean - 0.577_215_664_9).abs() < 0.01, "gumbel mean {mean}");
    let z: Vec<f64> = (0..n).flat_map(|i| philox::normal6(3, i, 1)).collect();
    let m = z.iter().sum::<f64>() / z.len() as f64;
    let v = z.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / z.len() as f64;
    assert!(
        m.abs() < 0.01 && (v - 1.0).abs() < 0.02,
        "normal mean {m} var {v}"
    );
}

fn random_case(rng: &mut StdRng, rows: usize, cols: usize) -> (Vec<f32>, Vec<f32>) {
    let w = (0..rows * cols)
        .map(|_| rng.gen_range(0.1f32..2.0) * if rng.gen() { 1.0 } else { -1.0 })
        .collect();
    let logits = (0..rows * cols / 4 * CANDIDATES)
        .map(|_| rng.gen_range(-1.0f32..1.0))
        .collect();
    (w, logits)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn soft_masks_sum_to_two_and_hard_masks_are_legal(
        seed in any::<u64>(), step in any::<u32>(), kappa in 0.1f32..500.0, tau in 0.05f32..4.0,
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        let (rows, cols) = (3, 32);
        let (_, logits) = random_case(&mut rng, rows, cols);
        let p = SampleParams { seed, step, kappa, tau };
        let soft = mask::sample_mask(rows, cols, &logits, &p, Sampling::Soft).unwrap();
        for m in soft.chunks_exact(4) {
            let s: f64 = m.iter().sum();
            prop_assert!((s - 2.0).abs() < 1e-12, "soft mask {m:?} sums to {s}");
            prop_assert!(m.iter().all(|v| (0.0..=1.0 + 1e-12).contains(v)));
        }
        let hard = mask::sample_mask(rows, cols, &logits, &p, Sampling::Hard).unwrap();
        for m in hard.chunks_exact(4) {
            let bits = m.iter().enumerate().fold(0u8, |b, (i, &v)| {
                assert!(v == 0.0 || v == 1.0);
                b | ((v == 1.0) as u8) << i
            });
            prop_assert!(Pattern::from_keep_bits(bits).is_some(), "hard mask {m:?}");
        }
    }
}

/// J(π) = Σ dW ⊙ W_eff(π) − λ·R(π), whose gradient the backward returns.
fn objective(w: &[f32], dw: &[f32], logits: &[f32], lambda: f32, p: &SampleParams) -> f64 {
    let (rows, cols) = (w.len() / 16, 16);
    let (out, reg) = mask::forward_f64(w, rows, cols, logits, p, Sampling::Soft).unwrap();
    out.iter().zip(dw).map(|(o, d)| o * *d as f64).sum::<f64>() - lambda as f64 * reg
}

#[test]
fn backward_matches_central_differences() {
    let mut rng = StdRng::seed_from_u64(11);
    for &(kappa, tau, lambda) in &[(1.0f32, 1.0f32, 0.0f32), (3.0, 0.7, 0.5), (0.5, 2.0, 2.0)] {
        let (rows, cols) = (2, 16);
        let (w, mut logits) = random_case(&mut rng, rows, cols);
        let dw: Vec<f32> = (0..rows * cols)
            .map(|_| rng.gen_range(-1.0f32..1.0))
            .collect();
        let p = SampleParams {
            seed: 99,
            step: 4,
            kappa,
            tau,
        };
        let grad =
            mask::backward_f64(&w, rows, cols, &logits, &dw, lambda, &p, Sampling::Soft).unwrap();
        for j in 0..logits.len() {
            let orig = logits[j];
            let h = 1e-3f32;
            logits[j] = orig + h;
            let (hi, up) = (logits[j], objective(&w, &dw, &logits, lambda, &p));
            logits[j] = orig - h;
            let (lo, down) = (logits[j], objective(&w, &dw, &logits, lambda, &p));
            logits[j] = orig;
            // The actual f32 step, not h: π ± h rounds.
            let fd = (up - down) / (hi as f64 - lo as f64);
            let tol = 1e-4 * (1.0 + grad[j].abs());
            assert!(
                (fd - grad[j]).abs() < tol,
                "κ={kappa} τ={tau} λ={lambda} logit {j}: backward {} vs fd {fd}",
                grad[j]
            );
        }
    }
}

#[test]
fn hard_backward_is_straight_through() {
    // Without the regulariser, the hard mask's gradient is the soft one.
    let mut rng = StdRng::seed_from_u64(5);
    let (rows, cols) = (4, 32);
    let (w, logits) = random_case(&mut rng, rows, cols);
    let dw: Vec<f32> = (0..rows * cols)
        .map(|_| rng.gen_range(-1.0f32..1.0))
        .collect();
    let p = SampleParams {
        seed: 1,
        step: 2,
        kappa: 5.0,
        tau: 0.5,
    };
    let soft = mask::backward_f64(&w, rows, cols, &logits, &dw, 0.0, &p, Sampling::Soft).unwrap();
    let hard = mask::backward_f64(&w, rows, cols, &logits, &dw, 0.0, &p, Sampling::Hard).unwrap();
    assert_eq!(soft, hard);
}

#[test]
fn small_temperature_approaches_the_hard_mask() {
    let mut rng = StdRng::seed_from_u64(8);
    let (rows, cols) = (8, 64);
    let (_, logits) = random_case(&mut rng, rows, cols);
    let base = SampleParams {
        seed: 42,
        step: 9,
        kappa: 2.0,
        tau: 1.0,
    };
    let hard = mask::sample_mask(rows, cols, &logits, &base, Sampling::Hard).unwrap();
    let mut last = f64::INFINITY;
    for tau in [1.0f32, 0.1, 0.01, 0.001] {
        let p = SampleParams { tau, ..base };
        let soft = mask::sample_mask(rows, cols, &logits, &p, Sampling::Soft).unwrap();
        let dist = soft
            .iter()
            .zip(&hard)
            .map(|(s, h)| (s - h).abs())
            .sum::<f64>();
        assert!(dist <= last, "τ={tau}: distance {dist} grew from {last}");
        last = dist;
    }
    // Groups decided by a clear margin match the hard mask closely at τ = 0.001.
    let p = SampleParams { tau: 0.001, ..base };
    let soft = mask::sample_mask(rows, cols, &logits, &p, Sampling::Soft).unwrap();
    for (g, l) in logits.chunks_exact(CANDIDATES).enumerate() {
        let s = mask::perturbed(l, &philox::gumbel6(42, g as u64, 9), 2.0);
        if mask::margin6(&s) > 0.05 {
            for k in 0..4 {
                assert!((soft[4 * g + k] - hard[4 * g + k]).abs() < 1e-9);
            }
        }
    }
}

#[test]
fn prior_raises_overlapping_candidates() {
    let mut rng = StdRng::seed_from_u64(3);
    let (rows, cols) = (16, 64);
    let w: Vec<f32> = (0..rows * cols)
        .map(|_| rng.gen_range(-2.0f32..2.0))
        .collect();
    let prior = prune::magnitude_mask(&w, rows, cols).unwrap();
    // Strength 0: plain N(0, 0.01²).
    let plain = mask::init_logits_from_prior_f64(&prior, 7, 0.0).unwrap();
    let n = plain.len() as f64;
    let mean = plain.iter().sum::<f64>() / n;
    let std = (plain.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    assert!(
        (std - 0.01).abs() < 0.001 && mean.abs() < 0.001,
        "std {std} mean {mean}"
    );
    // Each candidate moves by (overlap − 1)·std·strength.
    let raised = mask::init_logits_from_prior_f64(&prior, 7, 3.0).unwrap();
    for (g, (a, b)) in plain
        .chunks_exact(CANDIDATES)
        .zip(raised.chunks_exact(CANDIDATES))
        .enumerate()
    {
        for (i, cand) in Pattern::ALL.iter().enumerate() {
            let want = (cand.overlap(prior.patterns()[g]) as f64 - 1.0) * std * 3.0;
            assert!((b[i] - a[i] - want).abs() < 1e-12);
        }
    }
    // A strong prior makes the learned mask start at the prior mask.
    let strong = mask::init_logits_from_prior(&prior, 7, 30.0).unwrap();
    assert_eq!(mask::hard_mask(&strong, rows, cols).unwrap(), prior);
}

#[test]
fn hard_mask_compress_keeps_the_argmax_candidate() {
    let mut rng = StdRng::seed_from_u64(4);
    let (rows, cols) = (5, 48);
    let (w, logits) = random_case(&mut rng, rows, cols);
    let s = mask::hard_mask_compress(&w, rows, cols, &logits).unwrap();
    s.validate().unwrap();
    for (g, l) in logits.chunks_exact(CANDIDATES).enumerate() {
        let best = (1..6).fold(0, |b, i| if l[i] > l[b] { i } else { b });
        assert_eq!(s.mask().patterns()[g], Pattern::ALL[best]);
    }
}

#[test]
fn forward_is_weights_times_mask() {
    let mut rng = StdRng::seed_from_u64(6);
    let (rows, cols) = (3, 32);
    let (w, logits) = random_case(&mut rng, rows, cols);
    let p = SampleParams {
        seed: 5,
        step: 0,
        kappa: 10.0,
        tau: 0.3,
    };
    for s in [Sampling::Soft, Sampling::Hard] {
        let m = mask::sample_mask(rows, cols, &logits, &p, s).unwrap();
        let f = mask::forward(&w, rows, cols, &logits, &p, s, true).unwrap();
        let mut reg = 0.0;
        for i in 0..w.len() {
            let v = w[i] as f64 * m[i];
            reg += v * v;
            assert_eq!(f.w_eff[i], v as f32);
        }
        let r = f.reg.unwrap();
        assert!((r - reg).abs() <= 1e-12 * reg);
    }
}

#[test]
fn arguments_are_validated() {
    let (w, logits) = (vec![1.0f32; 16], vec![0.5f32; 24]);
    let ok = SampleParams {
        seed: 0,
        step: 0,
        kappa: 1.0,
        tau: 1.0,
    };
    let bad_tau = SampleParams { tau: 0.0, ..ok };
    let e = mask::forward(&w, 1, 16, &logits, &bad_tau, Sampling::Soft, false).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { what: "tau", .. }));
    let nan_kappa = SampleParams {
        kappa: f32::NAN,
        ..ok
    };
    assert!(mask::forward(&w, 1, 16, &logits, &nan_kappa, Sampling::Soft, false).is_err());
    let e = mask::forward(&w, 1, 16, &logits[..23], &ok, Sampling::Soft, false).unwrap_err();
    assert!(matches!(e, Error::Length { what: "logits", .. }));
    let e = mask::forward(&w, 1, 12, &logits, &ok, Sampling::Soft, false).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }));
    let mut nan = logits.clone();
    nan[13] = f32::NAN;
    let e = mask::forward(&w, 1, 16, &nan, &ok, Sampling::Hard, false).unwrap_err();
    assert_eq!(
        e,
        Error::NonFinite {
            what: "logits",
            row: 0,
            col: 13
        }
    );
    assert!(mask::hard_mask(&nan, 1, 16).is_err());
    let e = mask::backward(&w, 1, 16, &logits, &w, f32::INFINITY, &ok, Sampling::Soft);
    assert!(matches!(
        e,
        Err(Error::InvalidArgument { what: "lambda", .. })
    ));
}
