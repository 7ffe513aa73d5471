//! The one NaN/Inf policy (src/dtype.rs, `check_finite`): every number sparse24
//! validates — weights entering the format, scores, activation norms, logits — must
//! be finite; NaN, +Inf and −Inf are refused alike with `Error::NonFinite` naming the
//! row and column. GEMM activations are not scanned. (The device kernels' side of the
//! same rule is in tests/common/prune_cases.rs and mask_cases.rs.)

use sparse24::io::torch::{from_torch, load_pair, pair_to_bytes, to_torch};
use sparse24::learn::{Calibration, LearnConfig, MaskLearner};
use sparse24::mask::{self, SampleParams, Sampling};
use sparse24::{bf16, f16, prune, reference, Element, Epilogue, Error, Sparse24};

const BAD: [f32; 3] = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY];

fn non_finite(what: &'static str, row: usize, col: usize) -> Error {
    Error::NonFinite { what, row, col }
}

/// A [rows, cols] matrix with no zeros, distinct magnitudes within each group.
fn dense<T: Element>(rows: usize, cols: usize) -> Vec<T> {
    (0..rows * cols)
        .map(|i| T::from_f32(((i * 7 % 13) as f32 + 1.0) * if i % 3 == 0 { -0.25 } else { 0.5 }))
        .collect()
}

#[test]
fn the_message_names_the_policy_and_the_place() {
    assert_eq!(
        non_finite("weights", 2, 9).to_string(),
        "non-finite value (NaN or ±Inf) in weights at row 2, column 9"
    );
}

fn compress_refuses<T: Element>() {
    let (rows, cols) = (3, 32);
    for bad in BAD {
        // compress: a 2:4 matrix with one non-finite kept value.
        let mut sparse: Vec<T> = dense::<T>(rows, cols)
            .into_iter()
            .enumerate()
            .map(|(i, v)| if i % 4 < 2 { T::default() } else { v })
            .collect();
        sparse[cols + 14] = T::from_f32(bad);
        assert_eq!(
            Sparse24::compress(&sparse, rows, cols),
            Err(non_finite("weights", 1, 14)),
            "{bad}"
        );
        // compress_masked: refused when kept, ignored when dropped.
        let w = dense::<T>(rows, cols);
        let mask = prune::magnitude_mask(&w, rows, cols).unwrap();
        let (kept, dropped) = (0..4).partition::<Vec<usize>, _>(|&i| mask.keeps(2, 20 + i));
        let mut wk = w.clone();
        wk[2 * cols + 20 + kept[0]] = T::from_f32(bad);
        assert_eq!(
            Sparse24::compress_masked(&wk, &mask),
            Err(non_finite("weights", 2, 20 + kept[0]))
        );
        let mut wd = w.clone();
        wd[2 * cols + 20 + dropped[1]] = T::from_f32(bad);
        assert_eq!(
            Sparse24::compress_masked(&wd, &mask).unwrap(),
            Sparse24::compress_masked(&w, &mask).unwrap()
        );
        // from_parts: named by row and column of `values` [rows, cols/2].
        let good = Sparse24::compress_masked(&w, &mask).unwrap();
        let mut values = good.values().to_vec();
        values[2 * (cols / 2) + 7] = T::from_f32(bad);
        assert_eq!(
            Sparse24::from_parts(rows, cols, values, good.metadata().to_vec()),
            Err(non_finite("values", 2, 7))
        );
    }
}

#[test]
fn the_format_refuses_non_finite_weights() {
    compress_refuses::<f32>();
    compress_refuses::<f16>();
    compress_refuses::<bf16>();
}

#[test]
fn torch_imports_refuse_non_finite_values() {
    let (rows, cols) = (32, 64);
    let w = dense::<f16>(rows, cols);
    let s = prune::prune_magnitude(&w, rows, cols).unwrap();
    for bad in BAD {
        let mut t = to_torch(&s).unwrap();
        t.packed[5 * cols / 2 + 3] = f16::from_f32(bad);
        assert_eq!(from_torch(&t), Err(non_finite("values", 5, 3)));
        let mut s_bad_values = s.values().to_vec();
        s_bad_values[31 * cols / 2 + 31] = f16::from_f32(bad);
        // Built by hand (from_parts refuses it), written, loaded: refused on load.
        let t_bad = sparse24::io::torch::TorchCutlass {
            packed: s_bad_values,
            ..to_torch(&s).unwrap()
        };
        let ok_bytes = pair_to_bytes(&s, "w.packed", "w.meta").unwrap();
        let bytes = patch_packed(&ok_bytes, s.values(), &t_bad.packed);
        assert_eq!(
            load_pair::<f16>(&bytes, "w.packed", "w.meta"),
            Err(Error::Tensor {
                tensor: "w.packed".into(),
                source: Box::new(non_finite("values", 31, 31)),
            })
        );
    }
}

/// The file's bytes with the packed values replaced (the values are stored
/// contiguously, once).
fn patch_packed(bytes: &[u8], old: &[f16], new: &[f16]) -> Vec<u8> {
    let old: &[u8] = bytemuck::cast_slice(old);
    let at = bytes
        .windows(old.len())
        .position(|w| w == old)
        .expect("packed values in the file");
    let mut out = bytes.to_vec();
    out[at..at + old.len()].copy_from_slice(bytemuck::cast_slice(new));
    out
}

