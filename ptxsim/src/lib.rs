//! `ptxsim`: a strict PTX emulator. It parses the PTX text nvcc emits (sm_80, and sm_90a
//! modules with mbarriers, bulk and tensor copies, wgmma / wgmma.sp, setmaxnreg and thread-block
//! clusters with distributed shared memory), and executes kernels on the CPU with PTX ISA semantics: per-thread PCs,
//! warp-collective instructions that wait for their member mask (wgmma: the warpgroup's four
//! warps), CTA barriers, bounds- and alignment-checked memory, and tensor-core mma / mma.sp /
//! wgmma.
//!
//! ```no_run
//! use ptxsim::{Device, LaunchConfig, Module, Param};
//! # fn main() -> Result<(), ptxsim::SimError> {
//! let module = Module::parse(&std::fs::read_to_string("k.ptx").unwrap())?;
//! let mut dev = Device::new();
//! let buf = dev.alloc(1024)?;
//! let stats = dev.launch(&module, "k", &LaunchConfig::linear(1, 256), &[Param::U64(buf)])?;
//! println!("{}", stats.summary());
//! # Ok(()) }
//! ```

// Every public item is documented; CI's clippy -D warnings makes a gap an error.
#![warn(missing_docs)]

mod decode;
mod device;
mod error;
mod exec;
mod ir;
mod limits;
mod memory;
mod parse;
mod stats;
mod tensormap;

pub use device::{Device, LaunchConfig, Module, Param, MAX_CLUSTER, MAX_PORTABLE_CLUSTER};
pub use error::{ErrorKind, ExecError, SimError};
pub use ir::OpClass;
pub use limits::{Limit, Limits};
pub use memory::generic_windows;
pub use stats::LaunchStats;
pub use tensormap::{
    Interleave, L2Promotion, OobFill, Swizzle, TensorMap, TensorMapError, TmapDtype,
    TENSOR_MAP_BYTES,
};
