//! The kernels compiled by build.rs, embedded in the library: per kernels/*.cu file a
//! fatbin (sm_80/86/89/90 machine code + compute_80 PTX), the PTX text that ptxsim
//! runs, and ptxas's resource report; and the typed handle of every kernel.
//!
//! Kernels are named by their handles, never by strings: build.rs generates one
//! module per kernel file (`kernels::sparse_gemm::kernel(config, dtype)`,
//! `kernels::prune::prune_compress(dtype)`, `kernels::prune::PRUNE_STATUS_RESET`, ...)
//! from the GEMM's tiles (src/ops/gemm/tiles.rs) and the kernel table
//! (src/kernel_table.rs), with the rule that also names the CUDA kernels, and checks
//! that every module's PTX defines exactly those kernels.

use crate::error::{Error, Result};

/// One compiled kernel source file.
#[derive(Debug)]
pub struct EmbeddedModule {
    /// File stem of `kernels/<name>.cu`.
    pub name: &'static str,
    /// PTX text (compute_80, or compute_90a for Hopper-only files).
    pub ptx: &'static str,
    /// Fatbin for `cuModuleLoadData`.
    pub fatbin: &'static [u8],
    /// ptxas -v output: registers, shared memory, spills per kernel and arch.
    pub ptxas_report: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/kernels.rs"));

/// A kernel: its file (`kernels/<module>.cu`) and `extern "C"` name, as a [`Launch`]
/// names it. Built only by the generated handles below.
///
/// [`Launch`]: crate::launch::Launch
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Kernel {
    /// The kernel source file stem (the [`EmbeddedModule::name`]).
    pub module: &'static str,
    /// The `extern "C"` kernel name.
    pub name: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/kernel_handles.rs"));

/// Whether this build carries GPU kernels (nvcc was found at build time).
pub fn compiled() -> bool {
    !MODULES.is_empty()
}

/// The embedded module of a kernel file.
pub fn module(name: &str) -> Result<&'static EmbeddedModule> {
    if !compiled() {
        return Err(Error::KernelsNotCompiled);
    }
    MODULES
        .iter()
        .find(|m| m.name == name)
        .ok_or_else(|| Error::UnknownKernel {
            module: name.to_string(),
            kernel: String::new(),
        })
}

/// ptxas's figures per kernel and arch, parsed from [`EmbeddedModule::ptxas_report`]
/// (the parser is [`crate::ptxas_report`], which build.rs uses too).
pub use crate::ptxas_report::{parse_ptxas_report, ResourceUsage};
