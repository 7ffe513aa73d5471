//! PyTorch's semi-structured sparse format, CUTLASS backend
//! (`torch.sparse.to_sparse_semi_structured`): `packed` [M, K/2] row-major kept
//! values in ascending column order (the same as [`Sparse24::values`]) and `meta`
//! [M, K/16] int16 whose flat storage is CUTLASS's sm80 reordered metadata layout
//! ([`crate::layout::meta_to_cutlass`]). M and K must be multiples of 32 (PyTorch's
//! own kernels further need at least 32×64 for f16/bf16).
//!
//! In Python, a `SparseSemiStructuredTensorCUTLASS` `t` exposes `t.packed` and
//! `t.meta`; save them with `safetensors.torch.save_file({"w.packed": t.packed,
//! "w.meta": t.meta}, ...)` and read them here with [`load_pair`]; the reverse
//! direction builds the tensors with `SparseSemiStructuredTensorCUTLASS(shape,
//! packed, meta, None, None, None, None)`.

use super::{dtype_of, FileElement};
use crate::dtype::Element;
use crate::error::{Error, Result};
use crate::format::Sparse24;
use crate::layout::{meta_from_cutlass, meta_to_cutlass};
use crate::pattern::WORD_COLS;
use crate::shape::{check_len, check_shape};
use safetensors::Dtype;

/// A weight in PyTorch's CUTLASS semi-structured format.
#[derive(Clone, Debug, PartialEq)]
pub struct TorchCutlass<T> {
    /// M (out).
    pub rows: usize,
    /// K (in).
    pub cols: usize,
    /// [M, K/2] row-major.
    pub packed: Vec<T>,
    /// [M, K/16], CUTLASS-reordered storage.
    pub meta: Vec<i16>,
}

/// Exports to PyTorch's format (rows and cols must be multiples of 32).
pub fn to_torch<T: Element>(s: &Sparse24<T>) -> Result<TorchCutlass<T>> {
    let reordered = meta_to_cutlass(s.metadata(), s.rows(), s.cols())?;
    Ok(TorchCutlass {
        rows: s.rows(),
        cols: s.cols(),
        packed: s.values().to_vec(),
        meta: reordered.into_iter().map(|w| w as i16).collect(),
    })
}

/// Imports from PyTorch's format, validating the shape (before anything is
/// allocated), lengths, every code and that every value is finite.
pub fn from_torch<T: Element>(t: &TorchCutlass<T>) -> Result<Sparse24<T>> {
    let shape = check_shape(t.rows, t.cols)?;
    check_len("packed", shape.values(), t.packed.len())?;
    let words: Vec<u16> = t.meta.iter().map(|&w| w as u16).collect();
    let logical = meta_from_cutlass(&words, t.rows, t.cols)?;
    Sparse24::from_parts(t.rows, t.cols, t.packed.clone(), logical)
}

fn tensor_err(tensor: &str, e: Error) -> Error {
    Error::Tensor {
        tensor: tensor.to_string(),
        source: Box::new(e),
    }
}

/// Reads a `packed`/`meta` pair from any safetensors file (e.g. saved from PyTorch):
/// `packed` [M, K/2] of `T`, `meta` [M, K/16] int16 (or uint16) in CUTLASS order.
pub fn load_pair<T: FileElement>(
    bytes: &[u8],
    packed_name: &str,
    meta_name: &str,
) -> Result<Sparse24<T>> {
    let file = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| Error::Format(format!("not a valid safetensors file: {e}")))?;
    let get = |name: &str| {
        file.tensor(name)
            .map_err(|e| tensor_err(name, Error::Format(e.to_string())))
    };
    let packed = get(packed_name)?;
    let meta = get(meta_name)?;
    if dtype_of(packed.dtype()) != Some(T::DTYPE) {
        return Err(tensor_err(
            packed_name,
            Error::InvalidArgument {
                what: "dtype",
                why: format!(
                    "stored as {:?}, expected {}",
                    packed.dtype(),
                    T::DTYPE.name()
                ),
            },
        ));
    }
    if !matches!(meta.dtype(), Dtype::I16 | Dtype::U16) {
        return Err(tensor_err(
            meta_name,
            Error::InvalidArgument {
                what: "dtype",
                why: format!("stored as {:?}, expected I16", meta.dtype()),
            },
        ));
    }
    let &[rows, half] = packed.shape() else {
        return Err(tensor_err(
            packed_name,
            Error::InvalidArgument {
                what: "shape",
                why: format!("shape {:?} is not [M, K/2]", packed.shape()),
            },
        ));
    };
    let cols = half.saturating_mul(2);
    if meta.shape() != [rows, cols / WORD_COLS] || cols % WORD_COLS != 0 {
        return Err(tensor_err(
            meta_name,
            Error::InvalidArgument {
                what: "shape",
                why: format!(
                    "shape {:?} does not match packed {:?} (expected [M, K/16])",
                    meta.shape(),
                    packed.shape()
                ),
            },
        ));
    }
    let t = TorchCutlass {
        rows,
        cols,
        packed: bytemuck::pod_collect_to_vec(packed.data()),
        meta: bytemuck::pod_collect_to_vec(meta.data()),
    };
    from_torch(&t).map_err(|e| match e {
        Error::IllegalCode { .. } => tensor_err(meta_name, e),
        other => tensor_err(packed_name, other),
    })
}

/// Writes a `packed`/`meta` pair (int16 meta) as a safetensors file's bytes, which
/// `safetensors.torch.load_file` reads into the two tensors PyTorch wants.
pub fn pair_to_bytes<T: FileElement>(
    s: &Sparse24<T>,
    packed_name: &str,
    meta_name: &str,
) -> Result<Vec<u8>> {
    use super::writer::{StreamWriter, TensorSpec};
    let t = to_torch(s)?;
    let specs = vec![
        TensorSpec::new(
            packed_name,
            super::st_dtype(T::DTYPE),
            vec![t.rows, t.cols / 2],
        ),
        TensorSpec::new(meta_name, Dtype::I16, vec![t.rows, t.cols / WORD_COLS]),
    ];
    let mut w = StreamWriter::new(Vec::new(), specs, Default::default())?;
    let order: Vec<String> = w.order().map(str::to_string).collect();
    for name in order {
        if name == packed_name {
            w.write(&name, bytemuck::cast_slice(&t.packed))?;
        } else {
            w.write(&name, bytemuck::cast_slice(&t.meta))?;
        }
    }
    w.finish()
}
