//! A streaming safetensors writer: the header is computed from the tensors' dtypes and
//! shapes alone, then the data is written tensor by tensor in the header's order. So a
//! pruned checkpoint is written while only one layer is in memory.
//!
//! Tensors are ordered as the safetensors crate orders them (dtype alignment
//! descending, then name), which keeps every tensor aligned to its element size.

use super::atomic::AtomicFile;
use super::header::{digest, FileHeader, LayerChecksum, LayerHeader, METADATA_KEY};
use super::{meta_name, st_dtype, values_name, AnySparse24};
use crate::error::{Error, Result};
use safetensors::Dtype;
use std::collections::{BTreeMap, HashSet};
use std::io::{Cursor, Seek, SeekFrom, Write};
use std::path::Path;

/// The dtype and shape of one tensor to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorSpec {
    /// Tensor name in the file.
    pub name: String,
    /// Stored element type.
    pub dtype: Dtype,
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
}

impl TensorSpec {
    /// A spec from its name, dtype and shape.
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
    /// The tensors' header entries (dtype, shape, offsets), kept to rewrite the header.
    entries: serde_json::Map<String, serde_json::Value>,
    /// Bytes of the header JSON as written (padded to a multiple of 8).
    header_len: usize,
    order: Vec<(String, usize)>,
    next: usize,
}

fn io_err(e: std::io::Error) -> Error {
    Error::Io(format!("writing safetensors data: {e}"))
}

