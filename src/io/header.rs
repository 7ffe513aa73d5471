//! The JSON header a sparse24 file keeps in the safetensors `__metadata__` map.

use crate::dtype::DType;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The `__metadata__` key that holds the header.
pub const METADATA_KEY: &str = "sparse24";
/// The version this crate writes and the only one it reads.
pub const FORMAT_VERSION: u32 = 1;
/// Metadata layout: [`crate::Sparse24::metadata`]'s logical words, row-major
/// [out, in/16], group j of a word at bits 4j..4j+3, code = first index | second << 2.
pub const LOGICAL_LAYOUT: &str = "logical";

/// The header: format version and one entry per compressed layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileHeader {
    pub format_version: u32,
    pub layers: BTreeMap<String, LayerHeader>,
}

/// One compressed layer: element type, logical shape [out, in] and metadata layout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerHeader {
    /// "f32", "f16" or "bf16".
    pub dtype: String,
    /// [out, in] of the dense weight.
    pub shape: Vec<usize>,
    /// Always [`LOGICAL_LAYOUT`] in version 1.
    pub meta_layout: String,
}

impl LayerHeader {
    pub fn new(dtype: DType, rows: usize, cols: usize) -> LayerHeader {
        LayerHeader {
            dtype: dtype.name().to_string(),
            shape: vec![rows, cols],
            meta_layout: LOGICAL_LAYOUT.to_string(),
        }
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
        crate::format::check_shape(rows, cols)?;
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
    pub fn new() -> FileHeader {
        FileHeader {
            format_version: FORMAT_VERSION,
            layers: BTreeMap::new(),
        }
    }

    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::Format(format!("writing the header: {e}")))
    }

    /// Parses and checks the version.
    pub fn from_json(s: &str) -> Result<FileHeader> {
        let h: FileHeader = serde_json::from_str(s).map_err(|e| {
            Error::Format(format!(
                "the {METADATA_KEY:?} header is not valid JSON: {e}"
            ))
        })?;
        if h.format_version != FORMAT_VERSION {
            return Err(Error::Format(format!(
                "format version {} is not supported (this build reads version {FORMAT_VERSION})",
                h.format_version
            )));
        }
        Ok(h)
    }
}

impl Default for FileHeader {
    fn default() -> Self {
        FileHeader::new()
    }
}
