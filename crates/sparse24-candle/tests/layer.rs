//! The candle op on the CPU against the f64 reference of the same sparse24 layer and
//! against candle's dense ops on the decompressed weights, on random shapes, values,
//! leading dimensions, dtypes and input layouts; and the errors of bad inputs.

use candle_core::{DType, Device, IndexOp, Module, Tensor};
use proptest::prelude::*;
use sparse24::linear::{Pruning, SparseLinear as Sparse24Linear};
use sparse24::reference::rel_error;
use sparse24::{bf16, f16, Activation};
use sparse24_candle::{AnyLinear, SparseLinear};

fn tensor(v: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_slice(v, shape, &Device::Cpu).unwrap()
}

fn f64s(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// The f64 reference of the layer inside `l` on X (given in f32, converted to the
/// layer's dtype first, as the op sees it).
fn reference(l: &SparseLinear, x: &Tensor) -> Vec<f64> {
    let tokens = x.elem_count() / l.in_features();
    let xs = x.flatten_all().unwrap();
    match l.layer() {
        AnyLinear::F32(s) => s.forward_f64(&xs.to_vec1::<f32>().unwrap(), tokens),
        AnyLinear::F16(s) => s.forward_f64(&xs.to_vec1::<f16>().unwrap(), tokens),
        AnyLinear::BF16(s) => s.forward_f64(&xs.to_vec1::<bf16>().unwrap(), tokens),
    }
    .unwrap()
}

fn act_of(i: u8) -> Activation {
    [
        Activation::None,
        Activation::GeluErf,
        Activation::Relu,
        Activation::Silu,
    ][i as usize % 4]
}

/// A random layer and input: weights [out, in], bias [out], X [lead.., in].
#[derive(Debug, Clone)]
struct Case {
    out: usize,
    inn: usize,
    lead: Vec<usize>,
    w: Vec<f32>,
    b: Vec<f32>,
    x: Vec<f32>,
    activation: Activation,
}

fn case() -> impl Strategy<Value = Case> {
    (
        1usize..40,
        1usize..5,
        prop::collection::vec(1usize..4, 1..3),
        any::<u8>(),
    )
        .prop_flat_map(|(out, in16, lead, act)| {
            let inn = 16 * in16;
            let tokens: usize = lead.iter().product();
            (
                prop::collection::vec(-2.0f32..2.0, out * inn),
                prop::collection::vec(-1.0f32..1.0, out),
                prop::collection::vec(-3.0f32..3.0, tokens * inn),
            )
                .prop_map(move |(w, b, x)| Case {
                    out,
                    inn,
                    lead: lead.clone(),
                    w,
                    b,
                    x,
                    activation: act_of(act),
                })
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// f32 and bf16 layers: the op matches the f64 reference of the same layer, and
    /// candle's dense forward on the decompressed weights.
    #[test]
    fn op_matches_references(c in case()) {
        let Case { out, inn, lead, w, b, x, activation } = c;
        let layer = SparseLinear::prune(&tensor(&w, &[out, inn]), Some(&tensor(&b, &[out])), Pruning::Magnitude, activation).unwrap();
        let mut xdims = lead.clone();
        xdims.push(inn);
        let x = tensor(&x, &xdims);
        let y = layer.forward(&x).unwrap();
        let mut ydims = lead.clone();
        ydims.push(out);
        prop_assert_eq!(y.dims(), &ydims[..]);
        prop_assert_eq!(y.dtype(), DType::F32);
        // f32 results are compared elementwise against the scale of their sums,
        // |X|·|W|ᵀ + |b| (the condition of a dot product): a relative norm of few
        // outputs with cancellation is not bounded by f32's ε (a 1 × 16 case reached
        // 1.1e-6 against the f64 reference and 5e-3 against candle's dense product;
        // kept in layer.proptest-regressions).
        let (wd, bd) = layer.dense_weight_and_bias().unwrap();
        let scale = f64s(
            &x.abs().unwrap().broadcast_matmul(&wd.abs().unwrap().t().unwrap()).unwrap()
                .broadcast_add(&bd.as_ref().unwrap().abs().unwrap()).unwrap(),
        );
        let worst = |a: &[f64], b: &[f64]| {
            a.iter().zip(b).zip(&scale).map(|((p, q), s)| (p - q).abs() / (s + 1e-30)).fold(0.0f64, |m, v| if v.is_nan() { f64::INFINITY } else { m.max(v) })
        };
        let e = worst(&f64s(&y), &reference(&layer, &x));
        prop_assert!(e <= 1e-6, "f32 op vs f64 reference: {e} of the sum's scale");

        // candle's own dense ops on the same (pruned) weights.
        let dense = x.broadcast_matmul(&wd.t().unwrap()).unwrap().broadcast_add(&bd.unwrap()).unwrap();
        let dense = match activation {
            Activation::None => dense,
            Activation::GeluErf => dense.gelu_erf().unwrap(),
            Activation::Relu => dense.relu().unwrap(),
            _ => dense.silu().unwrap(),
        };
        let e = worst(&f64s(&y), &f64s(&dense));
        prop_assert!(e <= 1e-5, "f32 op vs candle dense: {e} of the sum's scale");

        // bf16: the same layer converted, on X in bf16.
        let l16 = layer.to_dtype(DType::BF16).unwrap();
        prop_assert_eq!(l16.output_dtype(), DType::BF16);
        let x16 = x.to_dtype(DType::BF16).unwrap();
        let y16 = l16.forward(&x16).unwrap();
        prop_assert_eq!(y16.dtype(), DType::BF16);
        let e = rel_error(&f64s(&y16), &reference(&l16, &x16));
        prop_assert!(e <= 1e-2, "bf16 op vs f64 reference: {e}");
    }

    /// A strided input (a transposed tensor, a narrowed one) gives what its
    /// contiguous copy gives.
    #[test]
    fn layouts_do_not_matter(c in case(), rows in 1usize..6, skip in 0usize..3) {
        let (out, inn) = (c.out, c.inn);
        let layer = SparseLinear::prune(&tensor(&c.w, &[out, inn]), None, Pruning::Magnitude, c.activation).unwrap();
        let xs: Vec<f32> = (0..inn * (rows + skip)).map(|i| ((i * 7919 % 97) as f32 - 48.0) / 16.0).collect();
        // [in, rows + skip] transposed, then the last `rows` rows: offset and strides.
        let x = tensor(&xs, &[inn, rows + skip]).t().unwrap().narrow(0, skip, rows).unwrap();
        if rows + skip > 1 {
            prop_assert!(!x.is_contiguous());
        }
        let y = layer.forward(&x).unwrap();
        let y_ref = layer.forward(&x.contiguous().unwrap()).unwrap();
        prop_assert_eq!(f64s(&y), f64s(&y_ref));
        for r in 0..rows {
            let row = layer.forward(&x.i(r).unwrap().unsqueeze(0).unwrap()).unwrap();
            prop_assert_eq!(f64s(&row), f64s(&y.i(r).unwrap()));
        }
    }
}

fn small_layer() -> SparseLinear {
    let w: Vec<f32> = (0..8 * 32)
        .map(|i| ((i * 31 % 17) as f32 - 8.0) / 4.0)
        .collect();
    SparseLinear::prune(
        &tensor(&w, &[8, 32]),
        None,
        Pruning::Magnitude,
        Activation::None,
    )
    .unwrap()
}

#[test]
fn bad_inputs_are_errors() {
    let l = small_layer();
    let err = |x: Tensor| l.forward(&x).unwrap_err().to_string();
    assert!(
        err(Tensor::zeros((3, 16), DType::F32, &Device::Cpu).unwrap())
            .contains("expected [.., 32]")
    );
    assert!(err(Tensor::new(1f32, &Device::Cpu).unwrap()).contains("scalar"));
    assert!(
        err(Tensor::zeros((2, 32), DType::BF16, &Device::Cpu).unwrap()).contains("F32 weights")
    );
    assert!(err(Tensor::zeros((2, 32), DType::U32, &Device::Cpu).unwrap()).contains("F32 weights"));
}

#[test]
fn a_vector_is_one_row() {
    let l = small_layer();
    let x: Vec<f32> = (0..32).map(|i| i as f32 / 8.0 - 2.0).collect();
    let y = l.forward(&tensor(&x, &[32])).unwrap();
    assert_eq!(y.dims(), &[8]);
    let y2 = l.forward(&tensor(&x, &[1, 32])).unwrap();
    assert_eq!(f64s(&y), f64s(&y2));
}

#[test]
fn no_rows_give_an_empty_output() {
    let l = small_layer();
    let y = l
        .forward(&Tensor::zeros((2, 0, 32), DType::F32, &Device::Cpu).unwrap())
        .unwrap();
    assert_eq!(y.dims(), &[2, 0, 8]);
}

#[test]
fn residual_layers_are_refused() {
    let w: Vec<bf16> = (0..4 * 16)
        .map(|i| bf16::from_f32(i as f32 - 30.0))
        .collect();
    let l = Sparse24Linear::from_dense(&w, 4, 16, Pruning::Magnitude)
        .unwrap()
        .with_residual(1.0);
    assert!(SparseLinear::new(l)
        .unwrap_err()
        .to_string()
        .contains("residual"));
}

#[test]
fn mismatched_bias_and_weights_are_errors() {
    let w = tensor(&[1.0; 4 * 16], &[4, 16]);
    let e = SparseLinear::prune(
        &w,
        Some(&tensor(&[0.0; 3], &[3])),
        Pruning::Magnitude,
        Activation::None,
    );
    assert!(e.unwrap_err().to_string().contains("bias has 3"));
    // `in` not a multiple of 16: sparse24's shape error.
    let w = tensor(&[1.0; 4 * 12], &[4, 12]);
    assert!(SparseLinear::prune(&w, None, Pruning::Magnitude, Activation::None).is_err());
    let w = Tensor::zeros((4, 16), DType::U8, &Device::Cpu).unwrap();
    assert!(SparseLinear::prune(&w, None, Pruning::Magnitude, Activation::None).is_err());
}

/// An explicit output dtype survives the conversion of the weights.
#[test]
fn output_dtype_is_kept_or_follows() {
    let w: Vec<bf16> = (0..4 * 16)
        .map(|i| bf16::from_f32(i as f32 / 8.0 - 4.0))
        .collect();
    let l = Sparse24Linear::from_dense(&w, 4, 16, Pruning::Magnitude)
        .unwrap()
        .with_output_dtype(sparse24::DType::F32);
    let l = SparseLinear::new(l).unwrap();
    assert_eq!((l.dtype(), l.output_dtype()), (DType::BF16, DType::F32));
    let x = Tensor::ones((3, 16), DType::BF16, &Device::Cpu).unwrap();
    assert_eq!(l.forward(&x).unwrap().dtype(), DType::F32);
    let h = l.to_dtype(DType::F16).unwrap();
    assert_eq!((h.dtype(), h.output_dtype()), (DType::F16, DType::F32));
    let f = small_layer().to_dtype(DType::F16).unwrap();
    assert_eq!((f.dtype(), f.output_dtype()), (DType::F16, DType::F16));
}
