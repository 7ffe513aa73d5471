//! The sparse CPU reference (from the compressed form) agrees with the dense one on
//! the decompressed matrix, and the fast f32 path agrees with the f64 reference.

use proptest::prelude::*;
use sparse24::reference::{self, rel_error};
use sparse24::{bf16, f16, prune, Element};
use sparse24::{Activation, Epilogue};

fn values(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = (s >> 40) as f32 / (1u64 << 24) as f32; // [0, 1)
            let v = (u * 2.0 - 1.0) * scale;
            if v == 0.0 {
                scale * 0.5
            } else {
                v
            }
        })
        .collect()
}

fn cast<T: Element>(v: &[f32]) -> Vec<T> {
    v.iter().map(|&x| T::from_f32(x)).collect()
}

fn check<T: Element>(
    tokens: usize,
    out: usize,
    inn: usize,
    seed: u64,
    act: Activation,
    with_c: bool,
    with_bias: bool,
) -> Result<(), TestCaseError> {
    let w: Vec<T> = cast(&values(out * inn, seed, 1.0));
    let x: Vec<T> = cast(&values(tokens * inn, seed ^ 1, 1.0));
    let c: Vec<T> = cast(&values(tokens * out, seed ^ 2, 1.0));
    let bias: Vec<T> = cast(&values(out, seed ^ 3, 1.0));
    let s = prune::prune_magnitude(&w, out, inn).unwrap();
    let dense = s.decompress();
    let epi = Epilogue {
        alpha: 0.75,
        beta: if with_c { -0.5 } else { 0.0 },
        c: with_c.then_some(&c[..]),
        bias: with_bias.then_some(&bias[..]),
        activation: act,
    };
    let sparse_ref = reference::linear_sparse_f64(&x, tokens, &s, &epi).unwrap();
    let dense_ref = reference::linear_dense_f64(&x, tokens, &dense, out, inn, &epi).unwrap();
    // Same products, different summation order only: f64 rounding.
    let e = rel_error(&sparse_ref, &dense_ref);
    prop_assert!(e < 1e-12, "sparse vs dense f64 reference: {e}");
    // The fast paths round once to T at the end: bounded by T's unit roundoff plus
    // f32 accumulation growth.
    let bound = 2.0 * T::EPS + 1e-5;
    let fast: Vec<f64> = reference::linear_sparse(&x, tokens, &s, &epi)
        .unwrap()
        .iter()
        .map(|v| v.to_f64())
        .collect();
    let e = rel_error(&fast, &sparse_ref);
    prop_assert!(e < bound, "fast sparse: {e} (bound {bound})");
    let fast: Vec<f64> = reference::linear_dense(&x, tokens, &dense, out, inn, &epi)
        .unwrap()
        .iter()
        .map(|v| v.to_f64())
        .collect();
    let e = rel_error(&fast, &dense_ref);
    prop_assert!(e < bound, "fast dense: {e} (bound {bound})");
    Ok(())
}

fn activation() -> impl Strategy<Value = Activation> {
    prop_oneof![
        Just(Activation::None),
        Just(Activation::Relu),
        Just(Activation::Gelu),
        Just(Activation::Silu),
        Just(Activation::GeluErf)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn sparse_reference_equals_dense_reference(
        tokens in 1usize..20, out in 1usize..40, in16 in 1usize..10, seed in any::<u64>(),
        act in activation(), with_c in any::<bool>(), with_bias in any::<bool>())
    {
        check::<f32>(tokens, out, in16 * 16, seed, act, with_c, with_bias)?;
        check::<f16>(tokens, out, in16 * 16, seed, act, with_c, with_bias)?;
        check::<bf16>(tokens, out, in16 * 16, seed, act, with_c, with_bias)?;
    }
}

#[test]
fn activations_match_their_definitions() {
    assert_eq!(Activation::Relu.apply(-2.0), 0.0);
    assert_eq!(Activation::Relu.apply(3.0), 3.0);
    let g = Activation::Gelu.apply(1.0);
    assert!((g - 0.841_191_990_607_477_2).abs() < 1e-12, "{g}");
    // Φ(1) = 0.841 344 746 068 542 9 (the normal distribution's CDF at 1).
    let e = Activation::GeluErf.apply(1.0);
    assert!((e - 0.841_344_746_068_542_9).abs() < 1e-12, "{e}");
    let e = Activation::GeluErf.apply(-2.0);
    assert!((e + 2.0 * 0.022_750_131_948_179_2).abs() < 1e-12, "{e}");
    let s = Activation::Silu.apply(1.0);
    assert!((s - 0.731_058_578_630_004_9).abs() < 1e-12, "{s}");
}

#[test]
fn nan_never_passes_and_errors_are_typed() {
    assert_eq!(rel_error(&[1.0, f64::NAN], &[1.0, 2.0]), f64::INFINITY);
    assert_eq!(rel_error(&[1.0], &[1.0, 2.0]), f64::INFINITY);
    let w = vec![1f32; 16];
    let s = prune::prune_magnitude(&w, 1, 16).unwrap();
    assert!(reference::linear_sparse(&[1f32; 15], 1, &s, &Epilogue::default()).is_err());
    assert!(reference::linear_sparse(&[1f32; 0], 0, &s, &Epilogue::default()).is_err());
    let e = Epilogue {
        beta: 1.0,
        ..Epilogue::default()
    };
    assert!(reference::linear_sparse(&[1f32; 16], 1, &s, &e).is_err());
}
