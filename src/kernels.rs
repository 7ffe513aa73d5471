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

/// ptxas's figures for one kernel on one architecture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceUsage {
    pub kernel: String,
    pub arch: String,
    pub registers: u32,
    pub spill_store_bytes: u32,
    pub spill_load_bytes: u32,
    pub stack_bytes: u32,
    /// Static shared memory ("smem" in the report).
    pub shared_bytes: u32,
}

fn number_before(line: &str, unit: &str) -> Option<u32> {
    let i = line.find(unit)?;
    line[..i]
        .trim_end()
        .rsplit(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Parses a ptxas -v report into per-kernel, per-arch figures.
pub fn parse_ptxas_report(report: &str) -> Vec<ResourceUsage> {
    let mut out: Vec<ResourceUsage> = Vec::new();
    for line in report.lines() {
        if let Some(rest) = line.split("Compiling entry function '").nth(1) {
            let mut parts = rest.split('\'');
            let kernel = parts.next().unwrap_or_default().to_string();
            let arch = parts.nth(1).unwrap_or_default().to_string();
            out.push(ResourceUsage {
                kernel,
                arch,
                registers: 0,
                spill_store_bytes: 0,
                spill_load_bytes: 0,
                stack_bytes: 0,
                shared_bytes: 0,
            });
        } else if let Some(cur) = out.last_mut() {
            if line.contains("spill stores") {
                cur.stack_bytes = number_before(line, "bytes stack frame").unwrap_or(0);
                cur.spill_store_bytes = number_before(line, "bytes spill stores").unwrap_or(0);
                cur.spill_load_bytes = number_before(line, "bytes spill loads").unwrap_or(0);
            } else if line.contains("Used") && line.contains("registers") {
                cur.registers = number_before(line, "registers").unwrap_or(0);
                cur.shared_bytes = number_before(line, "bytes smem").unwrap_or(0);
            }
        }
    }
    out
}
