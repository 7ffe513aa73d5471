//! Host code of the GPU kernels: each op validates its inputs, computes a
//! [`crate::launch::Launch`] and hands it to any [`crate::launch::Executor`].

pub mod decompress;
pub mod gemm;
#[cfg(feature = "learn")]
pub mod learn;
pub mod mask;
pub mod prune;

use crate::error::{Error, Result};

/// Rejects a device address that is not `align`-byte aligned.
pub(crate) fn check_aligned(what: &'static str, addr: u64, align: usize) -> Result<()> {
    if !addr.is_multiple_of(align as u64) {
        return Err(Error::Misaligned { what, addr, align });
    }
    Ok(())
}
