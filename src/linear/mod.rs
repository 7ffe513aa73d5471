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

use crate::dtype::Element;
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
    Wanda { act_norms: &'a [f32] },
    /// A given mask (e.g. learned by mask sampling), [out, in].
    Mask(&'a Mask24),
}

/// A 2:4-sparse linear layer: compressed weight [out, in], optional bias, activation.
pub struct SparseLinear<T: Element> {
    weight: Sparse24<T>,
    bias: Option<Vec<T>>,
    activation: Activation,
    device: gpu::DeviceCache<T>,
}

impl<T: Element> SparseLinear<T> {
    /// A layer over already-compressed weights.
    pub fn from_sparse(weight: Sparse24<T>) -> SparseLinear<T> {
        SparseLinear {
            weight,
            bias: None,
            activation: Activation::None,
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
    pub fn with_activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    pub fn in_features(&self) -> usize {
        self.weight.cols()
    }
    pub fn out_features(&self) -> usize {
        self.weight.rows()
    }
    pub fn weight(&self) -> &Sparse24<T> {
        &self.weight
    }
    pub fn bias(&self) -> Option<&[T]> {
        self.bias.as_deref()
    }
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// `Y[tokens, out]` from `X[tokens, in]` on the CPU (f32 accumulation, output in
    /// `T`, the GPU forward's semantics).
    pub fn forward_cpu(&self, x: &[T], tokens: usize) -> Result<Vec<T>> {
        let epi = Epilogue {
            bias: self.bias.as_deref(),
            activation: self.activation,
            ..Default::default()
        };
        reference::linear_sparse(x, tokens, &self.weight, &epi)
    }

    /// The f64 reference of the same layer (for checking either forward).
    pub fn forward_f64(&self, x: &[T], tokens: usize) -> Result<Vec<f64>> {
        let epi = Epilogue {
            bias: self.bias.as_deref(),
            activation: self.activation,
            ..Default::default()
        };
        reference::linear_sparse_f64(x, tokens, &self.weight, &epi)
    }
}

impl<T: Element> std::fmt::Debug for SparseLinear<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SparseLinear")
            .field("dtype", &T::DTYPE)
            .field("out", &self.out_features())
            .field("in", &self.in_features())
            .field("bias", &self.bias.is_some())
            .field("activation", &self.activation)
            .finish()
    }
}
