//! # sparse24
//!
//! GPU kernels for 2:4 semi-structured sparse matrix multiplication on NVIDIA tensor
//! cores (sm_80 and newer), with a CPU reference path for every kernel and a PTX
//! emulator ([`ptxsim`]) that runs the kernels' real PTX on the CPU.
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

pub mod abi;
pub mod cuda;
pub mod cusparselt;
pub mod dtype;
pub mod error;
pub mod format;
pub mod io;
pub mod kernels;
pub mod launch;
pub mod layout;
pub mod learn;
pub mod linear;
pub mod mask;
pub mod ops;
pub mod pattern;
pub mod philox;
pub mod prune;
pub mod reference;
pub mod shape;
pub mod sim;

/// The README's examples are compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

pub use dtype::{DType, Element};
pub use error::{Error, Result};
pub use format::{Mask24, Sparse24};
pub use half::{bf16, f16};
pub use pattern::Pattern;
pub use reference::{Activation, Epilogue};
