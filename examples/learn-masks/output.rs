//! The files learn-masks writes: per method, the compressed layers in the sparse24
//! format and the keep bits beside them.

use safetensors::Dtype;
use sparse24::io::{AnySparse24, RawTensor};
use sparse24::{Mask24, Sparse24};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Per method: the compressed layers (named by module: `<module>.values`, `.meta`)
/// and each layer's keep bits per group (`<module>.keep_bits`, [out, in/4] u8, what
/// scripts/minilm/eval-minilm-embeddings.py reads).
#[derive(Default)]
pub struct Method {
    pub layers: Vec<(String, AnySparse24)>,
    pub keep_bits: Vec<(String, Vec<usize>, Vec<u8>)>,
}

pub fn add_layer(t: &mut Method, name: &str, s: &Sparse24<f32>, m: &Mask24) {
    let (r, c) = (s.rows(), s.cols());
    let stem = name.trim_end_matches(".weight");
    t.layers.push((stem.to_string(), s.clone().into()));
    let bits: Vec<u8> = m.patterns().iter().map(|p| p.keep_bits()).collect();
    t.keep_bits
        .push((format!("{stem}.keep_bits"), vec![r, c / 4], bits));
}

/// Writes a method's file in the sparse24 format (loadable by `sparse24::io::load`),
/// atomically.
pub fn write(path: &Path, t: &Method, method: &str) -> Result<(), String> {
    let layers: Vec<(&str, &AnySparse24)> = t.layers.iter().map(|(n, l)| (n.as_str(), l)).collect();
    let extras: Vec<RawTensor> = t
        .keep_bits
        .iter()
        .map(|(name, shape, bits)| RawTensor {
            name: name.clone(),
            dtype: Dtype::U8,
            shape: shape.clone(),
            data: bits,
        })
        .collect();
    let meta = BTreeMap::from([("method".to_string(), method.to_string())]);
    sparse24::io::save_with(path, &layers, &extras, meta)
        .map_err(|e| format!("{}: {e}", path.display()))
}

pub fn sibling(out: &Path, suffix: &str) -> PathBuf {
    let stem = out.file_stem().and_then(|s| s.to_str()).unwrap_or("masks");
    out.with_file_name(format!("{stem}-{suffix}.safetensors"))
}
