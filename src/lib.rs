//! # sparse24
//!
//! GPU kernels for 2:4 semi-structured sparse matrix multiplication on NVIDIA tensor
//! cores (sm_80 and newer), with a CPU reference path for every kernel and (feature
//! `sim`) a PTX emulator, ptxsim, that runs the kernels' real PTX on the CPU.
//!
//! Features: `cuda-13000` (default; the CUDA version cudarc binds against),
//! `require-kernels` (a build without nvcc fails instead of building the CPU path
//! only), `sim` (`sparse24::sim`, the emulator), `learn` (`sparse24::learn`, the mask
//! learner, and `sparse24::methods`: SparseGPT, refit, one interface for every method), `cusparselt` (`sparse24::cusparselt`, the cuSPARSELt baseline). The README lists the
//! combinations with other cudarc users such as candle.
//!
//! ```
//! use sparse24::{prune, reference, Sparse24};
//! // A 4×16 weight, pruned to 2:4 by magnitude and compressed.
//! let w: Vec<f32> = (0..64).map(|i| ((i * 7 % 11) as f32 - 5.0) / 4.0).collect();
//! let sparse: Sparse24<f32> = prune::prune_magnitude(&w, 4, 16)?;
//! assert_eq!(sparse.values().len(), 32);
//! // Y[tokens, out] = X · Wᵀ on the CPU reference path.
//! let x = vec![0.5f32; 2 * 16];
//! let y = reference::linear_sparse(&x, 2, &sparse, &Default::default())?;
//! assert_eq!(y.len(), 2 * 4);
//! # Ok::<(), sparse24::Error>(())
//! ```

// Every public item is documented; CI's clippy -D warnings makes a gap an error.
#![warn(missing_docs)]

pub mod abi;
pub mod cuda;
#[cfg(feature = "cusparselt")]
pub mod cusparselt;
pub mod dtype;
pub mod epilogue;
pub mod error;
pub mod format;
pub mod io;
pub mod kernels;
pub mod launch;
pub mod layout;
#[cfg(feature = "learn")]
pub mod learn;
pub mod linear;
pub mod mask;
#[cfg(feature = "learn")]
pub mod methods;
pub mod ops;
pub mod pattern;
pub mod philox;
pub mod prune;
pub mod ptxas_report;
pub mod reference;
pub mod shape;
#[cfg(feature = "sim")]
pub mod sim;
pub mod tensor_map;

/// The README's examples are compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// docs/engine.md ("Embedding sparse24 in an engine"): its examples run as doctests.
#[doc = include_str!("../docs/engine.md")]
#[cfg(doctest)]
pub struct EngineDocDoctests;

// cudarc's and safetensors' types appear in this crate's public API (device buffers,
// streams, file dtypes): a dependent uses these so that its versions always match.
pub use cudarc;
pub use safetensors;

pub use dtype::{DType, Element};
pub use epilogue::{Activation, Epilogue};
pub use error::{CudaCode, Error, Result};
pub use format::{Mask24, Sparse24};
pub use half::{bf16, f16};
pub use pattern::Pattern;
