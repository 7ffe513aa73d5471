//! The benchmark's errors. Each message reads as the text it replaced did, so the
//! tables and logs that scripts/gpu-check.sh collects are unchanged.

use super::args::USAGE;
use cudarc::driver::{sys, DriverError};
use std::path::PathBuf;

pub type Res<T> = std::result::Result<T, BenchError>;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// `-h` / `--help`: the usage text.
    #[error("{usage}", usage = USAGE)]
    Help,
    /// A flag given without its value.
    #[error("{flag} needs {what}")]
    MissingValue {
        flag: &'static str,
        what: &'static str,
    },
    /// A flag whose value is not a number.
    #[error("{flag}: not a number: {value}")]
    NotANumber { flag: &'static str, value: String },
    /// An argument the benchmark does not know.
    #[error("unknown argument {0}\n{usage}", usage = USAGE)]
    UnknownArgument(String),
    /// A CUDA driver call made through cudarc.
    #[error(transparent)]
    Driver(#[from] DriverError),
    /// A CUDA driver call made directly, with its result code.
    #[error("{call}: {code:?}")]
    DriverCall {
        call: &'static str,
        code: sys::CUresult,
    },
    /// A sparse24 call: plans, launches, uploads, pruning, cuBLASLt, cuSPARSELt.
    #[error(transparent)]
    Sparse24(#[from] sparse24::Error),
    /// A library the benchmark needs is not on the loader path.
    #[error("{0}")]
    NotAvailable(&'static str),
    /// A baseline asked for an element type it does not take.
    #[error("{0}")]
    Unsupported(&'static str),
    /// cuSPARSELt's own prune check rejected the weight it pruned.
    #[error("cusparseLtSpMMAPruneCheck says the pruned W is not valid ({0:?})")]
    PruneCheck(Vec<u8>),
    /// The device prune + compress disagrees with the CPU's.
    #[error("device prune+compress differs from the CPU's")]
    PruneMismatch,
    /// `--host-only`: the f64 reference disagrees with the crate's CPU reference.
    #[error("{label} t={tokens}: f64 reference disagrees with the crate's ({err:e})")]
    ReferenceMismatch {
        label: String,
        tokens: usize,
        err: f64,
    },
    /// At least one sparse24 column failed its correctness check.
    #[error("a sparse24 result failed its check (see the table)")]
    ResultFailed,
    /// The results folder could not be created.
    #[error("creating {}: {source}", dir.display())]
    CreateDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    /// A results file could not be written.
    #[error("writing {file}: {source}")]
    Write {
        file: &'static str,
        source: sparse24::Error,
    },
    /// The results could not be serialised.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}
