//! The JSON header a sparse24 file keeps in the safetensors `__metadata__` map.
//!
//! Version 2 (written since 2026-12) adds a checksum per layer: xxh3-64 of the bytes of
//! `<name>.values` and of `<name>.meta`, verified on load, so a flipped bit in the data
//! is an error naming the layer instead of a weight moved to another column. Version 1
//! files (no checksums) still load.

use crate::dtype::DType;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The `__metadata__` key that holds the header.
pub const METADATA_KEY: &str = "sparse24";
/// The version this crate writes.
pub const FORMAT_VERSION: u32 = 2;
/// The oldest version this crate reads (version 1 has no checksums).
pub const OLDEST_READABLE_VERSION: u32 = 1;
/// The checksum algorithm of version 2.
pub const CHECKSUM_ALGORITHM: &str = "xxh3-64";
/// Metadata layout: [`crate::Sparse24::metadata`]'s logical words, row-major
/// [out, in/16], group j of a word at bits 4j..4j+3, code = first index | second << 2.
pub const LOGICAL_LAYOUT: &str = "logical";

/// The header: format version and one entry per compressed layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileHeader {
    /// The version of the file format ([`FORMAT_VERSION`] when written by this crate).
    pub format_version: u32,
    /// Each compressed layer by name.
    pub layers: BTreeMap<String, LayerHeader>,
}

/// One compressed layer: element type, logical shape [out, in], metadata layout and
/// (version 2) the checksums of its two tensors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerHeader {
    /// "f32", "f16" or "bf16".
    pub dtype: String,
    /// [out, in] of the dense weight.
    pub shape: Vec<usize>,
    /// Always [`LOGICAL_LAYOUT`] in versions 1 and 2.
    pub meta_layout: String,
    /// Required in version 2, absent in version 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<LayerChecksum>,
}

/// Checksums of a layer's tensors: [`CHECKSUM_ALGORITHM`] of their bytes as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerChecksum {
    /// Always [`CHECKSUM_ALGORITHM`].
    pub algorithm: String,
    /// Of `<name>.values`, 16 lowercase hex digits.
    pub values: String,
    /// Of `<name>.meta`, 16 lowercase hex digits.
    pub meta: String,
}

/// The checksum of `bytes` as the header spells it (fixed width: 16 hex digits).
pub fn digest(bytes: &[u8]) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(bytes))
}

impl LayerChecksum {
    /// The checksums of a layer's values and metadata bytes, as stored.
    pub fn of(values: &[u8], meta: &[u8]) -> LayerChecksum {
        LayerChecksum {
            algorithm: CHECKSUM_ALGORITHM.to_string(),
            values: digest(values),
            meta: digest(meta),
        }
    }

    /// A stand-in of the same serialised length, written before the data is known.
    pub fn placeholder() -> LayerChecksum {
        LayerChecksum::of_digests(&"0".repeat(16), &"0".repeat(16))
    }

    fn of_digests(values: &str, meta: &str) -> LayerChecksum {
        LayerChecksum {
            algorithm: CHECKSUM_ALGORITHM.to_string(),
            values: values.to_string(),
            meta: meta.to_string(),
        }
    }

    /// Checks the algorithm, then the two tensors' bytes; the error names the tensor.
    pub fn verify(&self, name: &str, values: &[u8], meta: &[u8]) -> Result<()> {
        if self.algorithm != CHECKSUM_ALGORITHM {
            return Err(Error::Format(format!(
                "layer `{name}`: checksum algorithm {:?} is not {CHECKSUM_ALGORITHM:?}",
                self.algorithm
            )));
        }
        for (tensor, want, bytes) in [
            (super::values_name(name), &self.values, values),
            (super::meta_name(name), &self.meta, meta),
        ] {
            let got = digest(bytes);
            if &got != want {
                return Err(Error::Tensor {
                    tensor,
                    source: Box::new(Error::Checksum {
                        expected: want.clone(),
                        actual: got,
                    }),
                });
            }
        }
        Ok(())
    }
}

