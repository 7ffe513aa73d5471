//! A torch tensor seen from Rust through its `data_ptr()`: dtype, shape, strides and
//! device are read from the tensor and checked before any byte is touched, so a
//! wrong tensor is an error (never a read out of bounds). Nothing is copied: CPU
//! tensors become slices over torch's storage, CUDA tensors raw device addresses.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyString;
use sparse24::error::{Error, Result};
use sparse24::{bf16, f16, DType, Element};

/// Where a tensor's storage lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Device {
    /// Host memory.
    Cpu,
    /// CUDA device of this ordinal.
    Cuda(usize),
    /// Anything else (meta, mps, ...), by torch's name.
    Other(String),
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda(i) => write!(f, "cuda:{i}"),
            Device::Other(s) => write!(f, "{s}"),
        }
    }
}

/// The element types the bindings read: the three float types of the kernels plus
/// the int16 of PyTorch's metadata and the bool of masks.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Scalar {
    /// A float type sparse24 computes in.
    Float(DType),
    /// torch.int16 (CUTLASS metadata).
    I16,
    /// torch.bool (masks; one byte, 0 or 1).
    Bool,
}

impl Scalar {
    fn from_torch(name: &str) -> Option<Scalar> {
        Some(match name {
            "torch.float32" => Scalar::Float(DType::F32),
            "torch.float16" => Scalar::Float(DType::F16),
            "torch.bfloat16" => Scalar::Float(DType::BF16),
            "torch.int16" => Scalar::I16,
            "torch.bool" => Scalar::Bool,
            _ => return None,
        })
    }

    /// torch's name of the type.
    pub fn torch_name(self) -> &'static str {
        match self {
            Scalar::Float(DType::F32) => "torch.float32",
            Scalar::Float(DType::F16) => "torch.float16",
            Scalar::Float(DType::BF16) => "torch.bfloat16",
            Scalar::I16 => "torch.int16",
            Scalar::Bool => "torch.bool",
        }
    }

    fn size(self) -> usize {
        match self {
            Scalar::Float(d) => d.size(),
            Scalar::I16 => 2,
            Scalar::Bool => 1,
        }
    }
}

/// What was read from a tensor (its attributes, not its data).
#[derive(Clone, Debug)]
pub struct TensorView {
    /// The argument's name, for errors.
    pub name: &'static str,
    /// `None`: a dtype the bindings never take (named in `dtype_name`).
    pub scalar: Option<Scalar>,
    dtype_name: String,
    /// Sizes.
    pub shape: Vec<usize>,
    strides: Vec<i64>,
    /// Where the storage lives.
    pub device: Device,
    ptr: usize,
}

fn bad(name: &'static str, why: String) -> Error {
    Error::InvalidArgument { what: name, why }
}

