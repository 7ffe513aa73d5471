//! [`SparseLinear`]: a 2:4-sparse linear layer for inference engines,
//! `Y[tokens, out] = act(X[tokens, in] · Wᵀ + bias)`, with the same semantics on the
//! CPU ([`SparseLinear::forward_cpu`], host slices) and on a GPU
//! ([`SparseLinear::forward`], cudarc slices on the caller's stream; see [`gpu`]).
//!
//! ```
//! use sparse24::linear::{Pruning, SparseLinear};
//! use sparse24::{bf16, Activation};
//!
//! let (out, inn, tokens) = (64, 128, 3);
//! let w: Vec<bf16> = (0..out * inn)
//!     .map(|i| bf16::from_f32(((i * 37 % 101) as f32 - 50.0) / 64.0))
//!     .collect();
//! let bias: Vec<bf16> = (0..out).map(|o| bf16::from_f32(o as f32 / 128.0)).collect();
//! // Prune W to 2:4 by magnitude (or Pruning::Wanda { act_norms }, Pruning::Mask(&mask)).
//! let layer = SparseLinear::from_dense(&w, out, inn, Pruning::Magnitude)?
//!     .with_bias(bias)?
//!     .with_activation(Activation::Gelu);
//! let x: Vec<bf16> = (0..tokens * inn)
//!     .map(|i| bf16::from_f32(((i * 13 % 29) as f32 - 14.0) / 16.0))
//!     .collect();
//! let y = layer.forward_cpu(&x, tokens)?;
//! assert_eq!(y.len(), tokens * out);
//!
//! // On a GPU: weights go up once (here lazily), every forward runs on your stream.
//! if sparse24::cuda::available() {
//!     let stream = sparse24::cuda::context()?.default_stream();
//!     let x_dev = stream.clone_htod(&x)?;
//!     let y_dev = layer.forward(&stream, &x_dev, tokens)?;
//!     let y_gpu: Vec<bf16> = stream.clone_dtoh(&y_dev)?;
//!     for (a, b) in y_gpu.iter().zip(&y) {
//!         assert!((a.to_f32() - b.to_f32()).abs() <= 0.05 + 0.02 * b.to_f32().abs());
//!     }
//! }
//! # Ok::<(), sparse24::Error>(())
//! ```

pub mod device;
pub mod gpu;
pub mod shard;

use crate::dtype::{DType, Element};
use crate::epilogue::{Activation, Epilogue};
use crate::error::{Error, Result};
use crate::format::{Mask24, Sparse24};
use crate::prune;
use crate::reference;
use crate::shape::{check_len, check_shape};

/// How [`SparseLinear::from_dense`] chooses the two kept weights of each group.
#[derive(Clone, Copy, Debug)]
pub enum Pruning<'a> {
    /// The two largest |w|.
    Magnitude,
    /// Wanda: the two largest |w_ij|·‖x_j‖₂, from per-input-channel activation norms
    /// of calibration data (`act_norms.len() == in`, see
    /// [`prune::activation_norms`]).
    Wanda {
        /// ‖x_j‖₂ of each input channel j, `in` of them.
        act_norms: &'a [f32],
    },
    /// A given mask (e.g. learned by mask sampling), [out, in].
    Mask(&'a Mask24),
}

/// The constant part of a layer's epilogue,
/// `Y = act(alpha · X·Wᵀ + beta · C + bias)` written in `output`: what the kernel
/// applies after the accumulation (see [`crate::ops::gemm`]). The bias is the
/// layer's own ([`SparseLinear::with_bias`]); C, the residual, is given per forward
/// (elements of the layer's dtype) and read when `beta` is nonzero.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct LinearEpilogue {
    /// Scale of the product (1 by default).
    pub alpha: f32,
    /// Scale of the residual C (0 by default: no C). Nonzero makes C required.
    pub beta: f32,
    /// Applied last.
    pub activation: Activation,
    /// The dtype of Y: f32, f16 or bf16 (by default the layer's own dtype).
    pub output: DType,
}

impl LinearEpilogue {
    /// alpha 1, beta 0, no activation, output in `dtype`.
    pub fn new(output: DType) -> Self {
        LinearEpilogue {
            alpha: 1.0,
            beta: 0.0,
            activation: Activation::None,
            output,
        }
    }
}

/// A 2:4-sparse linear layer: compressed weight [out, in], optional bias, and the
/// epilogue ([`LinearEpilogue`]: alpha, residual beta, activation, output dtype).
pub struct SparseLinear<T: Element> {
    weight: Sparse24<T>,
    bias: Option<Vec<T>>,
    epilogue: LinearEpilogue,
    device: gpu::DeviceCache<T>,
}

impl<T: Element> SparseLinear<T> {
    /// A layer over already-compressed weights.
    pub fn from_sparse(weight: Sparse24<T>) -> SparseLinear<T> {
        SparseLinear {
            weight,
            bias: None,
            epilogue: LinearEpilogue::new(T::DTYPE),
            device: gpu::DeviceCache::default(),
        }
    }

    /// Prunes dense weights `w` [out, in] (row-major) to 2:4 and compresses them.
    pub fn from_dense(w: &[T], out: usize, inn: usize, pruning: Pruning) -> Result<Self> {
        let shape = check_shape(out, inn)?;
        check_len("weights", shape.elements(), w.len())?;
        let mask = match pruning {
            Pruning::Magnitude => prune::magnitude_mask(w, out, inn)?,
            Pruning::Wanda { act_norms } => prune::wanda_mask(w, out, inn, act_norms)?,
            Pruning::Mask(m) => {
                if (m.rows(), m.cols()) != (out, inn) {
                    return Err(Error::InvalidArgument {
                        what: "mask",
                        why: format!(
                            "the mask is {}x{} but the weight is {out}x{inn}",
                            m.rows(),
                            m.cols()
                        ),
                    });
                }
                m.clone()
            }
        };
        Ok(Self::from_sparse(Sparse24::compress_masked(w, &mask)?))
    }