impl LayerHeader {
    /// The header of a [rows, cols] layer of `dtype` in the logical metadata layout, without checksum.
    pub fn new(dtype: DType, rows: usize, cols: usize) -> LayerHeader {
        LayerHeader {
            dtype: dtype.name().to_string(),
            shape: vec![rows, cols],
            meta_layout: LOGICAL_LAYOUT.to_string(),
            checksum: None,
        }
    }

    /// The same layer with the checksums of its tensors' bytes.
    pub fn with_checksum(mut self, values: &[u8], meta: &[u8]) -> LayerHeader {
        self.checksum = Some(LayerChecksum::of(values, meta));
        self
    }

    /// The element type, checked.
    pub fn dtype(&self) -> Result<DType> {
        match self.dtype.as_str() {
            "f32" => Ok(DType::F32),
            "f16" => Ok(DType::F16),
            "bf16" => Ok(DType::BF16),
            other => Err(Error::InvalidArgument {
                what: "dtype",
                why: format!("the header names dtype {other:?}; expected f32, f16 or bf16"),
            }),
        }
    }

    /// (rows, cols), checked: two dimensions, cols a positive multiple of 16.
    pub fn shape(&self) -> Result<(usize, usize)> {
        let [rows, cols] = self.shape[..] else {
            return Err(Error::InvalidArgument {
                what: "shape",
                why: format!(
                    "the header gives shape {:?}; expected [out, in]",
                    self.shape
                ),
            });
        };
        crate::shape::check_shape(rows, cols)?;
        Ok((rows, cols))
    }

    /// Checks the metadata layout is one this version reads.
    pub fn check_layout(&self) -> Result<()> {
        if self.meta_layout != LOGICAL_LAYOUT {
            return Err(Error::InvalidArgument {
                what: "meta_layout",
                why: format!(
                    "the header gives metadata layout {:?}; this version reads {LOGICAL_LAYOUT:?}",
                    self.meta_layout
                ),
            });
        }
        Ok(())
    }
}

impl FileHeader {
    /// A header of the current [`FORMAT_VERSION`] with no layers.
    pub fn new() -> FileHeader {
        FileHeader {
            format_version: FORMAT_VERSION,
            layers: BTreeMap::new(),
        }
    }

    /// The header as the JSON stored in the file's `__metadata__`.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::Format(format!("writing the header: {e}")))
    }

    /// Parses and checks the version; version 2 needs a checksum for every layer.
    pub fn from_json(s: &str) -> Result<FileHeader> {
        let h: FileHeader = serde_json::from_str(s).map_err(|e| {
            Error::Format(format!(
                "the {METADATA_KEY:?} header is not valid JSON: {e}"
            ))
        })?;
        if !(OLDEST_READABLE_VERSION..=FORMAT_VERSION).contains(&h.format_version) {
            return Err(Error::Format(format!(
                "format version {} is not supported (this build reads versions \
                 {OLDEST_READABLE_VERSION} to {FORMAT_VERSION})",
                h.format_version
            )));
        }
        for (name, l) in &h.layers {
            match (h.format_version, &l.checksum) {
                (1, Some(_)) => {
                    return Err(Error::Format(format!(
                        "layer `{name}`: a version 1 header has no checksums"
                    )))
                }
                (2.., None) => {
                    return Err(Error::Format(format!(
                        "layer `{name}`: no checksum (required from format version 2)"
                    )))
                }
                _ => {}
            }
        }
        Ok(h)
    }

    /// The same header with a placeholder checksum on every layer (its serialised
    /// length equals the final one's, so the real checksums can be patched in later).
    pub fn with_placeholder_checksums(mut self) -> FileHeader {
        for l in self.layers.values_mut() {
            l.checksum = Some(LayerChecksum::placeholder());
        }
        self
    }
}

impl Default for FileHeader {
    fn default() -> Self {
        FileHeader::new()
    }
}