/// The header JSON: `__metadata__` first, then the tensors' entries.
fn header_json(
    entries: &serde_json::Map<String, serde_json::Value>,
    metadata: &BTreeMap<String, String>,
) -> Result<Vec<u8>> {
    let mut header = serde_json::Map::new();
    if !metadata.is_empty() {
        header.insert("__metadata__".into(), serde_json::json!(metadata));
    }
    for (k, v) in entries {
        header.insert(k.clone(), v.clone());
    }
    serde_json::to_vec(&header).map_err(|e| Error::Format(format!("writing the header: {e}")))
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
            if s.name == "__metadata__" {
                return Err(Error::Tensor {
                    tensor: s.name.clone(),
                    source: Box::new(Error::Format("the name is reserved".into())),
                });
            }
        }
        specs.sort_by(|a, b| b.dtype.cmp(&a.dtype).then(a.name.cmp(&b.name)));
        let mut entries = serde_json::Map::new();
        let mut order = Vec::with_capacity(specs.len());
        let mut offset = 0usize;
        for s in specs {
            let n = s.byte_len()?;
            let end = offset
                .checked_add(n)
                .ok_or_else(|| Error::Format("the file would exceed the address space".into()))?;
            entries.insert(
                s.name.clone(),
                serde_json::json!({"dtype": s.dtype, "shape": s.shape, "data_offsets": [offset, end]}),
            );
            order.push((s.name, n));
            offset = end;
        }
        let mut json = header_json(&entries, &metadata)?;
        json.resize(json.len().next_multiple_of(8), b' ');
        out.write_all(&(json.len() as u64).to_le_bytes())
            .map_err(io_err)?;
        out.write_all(&json).map_err(io_err)?;
        Ok(StreamWriter {
            out,
            entries,
            header_len: json.len(),
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

    fn check_complete(&self) -> Result<()> {
        if let Some(missing) = self.next_name() {
            return Err(Error::Tensor {
                tensor: missing.to_string(),
                source: Box::new(Error::Format("never written".into())),
            });
        }
        Ok(())
    }

    /// Checks every tensor was written, flushes, and returns the sink.
    pub fn finish(mut self) -> Result<W> {
        self.check_complete()?;
        self.out.flush().map_err(io_err)?;
        Ok(self.out)
    }
}

impl<W: Write + Seek> StreamWriter<W> {
    /// Like [`StreamWriter::finish`], but first replaces `__metadata__` with `metadata`
    /// in the header already written: the new header must not be longer than the first
    /// (it is padded to the same length), which holds when only fixed-width fields such
    /// as checksums changed.
    pub fn finish_with_metadata(mut self, metadata: &BTreeMap<String, String>) -> Result<W> {
        self.check_complete()?;
        let mut json = header_json(&self.entries, metadata)?;
        if json.len() > self.header_len {
            return Err(Error::Format(format!(
                "the final header ({} bytes) is longer than the one written first ({} bytes)",
                json.len(),
                self.header_len
            )));
        }
        json.resize(self.header_len, b' ');
        let end = self.out.stream_position().map_err(io_err)?;
        self.out.seek(SeekFrom::Start(8)).map_err(io_err)?;
        self.out.write_all(&json).map_err(io_err)?;
        self.out.seek(SeekFrom::Start(end)).map_err(io_err)?;
        self.out.flush().map_err(io_err)?;
        Ok(self.out)
    }
}

/// A sparse24 file written in one pass: the header goes first with placeholder
/// checksums, each tensor's data follows (layer tensors are hashed as they pass), and
/// [`SparseFileWriter::finish`] patches the real checksums into the header. Tensors
/// other than the layers' (embeddings, norms) are written through unchanged.
pub struct SparseFileWriter<W: Write + Seek> {
    inner: StreamWriter<W>,
    header: FileHeader,
    metadata: BTreeMap<String, String>,
    /// Tensor name → (layer, is the values tensor).
    layer_tensors: BTreeMap<String, (String, bool)>,
    digests: BTreeMap<String, String>,
}

impl<W: Write + Seek> SparseFileWriter<W> {
    /// `specs` are every tensor of the file, the layers' two each included (see
    /// [`TensorSpec::layer`]); `layers` their header entries (checksums are filled in
    /// here); `metadata` any other `__metadata__` entries.
    pub fn new(
        out: W,
        specs: Vec<TensorSpec>,
        layers: BTreeMap<String, LayerHeader>,
        mut metadata: BTreeMap<String, String>,
    ) -> Result<SparseFileWriter<W>> {
        let mut header = FileHeader::new();
        header.layers = layers;
        let mut layer_tensors = BTreeMap::new();
        for (name, l) in &header.layers {
            let (rows, cols) = l.shape().map_err(|e| Error::Tensor {
                tensor: name.clone(),
                source: Box::new(e),
            })?;
            let dtype = l.dtype().map_err(|e| Error::Tensor {
                tensor: name.clone(),
                source: Box::new(e),
            })?;
            for (want, is_values) in TensorSpec::layer(name, dtype, rows, cols)
                .into_iter()
                .zip([true, false])
            {
                match specs.iter().find(|s| s.name == want.name) {
                    Some(s) if *s == want => {}
                    Some(s) => {
                        return Err(Error::Tensor {
                            tensor: s.name.clone(),
                            source: Box::new(Error::Format(format!(
                                "planned as {:?} {:?}, but layer `{name}` needs {:?} {:?}",
                                s.dtype, s.shape, want.dtype, want.shape
                            ))),
                        })
                    }
                    None => {
                        return Err(Error::Tensor {
                            tensor: want.name,
                            source: Box::new(Error::Format("not among the tensors".into())),
                        })
                    }
                }
                layer_tensors.insert(want.name, (name.clone(), is_values));
            }
        }
        let placeholder = header.clone().with_placeholder_checksums();
        metadata.insert(METADATA_KEY.to_string(), placeholder.to_json()?);
        let inner = StreamWriter::new(out, specs, metadata.clone())?;
        Ok(SparseFileWriter {
            inner,
            header,
            metadata,
            layer_tensors,
            digests: BTreeMap::new(),
        })
    }

    /// Tensor names in the order their data must be written.
    pub fn order(&self) -> impl Iterator<Item = &str> {
        self.inner.order()
    }

    /// Writes the next tensor's data (see [`StreamWriter::write`]).
    pub fn write(&mut self, name: &str, data: &[u8]) -> Result<()> {
        self.inner.write(name, data)?;
        if self.layer_tensors.contains_key(name) {
            self.digests.insert(name.to_string(), digest(data));
        }
        Ok(())
    }

    /// Patches the checksums into the header, flushes and returns the sink.
    pub fn finish(mut self) -> Result<W> {
        self.inner.check_complete()?;
        for (tensor, (layer, is_values)) in &self.layer_tensors {
            let d = self
                .digests
                .get(tensor)
                .cloned()
                .ok_or_else(|| Error::Tensor {
                    tensor: tensor.clone(),
                    source: Box::new(Error::Format("never written".into())),
                })?;
            let l = self.header.layers.get_mut(layer).ok_or_else(|| {
                Error::Format(format!("layer `{layer}` vanished from the header"))
            })?;
            let c = l.checksum.get_or_insert_with(LayerChecksum::placeholder);
            if *is_values {
                c.values = d;
            } else {
                c.meta = d;
            }
        }
        self.metadata
            .insert(METADATA_KEY.to_string(), self.header.to_json()?);
        self.inner.finish_with_metadata(&self.metadata)
    }
}

/// A tensor written as it is beside the compressed layers (e.g. keep bits, norms).
#[derive(Clone, Debug, PartialEq)]
pub struct RawTensor<'a> {
    /// Tensor name in the file.
    pub name: String,
    /// Stored element type.
    pub dtype: Dtype,
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// The little-endian bytes, exactly as many as dtype and shape give.
    pub data: &'a [u8],
}

