//! The element types the formats and kernels accept (f32, f16, bf16).

use crate::error::{Error, Result};
use half::{bf16, f16};

/// Which element type a buffer holds; kernels are instantiated per dtype.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// 32-bit IEEE float.
    F32,
    /// 16-bit IEEE half.
    F16,
    /// bfloat16: f32's exponent, 8 bits of significand.
    BF16,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F16 | DType::BF16 => 2,
        }
    }
    /// Short lowercase name, as used in kernel names and reports.
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
        }
    }
}

/// An element type of a weight or activation matrix.
pub trait Element:
    Copy + Default + PartialEq + Send + Sync + std::fmt::Debug + bytemuck::Pod + 'static
{
    /// The [`DType`] of this element type.
    const DTYPE: DType;
    /// The exact value as f32 (every f16 and bf16 is one).
    fn to_f32(self) -> f32;
    /// The exact value as f64.
    fn to_f64(self) -> f64 {
        self.to_f32() as f64
    }
    /// Round to nearest even from f32.
    fn from_f32(v: f32) -> Self;
    /// Round to nearest even from f64 (via f32 for the half types: double rounding
    /// is harmless here because the f32 step is exact for every representable half).
    fn from_f64(v: f64) -> Self;
    /// Whether the value is a NaN.
    fn is_nan(self) -> bool {
        self.to_f32().is_nan()
    }
    /// Neither NaN nor ±Inf (the test of [`check_finite`]).
    fn is_finite(self) -> bool {
        self.to_f32().is_finite()
    }
    /// Zero in value: +0.0 and -0.0.
    fn is_zero(self) -> bool {
        self.to_f32() == 0.0
    }
    /// Unit roundoff of the type (2^-24, 2^-11, 2^-8).
    const EPS: f64;
}

impl Element for f32 {
    const DTYPE: DType = DType::F32;
    const EPS: f64 = 5.960_464_477_539_063e-8;
    fn to_f32(self) -> f32 {
        self
    }
    fn from_f32(v: f32) -> Self {
        v
    }
    fn from_f64(v: f64) -> Self {
        v as f32
    }
}

impl Element for f16 {
    const DTYPE: DType = DType::F16;
    const EPS: f64 = 4.882_812_5e-4;
    fn to_f32(self) -> f32 {
        f16::to_f32(self)
    }
    fn from_f32(v: f32) -> Self {
        f16::from_f32(v)
    }
    fn from_f64(v: f64) -> Self {
        f16::from_f64(v)
    }
}

impl Element for bf16 {
    const DTYPE: DType = DType::BF16;
    const EPS: f64 = 3.906_25e-3;
    fn to_f32(self) -> f32 {
        bf16::to_f32(self)
    }
    fn from_f32(v: f32) -> Self {
        bf16::from_f32(v)
    }
    fn from_f64(v: f64) -> Self {
        bf16::from_f64(v)
    }
}

/// The NaN/Inf policy of sparse24, enforced here and by the status words of the prune
/// and hard-mask kernels (`!isfinite`, kernels/elem.cuh):
///
/// Every number sparse24 takes as data to validate — weights entering the 2:4 format
/// (`compress`, `compress_masked`, `from_parts`/`validate`, torch import, the file
/// loaders through `from_parts`), pruning scores and activation norms, learner
/// logits — must be finite; NaN and ±Inf are refused with
/// [`Error::NonFinite`] naming the row and column. Activations X fed to GEMMs are
/// not scanned (hot path; IEEE arithmetic propagates).
///
/// `data` is row-major with `per_row` elements per row; the first offender wins.
pub fn check_finite<T: Element>(what: &'static str, data: &[T], per_row: usize) -> Result<()> {
    match data.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(non_finite_at(what, i, per_row)),
        None => Ok(()),
    }
}

/// The [`Error::NonFinite`] of flat element `index` of a row-major buffer with
/// `per_row` elements per row.
pub fn non_finite_at(what: &'static str, index: usize, per_row: usize) -> Error {
    let per_row = per_row.max(1);
    Error::NonFinite {
        what,
        row: index / per_row,
        col: index % per_row,
    }
}
