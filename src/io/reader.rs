//! Parsing and validating sparse24 safetensors files. Every check failure is a
//! typed error naming the tensor ([`Error::Tensor`]) or the container
//! ([`Error::Format`]); no input makes the loader panic (tests/io_files.rs corrupts files; fuzz/ fuzzes the
//! loader). Layers of version 2 files are checked against their checksums.

use super::header::{FileHeader, LayerChecksum, LayerHeader, METADATA_KEY};
use super::{dtype_of, meta_name, st_dtype, values_name, AnySparse24, FileElement};
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::format::Sparse24;
use crate::pattern::WORD_COLS;
use half::{bf16, f16};
use safetensors::tensor::{Metadata, TensorInfo};
use safetensors::{Dtype, SafeTensors};
use std::collections::HashMap;
use std::path::Path;

/// Whether a load checks each layer's bytes against the header's checksums.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Verify {
    /// Check them (the default): a corrupted layer is an [`Error::Checksum`].
    #[default]
    Checksums,
    /// Skip the hashing, for files the caller already trusts (e.g. just written by
    /// this process). Shapes, codes and finiteness are still validated.
    Trusted,
}

/// A parsed sparse24 file over borrowed bytes (a `Vec` or a memory map).
pub struct SparseFile<'a> {
    data: &'a [u8],
    meta: Metadata,
    header: FileHeader,
    verify: Verify,
}

fn tensor_err(tensor: &str, e: Error) -> Error {
    Error::Tensor {
        tensor: tensor.to_string(),
        source: Box::new(e),
    }
}

fn invalid(what: &'static str, why: String) -> Error {
    Error::InvalidArgument { what, why }
}

impl<'a> SparseFile<'a> {
    /// Parses the safetensors container and the sparse24 header; tensors are
    /// validated (checksums included) when read ([`SparseFile::layer`]).
    pub fn parse(bytes: &'a [u8]) -> Result<SparseFile<'a>> {
        SparseFile::parse_with(bytes, Verify::Checksums)
    }

    /// [`SparseFile::parse`] with a choice of checksum verification.
    pub fn parse_with(bytes: &'a [u8], verify: Verify) -> Result<SparseFile<'a>> {
        let (n, meta) = SafeTensors::read_metadata(bytes)
            .map_err(|e| Error::Format(format!("not a valid safetensors file: {e}")))?;
        let data = bytes
            .get(8 + n..)
            .ok_or_else(|| Error::Format("the data section is missing".into()))?;
        let json = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get(METADATA_KEY))
            .ok_or_else(|| {
                Error::Format(format!(
                    "no {METADATA_KEY:?} entry in __metadata__: not a sparse24 file"
                ))
            })?;
        let header = FileHeader::from_json(json)?;
        let file = SparseFile {
            data,
            meta,
            header,
            verify,
        };
        file.check_no_unlisted_layers()?;
        Ok(file)
    }

    /// A `<x>.values` + `<x>.meta` pair the header does not list is a layer some
    /// writer dropped from the header; loading the rest would lose it without a word.
    fn check_no_unlisted_layers(&self) -> Result<()> {
        let names = self.meta.tensors();
        let mut unlisted: Vec<&str> = names
            .keys()
            .filter_map(|n| n.strip_suffix(".values"))
            .filter(|stem| names.contains_key(&meta_name(stem)))
            .filter(|stem| !self.header.layers.contains_key(*stem))
            .collect();
        unlisted.sort_unstable();
        if let Some(first) = unlisted.first() {
            return Err(Error::Format(format!(
                "{} compressed layer(s) are in the file but not in its {METADATA_KEY:?} \
                 header (first: `{first}`): the header is incomplete",
                unlisted.len()
            )));
        }
        Ok(())
    }

    /// Whether layers are checked against their checksums when read.
    pub fn verify(&self) -> Verify {
        self.verify
    }

    /// The header's format version.
    pub fn format_version(&self) -> u32 {
        self.header.format_version
    }

    /// The parsed header: format version and the layers' entries.
    pub fn header(&self) -> &FileHeader {
        &self.header
    }

    /// The whole `__metadata__` map.
    pub fn metadata(&self) -> HashMap<String, String> {
        self.meta.metadata().clone().unwrap_or_default()
    }

    /// Names of the compressed layers, sorted.
    pub fn layer_names(&self) -> Vec<&str> {
        self.header.layers.keys().map(String::as_str).collect()
    }

    /// Any tensor of the file (compressed parts or others) as dtype, shape, bytes.
    pub fn tensor(&self, name: &str) -> Result<(Dtype, &[usize], &'a [u8])> {
        let info = self
            .meta
            .info(name)
            .ok_or_else(|| tensor_err(name, Error::Format("not in the file".into())))?;
        let (s, e) = info.data_offsets;
        let bytes = self
            .data
            .get(s..e)
            .ok_or_else(|| tensor_err(name, Error::Format("data out of bounds".into())))?;
        Ok((info.dtype, &info.shape, bytes))
    }

    fn info(&self, name: &str) -> Result<&TensorInfo> {
        self.meta
            .info(name)
            .ok_or_else(|| tensor_err(name, Error::Format("not in the file".into())))
    }

    fn layer_header(&self, name: &str) -> Result<(&LayerHeader, DType, usize, usize)> {
        let lh = self.header.layers.get(name).ok_or_else(|| {
            tensor_err(
                name,
                Error::Format(format!("no such layer in the {METADATA_KEY:?} header")),
            )
        })?;
        let dtype = lh.dtype().map_err(|e| tensor_err(name, e))?;
        let (rows, cols) = lh.shape().map_err(|e| tensor_err(name, e))?;
        lh.check_layout().map_err(|e| tensor_err(name, e))?;
        Ok((lh, dtype, rows, cols))
    }

    fn check_tensor(&self, name: &str, dtypes: &[Dtype], shape: [usize; 2]) -> Result<&'a [u8]> {
        let info = self.info(name)?;
        if !dtypes.contains(&info.dtype) {
            return Err(tensor_err(
                name,
                invalid(
                    "dtype",
                    format!("stored as {:?}, expected one of {dtypes:?}", info.dtype),
                ),
            ));
        }
        if info.shape != shape {
            return Err(tensor_err(
                name,
                invalid(
                    "shape",
                    format!("stored with shape {:?}, expected {shape:?}", info.shape),
                ),
            ));
        }
        Ok(self.tensor(name)?.2)
    }

