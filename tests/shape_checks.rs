//! Checked shape arithmetic at every public entry that takes dimensions: huge shapes
//! whose products overflow (or pass the 2^60-element limit) and zero dimensions are
//! typed errors, returned before anything is allocated or looped over. Each call
//! here used to panic, wrap or never return.

use proptest::prelude::*;
use sparse24::io::torch::{from_torch, TorchCutlass};
use sparse24::layout::{
    from_fragment_order, meta_from_cutlass, meta_to_cutlass, FragmentGeometry, FragmentOrdered,
};
use sparse24::learn::Calibration;
use sparse24::linear::{Pruning, SparseLinear};
use sparse24::mask::{self, SampleParams, Sampling};
use sparse24::ops::{decompress, mask as dev_mask, prune as dev_prune};
use sparse24::shape::{self, MatrixShape, MAX_ELEMENTS};
use sparse24::{prune, reference, DType, Epilogue, Error, Mask24, Sparse24};

/// Products past the limit: 2^60 · 16 wraps to 0 in 64 bits; usize::MAX / 2 · 16
/// wraps; 2^56 · 16 = 2^60 is exactly one past [`MAX_ELEMENTS`].
const HUGE_ROWS: [usize; 3] = [1 << 60, usize::MAX / 2, 1 << 56];

fn is_overflow<T: std::fmt::Debug>(r: Result<T, Error>) -> bool {
    matches!(r, Err(Error::ShapeOverflow { .. }))
}

fn shape_err<T: std::fmt::Debug>(r: Result<T, Error>) -> &'static str {
    match r {
        Err(Error::Shape { what, .. }) => what,
        other => panic!("expected Error::Shape, got {other:?}"),
    }
}

#[test]
fn the_limit_is_exact() {
    assert_eq!(MAX_ELEMENTS, (1usize << 60) - 1);
    // 2^56 − 1 rows of 16 columns fit; 2^56 rows do not.
    let ok = MatrixShape::new((1 << 56) - 1, 16).unwrap();
    assert_eq!(ok.elements(), (1 << 60) - 16);
    assert_eq!(ok.values(), (1 << 59) - 8);
    assert_eq!(ok.meta_words(), (1 << 56) - 1);
    assert_eq!(ok.logits(), ((1 << 58) - 4) * 6);
    assert_eq!(
        MatrixShape::new(1 << 56, 16),
        Err(Error::ShapeOverflow {
            what: "matrix",
            dims: vec![1 << 56, 16]
        })
    );
    // 2^32 · 2^32 wraps to exactly 0.
    assert!(is_overflow(shape::product(
        "X",
        ["tokens", "in"],
        1 << 32,
        1 << 32
    )));
    assert_eq!(shape::tokens_by("X", "in", 3, 16), Ok(48));
    assert_eq!(shape_err(shape::tokens_by("X", "in", 0, 16)), "tokens");
    assert_eq!(shape_err(shape::tokens_by("X", "in", 3, 0)), "in");
}

#[test]
fn sparse24_entries_refuse_huge_shapes() {
    for rows in HUGE_ROWS {
        assert!(is_overflow(Sparse24::<f32>::from_parts(
            rows,
            16,
            vec![],
            vec![]
        )));
        assert!(is_overflow(Sparse24::<f32>::compress(&[], rows, 16)));
        assert!(is_overflow(Mask24::new(rows, 16, vec![])));
        assert!(is_overflow(prune::magnitude_mask::<f32>(&[], rows, 16)));
        assert!(is_overflow(prune::score_mask(&[], rows, 16)));
        assert!(is_overflow(Mask24::detect::<f32>(&[], rows, 16)));
        assert!(is_overflow(prune::wanda_scores::<f32>(
            &[],
            rows,
            16,
            &[1.0; 16]
        )));
        assert!(is_overflow(mask::hard_mask(&[], rows, 16)));
        assert!(is_overflow(mask::hard_mask_compress::<f32>(
            &[],
            rows,
            16,
            &[]
        )));
        assert!(is_overflow(mask::sample_mask(
            rows,
            16,
            &[],
            &params(),
            Sampling::Soft
        )));
        assert!(is_overflow(SparseLinear::<f32>::from_dense(
            &[],
            rows,
            16,
            Pruning::Magnitude
        )));
    }
}

