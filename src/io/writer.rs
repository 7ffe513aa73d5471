//! A streaming safetensors writer: the header is computed from the tensors' dtypes and
//! shapes alone, then the data is written tensor by tensor in the header's order. So a
//! pruned checkpoint is written while only one layer is in memory.
//!
//! Tensors are ordered as the safetensors crate orders them (dtype alignment
//! descending, then name), which keeps every tensor aligned to its element size.

use super::header::{FileHeader, LayerHeader, METADATA_KEY};
use super::{meta_name, st_dtype, values_name, AnySparse24};
use crate::error::{Error, Result};
use safetensors::Dtype;
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::Path;

/// The dtype and shape of one tensor to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorSpec {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
}

impl TensorSpec {
    pub fn new(name: impl Into<String>, dtype: Dtype, shape: Vec<usize>) -> TensorSpec {
        TensorSpec {
            name: name.into(),
            dtype,
            shape,
        }
    }

    /// Bytes of data, or an error on overflow or a sub-byte total.
    pub fn byte_len(&self) -> Result<usize> {
        let bits = self
            .shape
            .iter()
            .try_fold(self.dtype.bitsize(), |a, &d| a.checked_mul(d))
            .ok_or_else(|| Error::Tensor {
                tensor: self.name.clone(),
                source: Box::new(Error::Format(format!(
                    "shape {:?} overflows the address space",
                    self.shape
                ))),
            })?;
        if bits % 8 != 0 {
            return Err(Error::Tensor {
                tensor: self.name.clone(),
                source: Box::new(Error::Format("data is not a whole number of bytes".into())),
            });
        }
        Ok(bits / 8)
    }

    /// The two tensors of compressed layer `name` ([out, in] of `dtype`).
    pub fn layer(name: &str, dtype: crate::DType, rows: usize, cols: usize) -> [TensorSpec; 2] {
        [
            TensorSpec::new(values_name(name), st_dtype(dtype), vec![rows, cols / 2]),
            TensorSpec::new(meta_name(name), Dtype::U16, vec![rows, cols / 16]),
        ]
    }
}

/// Writes one safetensors file: header on construction, then [`StreamWriter::write`]
/// for each tensor in [`StreamWriter::order`], then [`StreamWriter::finish`].
pub struct StreamWriter<W: Write> {
    out: W,
    order: Vec<(String, usize)>,
    next: usize,
}

fn io_err(e: std::io::Error) -> Error {
    Error::Io(format!("writing safetensors data: {e}"))
}

impl<W: Write> StreamWriter<W> {
    /// Writes the header for `specs` (names must be unique) with the string map
    /// `metadata` as `__metadata__`.
    pub fn new(
        mut out: W,
        mut specs: Vec<TensorSpec>,
        metadata: BTreeMap<String, String>,
    ) -> Result<StreamWriter<W>> {
        let mut seen = HashSet::new();
        for s in &specs {
            if !seen.insert(s.name.as_str()) {
                return Err(Error::Tensor {
                    tensor: s.name.clone(),
                    source: Box::new(Error::Format("the name is given twice".into())),
                });
            }
        }
        specs.sort_by(|a, b| b.dtype.cmp(&a.dtype).then(a.name.cmp(&b.name)));
        let mut header = serde_json::Map::new();
        if !metadata.is_empty() {
            header.insert("__metadata__".into(), serde_json::json!(metadata));
        }
        let mut order = Vec::with_capacity(specs.len());
        let mut offset = 0usize;
        for s in specs {
            let n = s.byte_len()?;
            let end = offset
                .checked_add(n)
                .ok_or_else(|| Error::Format("the file would exceed the address space".into()))?;
            header.insert(
                s.name.clone(),
                serde_json::json!({"dtype": s.dtype, "shape": s.shape, "data_offsets": [offset, end]}),
            );
            order.push((s.name, n));
            offset = end;
        }
        let mut json = serde_json::to_string(&header)
            .map_err(|e| Error::Format(format!("writing the header: {e}")))?
            .into_bytes();
        json.resize(json.len().next_multiple_of(8), b' ');
        out.write_all(&(json.len() as u64).to_le_bytes())
            .map_err(io_err)?;
        out.write_all(&json).map_err(io_err)?;
        Ok(StreamWriter {
            out,
            order,
            next: 0,
        })
    }