    fn decode<T: FileElement>(
        &self,
        name: &str,
        checksum: Option<&LayerChecksum>,
        rows: usize,
        cols: usize,
    ) -> Result<Sparse24<T>> {
        let vname = values_name(name);
        let mname = meta_name(name);
        let vbytes = self.check_tensor(&vname, &[st_dtype(T::DTYPE)], [rows, cols / 2])?;
        let mbytes =
            self.check_tensor(&mname, &[Dtype::U16, Dtype::I16], [rows, cols / WORD_COLS])?;
        if let (Verify::Checksums, Some(c)) = (self.verify, checksum) {
            c.verify(name, vbytes, mbytes)?;
        }
        let values: Vec<T> = bytemuck::pod_collect_to_vec(vbytes);
        let meta: Vec<u16> = bytemuck::pod_collect_to_vec(mbytes);
        Sparse24::from_parts(rows, cols, values, meta).map_err(|e| match e {
            Error::IllegalCode { .. } => tensor_err(&mname, e),
            Error::NonFinite { .. } => tensor_err(&vname, e),
            other => tensor_err(name, other),
        })
    }

    /// Reads and validates layer `name`: header entry (dtype, shape, layout), both
    /// tensors' dtypes and shapes, NaN-free values and legal codes.
    pub fn layer(&self, name: &str) -> Result<AnySparse24> {
        let (lh, dtype, rows, cols) = self.layer_header(name)?;
        let c = lh.checksum.as_ref();
        Ok(match dtype {
            DType::F32 => AnySparse24::F32(self.decode::<f32>(name, c, rows, cols)?),
            DType::F16 => AnySparse24::F16(self.decode::<f16>(name, c, rows, cols)?),
            DType::BF16 => AnySparse24::BF16(self.decode::<bf16>(name, c, rows, cols)?),
        })
    }

    /// Reads layer `name` as element type `T`; another stored dtype is an error.
    pub fn layer_as<T: FileElement>(&self, name: &str) -> Result<Sparse24<T>> {
        let (lh, dtype, rows, cols) = self.layer_header(name)?;
        if dtype != T::DTYPE {
            return Err(tensor_err(
                name,
                invalid(
                    "dtype",
                    format!(
                        "the layer is stored as {}, but {} was requested",
                        dtype.name(),
                        T::DTYPE.name()
                    ),
                ),
            ));
        }
        self.decode::<T>(name, lh.checksum.as_ref(), rows, cols)
    }

    /// Every layer, validated, in name order.
    pub fn layers(&self) -> Result<Vec<(String, AnySparse24)>> {
        self.layer_names()
            .into_iter()
            .map(|n| Ok((n.to_string(), self.layer(n)?)))
            .collect()
    }
}

/// Reads a file and validates every layer in it, checksums included.
pub fn load(path: impl AsRef<Path>) -> Result<Vec<(String, AnySparse24)>> {
    load_with(path, Verify::Checksums)
}

/// [`load`] with a choice of checksum verification.
pub fn load_with(path: impl AsRef<Path>, verify: Verify) -> Result<Vec<(String, AnySparse24)>> {
    let path = path.as_ref();
    let bytes =
        std::fs::read(path).map_err(|e| Error::Io(format!("reading {}: {e}", path.display())))?;
    SparseFile::parse_with(&bytes, verify)?.layers()
}

/// A dense tensor of a (any) safetensors file converted to f32, for tools that read
/// f32/f16/bf16 checkpoints alike.
pub fn dense_to_f32(name: &str, dtype: Dtype, bytes: &[u8]) -> Result<Vec<f32>> {
    fn conv<T: Element>(b: &[u8]) -> Vec<f32> {
        bytemuck::pod_collect_to_vec::<u8, T>(b)
            .into_iter()
            .map(Element::to_f32)
            .collect()
    }
    match dtype_of(dtype) {
        Some(DType::F32) => Ok(conv::<f32>(bytes)),
        Some(DType::F16) => Ok(conv::<f16>(bytes)),
        Some(DType::BF16) => Ok(conv::<bf16>(bytes)),
        None => Err(tensor_err(
            name,
            invalid("dtype", format!("{dtype:?} is not f32, f16 or bf16")),
        )),
    }
}
