//! The one error type of the crate: every public fallible call returns it.

use thiserror::Error;

/// Everything that can go wrong in sparse24, each variant naming the offending place.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum Error {
    /// A dimension does not meet the format's or kernel's granularity.
    #[error("bad shape: {what} = {value}, but {requirement}")]
    Shape {
        what: &'static str,
        value: usize,
        requirement: &'static str,
    },
    /// Dimensions whose element count does not fit: the product overflows or
    /// exceeds [`crate::shape::MAX_ELEMENTS`].
    #[error(
        "shape overflow: {what} of dimensions {dims:?} exceeds the limit of 2^60 - 1 elements"
    )]
    ShapeOverflow {
        what: &'static str,
        dims: Vec<usize>,
    },
    /// A buffer's length does not match the shape it was given with.
    #[error("length mismatch: {what} has {actual} elements, expected {expected}")]
    Length {
        what: &'static str,
        expected: usize,
        actual: usize,
    },
    /// A group of four holds more than two nonzeros, so the matrix is not 2:4.
    #[error("not 2:4 sparse: row {row}, group {group} (columns {}..{}) has {nonzeros} nonzeros", group * 4, group * 4 + 3)]
    NotTwoFour {
        row: usize,
        group: usize,
        nonzeros: usize,
    },
    /// Metadata holds a code that is not one of the six legal 2:4 codes.
    #[error("illegal 2:4 metadata code {code:#x} at row {row}, group {group} (legal: 0x4, 0x8, 0xc, 0x9, 0xd, 0xe)")]
    IllegalCode { row: usize, group: usize, code: u8 },
    /// A NaN or ±Inf in data sparse24 validates (see [`crate::dtype::check_finite`]
    /// for the policy: weights, scores, activation norms, logits).
    #[error("non-finite value (NaN or ±Inf) in {what} at row {row}, column {col}")]
    NonFinite {
        what: &'static str,
        row: usize,
        col: usize,
    },
    /// An argument outside its domain (e.g. a temperature ≤ 0).
    #[error("invalid argument {what}: {why}")]
    InvalidArgument { what: &'static str, why: String },
    /// A device pointer that the kernel cannot use (alignment).
    #[error("misaligned pointer: {what} at {addr:#x} must be {align}-byte aligned")]
    Misaligned {
        what: &'static str,
        addr: u64,
        align: usize,
    },
    /// No usable CUDA device: library missing, no device, or compute capability < 8.0.
    #[error("no CUDA device: {0}")]
    NoCudaDevice(String),
    /// The crate was built without nvcc, so it carries no GPU kernels.
    #[error("the GPU kernels were not compiled into this build (nvcc was not found at build time; run scripts/install-cuda-compiler.sh and rebuild)")]
    KernelsNotCompiled,
    /// A kernel name that no embedded module provides.
    #[error("unknown kernel {module}::{kernel}")]
    UnknownKernel { module: String, kernel: String },
    /// An error reported by the CUDA driver or a CUDA library.
    #[error("CUDA error: {0}")]
    Cuda(String),
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
    Checksum { expected: String, actual: String },
    /// One tensor of a file fails validation (missing, dtype, shape, length, codes).
    #[error("tensor `{tensor}`: {source}")]
    Tensor { tensor: String, source: Box<Error> },
}

/// Shorthand used across the crate.
pub type Result<T> = std::result::Result<T, Error>;

impl From<cudarc::driver::DriverError> for Error {
    fn from(e: cudarc::driver::DriverError) -> Self {
        Error::Cuda(e.to_string())
    }
}

impl From<ptxsim::SimError> for Error {
    fn from(e: ptxsim::SimError) -> Self {
        Error::Sim(e.to_string())
    }
}