#[test]
fn pruning_refuses_non_finite_weights_scores_and_norms() {
    let (rows, cols) = (4, 16);
    let w = dense::<f32>(rows, cols);
    let scores: Vec<f32> = w.iter().map(|v| v.abs()).collect();
    for bad in BAD {
        let mut wb = w.clone();
        wb[3 * cols + 11] = bad;
        assert_eq!(
            prune::magnitude_mask(&wb, rows, cols),
            Err(non_finite("weights", 3, 11))
        );
        // Detect on a 2:4 matrix: a non-finite value in a dropped (zero) slot too.
        let mut sparse: Vec<f32> = w
            .iter()
            .enumerate()
            .map(|(i, &v)| if i % 4 < 2 { 0.0 } else { v })
            .collect();
        sparse[3 * cols + 8] = bad;
        assert_eq!(
            sparse24::Mask24::detect(&sparse, rows, cols),
            Err(non_finite("weights", 3, 8))
        );
        let mut sb = scores.clone();
        sb[cols + 2] = bad;
        assert_eq!(
            prune::score_mask(&sb, rows, cols),
            Err(non_finite("scores", 1, 2))
        );
        let mut norms = vec![1f32; cols];
        norms[13] = bad;
        assert_eq!(
            prune::wanda_scores(&w, rows, cols, &norms),
            Err(non_finite("activation norms", 0, 13))
        );
        let mut x = dense::<f32>(3, cols);
        x[2 * cols + 4] = bad;
        assert_eq!(
            prune::activation_norms(&x, 3, cols),
            Err(non_finite("activation norms", 0, 4))
        );
    }
    // A finite f32 activation whose norm overflows f32 is refused the same way.
    let mut x = vec![1f32; 2 * cols];
    x[5] = f32::MAX;
    x[cols + 5] = f32::MAX;
    assert_eq!(
        prune::activation_norms(&x, 2, cols),
        Err(non_finite("activation norms", 0, 5))
    );
}

#[test]
fn mask_sampling_refuses_non_finite_weights_and_logits() {
    let (rows, cols) = (2, 16);
    let w = dense::<f32>(rows, cols);
    let logits: Vec<f32> = (0..rows * cols / 4 * 6)
        .map(|i| (i % 5) as f32 * 0.1)
        .collect();
    let p = SampleParams {
        seed: 7,
        step: 1,
        kappa: 1.0,
        tau: 0.5,
    };
    for bad in BAD {
        let mut lb = logits.clone();
        lb[24 + 17] = bad;
        assert_eq!(
            mask::hard_mask(&lb, rows, cols),
            Err(non_finite("logits", 1, 17))
        );
        assert_eq!(
            mask::forward(&w, rows, cols, &lb, &p, Sampling::Soft, true),
            Err(non_finite("logits", 1, 17))
        );
        let mut wb = w.clone();
        wb[cols + 3] = bad;
        assert_eq!(
            mask::forward(&wb, rows, cols, &logits, &p, Sampling::Hard, false),
            Err(non_finite("weights", 1, 3))
        );
        assert_eq!(
            mask::backward(&w, rows, cols, &logits, &wb, 0.0, &p, Sampling::Soft),
            Err(non_finite("gradient", 1, 3))
        );
    }
}

#[test]
fn the_learner_refuses_non_finite_inputs() {
    let (rows, cols, tokens) = (4, 32, 64);
    let w = dense::<f32>(rows, cols);
    let x: Vec<f32> = (0..tokens * cols)
        .map(|i| ((i * 31 % 17) as f32 - 8.0) / 8.0)
        .collect();
    let calib = Calibration::from_activations(&x, tokens, cols).unwrap();
    let cfg = LearnConfig {
        steps: 2,
        ..Default::default()
    };
    let learner = MaskLearner::new(&w, rows, cols, &calib, cfg.clone()).unwrap();
    let logits = learner.initial_logits().unwrap();
    let p = learner.sample_params(0);
    for bad in BAD {
        let mut xb = x.clone();
        xb[9 * cols + 30] = bad;
        assert_eq!(
            Calibration::from_activations(&xb, tokens, cols).map(|_| ()),
            Err(non_finite("activations", 9, 30))
        );
        let mut wb = w.clone();
        wb[2 * cols + 1] = bad;
        assert_eq!(
            MaskLearner::new(&wb, rows, cols, &calib, cfg.clone()).map(|_| ()),
            Err(non_finite("weights", 2, 1))
        );
        let mut lb = logits.clone();
        lb[48 + 5] = bad;
        assert_eq!(
            learner.objective(&lb, &p, true).map(|_| ()),
            Err(non_finite("logits", 1, 5))
        );
    }
}

#[test]
fn gemm_activations_are_not_scanned() {
    let (out, inn) = (4, 16);
    let w = dense::<f32>(out, inn);
    let s = prune::prune_magnitude(&w, out, inn).unwrap();
    let mut x = vec![0.5f32; 2 * inn];
    x[3] = f32::INFINITY;
    x[inn + 3] = f32::NAN;
    let epi = Epilogue::default();
    let y = reference::linear_sparse(&x, 2, &s, &epi).unwrap();
    // IEEE propagation through the kept weights only: token 0 becomes ±Inf and
    // token 1 NaN exactly in the outputs whose row keeps column 3.
    for o in 0..out {
        let kept3 = s.mask().keeps(o, 3);
        assert_eq!(y[o].is_infinite(), kept3, "token 0, out {o}");
        assert_eq!(y[out + o].is_nan(), kept3, "token 1, out {o}");
        assert!(kept3 || (y[o].is_finite() && y[out + o].is_finite()));
    }
}
