//! [`SparseLinear`]: a sparse24 layer as a candle [`Module`].

use std::sync::Arc;

use candle_core::{DType, Module, Tensor};
use sparse24::io::AnySparse24;
use sparse24::linear::{Pruning, SparseLinear as Sparse24Linear};
use sparse24::{bf16, f16, Activation, Element};

use crate::layer::{convert_sparse, host_vec, sparse24_dtype, with_layer, AnyLinear};
use crate::op::dense_parts;
use crate::wrap;

/// `Y[.., out] = act(X[.., in] · Wᵀ + bias)` with W 2:4-sparse: a candle [`Module`]
/// whose forward is one custom op (the bias and the activation are fused into it).
/// X may have any number of leading dimensions; it must be in the layer's dtype
/// ([`SparseLinear::dtype`]) and Y comes out in [`SparseLinear::output_dtype`].
///
/// On a CPU tensor the forward runs sparse24's CPU path (f32 accumulation). On a
/// CUDA tensor (the `cuda` feature) it runs sparse24's kernels on candle's stream;
/// the weights go up to the device at the first CUDA forward and stay there.
/// The kernels take f16 and bf16 layers ([`SparseLinear::to_dtype`] converts).
///
/// Cloning is cheap (the layer is shared).
#[derive(Clone, Debug)]
pub struct SparseLinear {
    layer: Arc<AnyLinear>,
}

impl SparseLinear {
    /// Wraps a sparse24 layer. A layer with a residual (`beta ≠ 0`) is refused: a
    /// module's forward has no C to add.
    pub fn new(layer: impl Into<AnyLinear>) -> candle_core::Result<SparseLinear> {
        let layer = layer.into();
        if layer.epilogue().beta != 0.0 {
            candle_core::bail!(
                "sparse24 linear: the layer adds a residual (beta = {}), which a candle \
                 Module forward cannot pass; add it with candle ops instead",
                layer.epilogue().beta
            );
        }
        Ok(SparseLinear {
            layer: Arc::new(layer),
        })
    }

    /// Prunes a dense weight [out, in] (f32, f16 or bf16, any device) to 2:4 with
    /// `pruning`, compresses it, and adds `bias` (`[out]`) and `activation`. The layer
    /// keeps the weight's dtype.
    pub fn prune(
        weight: &Tensor,
        bias: Option<&Tensor>,
        pruning: Pruning,
        activation: Activation,
    ) -> candle_core::Result<SparseLinear> {
        let (out, inn) = weight.dims2()?;
        fn build<T: Element>(
            w: &Tensor,
            bias: Option<&Tensor>,
            out: usize,
            inn: usize,
            pruning: Pruning,
            activation: Activation,
        ) -> candle_core::Result<Sparse24Linear<T>> {
            let l =
                Sparse24Linear::from_dense(&host_vec::<T>(w)?, out, inn, pruning).map_err(wrap)?;
            with_bias(l, bias, activation)
        }
        match weight.dtype() {
            DType::F32 => Self::new(build::<f32>(weight, bias, out, inn, pruning, activation)?),
            DType::F16 => Self::new(build::<f16>(weight, bias, out, inn, pruning, activation)?),
            DType::BF16 => Self::new(build::<bf16>(weight, bias, out, inn, pruning, activation)?),
            other => candle_core::bail!("sparse24 linear: cannot prune a {other:?} weight"),
        }
    }

    /// A layer over an already compressed weight (e.g. read from a sparse24 file, see
    /// [`crate::SparseCheckpoint`]) in its own dtype, with `bias` (`[out]`) (converted to
    /// the weight's dtype) and `activation`.
    pub fn from_compressed(
        weight: AnySparse24,
        bias: Option<&Tensor>,
        activation: Activation,
    ) -> candle_core::Result<SparseLinear> {
        match weight {
            AnySparse24::F32(w) => {
                Self::new(with_bias(Sparse24Linear::from_sparse(w), bias, activation)?)
            }
            AnySparse24::F16(w) => {
                Self::new(with_bias(Sparse24Linear::from_sparse(w), bias, activation)?)
            }
            AnySparse24::BF16(w) => {
                Self::new(with_bias(Sparse24Linear::from_sparse(w), bias, activation)?)
            }
        }
    }

