//! PyTorch CUTLASS-format import/export against vectors built here from the
//! documented layout (shared/HARDWARE.md): PyTorch's per-group code
//! (first kept index | second << 2, four groups per int16, group j at bits 4j) and
//! the closed-form offset of CUTLASS's sm80 metadata reordering, written out
//! independently of src/layout.rs.

use rand::{rngs::StdRng, seq::index::sample, Rng, SeedableRng};
use sparse24::io::torch::{self, TorchCutlass};
use sparse24::{bf16, f16, Error, Sparse24};

/// offset(r, c) = (c>>1)·2M + 64·(r>>5) + 8·(r&7) + 4·((r>>4)&1) + 2·(c&1) + ((r>>3)&1)
fn doc_offset(r: usize, c: usize, m: usize) -> usize {
    let block = r / 32;
    let rr = r % 32;
    (c / 2) * 2 * m + 64 * block + 8 * (rr % 8) + 4 * ((rr / 16) % 2) + 2 * (c % 2) + (rr / 8) % 2
}

/// A dense M×K matrix with exactly two nonzeros per group of four, random.
fn dense_two_four(rng: &mut StdRng, m: usize, k: usize) -> Vec<f32> {
    let mut d = vec![0f32; m * k];
    for g in 0..m * k / 4 {
        for i in sample(rng, 4, 2) {
            let mut v = 0.0;
            while v == 0.0 {
                v = (rng.gen_range(-64i32..64) as f32) / 8.0;
            }
            d[4 * g + i] = v;
        }
    }
    d
}

/// What `to_sparse_semi_structured` stores for `dense`, built from the documented
/// format alone: packed values and the reordered int16 metadata.
fn expected_torch(dense: &[f32], m: usize, k: usize) -> (Vec<f32>, Vec<i16>) {
    let mut packed = Vec::with_capacity(m * k / 2);
    let mut logical = vec![0u16; m * k / 16];
    for r in 0..m {
        for g in 0..k / 4 {
            let quad = &dense[r * k + 4 * g..r * k + 4 * g + 4];
            let idx: Vec<usize> = (0..4).filter(|&i| quad[i] != 0.0).collect();
            assert_eq!(idx.len(), 2);
            packed.extend(idx.iter().map(|&i| quad[i]));
            let nibble = (idx[0] | idx[1] << 2) as u16;
            logical[r * (k / 16) + g / 4] |= nibble << (4 * (g % 4));
        }
    }
    let mut meta = vec![0i16; m * k / 16];
    for r in 0..m {
        for c in 0..k / 16 {
            meta[doc_offset(r, c, m)] = logical[r * (k / 16) + c] as i16;
        }
    }
    (packed, meta)
}

#[test]
fn doc_offsets_are_a_permutation_with_known_points() {
    for m in [32, 64, 96] {
        for words in [2, 4, 6] {
            let mut seen = vec![false; m * words];
            for r in 0..m {
                for c in 0..words {
                    let o = doc_offset(r, c, m);
                    assert!(!seen[o]);
                    seen[o] = true;
                }
            }
        }
    }
    // Points worked by hand from the formula.
    assert_eq!(doc_offset(0, 1, 64), 2);
    assert_eq!(doc_offset(8, 0, 64), 1);
    assert_eq!(doc_offset(16, 0, 64), 4);
    assert_eq!(doc_offset(1, 0, 64), 8);
    assert_eq!(doc_offset(9, 1, 64), 11);
    assert_eq!(doc_offset(40, 3, 64), 128 + 64 + 3);
    assert_eq!(doc_offset(32, 2, 64), 128 + 64);
}