    /// Adds a bias (length `out`).
    pub fn with_bias(mut self, bias: Vec<T>) -> Result<Self> {
        check_len("bias", self.out_features(), bias.len())?;
        self.bias = Some(bias);
        self.device = gpu::DeviceCache::default();
        Ok(self)
    }

    /// Sets the activation applied last.
    pub fn with_activation(self, activation: Activation) -> Self {
        let e = LinearEpilogue {
            activation,
            ..self.epilogue
        };
        self.with_epilogue(e)
    }

    /// Scales the product: `Y = act(alpha · X·Wᵀ + …)`.
    pub fn with_alpha(self, alpha: f32) -> Self {
        let e = LinearEpilogue {
            alpha,
            ..self.epilogue
        };
        self.with_epilogue(e)
    }

    /// Adds the residual `beta · C` before the bias and activation; with nonzero
    /// `beta`, every forward takes C [tokens, out] (in `T`) —
    /// [`SparseLinear::forward_cpu_with`], [`SparseLinear::forward_with`] —
    /// and the plain forwards (which have no C) return an error.
    pub fn with_residual(self, beta: f32) -> Self {
        let e = LinearEpilogue {
            beta,
            ..self.epilogue
        };
        self.with_epilogue(e)
    }

    /// Writes Y in `output` (f32, f16 or bf16) instead of `T`; the forwards that
    /// return `T` then refuse, the `_with` forwards take the output type.
    pub fn with_output_dtype(self, output: DType) -> Self {
        let e = LinearEpilogue {
            output,
            ..self.epilogue
        };
        self.with_epilogue(e)
    }

    /// Sets the whole epilogue at once.
    pub fn with_epilogue(mut self, epilogue: LinearEpilogue) -> Self {
        self.epilogue = epilogue;
        self.device = gpu::DeviceCache::default();
        self
    }

    /// Input features: columns of W and of X.
    pub fn in_features(&self) -> usize {
        self.weight.cols()
    }
    /// Output features: rows of W, columns of Y.
    pub fn out_features(&self) -> usize {
        self.weight.rows()
    }
    /// The compressed weight [out, in].
    pub fn weight(&self) -> &Sparse24<T> {
        &self.weight
    }
    /// The bias (`out` elements), if the layer has one.
    pub fn bias(&self) -> Option<&[T]> {
        self.bias.as_deref()
    }
    /// The activation applied last.
    pub fn activation(&self) -> Activation {
        self.epilogue.activation
    }
    /// The epilogue (alpha, beta, activation, output dtype).
    pub fn epilogue(&self) -> LinearEpilogue {
        self.epilogue
    }
    /// The dtype of Y.
    pub fn output_dtype(&self) -> DType {
        self.epilogue.output
    }

    /// The host epilogue with the residual `c`.
    fn host_epilogue<'a>(&'a self, c: Option<&'a [T]>) -> Epilogue<'a, T> {
        Epilogue {
            alpha: self.epilogue.alpha,
            beta: self.epilogue.beta,
            c: if self.epilogue.beta != 0.0 { c } else { None },
            bias: self.bias.as_deref(),
            activation: self.epilogue.activation,
        }
    }

    /// Checks that `O` is the layer's output dtype.
    fn check_output<O: Element>(&self) -> Result<()> {
        if O::DTYPE != self.epilogue.output {
            return Err(Error::InvalidArgument {
                what: "output dtype",
                why: format!(
                    "the layer writes {:?} but the output buffer holds {:?}",
                    self.epilogue.output,
                    O::DTYPE
                ),
            });
        }
        Ok(())
    }

    /// `Y[tokens, out]` from `X[tokens, in]` on the CPU (f32 accumulation, output in
    /// `T`, the GPU forward's semantics). For a layer with a residual or another
    /// output dtype, use [`SparseLinear::forward_cpu_with`].
    pub fn forward_cpu(&self, x: &[T], tokens: usize) -> Result<Vec<T>> {
        self.forward_cpu_with(x, tokens, None)
    }

    /// The whole epilogue on the CPU: `Y = act(alpha · X·Wᵀ + beta · C + bias)` in
    /// the layer's output dtype `O` (checked), C [tokens, out] required when beta
    /// is nonzero (ignored otherwise). f32 accumulation, the epilogue in f64, one
    /// rounding to `O`.
    pub fn forward_cpu_with<O: Element>(
        &self,
        x: &[T],
        tokens: usize,
        c: Option<&[T]>,
    ) -> Result<Vec<O>> {
        self.check_output::<O>()?;
        reference::linear_sparse_as(x, tokens, &self.weight, &self.host_epilogue(c))
    }

    /// The f64 reference of the same layer (for checking either forward).
    pub fn forward_f64(&self, x: &[T], tokens: usize) -> Result<Vec<f64>> {
        self.forward_f64_with(x, tokens, None)
    }

    /// The f64 reference with the residual C (required when beta is nonzero): the
    /// exact value before the rounding to the output dtype.
    pub fn forward_f64_with(&self, x: &[T], tokens: usize, c: Option<&[T]>) -> Result<Vec<f64>> {
        reference::linear_sparse_f64(x, tokens, &self.weight, &self.host_epilogue(c))
    }
}

impl<T: Element> std::fmt::Debug for SparseLinear<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SparseLinear")
            .field("dtype", &T::DTYPE)
            .field("out", &self.out_features())
            .field("in", &self.in_features())
            .field("bias", &self.bias.is_some())
            .field("epilogue", &self.epilogue)
            .finish()
    }
}
