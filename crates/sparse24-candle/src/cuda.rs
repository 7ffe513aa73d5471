//! The CUDA forward of the op: sparse24's kernels enqueued on the stream of candle's
//! device, reading X in place from candle's buffer (a view at the layout's offset:
//! zero-copy when 16-byte aligned, staged by sparse24 otherwise) and writing Y into
//! a buffer allocated on the same stream, which becomes the result's storage.
//!
//! candle and sparse24 are built on one cudarc, so candle's `CudaStream` and
//! `CudaSlice` are the ones sparse24's `forward_with` takes; cudarc's events order
//! the kernel with candle's other uses of the buffers. The weights are uploaded on
//! the first forward (sparse24 keeps them, per layer, in candle's CUDA context), and
//! the split-K workspace is sparse24's per-stream one.

use candle_core::cuda_backend::cudarc::driver::DeviceRepr;
use candle_core::cuda_backend::{CudaDType, CudaStorage};
use candle_core::{Layout, Shape};
use sparse24::linear::SparseLinear as Sparse24Linear;
use sparse24::{bf16, f16, Element};

use crate::layer::AnyLinear;
use crate::op::rows;
use crate::wrap;

/// Y = layer(X) on candle's stream.
pub(crate) fn forward(
    layer: &AnyLinear,
    storage: &CudaStorage,
    layout: &Layout,
) -> candle_core::Result<(CudaStorage, Shape)> {
    let r = rows(layer, layout)?;
    let y = match layer {
        AnyLinear::F16(l) => typed::<f16>(l, storage, r.start..r.end, r.tokens)?,
        AnyLinear::BF16(l) => typed::<bf16>(l, storage, r.start..r.end, r.tokens)?,
        AnyLinear::F32(_) => candle_core::bail!(
            "sparse24 linear: the GPU kernels take f16 or bf16 layers, this one is f32 \
             (convert it with SparseLinear::to_dtype and the input with Tensor::to_dtype)"
        ),
    };
    Ok((y, r.out_shape))
}

/// The forward of a layer of element type `T` in its output dtype.
fn typed<T: Element + CudaDType + DeviceRepr>(
    l: &Sparse24Linear<T>,
    storage: &CudaStorage,
    range: std::ops::Range<usize>,
    tokens: usize,
) -> candle_core::Result<CudaStorage> {
    let buffer = storage.as_cuda_slice::<T>()?;
    let len = buffer.len();
    let x = buffer.try_slice(range.clone()).ok_or_else(|| {
        candle_core::Error::Msg(format!(
            "sparse24 linear: the layout addresses {range:?} of a buffer of {len}"
        ))
    })?;
    match l.output_dtype() {
        sparse24::DType::F32 => output::<T, f32>(l, storage, &x, tokens),
        sparse24::DType::F16 => output::<T, f16>(l, storage, &x, tokens),
        sparse24::DType::BF16 => output::<T, bf16>(l, storage, &x, tokens),
    }
}

/// Allocates Y in `O` on candle's stream and enqueues the forward into it.
fn output<T, O>(
    l: &Sparse24Linear<T>,
    storage: &CudaStorage,
    x: &candle_core::cuda_backend::cudarc::driver::CudaView<'_, T>,
    tokens: usize,
) -> candle_core::Result<CudaStorage>
where
    T: Element + DeviceRepr,
    O: Element + CudaDType + DeviceRepr,
{
    let dev = storage.device.clone();
    let stream = dev.cuda_stream();
    let len = tokens
        .checked_mul(l.out_features())
        .ok_or_else(|| candle_core::Error::Msg("sparse24 linear: Y overflows usize".into()))?;
    // SAFETY: the kernel writes every element of Y before anything on candle's
    // stream (the only one that sees Y until this function returns it) reads it.
    let mut y = unsafe { dev.alloc::<O>(len) }?;
    l.forward_with(&stream, x, tokens, &mut y, None)
        .map_err(wrap)?;
    Ok(CudaStorage::wrap_cuda_slice(y, dev))
}
