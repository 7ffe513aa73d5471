//! `SparseLinear` on the CPU: constructors (magnitude, Wanda, given mask, compressed),
//! forward against the f64 reference, and typed errors for every shape mismatch.

use rand::{rngs::StdRng, Rng, SeedableRng};
use sparse24::linear::{Pruning, SparseLinear};
use sparse24::reference::rel_error;
use sparse24::{bf16, f16, prune, Activation, Element, Error, Sparse24};

fn random<T: Element>(rng: &mut StdRng, n: usize) -> Vec<T> {
    (0..n)
        .map(|_| T::from_f32(rng.gen_range(-1.0f32..1.0)))
        .collect()
}

fn check_against_reference<T: Element>(layer: &SparseLinear<T>, tokens: usize, tol: f64) {
    let mut rng = StdRng::seed_from_u64(tokens as u64);
    let x: Vec<T> = random(&mut rng, tokens * layer.in_features());
    let y = layer.forward_cpu(&x, tokens).unwrap();
    let reference = layer.forward_f64(&x, tokens).unwrap();
    let y64: Vec<f64> = y.iter().map(|v| v.to_f64()).collect();
    let err = rel_error(&y64, &reference);
    assert!(err <= tol, "rel error {err} > {tol}");
}

#[test]
fn magnitude_layer_with_bias_and_activations() {
    let mut rng = StdRng::seed_from_u64(1);
    let (out, inn) = (40, 96);
    let w: Vec<bf16> = random(&mut rng, out * inn);
    let bias: Vec<bf16> = random(&mut rng, out);
    for act in [
        Activation::None,
        Activation::Relu,
        Activation::Gelu,
        Activation::Silu,
        Activation::GeluErf,
    ] {
        let layer = SparseLinear::from_dense(&w, out, inn, Pruning::Magnitude)
            .unwrap()
            .with_bias(bias.clone())
            .unwrap()
            .with_activation(act);
        assert_eq!((layer.out_features(), layer.in_features()), (out, inn));
        assert_eq!(layer.activation(), act);
        assert_eq!(
            layer.weight(),
            &prune::prune_magnitude(&w, out, inn).unwrap()
        );
        for tokens in [1, 5, 33] {
            check_against_reference(&layer, tokens, 1e-2);
        }
    }
}

#[test]
fn wanda_and_given_masks() {
    let mut rng = StdRng::seed_from_u64(2);
    let (out, inn) = (24, 64);
    let w: Vec<f16> = random(&mut rng, out * inn);
    let calib: Vec<f16> = random(&mut rng, 50 * inn);
    let norms = prune::activation_norms(&calib, 50, inn).unwrap();
    let layer =
        SparseLinear::from_dense(&w, out, inn, Pruning::Wanda { act_norms: &norms }).unwrap();
    let mask = prune::wanda_mask(&w, out, inn, &norms).unwrap();
    assert_eq!(layer.weight().mask(), mask);
    check_against_reference(&layer, 7, 2e-3);

    let given = SparseLinear::from_dense(&w, out, inn, Pruning::Mask(&mask)).unwrap();
    assert_eq!(given.weight(), layer.weight());

    let compressed = Sparse24::compress_masked(&w, &mask).unwrap();
    let from_sparse = SparseLinear::from_sparse(compressed);
    let x: Vec<f16> = random(&mut rng, 3 * inn);
    assert_eq!(
        from_sparse.forward_cpu(&x, 3).unwrap(),
        layer.forward_cpu(&x, 3).unwrap()
    );
}

#[test]
fn f32_layers_run_on_the_cpu() {
    let mut rng = StdRng::seed_from_u64(3);
    let w: Vec<f32> = random(&mut rng, 16 * 32);
    let layer = SparseLinear::from_dense(&w, 16, 32, Pruning::Magnitude).unwrap();
    check_against_reference(&layer, 4, 1e-5);
}