    /// Tensor names in the order their data must be written.
    pub fn order(&self) -> impl Iterator<Item = &str> {
        self.order.iter().map(|(n, _)| n.as_str())
    }

    /// The name of the tensor whose data comes next, if any.
    pub fn next_name(&self) -> Option<&str> {
        self.order.get(self.next).map(|(n, _)| n.as_str())
    }

    /// Writes the data of the next tensor, which must be `name` with exactly its size.
    pub fn write(&mut self, name: &str, data: &[u8]) -> Result<()> {
        let Some((expected, len)) = self.order.get(self.next) else {
            return Err(Error::Tensor {
                tensor: name.to_string(),
                source: Box::new(Error::Format("all tensors were already written".into())),
            });
        };
        if expected != name {
            return Err(Error::Tensor {
                tensor: name.to_string(),
                source: Box::new(Error::Format(format!(
                    "written out of order: `{expected}` comes next"
                ))),
            });
        }
        if *len != data.len() {
            return Err(Error::Tensor {
                tensor: name.to_string(),
                source: Box::new(Error::Length {
                    what: "data bytes",
                    expected: *len,
                    actual: data.len(),
                }),
            });
        }
        self.out.write_all(data).map_err(io_err)?;
        self.next += 1;
        Ok(())
    }

    /// Checks every tensor was written, flushes, and returns the sink.
    pub fn finish(mut self) -> Result<W> {
        if let Some(missing) = self.next_name() {
            return Err(Error::Tensor {
                tensor: missing.to_string(),
                source: Box::new(Error::Format("never written".into())),
            });
        }
        self.out.flush().map_err(io_err)?;
        Ok(self.out)
    }
}

/// The `__metadata__` entry describing `layers`.
pub fn header_entry<'a>(
    layers: impl IntoIterator<Item = (&'a str, LayerHeader)>,
) -> Result<(String, String)> {
    let mut h = FileHeader::new();
    for (name, l) in layers {
        h.layers.insert(name.to_string(), l);
    }
    Ok((METADATA_KEY.to_string(), h.to_json()?))
}

/// Writes compressed layers to a safetensors sink.
pub fn write_layers<W: Write>(out: W, layers: &[(&str, &AnySparse24)]) -> Result<W> {
    let mut specs = Vec::with_capacity(2 * layers.len());
    for (name, l) in layers {
        let (rows, cols) = l.shape();
        specs.extend(TensorSpec::layer(name, l.dtype(), rows, cols));
    }
    let entry = header_entry(layers.iter().map(|(name, l)| {
        let (rows, cols) = l.shape();
        (*name, LayerHeader::new(l.dtype(), rows, cols))
    }))?;
    let mut w = StreamWriter::new(out, specs, BTreeMap::from([entry]))?;
    let by_tensor: BTreeMap<String, &[u8]> = layers
        .iter()
        .flat_map(|(name, l)| {
            [
                (values_name(name), l.values_bytes()),
                (meta_name(name), bytemuck::cast_slice(l.metadata())),
            ]
        })
        .collect();
    let order: Vec<String> = w.order().map(str::to_string).collect();
    for name in order {
        let data = by_tensor.get(&name).copied().unwrap_or_default();
        w.write(&name, data)?;
    }
    w.finish()
}

/// Compressed layers as the bytes of a safetensors file.
pub fn to_bytes(layers: &[(&str, &AnySparse24)]) -> Result<Vec<u8>> {
    write_layers(Vec::new(), layers)
}

/// Saves compressed layers to a safetensors file at `path`.
pub fn save(path: impl AsRef<Path>, layers: &[(&str, &AnySparse24)]) -> Result<()> {
    let path = path.as_ref();
    let file = std::fs::File::create(path)
        .map_err(|e| Error::Io(format!("creating {}: {e}", path.display())))?;
    write_layers(std::io::BufWriter::new(file), layers)?;
    Ok(())
}
