//! The one error type of the crate: every public fallible call returns it.

use thiserror::Error;

/// Everything that can go wrong in sparse24, each variant naming the offending place.
/// Non-exhaustive: later versions may add variants without a major release.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// A dimension does not meet the format's or kernel's granularity.
    #[error("bad shape: {what} = {value}, but {requirement}")]
    Shape {
        /// The dimension.
        what: &'static str,
        /// Its value.
        value: usize,
        /// What it must be.
        requirement: &'static str,
    },
    /// Dimensions whose element count does not fit: the product overflows or
    /// exceeds [`crate::shape::MAX_ELEMENTS`].
    #[error(
        "shape overflow: {what} of dimensions {dims:?} exceeds the limit of 2^60 - 1 elements"
    )]
    ShapeOverflow {
        /// The matrix.
        what: &'static str,
        /// Its dimensions.
        dims: Vec<usize>,
    },
    /// A buffer's length does not match the shape it was given with.
    #[error("length mismatch: {what} has {actual} elements, expected {expected}")]
    Length {
        /// The buffer.
        what: &'static str,
        /// Elements the shape needs.
        expected: usize,
        /// Elements it has.
        actual: usize,
    },
    /// A group of four holds more than two nonzeros, so the matrix is not 2:4.
    #[error("not 2:4 sparse: row {row}, group {group} (columns {}..{}) has {nonzeros} nonzeros", group * 4, group * 4 + 3)]
    NotTwoFour {
        /// The row.
        row: usize,
        /// The group of four within the row (columns `4·group..4·group + 4`).
        group: usize,
        /// Its nonzeros (3 or 4).
        nonzeros: usize,
    },
    /// Metadata holds a code that is not one of the six legal 2:4 codes.
    #[error("illegal 2:4 metadata code {code:#x} at row {row}, group {group} (legal: 0x4, 0x8, 0xc, 0x9, 0xd, 0xe)")]
    IllegalCode {
        /// The row.
        row: usize,
        /// The group of four within the row.
        group: usize,
        /// The 4-bit code found.
        code: u8,
    },
    /// A NaN or ±Inf in data sparse24 validates (see [`crate::dtype::check_finite`]
    /// for the policy: weights, scores, activation norms, logits).
    #[error("non-finite value (NaN or ±Inf) in {what} at row {row}, column {col}")]
    NonFinite {
        /// The data.
        what: &'static str,
        /// Row of the value.
        row: usize,
        /// Column of the value.
        col: usize,
    },
    /// Shard bounds that do not partition a dimension into non-empty, aligned ranges
    /// (see [`crate::shape::check_bounds`]): `bounds` are the fences
    /// `0 = b₀ < b₁ < … < bₙ = len` of `n` shards along `what`.
    #[error("bad shard bounds {bounds:?} for {what} = {len}: {why}")]
    ShardBounds {
        /// The dimension split (`rows`, `cols`, `out`, `in`).
        what: &'static str,
        /// Its length.
        len: usize,
        /// The fences given.
        bounds: Vec<usize>,
        /// The first violation.
        why: String,
    },
    /// An argument outside its domain (e.g. a temperature ≤ 0).
    #[error("invalid argument {what}: {why}")]
    InvalidArgument {
        /// The argument.
        what: &'static str,
        /// Why it is refused.
        why: String,
    },
    /// A device pointer that the kernel cannot use (alignment).
    #[error("misaligned pointer: {what} at {addr:#x} must be {align}-byte aligned")]
    Misaligned {
        /// The buffer.
        what: &'static str,
        /// Its device address.
        addr: u64,
        /// The alignment it needs, in bytes.
        align: usize,
    },
    /// No usable CUDA device: library missing, no device, or compute capability < 8.0.
    #[error("no CUDA device: {0}")]
    NoCudaDevice(String),
    /// The crate was built without nvcc, so it carries no GPU kernels.
    #[error("the GPU kernels were not compiled into this build of sparse24: nvcc was not found at build time. Set NVCC to the nvcc binary (or CUDA_HOME to the toolkit, or put nvcc on PATH) and rebuild; enable sparse24's `require-kernels` feature to make a missing nvcc a build error")]
    KernelsNotCompiled,
    /// A kernel name that no embedded module provides.
    #[error("unknown kernel {module}::{kernel}")]
    UnknownKernel {
        /// The module (kernel source file stem).
        module: String,
        /// The kernel's name.
        kernel: String,
    },
    /// An error reported by the CUDA driver or a CUDA library, with its result code
    /// when the library gave one ([`Error::is_out_of_memory`] reads it).
    #[error("CUDA error: {message}")]
    Cuda {
        /// The library's result code, when it gave one.
        code: Option<CudaCode>,
        /// What failed, with the library's description.
        message: String,
    },
    /// An error reported by the PTX emulator.
    #[error("ptxsim: {0}")]
    Sim(String),
    /// A file or (de)serialisation problem.
    #[error("I/O: {0}")]
    Io(String),
    /// A file that is not a valid safetensors container or sparse24 header
    /// (truncated, corrupted header, unsupported format version).
    #[error("invalid file: {0}")]
    Format(String),
    /// Stored bytes do not match the checksum the file's header gives for them.
    #[error("checksum mismatch (the data is corrupted): header says {expected}, the bytes hash to {actual}")]
    Checksum {
        /// The checksum the header gives.
        expected: String,
        /// The checksum of the bytes read.
        actual: String,
    },
    /// One tensor of a file fails validation (missing, dtype, shape, length, codes).
    #[error("tensor `{tensor}`: {source}")]
    Tensor {
        /// The tensor's name in the file.
        tensor: String,
        /// What is wrong with it.
        source: Box<Error>,
    },
}