#[test]
fn export_matches_the_documented_format() {
    let mut rng = StdRng::seed_from_u64(11);
    for (m, k) in [(32, 32), (32, 64), (64, 96), (96, 128), (128, 256)] {
        let dense = dense_two_four(&mut rng, m, k);
        let (packed, meta) = expected_torch(&dense, m, k);
        let s = Sparse24::compress(&dense, m, k).unwrap();
        let t = torch::to_torch(&s).unwrap();
        assert_eq!((t.rows, t.cols), (m, k));
        assert_eq!(t.packed, packed, "{m}x{k}");
        assert_eq!(t.meta, meta, "{m}x{k}");
        // And the import of the documented vectors gives the matrix back.
        let back = torch::from_torch(&TorchCutlass {
            rows: m,
            cols: k,
            packed,
            meta,
        })
        .unwrap();
        assert_eq!(back.decompress(), dense);
    }
}

#[test]
fn uniform_patterns_give_the_documented_words() {
    // Kept {0,2} everywhere: every word 0x8888; kept {2,3}: 0xEEEE.
    for (keep, word) in [([0usize, 2], 0x8888u16), ([2, 3], 0xEEEE)] {
        let (m, k) = (32, 64);
        let mut rng = StdRng::seed_from_u64(5);
        let dense: Vec<f32> = (0..m * k)
            .map(|i| {
                if keep.contains(&(i % 4)) {
                    rng.gen_range(0.5f32..2.0)
                } else {
                    0.0
                }
            })
            .collect();
        let t = torch::to_torch(&Sparse24::compress(&dense, m, k).unwrap()).unwrap();
        assert!(t.meta.iter().all(|&w| w as u16 == word));
    }
}

#[test]
fn round_trips_through_safetensors_pairs() {
    let mut rng = StdRng::seed_from_u64(3);
    let (m, k) = (64, 128);
    let dense: Vec<f16> = dense_two_four(&mut rng, m, k)
        .into_iter()
        .map(f16::from_f32)
        .collect();
    let s = Sparse24::compress(&dense, m, k).unwrap();
    let bytes = torch::pair_to_bytes(&s, "w.packed", "w.meta").unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let meta = st.tensor("w.meta").unwrap();
    assert_eq!(meta.dtype(), safetensors::Dtype::I16);
    assert_eq!(meta.shape(), [m, k / 16]);
    assert_eq!(st.tensor("w.packed").unwrap().shape(), [m, k / 2]);
    let back: Sparse24<f16> = torch::load_pair(&bytes, "w.packed", "w.meta").unwrap();
    assert_eq!(back, s);
    // Wrong element type and missing tensors are typed errors naming the tensor.
    assert!(matches!(
        torch::load_pair::<bf16>(&bytes, "w.packed", "w.meta"),
        Err(Error::Tensor { ref tensor, .. }) if tensor == "w.packed"
    ));
    assert!(matches!(
        torch::load_pair::<f16>(&bytes, "w.packed", "nope"),
        Err(Error::Tensor { ref tensor, .. }) if tensor == "nope"
    ));
    assert!(matches!(
        torch::load_pair::<f16>(&bytes, "w.meta", "w.packed"),
        Err(Error::Tensor { .. })
    ));
}

#[test]
fn import_rejects_bad_inputs() {
    let mut rng = StdRng::seed_from_u64(9);
    let (m, k) = (32, 64);
    let dense = dense_two_four(&mut rng, m, k);
    let (packed, mut meta) = expected_torch(&dense, m, k);
    // Shapes the CUTLASS layout cannot hold.
    let s = Sparse24::compress(&dense[..16 * k], 16, k).unwrap();
    assert!(matches!(
        torch::to_torch(&s),
        Err(Error::Shape { what: "rows", .. })
    ));
    let t = TorchCutlass {
        rows: m,
        cols: k,
        packed: packed[1..].to_vec(),
        meta: meta.clone(),
    };
    assert!(matches!(torch::from_torch(&t), Err(Error::Length { .. })));
    // An illegal code (equal indices, 0x5) is reported at its logical place.
    meta[doc_offset(3, 1, m)] = 0x5888;
    let t = TorchCutlass {
        rows: m,
        cols: k,
        packed,
        meta,
    };
    assert!(matches!(
        torch::from_torch(&t),
        Err(Error::IllegalCode {
            row: 3,
            group: 7,
            code: 5
        })
    ));
}
