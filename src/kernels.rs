//! The kernels compiled by build.rs, embedded in the library: per kernels/*.cu file a
//! fatbin (sm_80/86/89/90 machine code + compute_80 PTX), the PTX text that ptxsim
//! runs, and ptxas's resource report.

use crate::error::{Error, Result};

/// One compiled kernel source file.
#[derive(Debug)]
pub struct EmbeddedModule {
    /// File stem of kernels/<name>.cu.
    pub name: &'static str,
    /// PTX text (compute_80, or compute_90a for Hopper-only files).
    pub ptx: &'static str,
    /// Fatbin for `cuModuleLoadData`.
    pub fatbin: &'static [u8],
    /// ptxas -v output: registers, shared memory, spills per kernel and arch.
    pub ptxas_report: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/kernels.rs"));

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