/// Shorthand used across the crate.
pub type Result<T> = std::result::Result<T, Error>;

/// The result code behind an [`Error::Cuda`], by the library that returned it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CudaCode {
    /// A CUDA driver API result.
    Driver(cudarc::driver::sys::CUresult),
    /// A cuBLASLt status.
    CublasLt(cudarc::cublaslt::sys::cublasStatus_t),
    /// A cuSPARSELt status (`cusparseStatus_t`; its binding here is not cudarc's).
    CusparseLt(i32),
}

/// cuSPARSELt's `CUSPARSE_STATUS_ALLOC_FAILED`.
const CUSPARSE_STATUS_ALLOC_FAILED: i32 = 3;

impl Error {
    /// A CUDA-side failure without a library result code (a poisoned lock, a library
    /// that cannot be loaded).
    pub fn cuda(message: impl Into<String>) -> Self {
        Error::Cuda {
            code: None,
            message: message.into(),
        }
    }

    /// The CUDA result code, for an [`Error::Cuda`] that carries one.
    pub fn cuda_code(&self) -> Option<CudaCode> {
        match self {
            Error::Cuda { code, .. } => *code,
            Error::Tensor { source, .. } => source.cuda_code(),
            _ => None,
        }
    }

    /// Whether the device (or a CUDA library's allocation on it) ran out of memory:
    /// the error an engine answers by freeing memory or shrinking a batch.
    pub fn is_out_of_memory(&self) -> bool {
        use cudarc::cublaslt::sys::cublasStatus_t;
        use cudarc::driver::sys::CUresult;
        matches!(
            self.cuda_code(),
            Some(CudaCode::Driver(CUresult::CUDA_ERROR_OUT_OF_MEMORY))
                | Some(CudaCode::CublasLt(
                    cublasStatus_t::CUBLAS_STATUS_ALLOC_FAILED
                ))
                | Some(CudaCode::CusparseLt(CUSPARSE_STATUS_ALLOC_FAILED))
        )
    }
}

impl From<cudarc::driver::DriverError> for Error {
    fn from(e: cudarc::driver::DriverError) -> Self {
        Error::Cuda {
            code: Some(CudaCode::Driver(e.0)),
            message: e.to_string(),
        }
    }
}

#[cfg(feature = "sim")]
impl From<ptxsim::SimError> for Error {
    fn from(e: ptxsim::SimError) -> Self {
        Error::Sim(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dependent has no repository scripts: the message names what it can set.
    #[test]
    fn kernels_not_compiled_names_the_feature_and_variables() {
        let m = Error::KernelsNotCompiled.to_string();
        for needle in ["NVCC", "CUDA_HOME", "require-kernels"] {
            assert!(m.contains(needle), "{needle} missing from: {m}");
        }
        assert!(!m.contains("scripts/"), "names a repository script: {m}");
    }

    /// In a build without nvcc (SPARSE24_NO_NVCC=1 or none installed) the first
    /// kernel lookup, which every GPU call makes, returns KernelsNotCompiled.
    #[test]
    fn a_build_without_kernels_says_so_at_the_first_gpu_call() {
        let m = crate::kernels::module(crate::kernels::sparse_gemm::MODULE);
        if crate::kernels::compiled() {
            assert!(m.is_ok());
        } else {
            assert!(matches!(m, Err(Error::KernelsNotCompiled)));
        }
    }

    /// (Built directly: converting a DriverError formats it through libcuda, which
    /// the test machines do not have.)
    #[test]
    fn cuda_code_survives_and_out_of_memory_is_recognised() {
        use cudarc::driver::sys::CUresult;
        let driver = |r| Error::Cuda {
            code: Some(CudaCode::Driver(r)),
            message: String::new(),
        };
        let oom = driver(CUresult::CUDA_ERROR_OUT_OF_MEMORY);
        assert!(oom.is_out_of_memory());
        let wrapped = Error::Tensor {
            tensor: "w".into(),
            source: Box::new(oom),
        };
        assert!(wrapped.is_out_of_memory());
        assert!(!driver(CUresult::CUDA_ERROR_INVALID_VALUE).is_out_of_memory());
        assert!(!Error::cuda("lock poisoned").is_out_of_memory());
        for code in [
            CudaCode::CusparseLt(CUSPARSE_STATUS_ALLOC_FAILED),
            CudaCode::CublasLt(cudarc::cublaslt::sys::cublasStatus_t::CUBLAS_STATUS_ALLOC_FAILED),
        ] {
            let e = Error::Cuda {
                code: Some(code),
                message: String::new(),
            };
            assert!(e.is_out_of_memory());
        }
    }
}