#[test]
fn zero_dimensions_are_shape_errors() {
    assert_eq!(
        shape_err(Sparse24::<f32>::from_parts(0, 16, vec![], vec![])),
        "rows"
    );
    assert_eq!(
        shape_err(Sparse24::<f32>::from_parts(4, 0, vec![], vec![])),
        "cols"
    );
    assert_eq!(shape_err(Sparse24::<f32>::compress(&[], 0, 16)), "rows");
    let epi = Epilogue::default();
    // linear_dense used to panic ("chunk size must be non-zero") on out = 0.
    assert_eq!(
        shape_err(reference::linear_dense::<f32>(
            &[0.0; 16],
            1,
            &[],
            0,
            16,
            &epi
        )),
        "out"
    );
    assert_eq!(
        shape_err(reference::linear_dense::<f32>(&[], 1, &[], 4, 0, &epi)),
        "in"
    );
    assert_eq!(
        shape_err(reference::linear_dense::<f32>(
            &[],
            0,
            &[0.0; 64],
            4,
            16,
            &epi
        )),
        "tokens"
    );
    assert_eq!(
        shape_err(reference::linear_dense_f64::<f32>(
            &[0.0; 16],
            1,
            &[],
            0,
            16,
            &epi
        )),
        "out"
    );
    // activation_norms used to panic on cols = 0 and return zeros for n = 0.
    assert_eq!(shape_err(prune::activation_norms::<f32>(&[], 4, 0)), "cols");
    assert_eq!(
        shape_err(prune::activation_norms::<f32>(&[], 0, 16)),
        "tokens"
    );
    assert_eq!(
        shape_err(Calibration::from_activations::<f32>(&[], 0, 16)),
        "tokens"
    );
    assert_eq!(shape_err(mask::hard_mask(&[], 0, 16)), "rows");
    assert_eq!(shape_err(meta_to_cutlass(&[], 0, 32)), "rows");
    let geo = FragmentGeometry::new(0, 16);
    let f = FragmentOrdered::<f32> {
        geometry: geo,
        values: vec![],
        meta: vec![],
    };
    assert_eq!(shape_err(from_fragment_order(&f)), "rows");
}

#[test]
fn token_products_are_checked() {
    let w: Vec<f32> = (0..4 * 16).map(|i| (i % 7) as f32 - 3.0).collect();
    let layer = SparseLinear::from_dense(&w, 4, 16, Pruning::Magnitude).unwrap();
    let epi = Epilogue::default();
    for tokens in HUGE_ROWS {
        assert!(is_overflow(layer.forward_cpu(&[], tokens)), "{tokens}");
        assert!(is_overflow(layer.forward_f64(&[], tokens)));
        assert!(is_overflow(reference::linear_dense::<f32>(
            &[],
            tokens,
            &w,
            4,
            16,
            &epi
        )));
        assert!(is_overflow(prune::activation_norms::<f32>(&[], tokens, 16)));
        assert!(is_overflow(Calibration::from_activations::<f32>(
            &[],
            tokens,
            16
        )));
    }
    // X [2^40, 16] fits but Y [2^40, 2^30] would not: refused before Y is allocated.
    assert_eq!(
        reference::linear_dense::<f32>(&[], 1 << 40, &[], 1 << 30, 16, &epi),
        Err(Error::ShapeOverflow {
            what: "Y",
            dims: vec![1 << 40, 1 << 30]
        })
    );
    assert_eq!(
        shape_err(reference::linear_sparse(&[], 0, layer.weight(), &epi)),
        "tokens"
    );
}

#[test]
fn layouts_and_imports_refuse_huge_shapes() {
    for rows in [1usize << 60, (usize::MAX / 64) * 32, 1 << 55] {
        assert!(is_overflow(meta_to_cutlass(&[], rows, 32)), "{rows}");
        assert!(is_overflow(meta_from_cutlass(&[], rows, 32)));
        let t = TorchCutlass::<f32> {
            rows,
            cols: 32,
            packed: vec![],
            meta: vec![],
        };
        assert!(is_overflow(from_torch(&t)));
    }
    // A fragment geometry whose padded size overflows: 2^56 rows pad to 256 columns.
    for (rows, cols) in [(1usize << 60, 256), (1 << 56, 16), (1 << 53, 16)] {
        let f = FragmentOrdered::<f32> {
            geometry: FragmentGeometry::new(rows, cols),
            values: vec![],
            meta: vec![],
        };
        assert!(is_overflow(from_fragment_order(&f)), "{rows}x{cols}");
        assert!(is_overflow(FragmentGeometry::checked(rows, cols)));
    }
    // A geometry whose fields disagree with its shape is refused, not indexed.
    let mut geo = FragmentGeometry::new(16, 256);
    geo.steps = 1 << 40;
    let f = FragmentOrdered::<f32> {
        geometry: geo,
        values: vec![],
        meta: vec![],
    };
    assert!(matches!(
        from_fragment_order(&f),
        Err(Error::InvalidArgument {
            what: "fragment geometry",
            ..
        })
    ));
}

