//! Reading 2-D weights and activations (f32/f16/bf16) out of safetensors bytes.

use crate::error::{Error, Result};
use half::{bf16, f16};
use safetensors::{Dtype, SafeTensors};

fn bad(why: String) -> Error {
    Error::InvalidArgument {
        what: "safetensors",
        why,
    }
}

/// A row-major matrix widened to f32.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    /// `rows × cols` values, row-major.
    pub data: Vec<f32>,
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
}

/// The 2-D tensor `name` of a safetensors file's bytes, widened to f32.
pub fn read_matrix(bytes: &[u8], name: &str) -> Result<Matrix> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| bad(format!("{e}")))?;
    let t = st
        .tensor(name)
        .map_err(|e| bad(format!("tensor {name}: {e}")))?;
    let &[rows, cols] = t.shape() else {
        return Err(bad(format!(
            "tensor {name}: shape {:?} is not 2-D",
            t.shape()
        )));
    };
    let raw = t.data();
    let data: Vec<f32> = match t.dtype() {
        Dtype::F32 => raw
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F16 => raw
            .chunks_exact(2)
            .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::BF16 => raw
            .chunks_exact(2)
            .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        d => {
            return Err(bad(format!(
                "tensor {name}: dtype {d:?} is not f32/f16/bf16"
            )))
        }
    };
    let elements = crate::shape::product("matrix", ["rows", "cols"], rows, cols)?;
    if data.len() != elements {
        return Err(bad(format!(
            "tensor {name}: {} values for {rows}x{cols}",
            data.len()
        )));
    }
    Ok(Matrix { data, rows, cols })
}

/// Names of the tensors in a safetensors file's bytes, sorted.
pub fn tensor_names(bytes: &[u8]) -> Result<Vec<String>> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| bad(format!("{e}")))?;
    let mut names: Vec<String> = st.names().into_iter().map(String::from).collect();
    names.sort();
    Ok(names)
}
