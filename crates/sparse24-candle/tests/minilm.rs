//! all-MiniLM-L6-v2 in candle: the tokenizer against Hugging Face `tokenizers`' ids,
//! the dense candle model against the numpy model of scripts/minilm/bert.py (both from
//! tests/fixtures/minilm-reference.json), and the model with its 36 linear layers
//! pruned to 2:4, saved to a sparse24 file, loaded back and run as sparse24 layers,
//! against candle's dense forward on the same pruned weights.
//!
//! The model comes from scripts/minilm/fetch-minilm.sh: `$SPARSE24_MINILM_DIR/model`,
//! else ~/.cache/sparse24/minilm/model (where CI fetches it), else target/minilm/model
//! of the checkout. Without it the tests say "skipped: model not found", except under
//! CI=true, where a missing model fails them.

use std::collections::{BTreeMap, HashMap};
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use serde_json::Value;
use sparse24::io::writer::write_layers;
use sparse24::io::{AnySparse24, RawTensor};
use sparse24::{prune, Sparse24};
use sparse24_candle::bert::{Bert, BertConfig, DenseLinear, LinearLayer};
use sparse24_candle::{SparseCheckpoint, WordPiece};

fn candidates() -> Vec<PathBuf> {
    let mut c = Vec::new();
    if let Some(d) = std::env::var_os("SPARSE24_MINILM_DIR") {
        c.push(PathBuf::from(d).join("model"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        c.push(PathBuf::from(home).join(".cache/sparse24/minilm/model"));
    }
    c.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/minilm/model"));
    c
}

/// The model directory, or None (after saying so) when it is missing outside CI.
fn model_dir() -> Option<PathBuf> {
    let tried = candidates();
    if let Some(d) = tried
        .iter()
        .find(|d| d.join("model.safetensors").is_file() && d.join("tokenizer.json").is_file())
    {
        return Some(d.clone());
    }
    let msg = format!(
        "model not found (looked in {tried:?}; fetch it with \
         scripts/minilm/fetch-minilm.sh ~/.cache/sparse24/minilm)"
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true and {msg}");
    }
    eprintln!("skipped: {msg}");
    None
}

fn fixture() -> Value {
    let text = include_str!("fixtures/minilm-reference.json");
    serde_json::from_str(text).unwrap()
}

fn ids_of(v: &Value) -> Vec<u32> {
    v["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| u32::try_from(i.as_u64().unwrap()).unwrap())
        .collect()
}

fn load(dir: &Path) -> (BertConfig, HashMap<String, Tensor>, WordPiece) {
    let cfg =
        BertConfig::from_json(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg, BertConfig::minilm_l6());
    let tensors =
        candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu).unwrap();
    let tok = WordPiece::from_file(dir.join("tokenizer.json")).unwrap();
    (cfg, tensors, tok)
}

/// Cosine of each row pair of two [n, d] tensors (in f64).
fn cosines(a: &Tensor, b: &Tensor) -> Vec<f64> {
    let a: Vec<Vec<f32>> = a.to_vec2().unwrap();
    let b: Vec<Vec<f32>> = b.to_vec2().unwrap();
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(&b)
        .map(|(x, y)| {
            let dot: f64 = x.iter().zip(y).map(|(p, q)| *p as f64 * *q as f64).sum();
            let nx: f64 = x.iter().map(|p| (*p as f64).powi(2)).sum::<f64>().sqrt();
            let ny: f64 = y.iter().map(|q| (*q as f64).powi(2)).sum::<f64>().sqrt();
            dot / (nx * ny)
        })
        .collect()
}

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let out = f();
    println!("{what}: {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    out
}

#[test]
fn tokenizer_matches_hf_tokenizers() {
    let Some(dir) = model_dir() else { return };
    let tok = WordPiece::from_file(dir.join("tokenizer.json")).unwrap();
    let fx = fixture();
    let cases = fx["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .chain(fx["tokenisation"].as_array().unwrap());
    let mut n = 0;
    for case in cases {
        let text = case["text"].as_str().unwrap();
        assert_eq!(tok.encode(text), ids_of(case), "ids of {text:?}");
        n += 1;
    }
    assert!(n >= 18);
}

#[test]
fn dense_model_matches_the_numpy_reference() {
    let Some(dir) = model_dir() else { return };
    let (cfg, tensors, _) = load(&dir);
    let fx = fixture();
    let sentences = fx["sentences"].as_array().unwrap();
    let ids: Vec<Vec<u32>> = sentences.iter().map(ids_of).collect();
    let reference: Vec<f32> = sentences
        .iter()
        .flat_map(|s| {
            s["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
        })
        .collect();
    let reference = Tensor::from_vec(reference, (ids.len(), cfg.hidden), &Device::Cpu).unwrap();
    let model = Bert::dense(cfg, &tensors).unwrap();
    // One padded batch (the reference ran each sentence alone): padding is masked.
    let emb = timed("dense forward, one batch", || model.embed(&ids).unwrap());
    for (i, c) in cosines(&emb, &reference).into_iter().enumerate() {
        assert!(
            c >= 0.99999,
            "sentence {i}: cosine {c} against the numpy model"
        );
    }
}

/// Magnitude 2:4 masks of the encoder's linear layers, compressed.
fn prune_layers(cfg: &BertConfig, tensors: &HashMap<String, Tensor>) -> Vec<(String, AnySparse24)> {
    cfg.linear_layers()
        .into_iter()
        .map(|(name, _)| {
            let name = format!("{name}.weight");
            let w = &tensors[&name];
            let (out, inn) = w.dims2().unwrap();
            let w: Vec<f32> = w.flatten_all().unwrap().to_vec1().unwrap();
            let mask = prune::magnitude_mask(&w, out, inn).unwrap();
            (
                name,
                AnySparse24::F32(Sparse24::compress_masked(&w, &mask).unwrap()),
            )
        })
        .collect()
}

/// A sparse24 file as the prune tool writes it: the compressed layers and every
/// other f32 tensor of the checkpoint.
fn sparse_file(layers: &[(String, AnySparse24)], tensors: &HashMap<String, Tensor>) -> Vec<u8> {
    let dense: Vec<(String, Vec<usize>, Vec<f32>)> = tensors
        .iter()
        .filter(|(n, t)| t.dtype() == DType::F32 && !layers.iter().any(|(l, _)| l == *n))
        .map(|(n, t)| {
            (
                n.clone(),
                t.dims().to_vec(),
                t.flatten_all().unwrap().to_vec1().unwrap(),
            )
        })
        .collect();
    let extras: Vec<RawTensor> = dense
        .iter()
        .map(|(name, shape, v)| RawTensor {
            name: name.clone(),
            dtype: sparse24::safetensors::Dtype::F32,
            shape: shape.clone(),
            data: bytemuck::cast_slice(v),
        })
        .collect();
    let refs: Vec<(&str, &AnySparse24)> = layers.iter().map(|(n, l)| (n.as_str(), l)).collect();
    write_layers(Cursor::new(Vec::new()), &refs, &extras, BTreeMap::new())
        .unwrap()
        .into_inner()
}

#[test]
fn sparse_layers_match_candle_dense_on_the_pruned_weights() {
    let Some(dir) = model_dir() else { return };
    let (cfg, tensors, tok) = load(&dir);
    let fx = fixture();
    let ids: Vec<Vec<u32>> = fx["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| tok.encode(s["text"].as_str().unwrap()))
        .collect();

    let layers = timed("magnitude 2:4 pruning of 36 layers", || {
        prune_layers(&cfg, &tensors)
    });
    let bytes = sparse_file(&layers, &tensors);
    let ckpt = SparseCheckpoint::from_bytes(&bytes, &Device::Cpu).unwrap();
    assert_eq!(ckpt.layer_names().count(), 36);

    let sparse = Bert::new(cfg.clone(), ckpt.tensors(), &mut |name, act| {
        Ok(Box::new(ckpt.linear(name, act)?) as LinearLayer)
    })
    .unwrap();
    let dense_pruned = Bert::new(cfg.clone(), ckpt.tensors(), &mut |name, act| {
        let (w, b) = ckpt.linear(name, act)?.dense_weight_and_bias()?;
        Ok(Box::new(DenseLinear::new(w, b, act)?) as LinearLayer)
    })
    .unwrap();
    let unpruned = Bert::dense(cfg, &tensors).unwrap();

    let e_sparse = timed("sparse24 layers, forward", || sparse.embed(&ids).unwrap());
    let e_dense = timed("candle dense, pruned weights, forward", || {
        dense_pruned.embed(&ids).unwrap()
    });
    let e_full = timed("candle dense, unpruned, forward", || {
        unpruned.embed(&ids).unwrap()
    });
    let vs_dense = cosines(&e_sparse, &e_dense);
    let vs_full = cosines(&e_sparse, &e_full);
    println!("sentence  cos(sparse24, dense pruned)  cos(sparse24, unpruned)");
    for (i, (d, f)) in vs_dense.iter().zip(&vs_full).enumerate() {
        println!("{i:>8}  {d:>27.8}  {f:>23.4}");
    }
    let mean = vs_full.iter().sum::<f64>() / vs_full.len() as f64;
    println!("mean cosine against the unpruned model (magnitude 2:4, no recovery): {mean:.4}");
    for (i, c) in vs_dense.iter().enumerate() {
        assert!(
            *c >= 0.999,
            "sentence {i}: cosine {c} between sparse24 and candle dense"
        );
    }
    // The pruned model differs from the unpruned one (the masks did something) but
    // is no random vector either.
    assert!(vs_full
        .iter()
        .all(|c| c.is_finite() && *c > 0.0 && *c < 0.9999));
}
