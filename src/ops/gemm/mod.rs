//! The sparse tensor-core GEMM of a linear layer (kernels/sparse_gemm.cu):
//! `Y[tokens, out] = act(alpha · X[tokens, in] · Wᵀ + beta · C[tokens, out] + bias[out])`
//! with W 2:4-sparse along `in` (the `mma.sp` A operand, fragment-ordered on the
//! device), X of the same dtype (f16 or bf16), f32 accumulation, output f16, bf16 or
//! f32, activation none / ReLU / GELU (tanh or exact erf) / SiLU.
//!
//! Host code only computes launches ([`sparse_linear_launches`]); any
//! [`Executor`](crate::launch::Executor) runs them. Tile configurations ([`GemmConfig`]: one decode tile and
//! several prefill tiles) and a documented heuristic ([`SparseGemmPlan::choose`]) pick
//! the configuration and the split-K count from the shape and the device's SM count
//! ([`Executor::sm_count`](crate::launch::Executor::sm_count));
//! the prefill tile can be forced with the environment variable
//! [`PREFILL_TILE_ENV`] (`SPARSE24_PREFILL_TILE`, see [`prefill_tile_override`]). Split-K is deterministic: partials go to
//! a caller-provided workspace ([`SparseGemmPlan::workspace_bytes`]), the last CTA of
//! each output tile reduces them in a fixed order and resets its arrival counter, so
//! the workspace is zeroed once at allocation and never again.
//!
//! Five parts: [`tiles`] (the tile configurations, defined once for the crate and
//! build.rs), [`config`] (their kernels and the prefill override), [`plan`] (a
//! validated plan per shape and its heuristic), [`prepared`] (a launch validated once
//! per shape, [`GemmLaunch`], that each call only binds to its addresses), [`launch`]
//! (device buffers, the launch description, the convenience runners).

pub mod config;
pub mod launch;
pub mod plan;
pub mod prepared;
pub mod tiles;

pub use config::*;
pub use launch::*;
pub use plan::*;
pub use prepared::*;

#[cfg(test)]
mod tests;