#[test]
fn mismatches_are_typed_errors() {
    let mut rng = StdRng::seed_from_u64(4);
    let (out, inn) = (8, 32);
    let w: Vec<bf16> = random(&mut rng, out * inn);
    assert!(matches!(
        SparseLinear::from_dense(&w[1..], out, inn, Pruning::Magnitude),
        Err(Error::Length { .. })
    ));
    assert!(matches!(
        SparseLinear::from_dense(&w, out + 1, inn, Pruning::Magnitude),
        Err(Error::Length { .. })
    ));
    assert!(matches!(
        SparseLinear::from_dense(&w, out, 24, Pruning::Magnitude),
        Err(Error::Shape { what: "cols", .. })
    ));
    let short_norms = vec![1.0f32; inn - 1];
    assert!(matches!(
        SparseLinear::from_dense(
            &w,
            out,
            inn,
            Pruning::Wanda {
                act_norms: &short_norms
            }
        ),
        Err(Error::Length { .. })
    ));
    let other_mask = prune::magnitude_mask(&w, 16, 16).unwrap();
    assert!(matches!(
        SparseLinear::from_dense(&w, out, inn, Pruning::Mask(&other_mask)),
        Err(Error::InvalidArgument { what: "mask", .. })
    ));
    let layer = SparseLinear::from_dense(&w, out, inn, Pruning::Magnitude).unwrap();
    assert!(matches!(
        layer.forward_cpu(&random::<bf16>(&mut rng, 2 * inn + 1), 2),
        Err(Error::Length { what: "X", .. })
    ));
    assert!(matches!(
        layer.forward_cpu(&[], 0),
        Err(Error::Shape { what: "tokens", .. })
    ));
    let layer = SparseLinear::from_dense(&w, out, inn, Pruning::Magnitude).unwrap();
    assert!(matches!(
        layer.with_bias(vec![bf16::ONE; out + 1]),
        Err(Error::Length { what: "bias", .. })
    ));
}

/// `forward_cpu_with` in the output type `O`, widened to f64.
fn cpu_f64<O: Element>(
    layer: &SparseLinear<bf16>,
    x: &[bf16],
    tokens: usize,
    c: &[bf16],
) -> Vec<f64> {
    let y: Vec<O> = layer.forward_cpu_with(x, tokens, Some(c)).unwrap();
    y.iter().map(|v| v.to_f64()).collect()
}

/// The whole epilogue on the CPU: alpha, beta·C, bias, activation, every output
/// dtype, against the f64 reference and a hand computation from the plain layer.
#[test]
fn whole_epilogue_on_the_cpu() {
    use sparse24::DType;
    let mut rng = StdRng::seed_from_u64(11);
    let (out, inn, tokens) = (48, 128, 5);
    let w: Vec<bf16> = random(&mut rng, out * inn);
    let bias: Vec<bf16> = random(&mut rng, out);
    let x: Vec<bf16> = random(&mut rng, tokens * inn);
    let c: Vec<bf16> = random(&mut rng, tokens * out);
    let plain = SparseLinear::from_dense(&w, out, inn, Pruning::Magnitude).unwrap();
    let product = plain.forward_f64(&x, tokens).unwrap();
    for (output, tol) in [(DType::F32, 1e-4), (DType::F16, 2e-3), (DType::BF16, 1e-2)] {
        let layer = SparseLinear::from_dense(&w, out, inn, Pruning::Magnitude)
            .unwrap()
            .with_bias(bias.clone())
            .unwrap()
            .with_activation(Activation::Relu)
            .with_alpha(0.5)
            .with_residual(-2.0)
            .with_output_dtype(output);
        let reference = layer.forward_f64_with(&x, tokens, Some(&c)).unwrap();
        let by_hand: Vec<f64> = (0..tokens * out)
            .map(|i| {
                let v = 0.5 * product[i] - 2.0 * c[i].to_f64() + bias[i % out].to_f64();
                v.max(0.0)
            })
            .collect();
        assert!(rel_error(&reference, &by_hand) < 1e-12);
        let got = match output {
            DType::F32 => cpu_f64::<f32>(&layer, &x, tokens, &c),
            DType::F16 => cpu_f64::<f16>(&layer, &x, tokens, &c),
            DType::BF16 => cpu_f64::<bf16>(&layer, &x, tokens, &c),
        };
        let err = rel_error(&got, &reference);
        assert!(err <= tol, "{output:?}: {err} > {tol}");
        // The output type is checked, and a residual layer needs C.
        if output != DType::BF16 {
            assert!(matches!(
                layer.forward_cpu(&x, tokens),
                Err(Error::InvalidArgument {
                    what: "output dtype",
                    ..
                })
            ));
        } else {
            assert!(matches!(
                layer.forward_cpu(&x, tokens),
                Err(Error::InvalidArgument { what: "beta", .. })
            ));
        }
        assert!(matches!(
            layer.forward_cpu_with::<bf16>(&x, tokens, Some(&c[1..])),
            Err(Error::Length { what: "C", .. })
                | Err(Error::InvalidArgument {
                    what: "output dtype",
                    ..
                })
        ));
    }
    // beta 0: C is ignored.
    assert_eq!(
        plain
            .forward_cpu_with::<bf16>(&x, tokens, Some(&c))
            .unwrap(),
        plain.forward_cpu(&x, tokens).unwrap()
    );
}
