//! Compiles only (`cargo check`): sparse24 and candle-core with `cuda` in one build,
//! so cargo merges their cudarc features. Linking would need the CUDA libraries.

use std::sync::Arc;

/// A candle CUDA context is a sparse24 one: both crates are built on one cudarc.
pub fn same_cudarc(
    ctx: Arc<candle_core::cuda_backend::cudarc::driver::CudaContext>,
) -> Arc<sparse24::cudarc::driver::CudaContext> {
    ctx
}

/// An engine recognises out-of-memory from sparse24's error.
pub fn out_of_memory(e: &sparse24::Error) -> bool {
    e.is_out_of_memory()
}