impl TensorView {
    /// Reads the attributes of `t`, which must be a `torch.Tensor` (anything without
    /// them is refused by name). Attribute names are interned: this runs on every
    /// forward.
    pub fn read<'py>(name: &'static str, t: &Bound<'py, PyAny>) -> PyResult<TensorView> {
        let py = t.py();
        let not_a_tensor = || {
            let ty = t
                .get_type()
                .name()
                .map_or_else(|_| "?".to_string(), |n| n.to_string());
            crate::to_py(bad(name, format!("expected a torch.Tensor, got {ty}")))
        };
        let attr = |n: &Bound<'py, PyString>| t.getattr(n).map_err(|_| not_a_tensor());
        let dtype_name: String = attr(intern!(py, "dtype"))?.str()?.extract()?;
        let shape: Vec<i64> = attr(intern!(py, "shape"))?.extract()?;
        let strides: Vec<i64> = attr(intern!(py, "stride"))?.call0()?.extract()?;
        let dev = attr(intern!(py, "device"))?;
        let kind: String = dev.getattr(intern!(py, "type"))?.extract()?;
        let index: Option<i64> = dev.getattr(intern!(py, "index"))?.extract()?;
        let device = match (kind.as_str(), index) {
            ("cpu", _) => Device::Cpu,
            ("cuda", Some(i)) if i >= 0 => Device::Cuda(i as usize),
            ("cuda", _) => Device::Cuda(0),
            _ => Device::Other(kind),
        };
        // Meta tensors have no storage: their data_ptr is 0 and never read.
        let ptr: usize = attr(intern!(py, "data_ptr"))?.call0()?.extract()?;
        Ok(TensorView {
            name,
            scalar: Scalar::from_torch(&dtype_name),
            dtype_name,
            shape: shape.into_iter().map(|d| d.max(0) as usize).collect(),
            strides,
            device,
            ptr,
        })
    }

    /// Elements (checked product of the sizes).
    pub fn numel(&self) -> Result<usize> {
        self.shape.iter().try_fold(1usize, |a, &d| {
            a.checked_mul(d)
                .ok_or_else(|| bad(self.name, format!("shape {:?} overflows", self.shape)))
        })
    }

    /// Checks the dtype.
    pub fn dtype(&self, want: Scalar) -> Result<&Self> {
        if self.scalar != Some(want) {
            return Err(bad(
                self.name,
                format!(
                    "dtype {} where {} is needed",
                    self.dtype_name,
                    want.torch_name()
                ),
            ));
        }
        Ok(self)
    }

    /// Checks the dtype is one of the float types and returns it.
    pub fn float(&self) -> Result<DType> {
        match self.scalar {
            Some(Scalar::Float(d)) => Ok(d),
            _ => Err(bad(
                self.name,
                format!(
                    "dtype {} where torch.float32, torch.float16 or torch.bfloat16 is needed",
                    self.dtype_name
                ),
            )),
        }
    }

    /// Checks the device.
    pub fn on(&self, want: &Device) -> Result<&Self> {
        if &self.device != want {
            return Err(bad(
                self.name,
                format!("on {} where {want} is needed", self.device),
            ));
        }
        Ok(self)
    }

    /// Checks the shape.
    pub fn shape_is(&self, want: &[usize]) -> Result<&Self> {
        if self.shape != want {
            return Err(bad(
                self.name,
                format!("shape {:?} where {want:?} is needed", self.shape),
            ));
        }
        Ok(self)
    }

    /// Checks the number of dimensions and returns the sizes.
    pub fn dims<const N: usize>(&self) -> Result<[usize; N]> {
        self.shape.as_slice().try_into().map_err(|_| {
            bad(
                self.name,
                format!("shape {:?} where {N} dimensions are needed", self.shape),
            )
        })
    }

    /// Checks the layout is dense row-major (sizes of 1 may have any stride): the
    /// bindings never copy a tensor to make it contiguous.
    pub fn contiguous(&self) -> Result<&Self> {
        if self.shape.contains(&0) {
            return Ok(self); // no element: any strides
        }
        let mut expect: i64 = 1;
        for (&d, &s) in self.shape.iter().zip(&self.strides).rev() {
            if d != 1 && s != expect {
                return Err(bad(
                    self.name,
                    format!(
                        "not contiguous (shape {:?}, strides {:?}): call .contiguous() first",
                        self.shape, self.strides
                    ),
                ));
            }
            expect = expect.saturating_mul(d as i64);
        }
        Ok(self)
    }

    /// Checks the tensor is a contiguous CPU tensor of `S` and returns its data.
    ///
    /// # Safety
    /// The tensor these attributes were read from must be alive and unchanged
    /// (same storage, no writer) while the slice is used; the bindings hold the GIL
    /// and the tensor's reference for the whole call.
    pub unsafe fn host<S: HostScalar>(&self) -> Result<&[S]> {
        self.dtype(S::SCALAR)?.on(&Device::Cpu)?.contiguous()?;
        let n = self.numel()?;
        if n == 0 {
            return Ok(&[]);
        }
        self.aligned(S::SCALAR)?;
        // SAFETY: dtype, device, contiguity and alignment were checked; torch's
        // storage holds numel elements from data_ptr (offset included), alive per
        // this function's contract.
        Ok(unsafe { std::slice::from_raw_parts(self.ptr as *const S, n) })
    }

    /// As [`TensorView::host`], writable (an output allocated by torch).
    ///
    /// # Safety
    /// As [`TensorView::host`], and nothing else reads or writes the tensor while the
    /// slice is used.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn host_mut<S: HostScalar>(&self) -> Result<&mut [S]> {
        self.dtype(S::SCALAR)?.on(&Device::Cpu)?.contiguous()?;
        let n = self.numel()?;
        if n == 0 {
            return Ok(&mut []);
        }
        self.aligned(S::SCALAR)?;
        // SAFETY: as in `host`; the caller guarantees exclusive access.
        Ok(unsafe { std::slice::from_raw_parts_mut(self.ptr as *mut S, n) })
    }

    /// The device address of a contiguous CUDA tensor of `s` on device `ordinal`.
    pub fn device_ptr(&self, s: Scalar, ordinal: usize) -> Result<u64> {
        self.dtype(s)?.on(&Device::Cuda(ordinal))?.contiguous()?;
        self.aligned(s)?;
        Ok(self.ptr as u64)
    }

    fn aligned(&self, s: Scalar) -> Result<()> {
        if self.ptr == 0 || !self.ptr.is_multiple_of(s.size()) {
            return Err(bad(
                self.name,
                format!(
                    "data_ptr {:#x} is not a valid address of {} elements",
                    self.ptr,
                    s.torch_name()
                ),
            ));
        }
        Ok(())
    }
}

/// Element types a host slice can be made of.
pub trait HostScalar: bytemuck_free::Pod {
    /// The tensor dtype holding it.
    const SCALAR: Scalar;
}

/// Plain-old-data marker without a bytemuck dependency: every bit pattern of these
/// types is a valid value, so reading torch's bytes as them is sound.
mod bytemuck_free {
    /// Any bit pattern is a value.
    pub trait Pod: Copy + 'static {}
    impl Pod for f32 {}
    impl Pod for super::f16 {}
    impl Pod for super::bf16 {}
    impl Pod for i16 {}
    impl Pod for u8 {}
}

impl HostScalar for f32 {
    const SCALAR: Scalar = Scalar::Float(DType::F32);
}
impl HostScalar for f16 {
    const SCALAR: Scalar = Scalar::Float(DType::F16);
}
impl HostScalar for bf16 {
    const SCALAR: Scalar = Scalar::Float(DType::BF16);
}
impl HostScalar for i16 {
    const SCALAR: Scalar = Scalar::I16;
}
/// torch.bool, read and written as bytes 0/1.
impl HostScalar for u8 {
    const SCALAR: Scalar = Scalar::Bool;
}

/// The float element types, for generic code over a layer's dtype.
pub trait FloatScalar: Element + HostScalar + sparse24::io::FileElement {}
impl FloatScalar for f32 {}
impl FloatScalar for f16 {}
impl FloatScalar for bf16 {}
