//! [`SparseCheckpoint`]: a sparse24 file (compressed layers plus any dense tensors,
//! e.g. what `examples/prune.rs` writes from a Hugging Face checkpoint) read into
//! sparse24 layers and candle tensors.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::safetensors::SliceSafetensors;
use candle_core::{Device, Tensor};
use sparse24::io::{meta_name, values_name, AnySparse24, SparseFile};
use sparse24::Activation;

use crate::{wrap, SparseLinear};

/// The contents of a sparse24 file: its compressed layers (validated: shapes, codes,
/// finite values, checksums) by layer name, and its other tensors (embeddings,
/// norms, biases) as candle tensors on the device given to the loader.
#[derive(Debug)]
pub struct SparseCheckpoint {
    layers: BTreeMap<String, AnySparse24>,
    tensors: HashMap<String, Tensor>,
}

impl SparseCheckpoint {
    /// Reads a sparse24 file; the dense tensors go to `device`. The compressed layers
    /// stay on the host until a layer's first CUDA forward uploads it.
    pub fn load(path: impl AsRef<Path>, device: &Device) -> candle_core::Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path)
            .map_err(|e| candle_core::Error::Msg(format!("reading {}: {e}", path.display())))?;
        Self::from_bytes(&bytes, device)
    }

    /// [`SparseCheckpoint::load`] from the bytes of a file.
    pub fn from_bytes(bytes: &[u8], device: &Device) -> candle_core::Result<Self> {
        let file = SparseFile::parse(bytes).map_err(wrap)?;
        let layers: BTreeMap<String, AnySparse24> =
            file.layers().map_err(wrap)?.into_iter().collect();
        let parts: std::collections::HashSet<String> = layers
            .keys()
            .flat_map(|l| [values_name(l), meta_name(l)])
            .collect();
        let st = SliceSafetensors::new(bytes)?;
        let mut tensors = HashMap::new();
        for (name, _) in st.tensors() {
            if !parts.contains(&name) {
                let t = st.load(&name, device)?;
                tensors.insert(name, t);
            }
        }
        Ok(SparseCheckpoint { layers, tensors })
    }

    /// Names of the compressed layers, sorted.
    pub fn layer_names(&self) -> impl Iterator<Item = &str> {
        self.layers.keys().map(String::as_str)
    }

    /// The compressed layer `name`.
    pub fn layer(&self, name: &str) -> Option<&AnySparse24> {
        self.layers.get(name)
    }

    /// The dense tensors (everything that is not part of a compressed layer).
    pub fn tensors(&self) -> &HashMap<String, Tensor> {
        &self.tensors
    }

    /// The linear layer `{prefix}.weight` (compressed) with the bias `{prefix}.bias`
    /// (a dense tensor, if present) and `activation`: the naming of Hugging Face
    /// checkpoints, which the prune tool keeps.
    pub fn linear(
        &self,
        prefix: &str,
        activation: Activation,
    ) -> candle_core::Result<SparseLinear> {
        let weight_name = format!("{prefix}.weight");
        let Some(w) = self.layers.get(&weight_name) else {
            candle_core::bail!("{weight_name}: not a compressed layer of the checkpoint");
        };
        let bias = self.tensors.get(&format!("{prefix}.bias"));
        SparseLinear::from_compressed(w.clone(), bias, activation)
    }
}
