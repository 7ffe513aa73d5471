//! [`AnyLinear`]: a sparse24 layer of any element type, and the conversions between
//! sparse24's and candle's types that the op and the loader share.

use candle_core::{DType, Device, Tensor};
use sparse24::linear::SparseLinear as Sparse24Linear;
use sparse24::{bf16, f16, Element, Sparse24};

use crate::wrap;

/// A [`sparse24::linear::SparseLinear`] of f32, f16 or bf16 elements (the GPU
/// kernels take f16 and bf16; the CPU path all three). It is the candle
/// [`CustomOp1`](candle_core::CustomOp1) [`crate::SparseLinear`] applies (X must be
/// contiguous when applied directly).
#[derive(Debug)]
pub enum AnyLinear {
    /// f32 weights (CPU only).
    F32(Sparse24Linear<f32>),
    /// f16 weights.
    F16(Sparse24Linear<f16>),
    /// bf16 weights.
    BF16(Sparse24Linear<bf16>),
}

macro_rules! any_linear_from {
    ($t:ty, $v:ident) => {
        impl From<Sparse24Linear<$t>> for AnyLinear {
            fn from(l: Sparse24Linear<$t>) -> AnyLinear {
                AnyLinear::$v(l)
            }
        }
    };
}
any_linear_from!(f32, F32);
any_linear_from!(f16, F16);
any_linear_from!(bf16, BF16);

/// Runs `$body` with `$l` bound to the typed layer inside an [`AnyLinear`].
macro_rules! with_layer {
    ($any:expr, $l:ident => $body:expr) => {
        match $any {
            AnyLinear::F32($l) => $body,
            AnyLinear::F16($l) => $body,
            AnyLinear::BF16($l) => $body,
        }
    };
}
pub(crate) use with_layer;

/// candle's dtype for a sparse24 dtype.
pub fn candle_dtype(d: sparse24::DType) -> DType {
    match d {
        sparse24::DType::F32 => DType::F32,
        sparse24::DType::F16 => DType::F16,
        sparse24::DType::BF16 => DType::BF16,
    }
}

/// sparse24's dtype for a candle dtype, if sparse24 has it (f32, f16, bf16).
pub fn sparse24_dtype(d: DType) -> candle_core::Result<sparse24::DType> {
    match d {
        DType::F32 => Ok(sparse24::DType::F32),
        DType::F16 => Ok(sparse24::DType::F16),
        DType::BF16 => Ok(sparse24::DType::BF16),
        other => candle_core::bail!("sparse24 layers hold f32, f16 or bf16, not {other:?}"),
    }
}

/// The elements of a host tensor of any float dtype as `T` (rounded to nearest even).
pub(crate) fn host_vec<T: Element>(t: &Tensor) -> candle_core::Result<Vec<T>> {
    let t = t.flatten_all()?.to_device(&Device::Cpu)?;
    Ok(match t.dtype() {
        DType::F32 => cast(&t.to_vec1::<f32>()?),
        DType::F16 => cast(&t.to_vec1::<f16>()?),
        DType::BF16 => cast(&t.to_vec1::<bf16>()?),
        other => candle_core::bail!("expected a f32, f16 or bf16 tensor, got {other:?}"),
    })
}

/// Elementwise conversion between sparse24 element types (through f32, which holds
/// every f16 and bf16 exactly).
pub(crate) fn cast<S: Element, T: Element>(v: &[S]) -> Vec<T> {
    v.iter().map(|x| T::from_f32(x.to_f32())).collect()
}

/// A CPU tensor of shape `shape` from sparse24 elements.
pub(crate) fn tensor_of<T: Element>(v: &[T], shape: &[usize]) -> candle_core::Result<Tensor> {
    Tensor::from_raw_buffer(
        bytemuck::cast_slice(v),
        candle_dtype(T::DTYPE),
        shape,
        &Device::Cpu,
    )
}

/// A compressed weight converted to element type `T` (same kept positions).
pub(crate) fn convert_sparse<S: Element, T: Element>(
    s: &Sparse24<S>,
) -> candle_core::Result<Sparse24<T>> {
    Sparse24::from_parts(s.rows(), s.cols(), cast(s.values()), s.metadata().to_vec()).map_err(wrap)
}

impl AnyLinear {
    /// The element type of the weights (and of the input the layer takes).
    pub fn dtype(&self) -> DType {
        with_layer!(self, l => candle_dtype(l.weight_dtype()))
    }
    /// The dtype of the output.
    pub fn output_dtype(&self) -> DType {
        with_layer!(self, l => candle_dtype(l.output_dtype()))
    }
    /// Input features (`in`).
    pub fn in_features(&self) -> usize {
        with_layer!(self, l => l.in_features())
    }
    /// Output features (`out`).
    pub fn out_features(&self) -> usize {
        with_layer!(self, l => l.out_features())
    }
    /// The epilogue (alpha, beta, activation, output dtype).
    pub fn epilogue(&self) -> sparse24::linear::LinearEpilogue {
        with_layer!(self, l => l.epilogue())
    }
}

/// The element type of a layer, by its weight.
trait WeightDtype {
    fn weight_dtype(&self) -> sparse24::DType;
}

impl<T: Element> WeightDtype for Sparse24Linear<T> {
    fn weight_dtype(&self) -> sparse24::DType {
        T::DTYPE
    }
}
