//! sparse24's 2:4-sparse linear layers for [candle](https://github.com/huggingface/candle).
//!
//! [`SparseLinear`] is a candle [`Module`](candle_core::Module) backed by a candle
//! [`CustomOp1`](candle_core::CustomOp1): `Y = act(X · Wᵀ + bias)` with W 2:4-sparse
//! and the bias and activation fused into the op. On CPU tensors it runs sparse24's
//! CPU path; with the `cuda` feature, on CUDA tensors it runs sparse24's kernels on
//! candle's own stream (f16/bf16 layers, weights uploaded once at the first forward).
//!
//! Compressed layers saved by sparse24 (e.g. `examples/prune.rs` run on a Hugging
//! Face checkpoint) load with [`SparseCheckpoint`]. [`bert`] is a small BERT encoder
//! whose linear layers can be dense or sparse, and [`WordPiece`] its tokenizer: the
//! `minilm` example runs all-MiniLM-L6-v2 with them.

#![warn(missing_docs)]
// The README's snippet runs as a doctest.
#![doc = include_str!("../README.md")]

pub mod bert;
mod checkpoint;
#[cfg(feature = "cuda")]
mod cuda;
mod layer;
mod linear;
mod op;
mod tokenizer;

pub use checkpoint::SparseCheckpoint;
pub use layer::{candle_dtype, sparse24_dtype, AnyLinear};
pub use linear::SparseLinear;
pub use tokenizer::WordPiece;

/// A sparse24 error as a candle one (the source kept).
pub(crate) fn wrap(e: sparse24::Error) -> candle_core::Error {
    candle_core::Error::wrap(e)
}
