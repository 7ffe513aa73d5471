//! Files: compressed layers in safetensors, and PyTorch's semi-structured format.
//!
//! A sparse24 safetensors file holds, per compressed layer `<name>`, two tensors:
//! `<name>.values` ([out, in/2], the layer's dtype, kept values in ascending column
//! order) and `<name>.meta` ([out, in/16], U16, the *logical* metadata words of
//! [`Sparse24`]). The safetensors `__metadata__` entry [`header::METADATA_KEY`] holds
//! a small JSON header ([`header::FileHeader`]): format version, and per layer its
//! dtype, shape and metadata layout. Any other tensor (embeddings, norms) may sit in
//! the same file and is left alone.
//!
//! - [`writer`]: a streaming safetensors writer (the header first, then each tensor in
//!   order), so a pruned checkpoint never needs to be in memory at once.
//! - [`reader`]: parsing and validation: every problem is a typed [`crate::Error`]
//!   that names the tensor; corrupted or truncated files never panic.
//! - [`torch`]: PyTorch's CUTLASS format (`packed` + reordered int16 `meta`).
//! - [`atomic`]: writes that replace a file only once the new one is complete and
//!   synced, used by every writer of the crate and its tools.

pub mod atomic;
pub mod header;
pub mod reader;
pub mod torch;
pub mod writer;

use crate::dtype::{DType, Element};
use crate::format::Sparse24;
use half::{bf16, f16};

pub use reader::{load, load_with, SparseFile, Verify};
pub use writer::{
    save, save_with, to_bytes, RawTensor, SparseFileWriter, StreamWriter, TensorSpec,
};

/// A compressed layer of any element type.
#[derive(Clone, Debug, PartialEq)]
pub enum AnySparse24 {
    /// An f32 layer.
    F32(Sparse24<f32>),
    /// An f16 layer.
    F16(Sparse24<f16>),
    /// A bf16 layer.
    BF16(Sparse24<bf16>),
}

impl AnySparse24 {
    /// The element type of the layer.
    pub fn dtype(&self) -> DType {
        match self {
            AnySparse24::F32(_) => DType::F32,
            AnySparse24::F16(_) => DType::F16,
            AnySparse24::BF16(_) => DType::BF16,
        }
    }
    /// (rows, cols) = (out, in).
    pub fn shape(&self) -> (usize, usize) {
        match self {
            AnySparse24::F32(s) => (s.rows(), s.cols()),
            AnySparse24::F16(s) => (s.rows(), s.cols()),
            AnySparse24::BF16(s) => (s.rows(), s.cols()),
        }
    }
    /// The kept values as little-endian bytes.
    pub fn values_bytes(&self) -> &[u8] {
        match self {
            AnySparse24::F32(s) => bytemuck::cast_slice(s.values()),
            AnySparse24::F16(s) => bytemuck::cast_slice(s.values()),
            AnySparse24::BF16(s) => bytemuck::cast_slice(s.values()),
        }
    }
    /// Logical metadata words.
    pub fn metadata(&self) -> &[u16] {
        match self {
            AnySparse24::F32(s) => s.metadata(),
            AnySparse24::F16(s) => s.metadata(),
            AnySparse24::BF16(s) => s.metadata(),
        }
    }
    /// Bytes of values plus metadata.
    pub fn bytes(&self) -> usize {
        self.values_bytes().len() + 2 * self.metadata().len()
    }
}

/// The element types a file can hold, with their conversions to and from
/// [`AnySparse24`].
pub trait FileElement: Element {
    /// The layer as an [`AnySparse24`] of this type's variant.
    fn wrap(s: Sparse24<Self>) -> AnySparse24;
    /// The layer if it holds this type, else the layer back.
    fn unwrap(a: AnySparse24) -> std::result::Result<Sparse24<Self>, AnySparse24>;
}

macro_rules! file_element {
    ($t:ty, $v:ident) => {
        impl FileElement for $t {
            fn wrap(s: Sparse24<Self>) -> AnySparse24 {
                AnySparse24::$v(s)
            }
            fn unwrap(a: AnySparse24) -> std::result::Result<Sparse24<Self>, AnySparse24> {
                match a {
                    AnySparse24::$v(s) => Ok(s),
                    other => Err(other),
                }
            }
        }
        impl From<Sparse24<$t>> for AnySparse24 {
            fn from(s: Sparse24<$t>) -> AnySparse24 {
                AnySparse24::$v(s)
            }
        }
    };
}
file_element!(f32, F32);
file_element!(f16, F16);
file_element!(bf16, BF16);

/// The safetensors dtype of an element type.
pub fn st_dtype(d: DType) -> safetensors::Dtype {
    match d {
        DType::F32 => safetensors::Dtype::F32,
        DType::F16 => safetensors::Dtype::F16,
        DType::BF16 => safetensors::Dtype::BF16,
    }
}

/// The element type of a safetensors dtype, if it is one sparse24 handles.
pub fn dtype_of(d: safetensors::Dtype) -> Option<DType> {
    match d {
        safetensors::Dtype::F32 => Some(DType::F32),
        safetensors::Dtype::F16 => Some(DType::F16),
        safetensors::Dtype::BF16 => Some(DType::BF16),
        _ => None,
    }
}

/// Name of the values tensor of layer `name`.
pub fn values_name(name: &str) -> String {
    format!("{name}.values")
}

/// Name of the metadata tensor of layer `name`.
pub fn meta_name(name: &str) -> String {
    format!("{name}.meta")
}