/// Writes compressed layers, further tensors `extras` and further `__metadata__`
/// entries `metadata` to a seekable sink, checksums included.
pub fn write_layers<W: Write + Seek>(
    out: W,
    layers: &[(&str, &AnySparse24)],
    extras: &[RawTensor<'_>],
    metadata: BTreeMap<String, String>,
) -> Result<W> {
    if metadata.contains_key(METADATA_KEY) {
        return Err(Error::InvalidArgument {
            what: "metadata",
            why: format!("the key {METADATA_KEY:?} is reserved for the sparse24 header"),
        });
    }
    let mut specs = Vec::with_capacity(2 * layers.len() + extras.len());
    let mut headers = BTreeMap::new();
    for (name, l) in layers {
        let (rows, cols) = l.shape();
        specs.extend(TensorSpec::layer(name, l.dtype(), rows, cols));
        if headers
            .insert(name.to_string(), LayerHeader::new(l.dtype(), rows, cols))
            .is_some()
        {
            return Err(Error::Tensor {
                tensor: name.to_string(),
                source: Box::new(Error::Format("the layer is given twice".into())),
            });
        }
    }
    let mut by_tensor: BTreeMap<String, &[u8]> = layers
        .iter()
        .flat_map(|(name, l)| {
            [
                (values_name(name), l.values_bytes()),
                (meta_name(name), bytemuck::cast_slice(l.metadata())),
            ]
        })
        .collect();
    for t in extras {
        specs.push(TensorSpec::new(t.name.clone(), t.dtype, t.shape.clone()));
        by_tensor.insert(t.name.clone(), t.data);
    }
    let mut w = SparseFileWriter::new(out, specs, headers, metadata)?;
    let order: Vec<String> = w.order().map(str::to_string).collect();
    for name in order {
        let data = by_tensor.get(&name).copied().unwrap_or_default();
        w.write(&name, data)?;
    }
    w.finish()
}

/// Compressed layers as the bytes of a safetensors file.
pub fn to_bytes(layers: &[(&str, &AnySparse24)]) -> Result<Vec<u8>> {
    Ok(write_layers(Cursor::new(Vec::new()), layers, &[], BTreeMap::new())?.into_inner())
}

/// Saves compressed layers to a safetensors file at `path`, atomically: the file at
/// `path` is replaced only once the new one is complete and on disk
/// ([`super::atomic`]).
pub fn save(path: impl AsRef<Path>, layers: &[(&str, &AnySparse24)]) -> Result<()> {
    save_with(path, layers, &[], BTreeMap::new())
}

/// [`save`] with further tensors and further string entries in `__metadata__` (e.g.
/// how the masks were found); the key [`METADATA_KEY`] is reserved.
pub fn save_with(
    path: impl AsRef<Path>,
    layers: &[(&str, &AnySparse24)],
    extras: &[RawTensor<'_>],
    metadata: BTreeMap<String, String>,
) -> Result<()> {
    let file = AtomicFile::create(path, &[])?;
    write_layers(file, layers, extras, metadata)?.commit()
}
