//! The candle [`CustomOp1`] behind [`crate::SparseLinear`]: `X[.., in] → Y[.., out]`
//! with the layer's whole epilogue (bias, activation, output dtype) fused, on the CPU
//! through sparse24's CPU path and, with the `cuda` feature, through sparse24's
//! kernels on candle's stream (src/cuda.rs).

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, Layout, Shape};
use sparse24::linear::SparseLinear as Sparse24Linear;
use sparse24::Element;

use crate::layer::{with_layer, AnyLinear};
use crate::wrap;

/// The geometry of one forward: rows of X (all leading dimensions together) and the
/// shape of Y.
pub(crate) struct Rows {
    pub tokens: usize,
    pub out_shape: Shape,
    /// Element range of X in its storage.
    pub start: usize,
    pub end: usize,
}

/// Checks X's layout against the layer: contiguous, last dimension `in`, and a
/// token count whose Y fits in memory.
pub(crate) fn rows(layer: &AnyLinear, layout: &Layout) -> candle_core::Result<Rows> {
    let dims = layout.dims();
    let (inn, out) = (layer.in_features(), layer.out_features());
    let Some((&last, lead)) = dims.split_last() else {
        candle_core::bail!("sparse24 linear: the input is a scalar, expected [.., {inn}]");
    };
    if last != inn {
        candle_core::bail!("sparse24 linear: the input is {dims:?}, expected [.., {inn}]");
    }
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("sparse24 linear: the input must be contiguous (call .contiguous())");
    };
    let tokens = lead.iter().product::<usize>();
    if tokens.checked_mul(out).is_none() {
        candle_core::bail!("sparse24 linear: {tokens} rows of {out} outputs overflow usize");
    }
    let mut out_dims = lead.to_vec();
    out_dims.push(out);
    Ok(Rows {
        tokens,
        out_shape: Shape::from(out_dims),
        start,
        end,
    })
}

/// X's elements in its storage (candle's layout is trusted, but checked: no panic).
fn slice<'a, T>(x: &'a [T], r: &Rows) -> candle_core::Result<&'a [T]> {
    x.get(r.start..r.end).ok_or_else(|| {
        candle_core::Error::Msg(format!(
            "sparse24 linear: the layout addresses {}..{} of a storage of {}",
            r.start,
            r.end,
            x.len()
        ))
    })
}

/// The CPU forward of a typed layer on X (already sliced), in the layer's output
/// dtype.
fn cpu_forward<T: Element>(
    l: &Sparse24Linear<T>,
    x: &[T],
    tokens: usize,
) -> candle_core::Result<CpuStorage> {
    Ok(match l.output_dtype() {
        sparse24::DType::F32 => CpuStorage::F32(l.forward_cpu_with(x, tokens, None).map_err(wrap)?),
        sparse24::DType::F16 => CpuStorage::F16(l.forward_cpu_with(x, tokens, None).map_err(wrap)?),
        sparse24::DType::BF16 => {
            CpuStorage::BF16(l.forward_cpu_with(x, tokens, None).map_err(wrap)?)
        }
    })
}

impl CustomOp1 for AnyLinear {
    fn name(&self) -> &'static str {
        "sparse24-linear"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let r = rows(self, layout)?;
        let y = match (self, storage) {
            (AnyLinear::F32(l), CpuStorage::F32(x)) => cpu_forward(l, slice(x, &r)?, r.tokens),
            (AnyLinear::F16(l), CpuStorage::F16(x)) => cpu_forward(l, slice(x, &r)?, r.tokens),
            (AnyLinear::BF16(l), CpuStorage::BF16(x)) => cpu_forward(l, slice(x, &r)?, r.tokens),
            _ => candle_core::bail!(
                "sparse24 linear: the layer holds {:?} weights but the input is {:?}",
                self.dtype(),
                storage.dtype()
            ),
        }?;
        Ok((y, r.out_shape))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        storage: &candle_core::CudaStorage,
        layout: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        crate::cuda::forward(self, storage, layout)
    }
}

/// The dense weight [out, in] and bias of a layer, decompressed (pruned positions
/// are zeros), as CPU tensors in the layer's dtype.
pub(crate) fn dense_parts(
    layer: &AnyLinear,
) -> candle_core::Result<(candle_core::Tensor, Option<candle_core::Tensor>)> {
    with_layer!(layer, l => {
        let w = crate::layer::tensor_of(&l.weight().decompress(), &[l.out_features(), l.in_features()])?;
        let b = match l.bias() {
            Some(b) => Some(crate::layer::tensor_of(b, &[b.len()])?),
            None => None,
        };
        Ok((w, b))
    })
}