fn params() -> SampleParams {
    SampleParams {
        seed: 1,
        step: 0,
        kappa: 1.0,
        tau: 1.0,
    }
}

#[test]
fn launch_builders_refuse_huge_shapes() {
    for rows in HUGE_ROWS {
        assert!(is_overflow(dev_prune::prune_compress_launches(
            DType::F32,
            dev_prune::Selection::Magnitude,
            0x1000,
            0x2000,
            0x3000,
            0x4000,
            rows,
            16
        )));
        assert!(is_overflow(dev_prune::check_launches(
            DType::F16,
            0x1000,
            0x4000,
            rows,
            16
        )));
        assert!(is_overflow(decompress::decompress_launch(
            DType::F32,
            0x1000,
            0x2000,
            0x3000,
            rows,
            16
        )));
        assert!(is_overflow(dev_mask::forward_launches(
            DType::BF16,
            0x1000,
            0x2000,
            0x3000,
            None,
            rows,
            16,
            &params(),
            Sampling::Hard
        )));
        assert!(is_overflow(dev_mask::hard_mask_compress_launches(
            DType::F32,
            0x1000,
            0x2000,
            0x3000,
            0x4000,
            0x5000,
            rows,
            16
        )));
        assert!(is_overflow(dev_mask::init_workspace_len(rows, 16)));
        assert!(is_overflow(dev_mask::forward_workspace_len(rows, 16)));
    }
    // A shape that fits in memory terms but needs 2^34 blocks of 256 threads: refused
    // instead of truncating the grid to 32 bits.
    let r = dev_prune::check_launches(DType::F32, 0x1000, 0x4000, 1 << 40, 16);
    assert_eq!(shape_err(r), "groups");
    assert_eq!(
        shape_err(dev_mask::forward_workspace_len(1 << 40, 16)),
        "groups"
    );
    assert_eq!(
        shape_err(sparse24::learn::device::adam_launch(
            0x1000,
            0x2000,
            0x3000,
            0x4000,
            1 << 45,
            &Default::default(),
            1
        )),
        "parameters"
    );
    assert_eq!(
        shape_err(sparse24::learn::device::gram_product_launch(
            0x1000,
            0x2000,
            0x3000,
            1 << 23,
            16
        )),
        "rows"
    );
}

proptest! {
    /// Any (rows, cols) either builds a shape whose element count is the exact
    /// product (at most the limit) or is refused with the typed error that says why.
    #[test]
    fn shapes_are_exact_or_refused(
        rows in prop_oneof![0usize..64, any::<usize>(), (50u32..64).prop_map(|b| 1usize << b)],
        cols in prop_oneof![(0usize..8).prop_map(|k| 16 * k), any::<usize>(),
                            (4u32..40).prop_map(|b| 1usize << b)],
    ) {
        match MatrixShape::new(rows, cols) {
            Ok(s) => {
                let n = rows.checked_mul(cols).unwrap();
                prop_assert!(n <= MAX_ELEMENTS);
                prop_assert_eq!(s.elements(), n);
                prop_assert_eq!(s.values() * 2, n);
                prop_assert_eq!(s.meta_words() * 16, n);
            }
            Err(Error::Shape { what: "rows", .. }) => prop_assert_eq!(rows, 0),
            Err(Error::Shape { what: "cols", .. }) => {
                prop_assert!(rows > 0 && (cols == 0 || cols % 16 != 0))
            }
            Err(Error::ShapeOverflow { dims, .. }) => {
                prop_assert_eq!(dims, vec![rows, cols]);
                prop_assert!(rows.checked_mul(cols).is_none_or(|n| n > MAX_ELEMENTS));
            }
            Err(e) => prop_assert!(false, "unexpected {:?}", e),
        }
        // from_parts never panics: a huge shape is never taken for an empty one.
        let r = Sparse24::<f32>::from_parts(rows, cols, vec![], vec![]);
        let typed = matches!(
            r,
            Err(Error::Shape { .. } | Error::ShapeOverflow { .. } | Error::Length { .. })
        );
        prop_assert!(typed, "from_parts({}, {}) gave {:?}", rows, cols, r);
    }
}