    /// The same layer with weights and bias in `dtype` (f32, f16 or bf16; rounded to
    /// nearest even): what the GPU kernels need for an f32 checkpoint. The output
    /// dtype follows when it was the weights' own; an explicit other one is kept.
    pub fn to_dtype(&self, dtype: DType) -> candle_core::Result<SparseLinear> {
        let target = sparse24_dtype(dtype)?;
        let own = sparse24_dtype(self.dtype())?;
        with_layer!(&*self.layer, l => {
            let e = l.epilogue();
            let output = if e.output == own { target } else { e.output };
            let epilogue = sparse24::linear::LinearEpilogue { output, ..e };
            match target {
                sparse24::DType::F32 => Self::new(convert_layer::<_, f32>(l, epilogue)?),
                sparse24::DType::F16 => Self::new(convert_layer::<_, f16>(l, epilogue)?),
                sparse24::DType::BF16 => Self::new(convert_layer::<_, bf16>(l, epilogue)?),
            }
        })
    }

    /// The sparse24 layer inside.
    pub fn layer(&self) -> &AnyLinear {
        &self.layer
    }
    /// The dtype of the weights and of the input.
    pub fn dtype(&self) -> DType {
        self.layer.dtype()
    }
    /// The dtype of the output.
    pub fn output_dtype(&self) -> DType {
        self.layer.output_dtype()
    }
    /// Input features.
    pub fn in_features(&self) -> usize {
        self.layer.in_features()
    }
    /// Output features.
    pub fn out_features(&self) -> usize {
        self.layer.out_features()
    }

    /// The decompressed weight [out, in] (zeros where pruned) and the bias, as CPU
    /// tensors in the layer's dtype: the same layer for candle's dense ops (e.g. to
    /// check a model against its dense twin).
    pub fn dense_weight_and_bias(&self) -> candle_core::Result<(Tensor, Option<Tensor>)> {
        dense_parts(&self.layer)
    }
}

impl Module for SparseLinear {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let dims = x.dims();
        // No rows: nothing for the kernels to do (and no zero-length device buffers
        // to hand them); candle makes the empty result on any device.
        if dims.len() > 1 && dims[..dims.len() - 1].contains(&0) {
            let mut out = dims.to_vec();
            if let Some(last) = out.last_mut() {
                *last = self.out_features();
            }
            return Tensor::zeros(out, self.output_dtype(), x.device());
        }
        x.contiguous()?.apply_op1_no_bwd(&*self.layer)
    }
}

/// Adds the bias (converted to `T`) and the activation to a layer.
fn with_bias<T: Element>(
    l: Sparse24Linear<T>,
    bias: Option<&Tensor>,
    activation: Activation,
) -> candle_core::Result<Sparse24Linear<T>> {
    let l = match bias {
        Some(b) => {
            let n = b.dims1()?;
            if n != l.out_features() {
                candle_core::bail!(
                    "sparse24 linear: the bias has {n} elements, the layer {} outputs",
                    l.out_features()
                );
            }
            l.with_bias(host_vec::<T>(b)?).map_err(wrap)?
        }
        None => l,
    };
    Ok(l.with_activation(activation))
}

/// `l` with weights and bias in `T` and `epilogue`.
fn convert_layer<S: Element, T: Element>(
    l: &Sparse24Linear<S>,
    epilogue: sparse24::linear::LinearEpilogue,
) -> candle_core::Result<Sparse24Linear<T>> {
    let mut out = Sparse24Linear::from_sparse(convert_sparse::<S, T>(l.weight())?);
    if let Some(b) = l.bias() {
        out = out.with_bias(crate::layer::cast::<S, T>(b)).map_err(wrap)?;
    }
    Ok(out.with_epilogue(epilogue))
}
