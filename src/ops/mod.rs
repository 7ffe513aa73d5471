//! Host code of the GPU kernels: each op validates its inputs, computes a
//! [`crate::launch::Launch`] and hands it to any [`crate::launch::Executor`].

pub mod decompress;
pub mod gemm;
#[cfg(feature = "learn")]
pub mod learn;
pub mod mask;
#[cfg(feature = "learn")]
pub mod proximal;
pub mod prune;
pub mod sparsegpt;

use crate::error::{Error, Result};
use crate::kernels::Kernel;
use crate::launch::{Arg, Launch};
use crate::shape::check_shape;

/// Threads per block of the element-wise kernels ([`crate::abi::BLOCK_THREADS`],
/// `kThreads` in the kernels).
pub(crate) const THREADS: usize = crate::abi::BLOCK_THREADS as usize;

/// A launch of an element-wise kernel: `grid` blocks of [`THREADS`], no dynamic
/// shared memory.
pub(crate) fn launch_1d(kernel: Kernel, grid: [u32; 3], args: Vec<Arg>) -> Launch {
    Launch {
        module: kernel.module,
        kernel: kernel.name,
        grid,
        block: [THREADS as u32, 1, 1],
        dynamic_shared_bytes: 0,
        cluster: crate::launch::NO_CLUSTER,
        args,
    }
}

/// 2:4 groups of a [rows, cols] matrix (shape checked).
pub(crate) fn groups_of(rows: usize, cols: usize) -> Result<usize> {
    Ok(check_shape(rows, cols)?.groups())
}

/// Rejects a device address that is not `align`-byte aligned.
pub(crate) fn check_aligned(what: &'static str, addr: u64, align: usize) -> Result<()> {
    if !addr.is_multiple_of(align as u64) {
        return Err(Error::Misaligned { what, addr, align });
    }
    Ok(())
}
